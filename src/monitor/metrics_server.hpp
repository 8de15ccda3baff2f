// The monitor's small HTTP endpoint: GET /metrics (Prometheus text) and GET /health (JSON),
// served by libmicrohttpd (epoll, two threads; idle connections time out after 10 s).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace wis2mon::detail {

class MetricsServer {
 public:
  struct Health {
    bool ok = true;
    std::string json;
  };
  /// An answer to a GET of another path.
  struct Reply {
    unsigned status = 200;
    std::string body;
    std::string type = "text/plain";
  };
  /// Binds host:port (port -1: any free port) and serves until destroyed. Throws Error(io)
  /// when the port cannot be bound. `other` answers paths besides /metrics and /health
  /// (nullopt: 404).
  MetricsServer(const std::string& host, int port, std::function<std::string()> metrics, std::function<Health()> health,
                std::function<std::optional<Reply>(const std::string& path)> other = nullptr);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  int port() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wis2mon::detail
