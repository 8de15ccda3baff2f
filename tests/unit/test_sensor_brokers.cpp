// The Sensor Centre roles inside a running monitor, fed by real mosquitto brokers on
// loopback, with time driven by a test clock (MonitorOptions::clock): every arrival is
// stamped with the clock, so delays, windows and hours are exact whatever the machine's speed.
#include <doctest/doctest.h>
#include <httplib.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "fault_server.hpp"
#include "mosquitto_server.hpp"
#include "sample/demo_stream.hpp"
#include "support.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/monitor.hpp"
#include "wis2mon/wme.hpp"

using namespace wis2mon;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// The test's clock: what the monitor reads as now.
struct TestClock {
  std::atomic<std::int64_t> seconds;
  explicit TestClock(Timestamp t) : seconds(t.seconds) {}
  void set(Timestamp t) { seconds = t.seconds; }
  std::function<Timestamp()> fn() {
    return [this] { return Timestamp{seconds.load(), 0}; };
  }
};

const Timestamp kT0 = *parse_rfc3339("2026-11-30T06:00:10Z");
Timestamp at(int s) {
  return Timestamp{kT0.seconds + s, 0};
}

// A notification of `centre`'s item `name` (message id n), its link at `href`.
std::string wnm(int n, const std::string& centre, const std::string& name, const std::string& href,
                const std::string& global_cache = "") {
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", n);
  std::string props = R"("data_id": ")" + centre + "/data/core/weather/surface-based-observations/synop/" + name +
                      R"(", "pubtime": "2026-11-30T06:00:00Z", "datetime": "2026-11-30T06:00:00Z")";
  if (!global_cache.empty()) props += R"(, "global-cache": ")" + global_cache + "\"";
  return R"({"id": ")" + std::string(id) +
         R"(", "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"], "type": "Feature", "geometry": null, )"
         R"("properties": {)" +
         props + R"(}, "links": [{"href": ")" + href +
         R"(", "rel": "canonical", "type": "application/bufr", "length": 100}]})";
}

std::string topic_of(const std::string& channel, const std::string& centre) {
  return channel + "/a/wis2/" + centre + "/data/core/weather/surface-based-observations/synop";
}

// A monitor on the test clock, without sinks or pipelines; with a broker "gb" at broker_url.
MonitorOptions base_options(const fs::path& dir, TestClock& clock, const std::string& broker_url = "") {
  MonitorOptions o;
  if (!broker_url.empty()) {
    BrokerOptions b;
    b.name = "gb";
    b.url = broker_url;
    o.brokers = {b};
  }
  o.spool = dir / "spool.db";
  o.status_interval = 0ms;
  o.log = [](std::string_view line) {
    if (getenv("WIS2MON_TEST_LOG")) fprintf(stderr, "%.*s\n", int(line.size()), line.data());
  };
  o.clock = clock.fn();
  o.sinks.clear();
  o.pipelines.clear();
  return o;
}

}  // namespace

