// What the dashboard costs the monitor: the pipeline thread's per-message bookkeeping
// (DashboardState::on_message, with 500 centres) against parsing the same message
// (Notification::parse, the least a monitor does per message), and the JSON the page asks for
// at every refresh with 10,000 stations and 500 centres.
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
  for (int s = 0; s < 10000; ++s) {
    Record r(schema);
    r.set("wigos_station_identifier", "0-20000-0-" + std::to_string(10000 + s));
    r.set("latitude", -60.0 + (s % 130));
    r.set("longitude", -180.0 + (s % 360));
    r.set("observed_at", now);
    r.set("air_temperature", 280.0 + s % 20);
    r.set("wind_speed", 1.0 * (s % 30));
    r.set("msl_pressure", 101000.0 + s % 900);
    state.on_records({r}, "de-dwd", now);
  }
  std::size_t bytes = 0;
  const double stations_rate = bench::rate([&](std::size_t) { bytes = state.stations_json(now).size(); });
  const double centres_rate = bench::rate([&](std::size_t) { state.centres_json(now); });
  std::printf("/api/stations, 10,000 stations: %.2f ms (%zu bytes); /api/centres, 500 centres: %.2f ms\n",
              1000 / stations_rate, bytes, 1000 / centres_rate);
  return 0;
}
