#include <doctest/doctest.h>

#include "wis2mon/config.hpp"
#include "wis2mon/download.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/monitor.hpp"
#include "wis2mon/sink.hpp"

using namespace wis2mon;

namespace {
std::string error_of(const ConfigTable& t, const std::map<std::string, std::string>& user) {
  try {
    t.validate(user);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    return e.what();
  }
  return {};
}
}  // namespace

TEST_CASE("config tables validate, fill defaults, help and dump") {
  const ConfigTable t("demo", {
                                  {"path", ConfigType::string, "", "a file", true},
                                  {"count", ConfigType::integer, "10", "how many"},
                                  {"ratio", ConfigType::real, "0.5", "a share"},
                                  {"on", ConfigType::boolean, "false", "a switch"},
                                  {"every", ConfigType::duration, "5s", "a period"},
                                  {"mode", ConfigType::choice, "a", "a mode", false, {"a", "b"}},
                                  {"tags", ConfigType::list, "", "some tags"},
                              });
  const auto v = t.validate({{"path", "/x.db"}, {"every", "2m"}, {"on", "yes"}, {"tags", " a, b ,,c "}});
  CHECK(v.text("path") == "/x.db");
  CHECK(v.integer("count") == 10);
  CHECK(v.real("ratio") == 0.5);
  CHECK(v.boolean("on"));
  CHECK(v.duration_ms("every") == 120000);
  CHECK(v.text("mode") == "a");
  CHECK(v.list("tags") == std::vector<std::string>{"a", "b", "c"});
  CHECK_FALSE(t.validate({{"path", "p"}}).has("tags"));
  CHECK(v.dump().find("path = /x.db\ncount = 10\n") == 0);
  CHECK(t.help().find("  mode (choice: a b, default a)  a mode\n") != std::string::npos);
  CHECK(t.help().find("  path (string, required)  a file\n") != std::string::npos);

  CHECK(error_of(t, {}) == "demo configuration: path: required");
  const auto many = error_of(t, {{"path", "p"},
                                 {"cuont", "1"},
                                 {"count", "x"},
                                 {"every", "5 parsecs"},
                                 {"mode", "c"},
                                 {"on", "maybe"},
                                 {"ratio", "nan"}});
  CHECK(many.find("unknown key 'cuont' (did you mean 'count'?)") != std::string::npos);
  CHECK(many.find("count: 'x' is not an integer") != std::string::npos);
  CHECK(many.find("every: '5 parsecs' is not a duration") != std::string::npos);
  CHECK(many.find("mode: 'c' is not one of a b") != std::string::npos);
  CHECK(many.find("on: 'maybe' is not a boolean") != std::string::npos);
  CHECK(many.find("ratio: 'nan' is not a number") != std::string::npos);
  CHECK(error_of(t, {{"path", "p"}, {"zzzzzz", "1"}}) == "demo configuration: unknown key 'zzzzzz'");
}

TEST_CASE("every built-in sink declares its configuration") {
  for (const char* kind : {"engine", "sqlite", "ndjson"}) {
    const auto& t = sink_config_table(kind);
    CHECK(t.component() == kind);
    CHECK_FALSE(t.keys().empty());
    for (const auto& k : t.keys()) CHECK_FALSE(k.description.empty());
  }
  CHECK_THROWS_AS(sink_config_table("carrier-pigeon"), Error);
  const auto engine = sink_engine_options(sink_config_table("engine").validate({{"when_full", "drop"}}));
  CHECK(engine.when_full == QueueFullPolicy::drop_and_count);
  CHECK(engine.batch_max_records == 1000);
  CHECK(engine.batch_max_age == std::chrono::seconds(1));
  CHECK_THROWS_AS(sink_engine_options(sink_config_table("engine").validate({{"batch_max_records", "0"}})), Error);
}

