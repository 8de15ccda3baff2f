// The dashboard's state (what /api/centres, /stations, /alerts, /downloads, /invalid and
// /sensor-centre show) and the control API's request handling, without a server.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "dashboard/control_api.hpp"
#include "dashboard/dashboard_state.hpp"
#include "wis2mon/decode/cap.hpp"
#include "wis2mon/error.hpp"

using namespace wis2mon;
using wis2mon::detail::DashboardState;

namespace {

rapidjson::Document parsed(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

Timestamp at(const char* text) {
  return *parse_rfc3339(text);
}

RecordSchemaPtr obs_schema() {
  static const auto schema = std::make_shared<const RecordSchema>(
      "surface_obs", std::vector<std::string>{"wigos_station_identifier", "station_name", "latitude", "longitude",
                                              "observed_at", "air_temperature", "wind_speed"});
  return schema;
}

Record obs(const std::string& wsi, double lat, double lon, const char* observed, double temperature) {
  Record r(obs_schema());
  r.set("wigos_station_identifier", wsi);
  r.set("station_name", "Station " + wsi);
  r.set("latitude", lat);
  r.set("longitude", lon);
  r.set("observed_at", at(observed));
  r.set("air_temperature", temperature);
  return r;
}

std::string cap_xml(const std::string& identifier, const std::string& msg_type, const std::string& references,
                    const std::string& expires) {
  return "<?xml version=\"1.0\"?><alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>" + identifier +
         "</identifier><sender>s@example.org</sender><sent>2026-11-30T10:00:00+00:00</sent><status>Actual</status>"
         "<msgType>" +
         msg_type + "</msgType><scope>Public</scope>" +
         (references.empty() ? "" : "<references>" + references + "</references>") +
         "<info><category>Met</category><event>Storm</event><urgency>Immediate</urgency><severity>Severe</severity>"
         "<certainty>Observed</certainty>" +
         (expires.empty() ? "" : "<expires>" + expires + "</expires>") +
         "<area><areaDesc>Coast</areaDesc><polygon>10,20 10,21 11,21 10,20</polygon></area></info></alert>";
}

std::vector<Record> cap_records(const std::string& xml) {
  const auto r = decode_cap(xml);
  return r.to_records();
}

}  // namespace

TEST_CASE("dashboard state: per-centre counts and the per-minute series of the last hour") {
  DashboardState state;
  const Timestamp now = at("2026-11-30T12:30:30Z");
  for (int i = 0; i < 3; ++i) state.on_message("de-dwd", true, at("2026-11-30T12:30:01Z"));
  state.on_message("de-dwd", false, at("2026-11-30T12:29:59Z"));
  state.on_message("de-dwd", true, at("2026-11-30T11:00:00Z"));  // older than the hour: counted, not charted
  state.on_duplicate("de-dwd");
  state.on_message("fr-meteofrance", true, at("2026-11-30T12:00:00Z"));
  const auto d = parsed(state.centres_json(now));
  CHECK(d["minutes"].GetInt() == 60);
  CHECK(std::string(d["minute_start"].GetString()) == "2026-11-30T11:31:00Z");
  const auto& centres = d["centres"].GetArray();
  REQUIRE(centres.Size() == 2);
  const auto& de = centres[0];
  CHECK(std::string(de["centre_id"].GetString()) == "de-dwd");
  CHECK(de["received"].GetUint() == 5);
  CHECK(de["valid"].GetUint() == 4);
  CHECK(de["invalid"].GetUint() == 1);
  CHECK(de["duplicates"].GetUint() == 1);
  const auto& series = de["per_minute"].GetArray();
  REQUIRE(series.Size() == 60);
  CHECK(series[59].GetUint() == 3);  // 12:30
  CHECK(series[58].GetUint() == 1);  // 12:29
  unsigned total = 0;
  for (const auto& n : series) total += n.GetUint();
  CHECK(total == 4);
  // A bucket of an earlier hour is not shown as this hour's.
  const auto later = parsed(state.centres_json(at("2026-11-30T13:30:10Z")));
  for (const auto& n : later["centres"][0]["per_minute"].GetArray()) CHECK(n.GetUint() == 0);
}

TEST_CASE("dashboard state: stations keep their latest report and position; bounded") {
  DashboardState state(3);
  const Timestamp now = at("2026-11-30T12:10:00Z");
  state.on_records({obs("0-20000-0-10001", 52.1, 13.4, "2026-11-30T12:00:00Z", 280.0)}, "de-dwd", now);
  state.on_records({obs("0-20000-0-10001", 52.2, 13.5, "2026-11-30T11:00:00Z", 270.0)}, "de-dwd", now);  // older
  state.on_records({obs("0-20000-0-10002", 95.0, 13.5, "2026-11-30T12:00:00Z", 281.0)}, "de-dwd", now);  // lat out
  auto d = parsed(state.stations_json(now));
  REQUIRE(d["stations"].Size() == 1);
  const auto& s = d["stations"][0];
  CHECK(std::string(s["id"].GetString()) == "0-20000-0-10001");
  CHECK(s["lat"].GetDouble() == 52.1);
  CHECK(s["values"]["air_temperature"].GetDouble() == 280.0);
  CHECK(std::string(s["observed_at"].GetString()) == "2026-11-30T12:00:00Z");
  CHECK(d["without_position"].GetUint() == 1);
  CHECK(s["age_s"].GetInt64() == 0);
  // Asked again later: the same report, its age grown; after a newer report: the new one.
  d = parsed(state.stations_json(at("2026-11-30T12:15:00Z")));
  CHECK(d["stations"][0]["age_s"].GetInt64() == 300);
  CHECK(d["stations"][0]["values"]["air_temperature"].GetDouble() == 280.0);
  state.on_records({obs("0-20000-0-10001", 52.3, 13.4, "2026-11-30T12:10:00Z", 283.5)}, "de-dwd",
                   at("2026-11-30T12:15:00Z"));
  d = parsed(state.stations_json(at("2026-11-30T12:16:00Z")));
  REQUIRE(d["stations"].Size() == 1);
  CHECK(d["stations"][0]["values"]["air_temperature"].GetDouble() == 283.5);
  CHECK(d["stations"][0]["lat"].GetDouble() == 52.3);
  CHECK(std::string(d["stations"][0]["observed_at"].GetString()) == "2026-11-30T12:10:00Z");
  CHECK(d["stations"][0]["age_s"].GetInt64() == 60);
  CHECK(d["without_position"].GetUint() == 1);
  // The oldest entries go first beyond the bound.
  state.on_records({obs("0-20000-0-10003", 1, 1, "2026-11-30T12:00:00Z", 1)}, "x-a", now);
  state.on_records({obs("0-20000-0-10004", 2, 2, "2026-11-30T12:00:00Z", 2)}, "x-a", now);
  CHECK(state.station_count() == 3);
  d = parsed(state.stations_json(now));
  for (const auto& st : d["stations"].GetArray()) CHECK(std::string(st["id"].GetString()) != "0-20000-0-10001");
}

TEST_CASE("dashboard state: active alerts; an update replaces, a cancel ends, an expired one is not shown") {
  DashboardState state;
  const Timestamp now = at("2026-11-30T12:00:00Z");
  state.on_records(cap_records(cap_xml("A1", "Alert", "", "2026-11-30T18:00:00+00:00")), "de-dwd", now);
  state.on_records(cap_records(cap_xml("A2", "Alert", "", "2026-11-30T11:00:00+00:00")), "de-dwd", now);
  state.on_records(cap_records(cap_xml("A3", "Alert", "", "")), "de-dwd", now);
  auto d = parsed(state.alerts_json(now));
  REQUIRE(d["alerts"].Size() == 2);  // A2 has expired
  CHECK(std::string(d["alerts"][0]["identifier"].GetString()) == "A1");
  CHECK(d["alerts"][0]["areas"][0]["polygons"][0].Size() == 4);
  CHECK(std::string(d["alerts"][0]["areas"][0]["desc"].GetString()) == "Coast");
  state.on_records(
      cap_records(cap_xml("A4", "Update", "s@example.org,A1,2026-11-30T10:00:00+00:00", "2026-11-30T20:00:00+00:00")),
      "de-dwd", now);
  state.on_records(cap_records(cap_xml("A5", "Cancel", "s@example.org,A3,2026-11-30T10:00:00+00:00", "")), "de-dwd",
                   now);
  d = parsed(state.alerts_json(now));
  REQUIRE(d["alerts"].Size() == 1);
  CHECK(std::string(d["alerts"][0]["identifier"].GetString()) == "A4");
  CHECK(std::string(d["alerts"][0]["expires"].GetString()) == "2026-11-30T20:00:00Z");
}

TEST_CASE("dashboard state: downloads per data server, latest invalid messages, open findings") {
  DashboardState state;
  const Timestamp now = at("2026-11-30T12:00:00Z");
  state.on_download("https://data.example.org/a/b.bufr4", true, 100, "", now);
  state.on_download("https://data.example.org/c.bufr4", false, 0, "http_error: 404", now);
  state.on_download("http://other.example:8080/x", true, 5, "", now);
  auto d = parsed(state.downloads_json());
  REQUIRE(d["servers"].Size() == 2);
  CHECK(std::string(d["servers"][0]["server"].GetString()) == "http://other.example:8080");
  CHECK(d["servers"][1]["downloads"].GetUint() == 1);
  CHECK(d["servers"][1]["failures"].GetUint() == 1);
  CHECK(d["servers"][1]["bytes"].GetUint() == 100);
  CHECK(std::string(d["servers"][1]["last_error"].GetString()) == "http_error: 404");
  for (int i = 0; i < 150; ++i) state.on_invalid("de-dwd", "origin/a/wis2/de-dwd", "reason " + std::to_string(i), now);
  d = parsed(state.invalid_json());
  REQUIRE(d["invalid"].Size() == DashboardState::kInvalidKept);
  CHECK(std::string(d["invalid"][0]["reason"].GetString()) == "reason 149");  // newest first

  const auto findings = std::make_shared<const RecordSchema>(
      "findings", std::vector<std::string>{"rule", "subject", "centre_id", "severity", "state", "raised_at", "title"});
  Record raised(findings);
  raised.set("rule", "station_silent");
  raised.set("subject", "0-20000-0-10001");
  raised.set("centre_id", "de-dwd");
  raised.set("state", "raised");
  state.on_availability_rows({raised});
  CHECK(parsed(state.findings_json())["findings"].Size() == 1);
  Record cleared = raised;
  cleared.set("state", "cleared");
  state.on_availability_rows({cleared});
  CHECK(parsed(state.findings_json())["findings"].Size() == 0);
}

TEST_CASE("control API: the token, the arguments, the answers") {
  detail::ControlActions actions;
  std::vector<std::string> calls, logged;
  actions.subscriptions = [] { return std::string("{\"brokers\":[]}"); };
  actions.change_subscription = [&](const std::string& broker, const std::string& filter, bool add) {
    if (broker == "missing") throw Error(ErrorCode::not_found, "no broker named 'missing'");
    calls.push_back((add ? "+" : "-") + broker + ":" + filter);
    return std::string();
  };
  actions.pipelines = [] { return std::string("{\"pipelines\":[]}"); };
  actions.change_filter = [&](const std::string& name, const std::string& filter, bool add) {
    calls.push_back((add ? "+p:" : "-p:") + name + ":" + filter);
    return filter == "bad" ? std::string("invalid filter") : std::string();
  };
  actions.retry_dead_letters = [](const std::string&, std::size_t limit) { return limit; };
  actions.purge_dead_letters = [](const std::string& sink) { return sink.size(); };
  actions.log = [&](std::string_view l) { logged.emplace_back(l); };
  const auto request = [](std::string method, std::string path, std::string body, std::string auth) {
    detail::MetricsServer::Request r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.body = std::move(body);
    r.authorization = std::move(auth);
    r.peer = "127.0.0.1";
    return r;
  };
  const std::string token = "tok-123";
  const std::string good = "Bearer tok-123";

  CHECK_FALSE(detail::serve_control(token, actions, request("GET", "/api/summary", "", good)));
  CHECK_FALSE(detail::serve_control(token, actions, request("GET", "/api/controller", "", good)));
  CHECK(detail::serve_control("", actions, request("GET", "/api/control/subscriptions", "", good))->status == 404);
  for (const char* auth : {"", "Bearer tok-12", "Bearer tok-1234", "bearer tok-123", "tok-123", "Basic dG9rLTEyMw=="}) {
    const auto r = detail::serve_control(token, actions, request("GET", "/api/control/subscriptions", "", auth));
    CHECK(r->status == 401);
    REQUIRE(r->headers.size() == 1);
    CHECK(r->headers[0].first == "WWW-Authenticate");
  }
  CHECK(logged.size() == 6);
  CHECK(calls.empty());

  auto r = detail::serve_control(token, actions, request("GET", "/api/control/subscriptions", "", good));
  CHECK(r->status == 200);
  CHECK(r->body == "{\"brokers\":[]}");
  r = detail::serve_control(token, actions,
                            request("POST", "/api/control/subscriptions", R"({"filter":"a/#","broker":"gb"})", good));
  CHECK(r->status == 200);
  CHECK(r->body == R"({"broker":"gb","filter":"a/#","added":true})");
  r = detail::serve_control(token, actions,
                            request("DELETE", "/api/control/subscriptions", R"({"filter":"a/#"})", good));
  CHECK(r->body == R"({"broker":"","filter":"a/#","removed":true})");
  CHECK(calls == std::vector<std::string>{"+gb:a/#", "-:a/#"});
  CHECK(detail::serve_control(
            token, actions, request("POST", "/api/control/subscriptions", R"({"filter":"x","broker":"missing"})", good))
            ->status == 404);
  CHECK(detail::serve_control(token, actions, request("POST", "/api/control/subscriptions", "{", good))->status == 400);
  CHECK(detail::serve_control(token, actions, request("POST", "/api/control/subscriptions", "{}", good))->status ==
        400);
  CHECK(detail::serve_control(token, actions, request("POST", "/api/control/subscriptions", R"({"url":"x"})", good))
            ->status == 400);
  CHECK(detail::serve_control(token, actions, request("PUT", "/api/control/subscriptions", "", good))->status == 405);
  r = detail::serve_control(token, actions,
                            request("POST", "/api/control/pipelines/obs/filters", R"({"filter":"bad"})", good));
  CHECK(r->status == 400);
  CHECK(r->body.find("invalid filter") != std::string::npos);
  r = detail::serve_control(token, actions, request("POST", "/api/control/dead-letters/retry", R"({"limit":7})", good));
  CHECK(r->body == R"({"retried":7})");
  r = detail::serve_control(token, actions, request("POST", "/api/control/dead-letters/retry", R"({"limit":0})", good));
  CHECK(r->status == 400);
  r = detail::serve_control(token, actions,
                            request("POST", "/api/control/dead-letters/purge", R"({"sink":"validate"})", good));
  CHECK(r->body == R"({"purged":8})");
  CHECK(detail::serve_control(token, actions, request("GET", "/api/control/nothing", "", good))->status == 404);
}
