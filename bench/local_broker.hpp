// The setting of the end-to-end benchmarks (bench_monitor, bench_arrival): command-line
// parsing (DIR [--messages N]) and a mosquitto started on a free loopback port that queues
// without limit for persistent sessions, with the paths of mosquitto_pub and mosquitto_sub.
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "unit/child_process.hpp"

namespace bench {

/// Runs a shell command; its exit status (-1 when it did not exit).
inline int run_command(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

struct LocalBroker {
  std::filesystem::path dir;  ///< emptied at start; the broker's config and log live here
  std::size_t count = 0;      ///< --messages
  int port = 0;
  std::string pub, sub;  ///< mosquitto_pub, mosquitto_sub
  std::string host;      ///< " -h 127.0.0.1 -p <port>" for their command lines
  testing::ChildProcess process;

  /// From `program DIR [--messages N]`; false (after saying why) on a usage error or when
  /// mosquitto and its clients are missing.
  bool start(const char* program, int argc, char** argv, std::size_t default_count) {
    if (argc < 2) {
      std::cerr << "usage: " << program << " DIR [--messages N]\n";
      return false;
    }
    dir = argv[1];
    count = default_count;
    for (int i = 2; i + 1 < argc; ++i)
      if (std::string(argv[i]) == "--messages") count = std::strtoul(argv[++i], nullptr, 10);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const auto mosquitto = testing::find_program("mosquitto");
    pub = testing::find_program("mosquitto_pub");
    sub = testing::find_program("mosquitto_sub");
    if (mosquitto.empty() || pub.empty() || sub.empty()) {
      std::cerr << program << ": mosquitto, mosquitto_pub and mosquitto_sub are needed\n";
      return false;
    }
    port = testing::free_port();
    std::ofstream(dir / "mosquitto.conf") << "listener " << port
                                          << " 127.0.0.1\nallow_anonymous true\npersistence false\n"
                                             "max_queued_messages 0\nmax_queued_bytes 0\n";
    process = testing::ChildProcess({mosquitto, "-c", (dir / "mosquitto.conf").string()}, dir / "mosquitto.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    host = " -h 127.0.0.1 -p " + std::to_string(port);
    return true;
  }
};

}  // namespace bench
