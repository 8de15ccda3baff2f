// Servers the tests start as child processes (influxd, mosquitto): a free loopback port, and
// a child whose output goes to a log file, stopped when the object goes.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace testing {

/// A port the kernel just handed out on 127.0.0.1 (free at that moment).
int free_port();

/// Path of an executable found on PATH, or empty.
std::string find_program(const std::string& name);

class ChildProcess {
 public:
  ChildProcess() = default;
  /// Starts argv[0] (a path) with its stdout and stderr going to log.
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log);
  ~ChildProcess();
  ChildProcess(ChildProcess&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  ChildProcess& operator=(ChildProcess&& o) noexcept;

  bool running();
  void signal(int sig);
  /// SIGTERM, up to 5 s to exit, then SIGKILL.
  void stop();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

/// Reads a whole text file ("" when absent).
std::string slurp(const std::filesystem::path& p);

}  // namespace testing
