#include "monitor/metrics_server.hpp"

#include <httplib.h>

#include <sys/socket.h>

#include <thread>

#include "wis2mon/error.hpp"

namespace wis2mon::detail {

struct MetricsServer::Impl {
  httplib::Server server;
  std::thread thread;
  int port = 0;
};

MetricsServer::MetricsServer(const std::string& host, int port, std::function<std::string()> metrics,
                             std::function<Health()> health)
    : impl_(std::make_unique<Impl>()) {
  auto& s = impl_->server;
  s.Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/health", [health](const httplib::Request&, httplib::Response& res) {
    const auto h = health();
    res.status = h.ok ? 200 : 503;
    res.set_content(h.json, "application/json");
  });
  // SO_REUSEADDR only: a restart may bind while old connections linger, but a second
  // process on the same port fails (httplib's default adds SO_REUSEPORT, with which two
  // monitors would share the port and Prometheus scrapes would alternate between them).
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  impl_->port = port < 0 ? s.bind_to_any_port(host) : (s.bind_to_port(host, port) ? port : -1);
  if (impl_->port <= 0)
    throw Error(ErrorCode::io, "metrics endpoint: cannot listen on " + host + ":" + std::to_string(port) +
                                   " (is another monitor or program using that port?)");
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
}

MetricsServer::~MetricsServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int MetricsServer::port() const noexcept {
  return impl_->port;
}

}  // namespace wis2mon::detail
