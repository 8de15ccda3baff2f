// InfluxDB sink: line-protocol encoding, a real influxd (1.x API) written to and queried
// back, and the 2.x request format against a small HTTP server that checks it.
#include <doctest/doctest.h>
#include <httplib.h>
#include <rapidjson/document.h>

#include <cmath>
#include <mutex>
#include <thread>

#include "influx_server.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/sink.hpp"
#include "wis2mon/sinks/influxdb.hpp"

using namespace wis2mon;
using namespace std::chrono_literals;

namespace {

std::string line_of(const Record& r, const InfluxTableSpec& spec) {
  std::string out, error;
  if (!influx_line(r, spec, out, error)) return "error: " + error;
  return out;
}

std::vector<DeliveryStatus> statuses(const std::vector<Delivery>& d) {
  std::vector<DeliveryStatus> out;
  for (const auto& x : d) out.push_back(x.status);
  return out;
}

// The rows of the first series of a query answer, as the server's JSON values.
struct Series {
  std::vector<std::string> columns;
  rapidjson::Document doc;
  const rapidjson::Value* values = nullptr;
  rapidjson::SizeType column(const std::string& name) const {
    for (rapidjson::SizeType i = 0; i < columns.size(); ++i)
      if (columns[i] == name) return i;
    FAIL("no column " << name);
    return 0;
  }
};

std::unique_ptr<Series> series(const std::string& json) {
  auto s = std::make_unique<Series>();
  s->doc.Parse(json.c_str());
  REQUIRE(s->doc.IsObject());
  const auto& result = s->doc["results"][0];
  INFO(json);
  REQUIRE(result.HasMember("series"));
  for (const auto& c : result["series"][0]["columns"].GetArray()) s->columns.emplace_back(c.GetString());
  s->values = &result["series"][0]["values"];
  return s;
}

bool have_influxd() {
  if (!testing::InfluxServer::binary().empty()) return true;
  MESSAGE("influxd is not installed (Debian package influxdb): skipped");
  return false;
}

InfluxSinkOptions v1_options(const testing::InfluxServer& server, const std::string& db) {
  InfluxSinkOptions o;
  o.url = server.url();
  o.database = db;
  o.timeout = 5s;
  return o;
}

}  // namespace

TEST_CASE("influx_line: escaping, types, tags sorted, time in nanoseconds") {
  InfluxTableSpec spec{"obs m,x", {"station", "kind"}, {}, "at"};
  Record r("t");
  r.set("station", std::string("a,b=c d"));
  r.set("kind", std::string("z"));
  r.set("at", Timestamp{1700000000, 123});
  r.set("temp", 273.5);
  r.set("count", std::int64_t{-7});
  r.set("ok", true);
  r.set("text", std::string("say \"hi\"\\ now\nnext"));
  r.set("missing", FieldValue{});
  r.set("nan", std::nan(""));
  r.set("seen", Timestamp{1700000001, 0});
  r.set("field key,=", 1.0);
  CHECK(line_of(r, spec) ==
        "obs\\ m\\,x,kind=z,station=a\\,b\\=c\\ d temp=273.5,count=-7i,ok=true,"
        "text=\"say \\\"hi\\\"\\\\ now\nnext\",seen=\"2023-11-14T22:13:21Z\",field\\ key\\,\\==1 "
        "1700000000000000123\n");

  // Chosen fields only; a tag that is null or empty is left out; a trailing backslash in a
  // tag cannot be written and is dropped.
  InfluxTableSpec some{"", {"kind", "station"}, {"temp"}, ""};
  Record q("surface");
  q.set("kind", std::string(""));
  q.set("station", std::string("C:\\dir\\"));
  q.set("temp", 1.25);
  q.set("other", 5.0);
  CHECK(line_of(q, some) == "surface,station=C:\\dir temp=1.25\n");

  // A time given as RFC 3339 text is accepted.
  Record s("t");
  s.set("at", std::string("2023-03-21T12:00:00Z"));
  s.set("v", std::int64_t{1});
  CHECK(line_of(s, spec) == "obs\\ m\\,x v=1i 1679400000000000000\n");

  // Not writable: nothing but nulls, a missing time, a time past 2262.
  Record empty("t");
  empty.set("at", Timestamp{1700000000, 0});
  empty.set("x", FieldValue{});
  CHECK(line_of(empty, spec) == "error: no field values to write");
  Record untimed("t");
  untimed.set("x", 1.0);
  CHECK(line_of(untimed, spec).rfind("error: time field 'at'", 0) == 0);
  Record far("t");
  far.set("x", 1.0);
  far.set("at", Timestamp{9300000000, 0});
  CHECK(line_of(far, spec) == "error: time field 'at' is out of range");
  // The output is left as it was on failure.
  std::string out = "keep", error;
  CHECK_FALSE(influx_line(empty, spec, out, error));
  CHECK(out == "keep");
}

