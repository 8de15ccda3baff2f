// A real mosquitto broker started by the tests on a free loopback port, with persistence in a
// temporary directory (so a restart keeps sessions and queued messages).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace testing {

/// Whether mosquitto and mosquitto_pub are installed; says so (doctest MESSAGE) when not.
bool have_mosquitto();

class MosquittoServer {
 public:
  /// Path of mosquitto, or empty when not installed.
  static std::string binary();

  MosquittoServer();  ///< starts it and waits until it accepts connections
  ~MosquittoServer();
  MosquittoServer(const MosquittoServer&) = delete;
  MosquittoServer& operator=(const MosquittoServer&) = delete;

  int port() const { return port_; }
  std::string url() const;  ///< mqtt://127.0.0.1:<port>
  void stop();              ///< SIGTERM (it saves its persistence file)
  void start();             ///< again, on the same port
  /// Stops, deletes its persistence (every session and queued message), starts again.
  void restart_forgetting();
  /// Publishes each payload (no line breaks) with mosquitto_pub at the given QoS; true when
  /// mosquitto_pub succeeded.
  bool publish(const std::string& topic, const std::vector<std::string>& payloads, int qos = 1) const;

 private:
  std::filesystem::path dir_;
  ChildProcess process_;
  int port_ = 0;
};

}  // namespace testing
