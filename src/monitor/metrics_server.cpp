#include "monitor/metrics_server.hpp"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
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
  std::function<std::optional<Reply>(const Request&)> other;
  MHD_Daemon* daemon = nullptr;
  int port = 0;

  // A request's state across libmicrohttpd's calls: the body as it arrives.
  struct Pending {
    std::string body;
    bool too_large = false;
  };

  static MHD_Result reply(MHD_Connection* c, const Reply& r) {
    return reply(c, r.status, r.body, r.type.c_str(), r.cache_control, &r.headers);
  }
  static MHD_Result reply(MHD_Connection* c, unsigned status, const std::string& body, const char* type,
                          const std::string& cache_control = "",
                          const std::vector<std::pair<std::string, std::string>>* headers = nullptr) {
    MHD_Response* r =
        MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (!cache_control.empty()) MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control.c_str());
    if (headers)
      for (const auto& [name, value] : *headers) MHD_add_response_header(r, name.c_str(), value.c_str());
    // The page and the API never run in another site's frame or take another type.
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    const MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
  }

  static MHD_Result collect_argument(void* cls, MHD_ValueKind, const char* key, const char* value) {
    if (key) (*static_cast<std::map<std::string, std::string>*>(cls))[key] = value ? value : "";
    return MHD_YES;
  }

  static std::string peer_of(MHD_Connection* c) {
    const auto* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr) return {};
    char host[INET6_ADDRSTRLEN] = {};
    const sockaddr* sa = info->client_addr;
    if (sa->sa_family == AF_INET)
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, host, sizeof host);
    else if (sa->sa_family == AF_INET6)
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, host, sizeof host);
    return host;
  }

  static MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                               const char* upload_data, size_t* upload_size, void** state) {
    auto* self = static_cast<Impl*>(cls);
    if (*state == nullptr) {  // the headers are in: the body (if any) follows in later calls
      *state = new Pending;
      return MHD_YES;
    }
    auto& pending = *static_cast<Pending*>(*state);
    if (*upload_size != 0) {
      if (pending.body.size() + *upload_size > kMaxBody)
        pending.too_large = true;  // read and dropped: the answer waits until it is all in
      else
        pending.body.append(upload_data, *upload_size);
      *upload_size = 0;
      return MHD_YES;
    }
    // 413 by number: libmicrohttpd renamed its constant (PAYLOAD_TOO_LARGE, now CONTENT_TOO_LARGE)
    // between the versions the library builds with (Debian 11's 0.9.72, Debian 12's 0.9.75).
    if (pending.too_large) return reply(c, 413, "request body too large\n", "text/plain");
    const bool get = std::strcmp(method, "GET") == 0 || std::strcmp(method, "HEAD") == 0;
    try {
      if (get && std::strcmp(url, "/metrics") == 0)
        return reply(c, MHD_HTTP_OK, self->metrics(), "text/plain; version=0.0.4; charset=utf-8");
      if (get && std::strcmp(url, "/health") == 0) {
        const auto h = self->health();
        return reply(c, h.ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, h.json, "application/json");
      }
      if (self->other) {
        Request request;
        request.method = method;
        request.path = url;
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, &collect_argument, &request.query);
        if (const char* a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION))
          request.authorization = a;
        request.body = std::move(pending.body);
        request.peer = peer_of(c);
        if (const auto r = self->other(request)) return reply(c, *r);
      }
    } catch (const std::exception& e) {
      return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, std::string(e.what()) + "\n", "text/plain");
    }
    if (!get) return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "text/plain");
    return reply(c, MHD_HTTP_NOT_FOUND, "not found: GET /, /metrics, /health or /api/\n", "text/plain");
  }

  static void on_completed(void*, MHD_Connection*, void** state, MHD_RequestTerminationCode) {
    delete static_cast<Pending*>(*state);
    *state = nullptr;
  }
};

// libmicrohttpd rather than a thread per connection (cpp-httplib): with epoll, idle
// connections cost a socket each, so a probe is answered at once even with a thousand
// sockets open and silent (issue #16: eight of them made /health take 9.5 s before).
MetricsServer::MetricsServer(const std::string& host, int port, std::function<std::string()> metrics,
                             std::function<Health()> health, std::function<std::optional<Reply>(const Request&)> other)
    : impl_(std::make_unique<Impl>()) {
  auto& d = *impl_;
  d.metrics = std::move(metrics);
  d.health = std::move(health);
  d.other = std::move(other);
  try {
    d.daemon = start_http_daemon("metrics endpoint", host, port, &Impl::on_request, &d,
                                 {kThreads, kIdleTimeoutSeconds, kMaxConnections, &Impl::on_completed}, d.port);
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