TEST_CASE("influxdb sink: bad options are refused when the sink is made") {
  InfluxSinkOptions o;
  CHECK_THROWS_AS(InfluxSink("x", o), Error);  // no database
  o.database = "db";
  o.url = "ftp://host";
  CHECK_THROWS_AS(InfluxSink("x", o), Error);
  o.url = "http://127.0.0.1:1";
  o.api = InfluxApi::v2;
  CHECK_THROWS_AS(InfluxSink("x", o), Error);  // no org/bucket
  ConfigValues c = sink_config_table("influxdb").validate({{"database", "db"}, {"timeout", "2s"}});
  CHECK(make_sink("influxdb", "i", c) != nullptr);
  CHECK_THROWS_AS(sink_config_table("influxdb").validate({{"databse", "db"}}), Error);
}

TEST_CASE("influxdb sink: nothing listening means Retry, and an unhealthy healthcheck") {
  InfluxSinkOptions o;
  o.url = "http://127.0.0.1:1";  // port 1: refused
  o.database = "db";
  InfluxSink sink("influx", o);
  Record r("t");
  r.set("x", 1.0);
  const auto answers = sink.write({r, r});
  CHECK(statuses(answers) == std::vector<DeliveryStatus>{DeliveryStatus::retry, DeliveryStatus::retry});
  CHECK(answers[0].reason.find("not reached") != std::string::npos);
  const auto health = sink.healthcheck();
  CHECK_FALSE(health.ok);
  CHECK_FALSE(health.message.empty());
}

