// WIS2 Monitoring Events: what to_json writes is valid, each rule of validate_wme catches what
// it names, and the reference data's examples and pywis-pubsub's WME test messages get the
// verdicts the schema and that suite give them.
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <filesystem>
#include <string>

#include "support.hpp"
#include "wis2mon/wme.hpp"

using namespace wis2mon;

namespace {

WmeEvent full_event() {
  WmeEvent e;
  e.source = "xx-test-sensor-centre-global-cache";
  e.subject = "de-dwd";
  e.time = *parse_rfc3339("2026-11-30T12:00:00.5Z");
  e.subtype = "scgc-log";
  e.severity = "INFO";
  e.interval = {{*parse_rfc3339("2026-11-30T11:00:00Z"), *parse_rfc3339("2026-11-30T12:00:00Z")}};
  e.title = "Hourly log";
  e.description = "one line per data_id";
  e.channel = "monitor/a/wis2/xx-test-sensor-centre-global-cache";
  e.links.push_back({"https://sc.example.org/logs/2026113011.jsonl", "canonical", "application/x-ndjson", "", ""});
  return e;
}

// The event's JSON with one member replaced (a JSON text) or removed (nullptr), at a path of
// object keys.
std::string edited(const std::string& json, std::initializer_list<const char*> path, const char* value) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  rapidjson::Value* parent = &d;
  std::vector<const char*> keys(path);
  for (std::size_t i = 0; i + 1 < keys.size(); ++i) parent = &(*parent)[keys[i]];
  if (value) {
    rapidjson::Document v(&d.GetAllocator());
    v.Parse(value);
    REQUIRE_FALSE(v.HasParseError());
    if (parent->HasMember(keys.back()))
      (*parent)[keys.back()].CopyFrom(v, d.GetAllocator());
    else
      parent->AddMember(rapidjson::Value(keys.back(), d.GetAllocator()), rapidjson::Value(v, d.GetAllocator()),
                        d.GetAllocator());
  } else {
    parent->RemoveMember(keys.back());
  }
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  d.Accept(w);
  return b.GetString();
}

}  // namespace

TEST_CASE("wme: to_json writes a valid event with every member given, and a fresh id each time") {
  const std::string json = to_json(full_event());
  const auto report = validate_wme(json, ValidationMode::strict);
  CHECK(report.valid());
  CHECK(report.warnings().empty());
  rapidjson::Document d;
  d.Parse(json.c_str());
  CHECK(std::string(d["time"].GetString()) == "2026-11-30T12:00:00Z");
  CHECK(std::string(d["data"]["time"]["interval"][0].GetString()) == "2026-11-30T11:00:00Z");
  CHECK(std::string(d["data"]["links"][0]["type"].GetString()) == "application/x-ndjson");
  CHECK_FALSE(d["data"]["links"][0].HasMember("title"));  // empty strings are left out
  CHECK(std::string(d["id"].GetString()).size() == 36);
  CHECK(std::string(d["id"].GetString())[14] == '4');
  rapidjson::Document again;
  again.Parse(to_json(full_event()).c_str());
  CHECK(std::string(d["id"].GetString()) != again["id"].GetString());
  // The least event: no content, no links, no time.
  WmeEvent least;
  least.source = "xx-a";
  least.subject = "xx-b";
  least.time = Timestamp::now();
  CHECK(validate_wme(to_json(least), ValidationMode::strict).valid());
  CHECK(looks_like_wme(json));
  CHECK_FALSE(looks_like_wme(testing::valid_message()));
  CHECK_FALSE(looks_like_wme("not json"));
}

