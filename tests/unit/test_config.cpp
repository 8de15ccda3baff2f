#include <doctest/doctest.h>

#include "wis2mon/config.hpp"
#include "wis2mon/error.hpp"
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