TEST_CASE("influxdb sink: a real influxd stores what was written, tags and escaping intact") {
  if (!have_influxd()) return;
  testing::InfluxServer server;
  server.query("", "CREATE DATABASE obs");
  auto o = v1_options(server, "obs");
  InfluxSink sink("influx", o);
  CHECK(sink.healthcheck().ok);

  // Built-in surface_obs spec: the station is a tag, observed_at the time.
  const std::vector<std::string> stations = {"0-20000-0-06260", "0-20000-0-10381", "0-20000-0-15015"};
  std::vector<Record> batch;
  for (int i = 0; i < 30; ++i) {
    Record r("surface_obs");
    r.set("wigos_station_identifier", stations[static_cast<std::size_t>(i) % 3]);
    r.set("station_name", std::string("Name with \"quotes\", commas = and \\ backslash"));
    r.set("observed_at", Timestamp{1679400000 + 600 * i, 0});
    r.set("air_temperature", 270.0 + i * 0.25);
    r.set("pressure_reduced_to_mean_sea_level", i % 2 ? FieldValue{} : FieldValue(101325.0 + i));
    r.set("cloud_cover", std::int64_t{i % 9});
    batch.push_back(r);
  }
  const auto answers = sink.write(batch);
  for (const auto& a : answers) REQUIRE_MESSAGE(a.status == DeliveryStatus::delivered, a.reason);
  CHECK(sink.stats().requests == 1);
  CHECK(sink.stats().points_written == 30);

  const auto got = series(server.query(
      "obs", "SELECT * FROM surface_obs WHERE wigos_station_identifier = '0-20000-0-10381' ORDER BY time"));
  REQUIRE(got->values->Size() == 10);
  const auto& first = (*got->values)[0];
  CHECK(std::string(first[got->column("time")].GetString()) == "2023-03-21T12:10:00Z");
  CHECK(first[got->column("air_temperature")].GetDouble() == doctest::Approx(270.25));
  CHECK(first[got->column("pressure_reduced_to_mean_sea_level")].IsNull());  // null: not written
  CHECK(first[got->column("cloud_cover")].GetInt64() == 1);
  CHECK(std::string(first[got->column("station_name")].GetString()) ==
        "Name with \"quotes\", commas = and \\ backslash");
  const auto& second = (*got->values)[1];
  CHECK(second[got->column("pressure_reduced_to_mean_sea_level")].GetDouble() == doctest::Approx(101329.0));
  // It is a tag: the server lists its values.
  const auto tags = series(server.query("obs", "SHOW TAG VALUES FROM surface_obs WITH KEY = wigos_station_identifier"));
  CHECK(tags->values->Size() == 3);

  // Tag values and keys with the characters line protocol escapes, and UTF-8.
  o.tables["odd"] = {"odd name,1", {"tag key", "place"}, {}, "at"};
  InfluxSink odd("influx-odd", o);
  Record r("odd");
  r.set("tag key", std::string("a=b, c"));
  r.set("place", std::string("Zürich\\Nord"));
  r.set("at", Timestamp{1679400000, 5});
  r.set("note", std::string("line one\nline two \"quoted\" \\"));
  REQUIRE(odd.write({r})[0].status == DeliveryStatus::delivered);
  const auto back = series(server.query("obs", "SELECT * FROM \"odd name,1\""));
  REQUIRE(back->values->Size() == 1);
  const auto& row = (*back->values)[0];
  CHECK(std::string(row[back->column("tag key")].GetString()) == "a=b, c");
  CHECK(std::string(row[back->column("place")].GetString()) == "Zürich\\Nord");
  CHECK(std::string(row[back->column("note")].GetString()) == "line one\nline two \"quoted\" \\");
  CHECK(std::string(row[back->column("time")].GetString()) == "2023-03-21T12:00:00.000000005Z");
}

TEST_CASE("influxdb sink: refused lines are found by splitting; 4xx Rejects, nothing else is lost") {
  if (!have_influxd()) return;
  testing::InfluxServer server;
  server.query("", "CREATE DATABASE obs");
  auto o = v1_options(server, "obs");
  o.tables["m"] = {"m", {}, {}, "at"};
  InfluxSink sink("influx", o);
  std::vector<Record> batch;
  for (int i = 0; i < 16; ++i) {
    Record r("m");
    // Records 5 and 12 write "v" as a string where the others write a float: a type conflict.
    if (i == 5 || i == 12)
      r.set("v", std::string("text"));
    else
      r.set("v", static_cast<double>(i));
    r.set("at", Timestamp{1679400000 + i, 0});
    batch.push_back(r);
  }
  // Establish "v" as a float first, so which record conflicts does not depend on order.
  REQUIRE(sink.write({batch[0]})[0].status == DeliveryStatus::delivered);
  const auto answers = sink.write(batch);
  for (std::size_t i = 0; i < answers.size(); ++i) {
    INFO("record " << i << ": " << answers[i].reason);
    if (i == 5 || i == 12) {
      CHECK(answers[i].status == DeliveryStatus::rejected);
      CHECK(answers[i].reason.find("field type conflict") != std::string::npos);
    } else {
      CHECK(answers[i].status == DeliveryStatus::delivered);
    }
  }
  CHECK(sink.stats().requests > 2);  // the batch was split
  const auto got = series(server.query("obs", "SELECT count(v) FROM m"));
  CHECK((*got->values)[0][1].GetInt64() == 14);

  // A database that does not exist: the server answers 404, every record is Rejected.
  auto missing = v1_options(server, "no_such_db");
  InfluxSink lost("influx-missing", missing);
  const auto refused = lost.write({batch[0], batch[1]});
  CHECK(statuses(refused) == std::vector<DeliveryStatus>{DeliveryStatus::rejected, DeliveryStatus::rejected});
  CHECK(refused[0].reason.find("404") != std::string::npos);

  // Configured from the shared config table: tags override the built-in choice.
  const auto c = sink_config_table("influxdb")
                     .validate({{"url", server.url()},
                                {"database", "obs"},
                                {"measurement", "stations"},
                                {"tags", "kind"},
                                {"time_field", "at"}});
  auto configured = make_sink("influxdb", "cfg", c);
  Record k("anything");
  k.set("kind", std::string("synop"));
  k.set("at", Timestamp{1679400000, 0});
  k.set("n", std::int64_t{3});
  REQUIRE(configured->write({k})[0].status == DeliveryStatus::delivered);
  const auto tag = series(server.query("obs", "SHOW TAG KEYS FROM stations"));
  CHECK(std::string((*tag->values)[0][0].GetString()) == "kind");
}

