// Spool throughput: appends (one commit each, as the MQTT arrival callback does them) and
// take+done in batches of 1,000, for synchronous NORMAL (the default) and FULL, on the disk
// the directory is on. Prints one JSON line.
//   bench_spool DIR [--messages N]
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>

#include "wis2mon/spool.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Rates {
  double append_per_s = 0;
  double drain_per_s = 0;
};

Rates run(const fs::path& file, bool full, std::size_t n) {
  fs::remove(file);
  wis2mon::SpoolOptions o;
  o.path = file;
  o.synchronous_full = full;
  o.high_water = n + 1;
  wis2mon::Spool spool(o);
  const std::string payload(765, 'x');  // the size of a typical WIS2 notification
  auto t = Clock::now();
  for (std::size_t i = 0; i < n; ++i) spool.append("gb", "origin/a/wis2/de-dwd/data/core/weather", payload);
  Rates r;
  r.append_per_s = static_cast<double>(n) / seconds_since(t);
  t = Clock::now();
  for (;;) {
    const auto batch = spool.take(1000);
    if (batch.empty()) break;
    std::vector<std::int64_t> ids;
    for (const auto& e : batch) ids.push_back(e.id);
    spool.done(ids);
  }
  r.drain_per_s = static_cast<double>(n) / seconds_since(t);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_spool DIR [--messages N]\n";
    return 2;
  }
  const fs::path dir = argv[1];
  std::size_t n = 50000;
  for (int i = 2; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--messages") n = std::stoul(argv[i + 1]);
  fs::create_directories(dir);
  const auto normal = run(dir / "spool-normal.db", false, n);
  const auto full = run(dir / "spool-full.db", true, std::min<std::size_t>(n, 3000));
  std::cout << "{\"messages\":" << n << ",\"normal_append_per_s\":" << static_cast<long>(normal.append_per_s)
            << ",\"normal_take_done_per_s\":" << static_cast<long>(normal.drain_per_s)
            << ",\"full_append_per_s\":" << static_cast<long>(full.append_per_s) << "}\n";
  fs::remove_all(dir);
}
