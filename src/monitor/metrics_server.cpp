#include "monitor/metrics_server.hpp"

#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "wis2mon/error.hpp"

namespace wis2mon::detail {

namespace {

// Connections that send nothing are closed after this long; each holds a socket, not a thread.
constexpr unsigned kIdleTimeoutSeconds = 10;
// Open connections at most (idle ones included); a scraper and a probe need a few.
constexpr unsigned kMaxConnections = 4096;
// Threads answering requests; the event loop (epoll) never waits on one connection.
constexpr unsigned kThreads = 2;

// The address to listen on (a host name or a numeric address), with the port in it.
bool resolve(const std::string& host, int port, sockaddr_storage& out, std::string& why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port < 0 ? 0 : port);
  if (const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    why = ::gai_strerror(rc);
    return false;
  }
  std::memcpy(&out, found->ai_addr, std::min<std::size_t>(found->ai_addrlen, sizeof out));
  ::freeaddrinfo(found);
  return true;
}

}  // namespace

struct MetricsServer::Impl {
  std::function<std::string()> metrics;
  std::function<Health()> health;
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
                             std::function<Health()> health)
    : impl_(std::make_unique<Impl>()) {
  auto& d = *impl_;
  d.metrics = std::move(metrics);
  d.health = std::move(health);
  const auto fail = [&](const std::string& reason) {
    throw Error(ErrorCode::io, "metrics endpoint: cannot listen on " + host + ":" + std::to_string(port) + ": " +
                                   reason + " (is another monitor or program using that port?)");
  };
  sockaddr_storage addr{};
  std::string why;
  if (!resolve(host, port, addr, why)) fail(why);
  // MHD's own listening socket: SO_REUSEADDR (its POSIX default) and not SO_REUSEPORT, so a
  // second process on the same port fails instead of sharing it with this one.
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
  if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  d.daemon = MHD_start_daemon(flags, 0, nullptr, nullptr, &Impl::on_request, &d, MHD_OPTION_SOCK_ADDR,
                              reinterpret_cast<sockaddr*>(&addr), MHD_OPTION_THREAD_POOL_SIZE, kThreads,
                              MHD_OPTION_CONNECTION_TIMEOUT, kIdleTimeoutSeconds, MHD_OPTION_CONNECTION_LIMIT,
                              kMaxConnections, MHD_OPTION_END);
  if (!d.daemon) fail(std::strerror(errno));
  const MHD_DaemonInfo* info = MHD_get_daemon_info(d.daemon, MHD_DAEMON_INFO_BIND_PORT);
  d.port = info ? info->port : port;
}

MetricsServer::~MetricsServer() {
  if (impl_->daemon) MHD_stop_daemon(impl_->daemon);
}

int MetricsServer::port() const noexcept {
  return impl_->port;
}

}  // namespace wis2mon::detail
