// A real InfluxDB 1.x server (Debian's influxd) started by the tests on free loopback ports,
// with its data in a temporary directory; stopped and removed when the object goes.
#pragma once

#include <filesystem>
#include <string>

#include "child_process.hpp"

namespace testing {

class InfluxServer {
 public:
  /// Path of influxd ($WIS2MON_INFLUXD, else found on PATH), or empty when not installed.
  static std::string binary();

  /// Starts influxd and waits until it answers /ping. Throws std::runtime_error (with the
  /// server's log) when it does not come up.
  InfluxServer();
  ~InfluxServer();
  InfluxServer(const InfluxServer&) = delete;
  InfluxServer& operator=(const InfluxServer&) = delete;

  std::string url() const;
  /// POST /query (InfluxQL); returns the JSON body. db may be empty.
  std::string query(const std::string& db, const std::string& q) const;
  /// SIGSTOP / SIGCONT: requests then hang until the client's timeout.
  void pause();
  void resume();

 private:
  bool wait_until_answering(std::string& failure);
  std::filesystem::path dir_;
  ChildProcess process_;
  int http_port_ = 0;
};

}  // namespace testing