TEST_CASE("scgb on real brokers: what one Global Broker dropped is counted missing on it, per centre") {
  if (!testing::have_mosquitto()) return;
  testing::TempDir dir;
  testing::MosquittoServer gb1, gb2;
  TestClock clock(kT0);
  auto o = base_options(dir.path, clock);
  o.subscriptions = {"origin/a/wis2/#", "cache/a/wis2/#"};
  BrokerOptions b1, b2;
  b1.name = "gb1";
  b1.global_broker = "xx-one-global-broker";
  b1.url = gb1.url();
  b2.global_broker = "xx-two-global-broker";  // named by its centre-id
  b2.url = gb2.url();
  o.brokers = {b1, b2};
  o.scgb.centre_id = "xx-test-sensor-centre-global-broker";
  o.scgb.window = 60s;
  PipelineOptions p;  // an ordinary pipeline beside the role: its dedup does not hide the copies
  p.name = "all";
  p.dedup = DedupPolicy::message_id;
  p.sinks = {"cb"};
  o.pipelines = {p};
  o.sinks = {SinkSpec{"cb", "callback", {}}, SinkSpec{"findings", "callback", {}}};
  // Findings beside the role: a broker missing messages in an hour is one.
  o.availability.centre_id = "xx-test-sensor-centre";
  o.availability_sinks = {"findings"};
  Monitor monitor(o);
  std::atomic<int> records{0};
  monitor.add_callback_sink("cb", [&](const std::vector<Record>& batch) {
    records += static_cast<int>(batch.size());
    return std::vector<Delivery>(batch.size());
  });
  std::vector<std::string> findings;  // "rule subject centre state"
  monitor.add_callback_sink("findings", [&](const std::vector<Record>& batch) {
    for (const auto& r : batch)
      if (r.table() == "findings")
        findings.push_back(std::get<std::string>(*r.get("rule")) + " " + std::get<std::string>(*r.get("subject")) +
                           " " + std::get<std::string>(*r.get("centre_id")) + " " +
                           std::get<std::string>(*r.get("state")));
    return std::vector<Delivery>(batch.size());
  });
  monitor.start();
  REQUIRE(monitor.wait_connected(10s));

  // 12 messages of de-dwd and 6 of fr-meteofrance on both brokers, but broker two drops
  // de-dwd's 3rd, 7th and 11th and fr-meteofrance's 2nd.
  std::vector<std::string> dwd, fr, dwd_on_2, fr_on_2;
  for (int i = 0; i < 12; ++i) {
    dwd.push_back(wnm(i, "de-dwd", "d" + std::to_string(i), "https://de-dwd.example/" + std::to_string(i)));
    if (i % 4 != 2) dwd_on_2.push_back(dwd.back());
  }
  for (int i = 0; i < 6; ++i) {
    fr.push_back(wnm(100 + i, "fr-meteofrance", "f" + std::to_string(i), "https://fr.example/" + std::to_string(i)));
    if (i != 1) fr_on_2.push_back(fr.back());
  }
  REQUIRE(gb1.publish(topic_of("origin", "de-dwd"), dwd));
  REQUIRE(gb1.publish(topic_of("origin", "fr-meteofrance"), fr));
  REQUIRE(gb2.publish(topic_of("origin", "de-dwd"), dwd_on_2));
  REQUIRE(gb2.publish(topic_of("origin", "fr-meteofrance"), fr_on_2));
  const std::uint64_t total = dwd.size() + fr.size() + dwd_on_2.size() + fr_on_2.size();
  REQUIRE(testing::wait_for([&] { return monitor.stats().received >= total; }));
  REQUIRE(monitor.drain(30s));
  CHECK(records == 18);  // the pipeline's dedup kept one of each

  const auto& m = monitor.metrics();
  const std::string by = o.scgb.centre_id;
  const auto gb = [&](const std::string& name) { return Labels{{"centre_id", name}, {"report_by", by}}; };
  const auto gbt = [&](const std::string& name) {
    return Labels{{"centre_id", name}, {"report_by", by}, {"topic", "origin/a/wis2/#"}};
  };
  CHECK(
      testing::wait_for([&] { return m.value("wmo_wis2_scgb_connected_flag", gb("xx-two-global-broker")) == 1; }, 5s));
  CHECK(m.value("wmo_wis2_scgb_connected_flag", gb("xx-one-global-broker")) == 1);
  CHECK(m.value("wmo_wis2_scgb_messages_received_total", gbt("xx-one-global-broker")) == 18);
  CHECK(m.value("wmo_wis2_scgb_messages_received_total", gbt("xx-two-global-broker")) == 14);
  CHECK(m.value("wmo_wis2_scgb_last_message_timestamp_seconds", gbt("xx-two-global-broker")) ==
        static_cast<double>(kT0.seconds));
  CHECK(m.value("wis2mon_scgb_messages_union_total", {{"centre_id", "de-dwd"}}) == 12);
  CHECK(m.value("wis2mon_scgb_messages_union_total", {{"centre_id", "fr-meteofrance"}}) == 6);

  // Inside the window nothing is missing yet; after it, exactly what broker two dropped.
  const Labels miss2{{"global_broker", "xx-two-global-broker"}, {"centre_id", "de-dwd"}};
  clock.set(at(30));
  std::this_thread::sleep_for(1500ms);  // the monitor advances once a second
  CHECK(m.value("wis2mon_scgb_messages_missing_total", miss2) == 0);
  clock.set(at(61));
  REQUIRE(testing::wait_for([&] { return m.value("wis2mon_scgb_messages_missing_total", miss2) > 0; }, 10s));
  CHECK(m.value("wis2mon_scgb_messages_missing_total", miss2) == 3);
  CHECK(m.value("wis2mon_scgb_messages_missing_total",
                {{"global_broker", "xx-two-global-broker"}, {"centre_id", "fr-meteofrance"}}) == 1);
  CHECK(m.value("wis2mon_scgb_messages_missing_total",
                {{"global_broker", "xx-one-global-broker"}, {"centre_id", "de-dwd"}}) == 0);

  // At the 06 hour's close (06:30 + grace), broker two's misses are findings, one per centre.
  clock.set(at(3600 + 1800));
  REQUIRE(testing::wait_for(
      [&] {
        monitor.poll(20ms);
        return findings.size() >= 2;
      },
      10s));
  std::sort(findings.begin(), findings.end());
  CHECK(findings == std::vector<std::string>{"broker_missing xx-two-global-broker de-dwd raised",
                                             "broker_missing xx-two-global-broker fr-meteofrance raised"});

  // A broker that goes away shows as disconnected.
  gb2.stop();
  CHECK(
      testing::wait_for([&] { return m.value("wmo_wis2_scgb_connected_flag", gb("xx-two-global-broker")) == 0; }, 10s));
  CHECK(m.value("wmo_wis2_scgb_connected_flag", gb("xx-one-global-broker")) == 1);
  monitor.stop();
}

