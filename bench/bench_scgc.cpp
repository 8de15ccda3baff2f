// The Sensor Centre for Global Caches' bookkeeping (issue #19): origin items at 1,000/s of
// simulated time, each republished by three Global Caches (one 30 s, one 90 s, one 400 s
// later; every 50th item missed by the third), through ScgcTracker with its SQLite state and
// hourly logs, advanced once per simulated second. Baseline in the same run: parsing the same
// four messages per item with Notification::parse and nothing else (the least any SCGC must
// do). Memory: the growth of the process's resident size after the first simulated 15 minutes
// (the watch window full) and at the end, to show it is bounded by the watch window.
//
//   bench_scgc DIR [--items N]      (prints one JSON object)

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "wis2mon/notification.hpp"
#include "wis2mon/sensor.hpp"

namespace fs = std::filesystem;
using namespace wis2mon;

namespace {

std::string message(std::size_t i, const std::string& href, const std::string& cache) {
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012zu", i);
  std::string m = R"({"id":")" + std::string(id) +
                  R"(","conformsTo":["http://wis.wmo.int/spec/wnm/1/conf/core"],"type":"Feature","geometry":)"
                  R"({"type":"Point","coordinates":[8.5,47.4]},"properties":{"data_id":"de-dwd/data/core/weather/)"
                  R"(surface-based-observations/synop/WIGOS_0-20000-0-)" +
                  std::to_string(10000 + i % 90000) + "_" + std::to_string(i) +
                  R"(.bufr4","pubtime":"2026-11-30T06:00:00Z","datetime":"2026-11-30T06:00:00Z",)"
                  R"("integrity":{"method":"sha512","value":"A2KNxvks7hjYfRBp0Mr9YQy2lDq0/mHuZGTfDoW6ZpvXSkbrYMwb)"
                  R"(YB6kAy3aOqMpJ0W6cG1L7T6HnN2XjxDvHQ=="})";
  if (!cache.empty()) m += R"(,"global-cache":")" + cache + "\"";
  m += R"(},"links":[{"href":")" + href + R"(","rel":"canonical","type":"application/bufr","length":2048}]})";
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_scgc DIR [--items N]\n";
    return 2;
  }
  const fs::path dir = argv[1];
  std::size_t items = 1200000;  // 20 minutes of simulated time at 1,000/s
  for (int i = 2; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--items") items = std::stoul(argv[i + 1]);
  fs::remove_all(dir);
  fs::create_directories(dir);

  const std::string topic = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop";
  const std::string cache_topic = "cache/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop";
  const char* caches[] = {"xx-a-global-cache", "xx-b-global-cache", "xx-c-global-cache"};
  const int delays[] = {30, 90, 400};  // seconds after the origin

  // The stream in arrival order, by simulated millisecond: origin i at i ms, its copies later.
  struct Event {
    std::int64_t at_ms;
    int cache;  // -1: origin
    std::size_t item;
  };
  std::vector<Event> events;
  events.reserve(items * 4);
  for (std::size_t i = 0; i < items; ++i) {
    const auto t = static_cast<std::int64_t>(i);
    events.push_back({t, -1, i});
    for (int c = 0; c < 3; ++c)
      if (c != 2 || i % 50 != 0) events.push_back({t + delays[c] * 1000LL, c, i});
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.at_ms < b.at_ms; });
  // Messages are built on the fly (as they would arrive), in both runs.
  const auto text = [&](const Event& e) {
    return e.cache < 0
               ? message(e.item, "https://de-dwd.example/" + std::to_string(e.item), "")
               : message(e.item, "https://" + std::string(caches[e.cache]) + ".example/" + std::to_string(e.item),
                         caches[e.cache]);
  };
  const Timestamp t0 = *parse_rfc3339("2026-11-30T06:00:00Z");
  const auto at = [&](std::int64_t ms) {
    return Timestamp{t0.seconds + ms / 1000, static_cast<std::int32_t>((ms % 1000) * 1000000)};
  };

  // Baseline: parse each message, nothing else.
  auto b0 = std::chrono::steady_clock::now();
  std::size_t valid = 0;
  for (const auto& e : events) valid += Notification::parse(text(e)).valid();
  const double baseline_s = bench::seconds_since(b0);

  ScgcOptions o;
  o.centre_id = "xx-bench-sensor-centre-global-cache";
  o.global_caches = {caches[0], caches[1], caches[2]};
  o.state = dir / "scgc.db";
  o.log_dir = dir / "logs";
  const double rss_before = bench::rss_mb();  // the stream's own events are not the tracker's
  MetricsRegistry metrics;
  ScgcTracker sc(o, &metrics);
  double rss_early = 0;
  std::size_t logs = 0;
  std::int64_t next_second = 1000;
  const auto s0 = std::chrono::steady_clock::now();
  for (const auto& e : events) {
    while (e.at_ms >= next_second) {  // the monitor advances once a second
      logs += sc.advance(at(next_second)).size();
      next_second += 1000;
      if (next_second == 15 * 60 * 1000) rss_early = bench::rss_mb();
    }
    if (e.cache < 0)
      sc.on_origin(topic, text(e), at(e.at_ms));
    else
      sc.on_cache(cache_topic, text(e), true, at(e.at_ms));
  }
  logs += sc.advance(at(events.back().at_ms + 601000)).size();
  const double tracker_s = bench::seconds_since(s0);
  const double rss_end = bench::rss_mb();
  const double per_s = static_cast<double>(items) / tracker_s;
  const Labels c_labels{{"global_cache", caches[2]}, {"centre_id", "de-dwd"}, {"report_by", o.centre_id}};
  std::cout << "{\"origin_items\": " << items << ", \"messages\": " << events.size()
            << ", \"simulated_seconds\": " << events.back().at_ms / 1000 << ", \"valid\": " << valid
            << ", \"tracker_seconds\": " << tracker_s << ", \"origin_items_per_s\": " << static_cast<long>(per_s)
            << ", \"baseline_parse_seconds\": " << baseline_s << ", \"tracker_over_parse\": " << tracker_s / baseline_s
            << ", \"missed_by_c\": " << metrics.value("wmo_wis2_scgc_messages_missed_total", c_labels)
            << ", \"hourly_logs\": " << logs << ", \"rss_growth_mb_after_15_min\": " << rss_early - rss_before
            << ", \"rss_growth_mb_end\": " << rss_end - rss_before
            << ", \"state_file_mb\": " << static_cast<double>(fs::file_size(o.state)) / (1024.0 * 1024.0) << "}\n";
  return 0;
}
