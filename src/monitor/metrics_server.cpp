#include "monitor/metrics_server.hpp"

#include <microhttpd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "common/http_daemon.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon::detail {

namespace {

// Connections that send nothing are closed after this long; each holds a socket, not a thread.
constexpr unsigned kIdleTimeoutSeconds = 10;
// Open connections at most (idle ones included); a scraper and a probe need a few.
constexpr unsigned kMaxConnections = 4096;
// Threads answering requests; the event loop (epoll) never waits on one connection.
constexpr unsigned kThreads = 2;

}  // namespace

struct MetricsServer::Impl {
  std::function<std::string()> metrics;
  std::function<Health()> health;
  std::function<std::optional<Reply>(const std::string&)> other;
  MHD_Daemon* daemon = nullptr;
  int port = 0;

  static MHD_Result reply(MHD_Connection* c, unsigned status, const std::string& body, const char* type) {
    MHD_Response* r =
        MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    const MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
  }

  static MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                               const char*, size_t* upload_size, void**) {
    auto* self = static_cast<Impl*>(cls);
    if (*upload_size != 0) {  // a body nobody asked for: swallow it, answer once it is all in
      *upload_size = 0;
      return MHD_YES;
    }
    if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0)
      return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n", "text/plain");
    try {
      if (std::strcmp(url, "/metrics") == 0)
        return reply(c, MHD_HTTP_OK, self->metrics(), "text/plain; version=0.0.4; charset=utf-8");
      if (std::strcmp(url, "/health") == 0) {
        const auto h = self->health();
        return reply(c, h.ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, h.json, "application/json");
      }
      if (self->other)
        if (const auto r = self->other(url)) return reply(c, r->status, r->body, r->type.c_str());
    } catch (const std::exception& e) {
      return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, std::string(e.what()) + "\n", "text/plain");
    }
    return reply(c, MHD_HTTP_NOT_FOUND, "not found: GET /metrics or /health\n", "text/plain");
  }
};

// libmicrohttpd rather than a thread per connection (cpp-httplib): with epoll, idle
// connections cost a socket each, so a probe is answered at once even with a thousand
// sockets open and silent (issue #16: eight of them made /health take 9.5 s before).
MetricsServer::MetricsServer(const std::string& host, int port, std::function<std::string()> metrics,
                             std::function<Health()> health,
                             std::function<std::optional<Reply>(const std::string&)> other)
    : impl_(std::make_unique<Impl>()) {
  auto& d = *impl_;
  d.metrics = std::move(metrics);
  d.health = std::move(health);
  d.other = std::move(other);
  try {
    d.daemon = start_http_daemon("metrics endpoint", host, port, &Impl::on_request, &d,
                                 {kThreads, kIdleTimeoutSeconds, kMaxConnections}, d.port);
  } catch (const Error& e) {
    throw Error(ErrorCode::io, std::string(e.what()) + " (is another monitor or program using that port?)");
  }
}

MetricsServer::~MetricsServer() {
  if (impl_->daemon) MHD_stop_daemon(impl_->daemon);
}

int MetricsServer::port() const noexcept {
  return impl_->port;
}

}  // namespace wis2mon::detail