TEST_CASE("bound tables: defaults are the options struct's, durations take units or seconds, limits hold") {
  const auto& b = download_options_config();
  // Every key's default is what a default-constructed DownloadOptions holds.
  const DownloadOptions defaults;
  for (const auto& [key, value] : b.values(defaults)) {
    const auto* k = b.table().find(key);
    REQUIRE(k != nullptr);
    CHECK_MESSAGE(k->default_value == value, key);
  }
  CHECK(b.table().find("connect_timeout")->default_value == "10s");
  DownloadOptions o;
  b.apply_user({{"connect_timeout", "2.5"}, {"total_timeout", "250ms"}, {"verify_tls", "no"}}, o);
  CHECK(o.connect_timeout == std::chrono::milliseconds(2500));  // a bare number is seconds
  CHECK(o.total_timeout == std::chrono::milliseconds(250));
  CHECK_FALSE(o.verify_tls);
  CHECK(o.max_in_flight == defaults.max_in_flight);  // keys not given keep their value
  CHECK_THROWS_WITH_AS(b.apply_user({{"max_in_flight", "0"}}, o), doctest::Contains("below the minimum 1"), Error);
  CHECK_THROWS_WITH_AS(b.apply_user({{"connect_timeout_ms", "100"}}, o),
                       doctest::Contains("unknown key 'connect_timeout_ms'"), Error);
  CHECK_THROWS_WITH_AS(b.apply_user({{"connect_timeout", "-1"}}, o), doctest::Contains("is not a duration"), Error);
}

TEST_CASE("monitor config: out-of-range values and names run would refuse are refused by the parse") {
  const std::string tail = "sinks: [{name: db, type: sqlite, path: x.db}]\npipelines: [{name: p, sinks: [db]}]\n";
  const auto problems_of = [&](const std::string& head) -> std::string {
    try {
      parse_monitor_config(head + tail);
    } catch (const Error& e) {
      return e.what();
    }
    return {};
  };
  CHECK(problems_of("download: {max_in_flight: 0}\n").find("max_in_flight: '0' is below the minimum 1") !=
        std::string::npos);
  CHECK(problems_of("metrics: {port: 70000}\n").find("above the maximum 65535") != std::string::npos);
  CHECK(problems_of("monitor: {batch: 0}\n").find("batch") != std::string::npos);
  CHECK(problems_of("brokers: [{url: 'mqtt://a'}, {url: 'mqtt://a:1884'}]\n").find("a second broker named 'a'") !=
        std::string::npos);
  CHECK(problems_of("sinks: [{name: e, type: sqlite, path: y.db, max_retries: -1}]\n").find("max_retries") !=
        std::string::npos);
  CHECK(problems_of("download: {connect_timeout: 2.5, prefer: origin}\n").empty());
  const auto c = parse_monitor_config("download: {connect_timeout: 2.5, prefer: origin}\n" + tail);
  CHECK(c.options.download.connect_timeout == std::chrono::milliseconds(2500));
  CHECK(c.options.sources.origin_first);
  // The dump is the bound values, and reads back to the same dump.
  CHECK(c.effective.find("connect_timeout: 2500ms") != std::string::npos);
  CHECK(parse_monitor_config(c.effective).effective == c.effective);
}

TEST_CASE("check_monitor_config: what a run without code-added sinks would refuse") {
  const auto c = parse_monitor_config(
      "sinks: [{name: cb, type: callback}, {name: influx, type: influxdb}]\n"
      "pipelines: [{name: lonely}, {name: p, sinks: [cb, influx], enrich: {source: /nonexistent/stations.csv}}]\n");
  const auto problems = check_monitor_config(c);
  std::string all;
  for (const auto& p : problems) all += p + "\n";
  CHECK(all.find("pipeline 'lonely': no sinks") != std::string::npos);
  CHECK(all.find("sink 'cb': a callback sink") != std::string::npos);
  CHECK(all.find("sink 'influx': ") != std::string::npos);
  CHECK(all.find("database is required") != std::string::npos);
  CHECK(all.find("pipeline 'p' enrich: ") != std::string::npos);
  CHECK(problems.size() == 4);
  CHECK(check_monitor_config(default_monitor_config()).empty());
}

TEST_CASE("monitor config: recursive aliases and alias bombs are refused, quickly, without a crash") {
  CHECK_THROWS_WITH_AS(parse_monitor_config("a: &a [*a]\n"), doctest::Contains("recursive alias"), Error);
  CHECK_THROWS_WITH_AS(parse_monitor_config("monitor: &m {spool: x, loop: *m}\n"), doctest::Contains("deeper than"),
                       Error);
  // Nine levels of ten aliases each: 10^9 values if expanded.
  std::string bomb = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    bomb += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) bomb += (k ? ", *l" : "*l") + std::to_string(i - 1);
    bomb += "]\n";
  }
  CHECK_THROWS_WITH_AS(parse_monitor_config(bomb), doctest::Contains("more than 100000 values"), Error);
}
