// What the dashboard costs the monitor: the pipeline thread's per-message bookkeeping
// (DashboardState::on_message, with 500 centres) against parsing the same message
// (Notification::parse, the least a monitor does per message), and the JSON the page asks for
// at every refresh with 10,000 stations and 500 centres (the stations with none, 1% or all of
// them changed since the request before).
//   build/bench/bench_dashboard
#include <cstdio>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "dashboard/dashboard_state.hpp"
#include "sample/generator.hpp"
#include "wis2mon/notification.hpp"

int main() {
  using namespace wis2mon;
  detail::SampleOptions so;
  so.count = 5000;
  so.invalid_fraction = 0;
  so.centres = 500;
  const auto samples = detail::generate_samples(so);
  std::vector<std::string> padded;  // what the spool hands over: the payload, padded for SIMD parsing
  for (const auto& s : samples) padded.push_back(s.json);
  std::vector<std::string> centres;
  for (const auto& s : samples) centres.push_back(s.topic.substr(14, s.topic.find('/', 14) - 14));

  std::size_t i = 0;
  const double parse_rate = bench::rate([&](std::size_t) {
    for (int k = 0; k < 100; ++k, ++i) {
      auto p = Notification::parse(padded[i % padded.size()]);
      if (!p.json_ok) std::abort();
    }
  });
  detail::DashboardState state;
  const Timestamp now = Timestamp::now();
  const double dashboard_rate = bench::rate([&](std::size_t) {
    for (int k = 0; k < 100; ++k, ++i) state.on_message(centres[i % centres.size()], true, now);
  });
  std::printf("per message: parse %.0f msg/s, dashboard bookkeeping %.0f msg/s: %.1f%% of a parse's time\n",
              parse_rate * 100, dashboard_rate * 100, 100.0 * parse_rate / dashboard_rate);

  // 10,000 stations with a report each.
  const auto schema = std::make_shared<const RecordSchema>(
      "surface_obs", std::vector<std::string>{"wigos_station_identifier", "latitude", "longitude", "observed_at",
                                              "air_temperature", "wind_speed", "msl_pressure"});
  const auto report = [&](int s, double temperature) {
    Record r(schema);
    r.set("wigos_station_identifier", "0-20000-0-" + std::to_string(10000 + s));
    r.set("latitude", -60.0 + (s % 130));
    r.set("longitude", -180.0 + (s % 360));
    r.set("observed_at", now);
    r.set("air_temperature", temperature);
    r.set("wind_speed", 1.0 * (s % 30));
    r.set("msl_pressure", 101000.0 + s % 900);
    return std::vector<Record>{r};
  };
  std::vector<std::vector<Record>> reports;
  for (int s = 0; s < 10000; ++s) reports.push_back(report(s, 280.0 + s % 20));
  for (const auto& r : reports) state.on_records(r, "de-dwd", now);

  // /api/stations renders only the stations that changed since the request before: timed with
  // none, 1% and all of them changed (a report each in between; that bookkeeping timed alone
  // and taken off).
  std::size_t bytes = 0;
  const auto stations_ms = [&](std::size_t changed) {
    std::size_t next = 0;
    const double updates = bench::rate([&](std::size_t) {
      for (std::size_t k = 0; k < changed; ++k, ++next) state.on_records(reports[next % reports.size()], "de-dwd", now);
    });
    const double with_json = bench::rate([&](std::size_t) {
      for (std::size_t k = 0; k < changed; ++k, ++next) state.on_records(reports[next % reports.size()], "de-dwd", now);
      bytes = state.stations_json(now).size();
    });
    return 1000 / with_json - (changed ? 1000 / updates : 0);
  };
  const double unchanged = stations_ms(0), some = stations_ms(100), all = stations_ms(10000);
  const double centres_rate = bench::rate([&](std::size_t) { state.centres_json(now); });
  std::printf(
      "/api/stations, 10,000 stations (%zu bytes): %.2f ms with all changed since the last request, %.2f ms "
      "with 100, %.2f ms with none; /api/centres, 500 centres: %.2f ms\n",
      bytes, all, some, unchanged, 1000 / centres_rate);
  return 0;
}