TEST_CASE("scgb: each broker needs a name or a global_broker") {
  testing::TempDir dir;
  TestClock clock(kT0);
  auto o = base_options(dir.path, clock);
  BrokerOptions b;
  b.url = "mqtt://127.0.0.1:1";
  o.brokers = {b};
  o.scgb.centre_id = "xx-test-sensor-centre-global-broker";
  CHECK_THROWS_AS(Monitor{o}, Error);
  o.brokers.clear();
  CHECK_THROWS_AS(Monitor{o}, Error);
}

TEST_CASE("scgc on a real broker: two caches with chosen delays, one missing, one overriding; a restart mid-watch") {
  if (!testing::have_mosquitto()) return;
  testing::TempDir dir;
  testing::MosquittoServer gb;   // a Global Broker carrying the origin's and the caches' messages
  testing::FaultServer servers;  // the origin's and both caches' data servers (HEAD answers)
  const std::string kA = "xx-a-global-cache", kB = "xx-b-global-cache", centre = "de-dwd";
  for (int i = 0; i < 6; ++i) {
    servers.put("a" + std::to_string(i), "A copy");
    servers.put("b" + std::to_string(i), "B copy");
    servers.put("o" + std::to_string(i), "origin copy");
  }
  TestClock clock(kT0);
  auto o = base_options(dir.path, clock, gb.url());
  PipelineOptions p;
  p.name = "scgc";
  p.filters = {"origin/a/wis2/#", "cache/a/wis2/#"};
  p.dedup.reset();
  p.scgc.centre_id = "xx-test-sensor-centre-global-cache";
  p.scgc.global_caches = {kA, kB};
  p.scgc.state = dir.path / "scgc.db";
  p.scgc.log_dir = dir.path / "logs";
  p.scgc.log_base_url = "https://sc.example.org/logs";
  p.sinks = {"events"};
  o.pipelines = {p};
  o.sinks = {SinkSpec{"events", "callback", {}}};
  std::mutex events_mu;
  std::vector<std::pair<std::string, std::string>> events;  // topic, message
  const auto run_monitor = [&](const std::function<void(Monitor&)>& body) {
    Monitor monitor(o);
    monitor.add_callback_sink("events", [&](const std::vector<Record>& batch) {
      std::lock_guard lock(events_mu);
      for (const auto& r : batch)
        events.emplace_back(std::get<std::string>(*r.get("topic")), std::get<std::string>(*r.get("message")));
      return std::vector<Delivery>(batch.size());
    });
    monitor.start();
    REQUIRE(monitor.wait_connected(10s));
    body(monitor);
    monitor.stop();
  };
  const auto send = [&](Monitor& monitor, const std::string& channel, const std::vector<std::string>& messages) {
    const auto before = monitor.stats().received;
    REQUIRE(gb.publish(topic_of(channel, centre), messages));
    REQUIRE(testing::wait_for([&] { return monitor.stats().received >= before + messages.size(); }));
    REQUIRE(monitor.drain(30s));
  };
  const auto item = [](int i) { return std::to_string(i); };

  // 06:00:10: six origin items. 06:00:40: cache A republishes all six (30 s). Then the
  // Sensor Centre restarts, its watches open.
  run_monitor([&](Monitor& monitor) {
    std::vector<std::string> origin, a;
    for (int i = 0; i < 6; ++i) origin.push_back(wnm(i, centre, item(i), servers.url("/ok/o" + item(i))));
    send(monitor, "origin", origin);
    clock.set(at(30));
    for (int i = 0; i < 6; ++i) a.push_back(wnm(10 + i, centre, item(i), servers.url("/ok/a" + item(i)), kA));
    send(monitor, "cache", a);
    const auto& m = monitor.metrics();
    const Labels la{{"global_cache", kA}, {"centre_id", centre}, {"report_by", p.scgc.centre_id}};
    REQUIRE(testing::wait_for([&] { return m.value("wmo_wis2_scgc_messages_cached_total", la) == 6; },
                              10s));  // after HEADs
    CHECK(m.value("wmo_wis2_scgc_cache_delay_seconds", la) == 30);
  });
  // 06:03:30 (200 s), after the restart: cache B sends items 0-3 with its own links, item 4
  // never, and item 5 with the origin's link (an override).
  clock.set(at(200));
  o.metrics_port = -1;  // the hourly logs are served there
  run_monitor([&](Monitor& monitor) {
    std::vector<std::string> bm;
    for (int i = 0; i < 4; ++i) bm.push_back(wnm(20 + i, centre, item(i), servers.url("/ok/b" + item(i)), kB));
    bm.push_back(wnm(25, centre, item(5), servers.url("/ok/o5"), kB));
    send(monitor, "cache", bm);
    const auto& m = monitor.metrics();
    const std::string by = p.scgc.centre_id;
    const Labels lb{{"global_cache", kB}, {"centre_id", centre}, {"report_by", by}};
    const Labels la{{"global_cache", kA}, {"centre_id", centre}, {"report_by", by}};
    const Labels all{{"centre_id", centre}, {"report_by", by}};
    REQUIRE(testing::wait_for([&] { return m.value("wmo_wis2_scgc_messages_cached_total", lb) == 4; }, 10s));
    CHECK(m.value("wmo_wis2_scgc_cache_delay_seconds", lb) == 200);
    CHECK(m.value("wmo_wis2_scgc_messages_cache_override_total", lb) == 1);
    // The watches close at 600 s: what each cache missed is counted then, not before.
    CHECK(m.value("wmo_wis2_scgc_messages_missed_total", lb) == 0);
    clock.set(at(601));
    REQUIRE(testing::wait_for([&] { return m.value("wmo_wis2_scgc_messages_missed_total", lb) > 0; }, 10s));
    CHECK(m.value("wmo_wis2_scgc_messages_missed_total", lb) == 1);  // item 4 (an override is an answer)
    CHECK(m.value("wmo_wis2_scgc_messages_missed_total", la) == 0);
    CHECK(m.value("wmo_wis2_scgc_messages_missed_all_total", all) == 0);
    CHECK(m.value("wmo_wis2_scgc_messages_cached_delay_total", [&] {
      Labels t = lb;
      t.emplace_back("delay_threshold", "300s");
      return t;
    }()) == 4);
    CHECK(m.value("wmo_wis2_scgc_messages_cached_delay_total", [&] {
      Labels t = lb;
      t.emplace_back("delay_threshold", "120s");
      return t;
    }()) == 0);
    // 07:10:11: every watch of the 06 hour has closed: its log is written and announced.
    clock.set(at(3600 + 601));
    REQUIRE(testing::wait_for(
        [&] {
          monitor.poll(50ms);
          std::lock_guard lock(events_mu);
          return !events.empty();
        },
        10s));
    // Served: the list, each log as written, nothing else.
    httplib::Client http("127.0.0.1", monitor.metrics_port());
    const auto list = http.Get("/scgc/scgc/");
    REQUIRE(list);
    CHECK(list->body == "[\"scgc-20261130T06.jsonl\"]\n");
    const auto got = http.Get("/scgc/scgc/scgc-20261130T06.jsonl");
    REQUIRE(got);
    CHECK(got->status == 200);
    CHECK(got->get_header_value("Content-Type") == "application/x-ndjson");
    CHECK(got->body == testing::read_file(dir.path / "logs" / "scgc-20261130T06.jsonl"));
    for (const char* bad : {"/scgc/scgc/scgc-20261130T07.jsonl", "/scgc/scgc/../scgc.db", "/scgc/other/",
                            "/scgc/scgc/scgc-2026113xT06.jsonl"}) {
      const auto r = http.Get(bad);
      REQUIRE(r);
      CHECK_MESSAGE(r->status == 404, bad);
    }
  });

  // The hourly log, exactly: one entry per data_id, each cache's time (ms) or 9999999999999.
  const fs::path log = dir.path / "logs" / "scgc-20261130T06.jsonl";
  REQUIRE(fs::exists(log));
  std::ifstream in(log);
  std::map<std::string, std::map<std::string, std::int64_t>> times;
  for (std::string line; std::getline(in, line);) {
    rapidjson::Document d;
    d.Parse(line.c_str());
    REQUIRE_FALSE(d.HasParseError());
    auto& caches = times[d["data_id"].GetString()];
    for (auto it = d["global_caches"].MemberBegin(); it != d["global_caches"].MemberEnd(); ++it)
      caches[it->name.GetString()] = it->value.GetInt64();
  }
  REQUIRE(times.size() == 6);
  const std::int64_t ms_a = at(30).seconds * 1000, ms_b = at(200).seconds * 1000, never = 9999999999999;
  for (int i = 0; i < 6; ++i) {
    const auto& t = times.at(centre + "/data/core/weather/surface-based-observations/synop/" + item(i));
    CHECK(t.at(kA) == ms_a);
    CHECK(t.at(kB) == (i == 4 ? never : ms_b));
  }
  std::lock_guard lock(events_mu);
  REQUIRE(events.size() == 1);
  CHECK(events[0].first == "monitor/a/wis2/" + p.scgc.centre_id);
  testing::record_wme(events[0].second);
  const auto report = validate_wme(events[0].second, ValidationMode::strict);
  CHECK_MESSAGE(report.valid(), events[0].second);
  CHECK(events[0].second.find("https://sc.example.org/logs/scgc-20261130T06.jsonl") != std::string::npos);
}