TEST_CASE("wme: each rule catches what it names") {
  const std::string good = to_json(full_event());
  struct Case {
    std::initializer_list<const char*> path;
    const char* value;  // nullptr: removed
    const char* rule;
  };
  const Case cases[] = {
      {{"id"}, nullptr, "wme.required"},
      {{"id"}, "\"\"", "wme.type_mismatch"},
      {{"source"}, nullptr, "wme.required"},
      {{"specversion"}, "\"0.3\"", "wme.specversion"},
      {{"type"}, nullptr, "wme.required"},
      {{"type"}, "\"int.wmo.wis.wme.event.nope\"", "wme.type"},
      {{"subject"}, nullptr, "wme.required"},
      {{"time"}, nullptr, "wme.required"},
      {{"time"}, "\"yesterday\"", "wme.time"},
      {{"datacontenttype"}, nullptr, "wme.required"},
      {{"dataschema"}, nullptr, "wme.required"},
      {{"data"}, nullptr, "wme.required"},
      {{"data"}, "[1]", "wme.data"},
      {{"data", "conformsTo"}, "[\"http://example.org/other\"]", "wme.conformance"},
      {{"data", "severity"}, nullptr, "wme.severity"},
      {{"data", "severity"}, "\"FATAL\"", "wme.severity"},
      {{"data", "subtype"}, "7", "wme.type_mismatch"},
      {{"data", "ref"}, "\"not-a-uuid\"", "wme.ref"},
      {{"data", "time"}, "null", "wme.data_time"},
      {{"data", "time"}, "{\"date\": \"2026-11-30T00:00:00Z\"}", "wme.data_time"},
      {{"data", "time"}, "{\"timestamp\": \"2026-11-30T00:00:00+01:00\"}", "wme.data_time"},
      {{"data", "time"}, "{\"interval\": [\"2026-11-30\"]}", "wme.data_time"},
      {{"data", "time"}, "{\"interval\": [\"2026-11-30\", \"soon\"]}", "wme.data_time"},
      {{"data", "content"}, "\"text\"", "wme.content"},
      {{"data", "content"}, "{\"description\": \"no title\"}", "wme.content"},
      {{"data", "links"}, "[]", "wme.links"},
      {{"data", "links"}, "[{\"rel\": \"canonical\"}]", "wme.links"},
      {{"data", "links"}, "[{\"href\": \"https://x\", \"length\": \"12\"}]", "wme.type_mismatch"},
  };
  for (const auto& c : cases) {
    const std::string bad = edited(good, c.path, c.value);
    CAPTURE(bad);
    const auto report = validate_wme(bad);
    CHECK_FALSE(report.valid());
    CHECK(report.has(c.rule, false));
  }
  // Allowed forms.
  for (const char* interval :
       {"[\"2026\", \"2026-11\"]", "[\"T06:00Z\", \"..\"]", "[\"2026-11-30T06:00:00.25Z\", \"..\"]"}) {
    const std::string ok = edited(good, {"data", "time"}, (std::string("{\"interval\": ") + interval + "}").c_str());
    CAPTURE(ok);
    CHECK(validate_wme(ok).valid());
  }
  CHECK(validate_wme(edited(good, {"data", "ref"}, "\"6e1c7f9f-dd6c-48d9-bbc4-aef0625f1fb8\"")).valid());
  // Null where CloudEvents allows it: a warning.
  const auto null_subject = validate_wme(edited(good, {"subject"}, "null"));
  CHECK(null_subject.valid());
  CHECK(null_subject.has("wme.null"));
  CHECK(validate_wme("[1, 2]").has("wme.json"));
  CHECK(validate_wme("{\"id\": ").has("wme.json"));
}

TEST_CASE("wme: a finer type of the code list is a warning in lenient mode, an error in strict mode") {
  const std::string finer = edited(to_json(full_event()), {"type"}, "\"int.wmo.wis.wme.event.item.download\"");
  const auto lenient = validate_wme(finer, ValidationMode::lenient);
  CHECK(lenient.valid());
  CHECK(lenient.has("wme.type.finer"));
  CHECK_FALSE(validate_wme(finer, ValidationMode::strict).valid());
  CHECK(wme_event_types().size() == 14);
}

TEST_CASE("wme: the reference examples and pywis-pubsub's WME test messages get their verdicts") {
  const auto root = testing::refdata();
  if (!root) {
    MESSAGE("reference data absent: skipped");
    return;
  }
  int examples = 0;
  for (const auto& f : std::filesystem::directory_iterator(*root / "wis2" / "wme" / "examples")) {
    CAPTURE(f.path());
    const auto report = validate_wme(testing::read_file(f.path()), ValidationMode::strict);
    CHECK(report.valid());
    ++examples;
  }
  CHECK(examples >= 10);
  const auto ets = *root / "wis2" / "ets" / "pywis-pubsub";
  CHECK(validate_wme(testing::read_file(ets / "test_wmem_valid_scgc_logs.json")).valid());
  const auto no_severity = validate_wme(testing::read_file(ets / "test_wmem_invalid.json"));
  CHECK_FALSE(no_severity.valid());
  CHECK(no_severity.has("wme.severity", false));
  CHECK(no_severity.errors().size() == 1);
  const auto bad_type = validate_wme(testing::read_file(ets / "test_wmem_invalid_type.json"));
  CHECK_FALSE(bad_type.valid());
  CHECK(bad_type.has("wme.type", false));
  CHECK(bad_type.errors().size() == 1);
}
