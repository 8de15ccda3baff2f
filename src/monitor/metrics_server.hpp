// The monitor's small HTTP endpoint: GET /metrics (Prometheus text) and GET /health (JSON),
// and whatever else the monitor answers (the dashboard, /api/, the control API), served by
// libmicrohttpd (epoll, two threads; idle connections time out after 10 s).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace wis2mon::detail {

class MetricsServer {
 public:
  struct Health {
    bool ok = true;
    std::string json;
  };
  /// A request for another path. Bodies larger than kMaxBody are refused (413) unread.
  struct Request {
    std::string method;                        ///< GET, HEAD, POST, PUT, DELETE, ...
    std::string path;                          ///< without the query
    std::map<std::string, std::string> query;  ///< decoded query arguments
    std::string authorization;                 ///< the Authorization header ("" when none)
    std::string body;
    std::string peer;  ///< the client's address
  };
  static constexpr std::size_t kMaxBody = 64 * 1024;
  /// An answer to a request of another path.
  struct Reply {
    Reply(unsigned status_code = 200, std::string text = {}, std::string content_type = "text/plain",
          std::string cache = {})
        : status(status_code), body(std::move(text)), type(std::move(content_type)), cache_control(std::move(cache)) {}
    unsigned status;
    std::string body;
    std::string type;
    std::string cache_control;                                 ///< "" : none sent
    std::vector<std::pair<std::string, std::string>> headers;  ///< more response headers
  };
  /// Binds host:port (port -1: any free port) and serves until destroyed. Throws Error(io)
  /// when the port cannot be bound. `other` answers paths besides GET /metrics and /health
  /// (nullopt: 404), any method.
  MetricsServer(const std::string& host, int port, std::function<std::string()> metrics, std::function<Health()> health,
                std::function<std::optional<Reply>(const Request&)> other = nullptr);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  int port() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wis2mon::detail