namespace {

// A surface observation of station 0-20000-0-<block><station> at `observed`, its BUFR inline.
std::string observation_wnm(int n, int block, int station, Timestamp observed, Timestamp pubtime) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(n));
  const std::string bufr = detail::encode_synop_bufr(detail::random_synop(rng, block, station, "S", observed));
  unsigned char d[64];
  detail::compute_digest("sha512", bufr.data(), bufr.size(), d);
  char id[40], wsi[32];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", n);
  std::snprintf(wsi, sizeof wsi, "0-20000-0-%02d%03d", block, station);
  const std::string obs = format_rfc3339(observed, 0);
  return R"({"id":")" + std::string(id) +
         R"(","conformsTo":["http://wis.wmo.int/spec/wnm/1/conf/core"],"type":"Feature","geometry":null,)"
         R"("properties":{"data_id":"xx-centre/data/core/weather/surface-based-observations/synop/)" +
         wsi + "_" + obs + R"(","pubtime":")" + format_rfc3339(pubtime, 0) + R"(","datetime":")" + obs +
         R"(","integrity":{"method":"sha512","value":")" + detail::base64_encode({reinterpret_cast<char*>(d), 64}) +
         R"("},"content":{"encoding":"base64","value":")" + detail::base64_encode(bufr) + R"(","size":)" +
         std::to_string(bufr.size()) + R"(}},"links":[{"href":"https://xx.example/)" + wsi +
         R"(.bufr4","rel":"canonical","type":"application/bufr"}]})";
}

}  // namespace