TEST_CASE("influxdb sink: 2.x API request (org, bucket, token) and its answers") {
  httplib::Server server;
  std::mutex mu;
  std::vector<std::string> bodies;
  std::string org, bucket, precision, auth, content_type;
  int fail_next = 0;  // answer 503 this many times
  server.Post("/api/v2/write", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    org = req.get_param_value("org");
    bucket = req.get_param_value("bucket");
    precision = req.get_param_value("precision");
    auth = req.get_header_value("Authorization");
    content_type = req.get_header_value("Content-Type");
    if (auth != "Token s3cret") {
      res.status = 401;
      res.set_content(R"({"code":"unauthorized","message":"unauthorized access"})", "application/json");
      return;
    }
    if (fail_next > 0) {
      --fail_next;
      res.status = 503;
      return;
    }
    bodies.push_back(req.body);
    res.status = 204;
  });
  server.Get("/ping", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(1ms);

  {  // the sinks (and their kept-alive connections) go before the server stops
    InfluxSinkOptions o;
    o.url = "http://127.0.0.1:" + std::to_string(port) + "/";
    o.api = InfluxApi::v2;
    o.org = "my org&co";
    o.bucket = "wis2";
    o.token = "s3cret";
    InfluxSink sink("influx2", o);
    CHECK(sink.healthcheck().ok);
    Record r("surface_obs");
    r.set("wigos_station_identifier", std::string("0-20000-0-15015"));
    r.set("observed_at", Timestamp{1679400000, 0});
    r.set("air_temperature", 280.5);
    CHECK(sink.write({r})[0].status == DeliveryStatus::delivered);
    {
      std::lock_guard lock(mu);
      CHECK(org == "my org&co");  // escaped in the URL, intact at the server
      CHECK(bucket == "wis2");
      CHECK(precision == "ns");
      CHECK(content_type.rfind("text/plain", 0) == 0);
      REQUIRE(bodies.size() == 1);
      CHECK(bodies[0] ==
            "surface_obs,wigos_station_identifier=0-20000-0-15015 air_temperature=280.5 "
            "1679400000000000000\n");
      fail_next = 1;
    }
    CHECK(sink.write({r})[0].status == DeliveryStatus::retry);  // 503
    CHECK(sink.write({r})[0].status == DeliveryStatus::delivered);

    o.token = "wrong";
    InfluxSink denied("influx2-denied", o);
    const auto answers = denied.write({r, r});
    CHECK(statuses(answers) == std::vector<DeliveryStatus>{DeliveryStatus::rejected, DeliveryStatus::rejected});
    CHECK(answers[0].reason.find("401") != std::string::npos);
    CHECK(answers[0].reason.find("unauthorized access") != std::string::npos);
  }
  server.stop();
  thread.join();
}
