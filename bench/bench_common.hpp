// Timing helpers shared by the benchmarks.
#pragma once

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace bench {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs fn(round) until at least min_seconds passed; returns rounds per second.
template <typename Fn>
double rate(Fn&& fn, double min_seconds = 2.0) {
  fn(0);  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t rounds = 0;
  do fn(++rounds);
  while (seconds_since(t0) < min_seconds);
  return static_cast<double>(rounds) / seconds_since(t0);
}

inline std::vector<std::string> read_lines(const std::string& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

// This process's resident set (VmRSS), in KiB; 0 where /proc is missing.
inline long rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return 0;
}

inline double rss_mb() {
  return static_cast<double>(rss_kb()) / 1024.0;
}

}  // namespace bench
