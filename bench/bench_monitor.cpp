// End to end: notifications/s from a local mosquitto through the monitor (spool, validation,
// message-id dedup, SQLite sink) next to mosquitto_sub consuming the same stream in the same
// run.
//
//   bench_monitor DIR [--messages N]
//
// Two measurements, both QoS 1: "live" subscribes mosquitto_sub and the monitor at once and
// publishes the stream once (each timed until it has everything; the publisher sets the
// pace, as a broker does); "drain" queues the stream at the broker for a persistent session
// first and times each consumer emptying it (no publisher in the way: the consumer's own
// ceiling). Prints one JSON object.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "bench_common.hpp"
#include "local_broker.hpp"
#include "sample/generator.hpp"
#include "wis2mon/monitor.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// CPU seconds (user + system, all threads) a process has used so far.
double cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i)
    if (i == 14 || i == 15) ticks += std::stod(field);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
  bench::LocalBroker broker;
  if (!broker.start("bench_monitor", argc, argv, 50000)) return 2;
  const auto& [dir, count, port, pub, sub, host, process] = broker;

  // The stream: valid notifications without inline content (~765 bytes each), by topic.
  wis2mon::detail::SampleOptions so;
  so.count = count;
  so.invalid_fraction = 0;
  so.inline_content = false;
  std::map<std::string, std::vector<std::string>> by_topic;
  std::size_t bytes = 0;
  for (auto& m : wis2mon::detail::generate_samples(so)) {
    bytes += m.json.size();
    by_topic[m.topic].push_back(std::move(m.json));
  }
  for (const auto& [topic, payloads] : by_topic) {
    std::ofstream out(dir / (std::to_string(std::hash<std::string>{}(topic)) + ".txt"));
    for (const auto& p : payloads) out << p << "\n";
  }
  const auto publish_all = [&] {
    for (const auto& [topic, payloads] : by_topic)
      if (bench::run_command(pub + host + " -q 1 -t '" + topic + "' -l < " +
                             (dir / (std::to_string(std::hash<std::string>{}(topic)) + ".txt")).string()) != 0)
        throw std::runtime_error("mosquitto_pub failed");
  };

  // Baseline: mosquitto_sub with a persistent session.
  const std::string sub_session = sub + host + " -V mqttv311 -q 1 -c -i bench-sub -t 'origin/a/wis2/#'";
  bench::run_command(sub_session + " -E");  // subscribe once, so the broker queues for it
  publish_all();
  auto t0 = Clock::now();
  if (bench::run_command(sub_session + " -C " + std::to_string(count) + " > /dev/null") != 0)
    throw std::runtime_error("mosquitto_sub");
  const double sub_seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  // The monitor: a notifications pipeline (lenient validation, message-id dedup) into SQLite.
  auto config = wis2mon::parse_monitor_config(R"(
sinks: [{name: db, type: sqlite, path: )" + (dir / "bench.db").string() +
                                                  R"(}]
pipelines: [{name: notifications, filters: ["#"], dedup: message_id, sinks: [db]}]
)",
                                              "bench");
  auto& o = config.options;
  o.spool = dir / "spool.db";
  o.subscriptions = {"origin/a/wis2/#"};
  o.log = [](std::string_view) {};
  wis2mon::BrokerOptions b;
  b.name = "local";
  b.url = "mqtt://127.0.0.1:" + std::to_string(port);
  b.client_id = "bench-monitor";
  o.brokers = {b};
  {
    wis2mon::Monitor first(config);  // creates the persistent session
    first.start();
    if (!first.wait_connected(10s)) throw std::runtime_error("monitor: cannot subscribe");
    first.stop();
  }
  publish_all();
  const long rss_before = bench::rss_kb();
  long rss_peak = rss_before;
  wis2mon::Monitor monitor(config);
  const double cpu_before = cpu_seconds(getpid()), broker_before = cpu_seconds(process.pid());
  t0 = Clock::now();
  monitor.start();
  while (monitor.stats().received < count || !monitor.drain(0ms)) {
    std::this_thread::sleep_for(20ms);
    rss_peak = std::max(rss_peak, bench::rss_kb());
    if (Clock::now() - t0 > 600s) throw std::runtime_error("monitor: timed out");
  }
  const double mon_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  // Where the two cores went while draining: this process (the monitor's threads) and the broker.
  const double drain_cpu = cpu_seconds(getpid()) - cpu_before,
               drain_broker_cpu = cpu_seconds(process.pid()) - broker_before;
  monitor.stop();
  const auto s = monitor.stats();

  // Live: both subscribed at once, then the stream is published once; each is timed from
  // the first publish until it has everything (the monitor: stored in SQLite).
  wis2mon::MonitorConfig live = config;
  live.options.spool = dir / "live-spool.db";
  for (auto& sk : live.options.sinks) sk.settings["path"] = (dir / "live.db").string();
  live.options.brokers[0].client_id = "bench-live";
  wis2mon::Monitor live_monitor(live);
  live_monitor.start();
  if (!live_monitor.wait_connected(10s)) throw std::runtime_error("monitor: cannot subscribe");
  const std::string sub_live = sub + host + " -V mqttv311 -q 1 -i bench-live-sub -t 'origin/a/wis2/#' -C " +
                               std::to_string(count) + " > /dev/null";
  double live_sub_seconds = 0;
  auto t_live = Clock::now();
  std::thread sub_thread([&] {
    if (bench::run_command(sub_live) == 0)
      live_sub_seconds = std::chrono::duration<double>(Clock::now() - t_live).count();
  });
  std::this_thread::sleep_for(1s);  // mosquitto_sub subscribes
  t_live = Clock::now();
  publish_all();
  while (live_monitor.stats().received < count || !live_monitor.drain(0ms)) {
    std::this_thread::sleep_for(10ms);
    if (Clock::now() - t_live > 600s) throw std::runtime_error("monitor: timed out");
  }
  const double live_mon_seconds = std::chrono::duration<double>(Clock::now() - t_live).count();
  sub_thread.join();
  live_monitor.stop();
  if (live_sub_seconds <= 0) throw std::runtime_error("mosquitto_sub (live) failed");

  const double sub_rate = static_cast<double>(count) / sub_seconds;
  const double mon_rate = static_cast<double>(count) / mon_seconds;
  const double live_sub_rate = static_cast<double>(count) / live_sub_seconds;
  const double live_mon_rate = static_cast<double>(count) / live_mon_seconds;
  std::printf(
      "{\"messages\": %zu, \"mean_bytes\": %.0f, \"live_mosquitto_sub_per_s\": %.0f, \"live_monitor_per_s\": %.0f, "
      "\"live_ratio\": %.2f, \"drain_mosquitto_sub_per_s\": %.0f, \"drain_monitor_per_s\": %.0f, "
      "\"drain_ratio\": %.2f, \"drain_monitor_cores\": %.2f, \"drain_broker_cores\": %.2f, \"monitor_records\": %llu, "
      "\"monitor_rss_growth_mb\": %.1f}\n",
      count, static_cast<double>(bytes) / static_cast<double>(count), live_sub_rate, live_mon_rate,
      live_mon_rate / live_sub_rate, sub_rate, mon_rate, mon_rate / sub_rate, drain_cpu / mon_seconds,
      drain_broker_cpu / mon_seconds, static_cast<unsigned long long>(s.records),
      static_cast<double>(rss_peak - rss_before) / 1024.0);
  return 0;
}
