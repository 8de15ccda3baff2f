// HealthWatch: runs each sink's healthcheck once at start and then every `interval` on a
// thread of its own (a slow check, e.g. a remote database timing out, never holds up the
// pipeline), and keeps the latest answer for /health and the metrics.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "wis2mon/sink.hpp"

namespace wis2mon::detail {

class HealthWatch {
 public:
  /// `sinks`: name -> sink, all alive longer than this watch. Checks once before returning;
  /// `log` hears about each change of a sink's state.
  HealthWatch(std::map<std::string, Sink*> sinks, std::chrono::milliseconds interval,
              std::function<void(std::string_view)> log);
  ~HealthWatch();
  HealthWatch(const HealthWatch&) = delete;
  HealthWatch& operator=(const HealthWatch&) = delete;

  /// The latest answer per sink name.
  std::map<std::string, SinkHealth> latest() const;
  /// Runs every check now (also what the thread does each interval).
  void check_now();
  /// Ends the periodic checks (before the sinks close); latest() keeps the last answers.
  void stop_checking();

 private:
  std::map<std::string, Sink*> sinks_;
  std::chrono::milliseconds interval_;
  std::function<void(std::string_view)> log_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::map<std::string, SinkHealth> latest_;
  std::thread thread_;
};

}  // namespace wis2mon::detail