TEST_CASE("availability on a real broker: stations on schedule, late and silent; a finding raised and cleared once") {
  if (!testing::have_mosquitto()) return;
  testing::TempDir dir;
  testing::MosquittoServer gb;
  const Timestamp t6 = *parse_rfc3339("2026-11-30T06:00:00Z");
  const auto hm = [&](int h, int m) { return Timestamp{t6.seconds + (h - 6) * 3600 + m * 60, 0}; };
  TestClock clock(hm(6, 0));
  auto o = base_options(dir.path, clock, gb.url());
  PipelineOptions p;
  p.name = "surface_obs";
  p.filters = {"origin/a/wis2/+/data/core/weather/surface-based-observations/#"};
  p.decoder = "bufr";
  p.dedup = DedupPolicy::data_id_pubtime;
  p.sinks = {"rows"};
  o.pipelines = {p};
  o.sinks = {
      SinkSpec{"rows", "callback", {}}, SinkSpec{"events", "callback", {}},
      SinkSpec{"db", "sqlite", {{"path", (dir.path / "wis2mon.db").string()}, {"batch_max_age", "20ms"}}},
      // The events also go to the broker, as a Sensor Centre publishes them.
      SinkSpec{"wme",
               "mqtt",
               {{"url", gb.url()}, {"topic_field", "topic"}, {"payload_field", "message"}, {"batch_max_age", "20ms"}}}};
  o.availability.centre_id = "xx-test-sensor-centre";
  o.availability.stations = dir.path / "stations.csv";
  o.availability.state = dir.path / "availability.db";
  o.availability.silent_station_hours = 2;
  o.availability_sinks = {"rows", "db"};
  o.availability_event_sinks = {"events", "wme"};
  // A subscriber on monitor/a/wis2/#, as a Global Monitor listens.
  std::mutex heard_mu;
  std::vector<std::pair<std::string, std::string>> heard;
  BrokerOptions listen;
  listen.name = "listener";
  listen.url = gb.url();
  listen.clean_start = true;
  listen.subscriptions = {"monitor/a/wis2/#"};
  MqttSubscriber listener(listen, [&](const MqttMessage& msg) {
    std::lock_guard lock(heard_mu);
    heard.emplace_back(std::string(msg.topic), std::string(msg.payload));
    return true;
  });
  listener.start();
  REQUIRE(listener.wait_subscribed(10s));
  std::ofstream(o.availability.stations) << "wigos_station_identifier,name,country,latitude,longitude,schedule\n"
                                            "0-20000-0-10001,On time,XA,52.2,14.1,hourly\n"
                                            "0-20000-0-10002,Late,XA,50.0,8.6,hourly\n"
                                            "0-20000-0-10003,Silent,XB,48.1,11.6,hourly\n";
  Monitor monitor(o);
  std::map<std::string, Record> rows;  // availability rows by period|kind|unit, latest
  std::vector<Record> findings, observations;
  std::vector<std::string> events;
  monitor.add_callback_sink("rows", [&](const std::vector<Record>& batch) {
    for (const auto& r : batch) {
      if (r.table() == "availability")
        rows.insert_or_assign(std::get<std::string>(*r.get("period_start")) + "|" +
                                  std::get<std::string>(*r.get("kind")) + "|" + std::get<std::string>(*r.get("unit")),
                              r);
      else if (r.table() == "findings")
        findings.push_back(r);
      else
        observations.push_back(r);
    }
    return std::vector<Delivery>(batch.size());
  });
  monitor.add_callback_sink("events", [&](const std::vector<Record>& batch) {
    for (const auto& r : batch) events.push_back(std::get<std::string>(*r.get("message")));
    return std::vector<Delivery>(batch.size());
  });
  monitor.start();
  REQUIRE(monitor.wait_connected(10s));
  int serial = 0;
  const std::string topic = topic_of("origin", "xx-centre");
  // Each station's report for `hour` arriving at `arrives` (the clock is set to it).
  const auto report = [&](std::vector<int> stations, int hour, Timestamp arrives) {
    clock.set(arrives);
    std::vector<std::string> batch;
    for (int s : stations) batch.push_back(observation_wnm(++serial, 10, s, hm(hour, 0), hm(hour, 1)));
    const auto before = monitor.stats().records;
    REQUIRE(gb.publish(topic, batch));
    REQUIRE(testing::wait_for([&] {
      monitor.poll(20ms);
      return monitor.stats().records >= before + batch.size();
    }));
  };
  // Sets the clock past an hour's close and waits for its rows.
  const auto close_hour = [&](int hour) {
    clock.set(hm(hour + 1, 31));
    char key[40];
    std::snprintf(key, sizeof key, "2026-11-30T%02d:00:00Z|country|XB", hour);
    REQUIRE(testing::wait_for(
        [&] {
          monitor.poll(20ms);
          return rows.count(key) > 0;
        },
        10s));
  };
  report({1, 2}, 6, hm(6, 2));
  close_hour(6);
  report({1, 2}, 7, hm(7, 32));
  close_hour(7);  // the silent station's second hour: raised
  report({1}, 8, hm(8, 2));
  close_hour(8);
  report({2}, 8, hm(9, 40));  // the late station's 08:00, after 08's close: its row again, late 1
  REQUIRE(testing::wait_for(
      [&] {
        monitor.poll(20ms);
        const auto it = rows.find("2026-11-30T08:00:00Z|station|0-20000-0-10002");
        return it != rows.end() && std::get<std::int64_t>(*it->second.get("late")) == 1;
      },
      10s));
  report({1, 2, 3}, 9, hm(9, 42));
  close_hour(9);
  report({1, 2, 3}, 10, hm(10, 2));
  close_hour(10);  // the silent station's second good hour: cleared
  monitor.stop();

  const auto figure = [&](const std::string& key, const char* field) {
    REQUIRE_MESSAGE(rows.count(key), key);
    const auto* v = rows.at(key).get(field);
    return v && std::holds_alternative<std::int64_t>(*v) ? std::get<std::int64_t>(*v) : -1;
  };
  CHECK(figure("2026-11-30T06:00:00Z|station|0-20000-0-10001", "received") == 1);
  CHECK(figure("2026-11-30T06:00:00Z|station|0-20000-0-10002", "received") == 1);
  CHECK(figure("2026-11-30T06:00:00Z|station|0-20000-0-10003", "received") == 0);
  CHECK(figure("2026-11-30T07:00:00Z|station|0-20000-0-10002", "received") == 1);  // 07:32: before 07's close
  CHECK(figure("2026-11-30T08:00:00Z|station|0-20000-0-10002", "received") == 0);
  CHECK(figure("2026-11-30T08:00:00Z|station|0-20000-0-10002", "late") == 1);
  CHECK(figure("2026-11-30T08:00:00Z|country|XA", "expected") == 2);
  CHECK(figure("2026-11-30T08:00:00Z|country|XA", "received") == 1);
  CHECK(figure("2026-11-30T10:00:00Z|country|XB", "received") == 1);
  CHECK(figure("2026-11-30T09:00:00Z|centre|xx-centre", "messages") == 4);  // the late one and three
  CHECK(observations.size() == 12);                                         // every report decoded, the late one too
  std::vector<std::string> log;
  for (const auto& f : findings)
    log.push_back(std::get<std::string>(*f.get("subject")) + " " + std::get<std::string>(*f.get("state")));
  CHECK(log == std::vector<std::string>{"0-20000-0-10003 raised", "0-20000-0-10003 cleared"});
  CHECK(events.size() == 2 + 5);  // the finding's two, and one diagnostic event per closed hour
  for (const auto& e : events) {
    CHECK_MESSAGE(validate_wme(e, ValidationMode::strict).valid(), e);
    testing::record_wme(e);
  }
  // Every event arrived on the broker, on monitor/a/wis2/<this centre-id>.
  REQUIRE(testing::wait_for(
      [&] {
        std::lock_guard lock(heard_mu);
        return heard.size() >= events.size();
      },
      10s));
  listener.stop();
  std::multiset<std::string> sent(events.begin(), events.end()), got;
  for (const auto& [t, m] : heard) {
    CHECK(t == "monitor/a/wis2/xx-test-sensor-centre");
    got.insert(m);
  }
  CHECK(got == sent);

  // The report over the sqlite sink's rows: the day, worst first.
  const auto day = availability_report(dir.path / "wis2mon.db");
  std::vector<std::string> lines;
  for (const auto& r : day)
    lines.push_back(r.kind + " " + (r.kind == "station" ? r.wigos_station_identifier : r.centre_id) + " " +
                    std::to_string(r.expected) + " " + std::to_string(r.received) + " " + std::to_string(r.late) + " " +
                    (r.percentage ? std::to_string(static_cast<int>(*r.percentage * 10)) : "-"));
  CHECK(lines == std::vector<std::string>{
                     "station 0-20000-0-10003 5 2 0 400",   // silent 06-08
                     "station 0-20000-0-10002 5 4 1 800",   // late once
                     "centre xx-centre 12 11 1 917",        // its stations (the silent one's from 09)
                     "station 0-20000-0-10001 5 5 0 1000",  // on schedule
                 });
  AvailabilityReportOptions by_hour;
  by_hour.period = "hour";
  by_hour.from = hm(8, 0);
  by_hour.to = hm(9, 0);
  const auto h08 = availability_report(dir.path / "wis2mon.db", by_hour);
  REQUIRE(h08.size() == 4);
  CHECK(h08[0].wigos_station_identifier == "0-20000-0-10002");  // 0 %: late
  CHECK(h08[0].silent_since == "");                             // its late report came after the hour: not silent
  CHECK(h08[1].wigos_station_identifier == "0-20000-0-10003");
  CHECK(h08[1].silent_since == "never");
}
