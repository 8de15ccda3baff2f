// The monitor end to end: config files, the pipelines on the demo stream, a real mosquitto
// (restarts, two brokers), the wis2mon program killed with SIGKILL and two processes on one
// shared subscription, the metrics endpoint and dead letters.
#include <doctest/doctest.h>
#include <httplib.h>
#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "child_process.hpp"
#include "mosquitto_server.hpp"
#include "postgres_server.hpp"
#include "sample/demo_stream.hpp"
#include "sample/generator.hpp"
#include "support.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/monitor.hpp"

using namespace wis2mon;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::set<std::string> query_set(const fs::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  std::set<std::string> out;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK)
      while (sqlite3_step(st) == SQLITE_ROW) {
        const auto* t = sqlite3_column_text(st, 0);
        out.insert(t ? reinterpret_cast<const char*>(t) : "NULL");
      }
    sqlite3_finalize(st);
  }
  sqlite3_close(h);
  return out;
}

// The origin and cache data server of a demo stream.
class DataServer {
 public:
  explicit DataServer(detail::DemoStreamOptions options) {
    // More workers than the downloader opens connections per host (16): a kept-alive
    // connection holds a worker, and a request queued behind them would wait seconds.
    server_.new_task_queue = [] { return new httplib::ThreadPool(32); };
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    options.base_url = "http://127.0.0.1:" + std::to_string(port_);
    stream = detail::make_demo_stream(options);
    server_.Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      const auto it = stream.objects.find(req.path);
      if (it == stream.objects.end()) {
        res.status = 404;
        return;
      }
      res.set_content(it->second, "application/octet-stream");
    });
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(5ms);
  }
  ~DataServer() {
    server_.stop();
    thread_.join();
  }
  detail::DemoStream stream;
  std::atomic<int> requests{0};

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

// Publishes messages[from, to) grouped by phase and topic, as the demo does (one
// mosquitto_pub per group).
void publish(const testing::MosquittoServer& broker, const std::vector<detail::DemoMessage>& messages,
             std::size_t from = 0, std::size_t to = SIZE_MAX) {
  to = std::min(to, messages.size());
  std::vector<const detail::DemoMessage*> order;
  for (std::size_t i = from; i < to; ++i) order.push_back(&messages[i]);
  std::stable_sort(order.begin(), order.end(), [](const auto* x, const auto* y) {
    return x->phase != y->phase ? x->phase < y->phase : x->topic < y->topic;
  });
  for (std::size_t i = 0; i < order.size();) {
    std::vector<std::string> batch;
    std::size_t j = i;
    while (j < order.size() && order[j]->phase == order[i]->phase && order[j]->topic == order[i]->topic)
      batch.push_back(order[j++]->payload);
    REQUIRE(broker.publish(order[i]->topic, batch, 1));
    i = j;
  }
}

MonitorOptions options_for(const fs::path& dir) {
  auto o = default_monitor_config().options;
  o.spool = dir / "spool.db";
  for (auto& s : o.sinks) s.settings["path"] = (dir / "wis2mon.db").string();
  for (auto& s : o.sinks) s.settings["batch_max_age"] = "100ms";
  o.status_interval = 0ms;
  o.log = [](std::string_view) {};
  return o;
}

void check_rows(const fs::path& db, const detail::DemoStream& stream) {
  for (const auto& row : stream.rows) {
    const std::string table = row.first;  // a plain variable: INFO captures it
    INFO("table " << table);
    CHECK(testing::sqlite_int(db, "SELECT count(*) FROM " + table) == static_cast<std::int64_t>(row.second));
  }
}

}  // namespace

TEST_CASE("monitor config: YAML and JSON give the same options; every problem is named") {
  const std::string yaml = R"(
monitor:
  spool: /tmp/x-spool.db
  subscriptions: [origin/a/wis2/#]
metrics: {port: 9464}
brokers:
  - url: mqtt://user:secret@gb.example.org:1883
    name: gb1
sinks:
  - {name: db, type: sqlite, path: out.db, batch_max_records: 50}
pipelines:
  - name: obs
    filters: ["+/a/wis2/+/data/core/weather/surface-based-observations/#"]
    dedup: data_id_pubtime
    decoder: bufr
    sinks: [db]
)";
  const std::string json = R"({"monitor": {"spool": "/tmp/x-spool.db", "subscriptions": ["origin/a/wis2/#"]},
    "metrics": {"port": 9464},
    "brokers": [{"url": "mqtt://user:secret@gb.example.org:1883", "name": "gb1"}],
    "sinks": [{"name": "db", "type": "sqlite", "path": "out.db", "batch_max_records": 50}],
    "pipelines": [{"name": "obs", "filters": ["+/a/wis2/+/data/core/weather/surface-based-observations/#"],
                   "dedup": "data_id_pubtime", "decoder": "bufr", "sinks": ["db"]}]})";
  const auto a = parse_monitor_config(yaml, "a.yaml");
  const auto b = parse_monitor_config(json, "b.json");
  CHECK(a.effective == b.effective);
  CHECK(a.options.spool == "/tmp/x-spool.db");
  CHECK(a.options.metrics_port == 9464);
  REQUIRE(a.options.brokers.size() == 1);
  CHECK(a.options.brokers[0].name == "gb1");
  REQUIRE(a.options.pipelines.size() == 1);
  CHECK(a.options.pipelines[0].decoder == "bufr");
  CHECK(a.options.pipelines[0].dedup == DedupPolicy::data_id_pubtime);
  CHECK(a.effective.find("secret") == std::string::npos);  // the dump never shows credentials
  // The dump is itself a valid configuration with the same effect.
  CHECK(parse_monitor_config(a.effective, "dump").options.pipelines[0].filters == a.options.pipelines[0].filters);

  const std::string bad = R"(
monitor: {spoool: x}
sinks: [{name: db, type: sqlite}]
pipelines:
  - {name: p, filters: ["a/#/b"], decoder: grib, sinks: [nowhere]}
)";
  try {
    parse_monitor_config(bad, "bad.yaml");
    FAIL("no error");
  } catch (const Error& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("bad.yaml") != std::string::npos);
    CHECK(m.find("did you mean 'spool'") != std::string::npos);
    CHECK(m.find("path: required") != std::string::npos);
    CHECK(m.find("a/#/b") != std::string::npos);
    CHECK(m.find("grib") != std::string::npos);
    CHECK(m.find("no sink named 'nowhere'") != std::string::npos);
  }
  CHECK_THROWS_AS(parse_monitor_config("pipelines: [", "broken.yaml"), Error);
  ::setenv("WIS2MON_TEST_PASSWORD", "from-env", 1);
  const auto env = parse_monitor_config(
      "brokers: [{url: 'mqtt://h', password: '${WIS2MON_TEST_PASSWORD}'}]\nsinks: [{name: d, type: sqlite, path: x}]\n"
      "pipelines: [{name: p, sinks: [d]}]\n");
  CHECK(env.options.brokers.at(0).password == "from-env");
}

TEST_CASE("monitor: the demo stream pushed through the default pipelines gives exactly the published numbers") {
  testing::TempDir dir;
  detail::DemoStreamOptions so;
  so.stations = 60;
  so.cap_alerts = 6;
  so.plain = 10;
  DataServer data(so);
  Monitor monitor(options_for(dir.path));
  monitor.start();
  for (const auto& m : data.stream.messages) monitor.push(m.topic, m.payload, "test");
  REQUIRE(monitor.drain(60s));
  monitor.stop();
  const auto s = monitor.stats();
  CHECK(s.received == data.stream.messages.size());
  CHECK(s.valid == data.stream.valid);
  CHECK(s.invalid == data.stream.invalid);
  CHECK(s.duplicates == data.stream.duplicates);
  CHECK(s.downloads == data.stream.downloads);
  CHECK(s.download_failures == 0);
  CHECK(data.requests == static_cast<int>(data.stream.downloads));  // cache copies were not fetched again
  CHECK(s.spool_stored == 0);
  check_rows(dir.path / "wis2mon.db", data.stream);
  // Decoded values made it through: the generator's air temperatures are 250..310 K.
  CHECK(testing::sqlite_int(dir.path / "wis2mon.db",
                            "SELECT count(*) FROM surface_obs WHERE air_temperature BETWEEN 250 AND 310") ==
        static_cast<std::int64_t>(so.stations));
  // The invalid messages are dead letters, with the reason.
  DeadLetterStore dead(dir.path / "spool.db");
  CHECK(dead.entries(100, "validate").size() == so.invalid);
  // Metrics per centre add up.
  double received = 0;
  for (const char* c : detail::sample_centre_ids())
    received += monitor.metrics().value("wmo_wis2_gb_messages_received_total", {{"centre_id", c}});
  CHECK(received == static_cast<double>(data.stream.messages.size()));
}

TEST_CASE("monitor: a failed download is not remembered, so a later copy of the item is fetched") {
  testing::TempDir dir;
  detail::DemoStreamOptions so;
  so.stations = 4;
  so.cap_alerts = 0;
  so.plain = 0;
  so.repeats = 0;
  so.invalid = 0;
  so.caches = 1;
  DataServer data(so);
  // Break the origin copies: the origin notifications fail, the cache copies then succeed.
  for (auto it = data.stream.objects.begin(); it != data.stream.objects.end();)
    it = it->first.rfind("/origin/", 0) == 0 ? data.stream.objects.erase(it) : std::next(it);
  auto o = options_for(dir.path);
  o.download.max_retries = 0;
  Monitor monitor(o);
  monitor.start();
  for (const auto& m : data.stream.messages)
    if (m.phase == 0) monitor.push(m.topic, m.payload);
  REQUIRE(monitor.drain(30s));
  CHECK(monitor.stats().download_failures == so.stations);
  for (const auto& m : data.stream.messages)
    if (m.phase == 3) monitor.push(m.topic, m.payload);
  REQUIRE(monitor.drain(30s));
  monitor.stop();
  CHECK(monitor.stats().downloads == so.stations);
  CHECK(testing::sqlite_int(dir.path / "wis2mon.db", "SELECT count(*) FROM surface_obs") ==
        static_cast<std::int64_t>(so.stations));
}

TEST_CASE("monitor + mosquitto: exact counts, a broker restart mid-stream loses nothing, /metrics and /health") {
  if (!testing::have_mosquitto()) return;
  testing::TempDir dir;
  detail::DemoStreamOptions so;
  so.stations = 80;
  so.cap_alerts = 8;
  so.plain = 12;
  DataServer data(so);
  testing::MosquittoServer broker;
  auto o = options_for(dir.path);
  BrokerOptions b;
  b.name = "local";
  b.url = broker.url();
  o.brokers = {b};
  o.metrics_port = -1;
  Monitor monitor(o);
  monitor.start();
  REQUIRE(monitor.wait_connected(10s));
  const auto& msgs = data.stream.messages;
  publish(broker, msgs, 0, msgs.size() / 2);
  REQUIRE(testing::wait_for([&] { return monitor.stats().received >= msgs.size() / 2; }, 30s));
  broker.stop();
  broker.start();
  REQUIRE(testing::wait_for([&] { return monitor.broker_stats().at(0).connected; }, 20s));
  publish(broker, msgs, msgs.size() / 2);
  REQUIRE(testing::wait_for([&] { return monitor.stats().received >= msgs.size(); }, 60s));
  REQUIRE(monitor.drain(60s));

  httplib::Client http("127.0.0.1", monitor.metrics_port());
  const auto metrics = http.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->body.find("wmo_wis2_gb_messages_received_total{centre_id=\"de-dwd\"}") != std::string::npos);
  CHECK(metrics->body.find("wmo_wis2_gb_connected_flag{broker=\"local\"} 1") != std::string::npos);
  CHECK(metrics->body.find("wmo_wis2_gc_downloaded_total") != std::string::npos);
  const auto health = http.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(health->body.find("\"status\":\"ok\"") != std::string::npos);

  monitor.stop();
  const auto s = monitor.stats();
  CHECK(s.received == msgs.size());
  CHECK(s.invalid == data.stream.invalid);
  CHECK(s.duplicates == data.stream.duplicates);
  CHECK(s.downloads == data.stream.downloads);
  check_rows(dir.path / "wis2mon.db", data.stream);
}

TEST_CASE("monitor + mosquitto: two brokers carrying the same stream give each record once") {
  if (!testing::have_mosquitto()) return;
  testing::TempDir dir;
  detail::DemoStreamOptions so;
  so.stations = 40;
  so.cap_alerts = 4;
  so.plain = 6;
  DataServer data(so);
  testing::MosquittoServer gb1, gb2;
  auto o = options_for(dir.path);
  BrokerOptions b1, b2;
  b1.name = "gb1";
  b1.url = gb1.url();
  b2.name = "gb2";
  b2.url = gb2.url();
  o.brokers = {b1, b2};
  Monitor monitor(o);
  monitor.start();
  REQUIRE(monitor.wait_connected(10s));
  publish(gb1, data.stream.messages);
  publish(gb2, data.stream.messages);
  const auto total = 2 * data.stream.messages.size();
  REQUIRE(testing::wait_for([&] { return monitor.stats().received >= total; }, 60s));
  REQUIRE(monitor.drain(60s));
  monitor.stop();
  const auto s = monitor.stats();
  CHECK(s.received == total);
  // Every message came twice: the second copy of each is a duplicate (invalid ones by their
  // bytes), and the repeats were duplicates already.
  CHECK(s.duplicates == data.stream.valid + data.stream.invalid + data.stream.duplicates);
  CHECK(s.downloads == data.stream.downloads);
  check_rows(dir.path / "wis2mon.db", data.stream);
}

#ifdef WIS2MON_CLI
TEST_CASE("wis2mon run: killed with SIGKILL mid-stream and restarted, nothing acknowledged is lost") {
  if (!testing::have_mosquitto()) return;
  testing::TempDir dir;
  detail::DemoStreamOptions so;
  so.stations = 150;
  so.cap_alerts = 10;
  so.plain = 20;
  DataServer data(so);
  testing::MosquittoServer broker;
  const fs::path db = dir.path / "run.db";
  const std::vector<std::string> argv = {WIS2MON_CLI, "run", "--broker", broker.url(), "--db", db.string()};
  auto monitor = std::make_unique<testing::ChildProcess>(argv, dir.path / "run1.log");
  // Subscribed once the persistent session exists: wait for its first record.
  REQUIRE(testing::wait_for(
      [&] {
        broker.publish(data.stream.messages[0].topic, {data.stream.messages[0].payload}, 1);
        return testing::sqlite_int(db, "SELECT count(*) FROM notifications") > 0;
      },
      20s));
  const auto& msgs = data.stream.messages;
  std::thread publisher([&] { publish(broker, msgs, 1); });
  REQUIRE(testing::wait_for([&] { return testing::sqlite_int(db, "SELECT count(*) FROM notifications") >= 60; }, 30s));
  monitor->signal(SIGKILL);
  monitor.reset();
  publisher.join();
  // Everything published while it was down waits in its persistent session at the broker;
  // what it had spooled waits in its spool.
  monitor = std::make_unique<testing::ChildProcess>(argv, dir.path / "run2.log");
  const bool complete = testing::wait_for(
      [&] {
        return testing::sqlite_int(db, "SELECT count(*) FROM surface_obs") == static_cast<std::int64_t>(so.stations) &&
               testing::sqlite_int(db, "SELECT count(*) FROM notifications") ==
                   static_cast<std::int64_t>(data.stream.rows.at("notifications"));
      },
      60s);
  monitor->signal(SIGTERM);
  CHECK(testing::wait_for([&] { return !monitor->running(); }, 20s));
  INFO(testing::slurp(dir.path / "run2.log"));
  CHECK(complete);
  check_rows(db, data.stream);
  CHECK(testing::slurp(dir.path / "run2.log").find("messages from the last run") != std::string::npos);
}

TEST_CASE("wis2mon run: two processes on one shared subscription split the stream, nothing lost or doubled") {
  if (!testing::have_mosquitto()) return;
  testing::TempDir dir;
  detail::DemoStreamOptions so;
  so.stations = 120;
  so.cap_alerts = 0;
  so.plain = 40;
  so.caches = 0;
  so.repeats = 0;
  so.invalid = 0;
  DataServer data(so);
  testing::MosquittoServer broker;
  std::vector<std::unique_ptr<testing::ChildProcess>> monitors;
  for (int i = 0; i < 2; ++i) {
    const fs::path db = dir.path / ("m" + std::to_string(i) + ".db");
    monitors.push_back(std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{WIS2MON_CLI, "run", "--broker", broker.url(), "--subscribe",
                                 "$share/wis2mon/origin/a/wis2/#", "--db", db.string(), "--duration", "60"},
        dir.path / ("m" + std::to_string(i) + ".log")));
  }
  // Both are subscribed once the broker reports two subscribers: probe until both have taken
  // a message (probes are plain notifications of their own).
  // Probes: plain notifications of their own data ids.
  const auto plain = detail::make_demo_stream({0, 0, 1, 0, 0, 0, "http://x", 99}).messages.at(0);
  int probe = 0;
  REQUIRE(testing::wait_for(
      [&] {
        std::string payload = plain.payload;
        const auto at = payload.find("dataset-0\"");
        REQUIRE(at != std::string::npos);
        payload.replace(at, 9, "probe-" + std::to_string(probe++));
        broker.publish(plain.topic, {payload}, 1);
        return testing::sqlite_int(dir.path / "m0.db", "SELECT count(*) FROM notifications") > 0 &&
               testing::sqlite_int(dir.path / "m1.db", "SELECT count(*) FROM notifications") > 0;
      },
      30s));
  publish(broker, data.stream.messages);
  const auto expected = [&] {
    std::set<std::string> ids;
    for (const auto& m : data.stream.messages) {
      const auto at = m.payload.find("\"data_id\":\"") + 11;
      ids.insert(m.payload.substr(at, m.payload.find('"', at) - at));
    }
    return ids;
  }();
  std::set<std::string> a, b;
  const auto collect = [&] {
    a = query_set(dir.path / "m0.db", "SELECT data_id FROM notifications");
    b = query_set(dir.path / "m1.db", "SELECT data_id FROM notifications");
    std::size_t found = 0;
    for (const auto& id : expected) found += a.count(id) + b.count(id);
    return found >= expected.size();
  };
  CHECK(testing::wait_for(collect, 60s));
  std::size_t doubled = 0, lost = 0, in_a = 0;
  for (const auto& id : expected) {
    doubled += a.count(id) && b.count(id);
    lost += !a.count(id) && !b.count(id);
    in_a += a.count(id);
  }
  CHECK(lost == 0);
  CHECK(doubled == 0);
  CHECK(in_a > 0);  // both took a share
  CHECK(in_a < expected.size());
  CHECK(testing::sqlite_int(dir.path / "m0.db", "SELECT count(*) FROM surface_obs") +
            testing::sqlite_int(dir.path / "m1.db", "SELECT count(*) FROM surface_obs") ==
        static_cast<std::int64_t>(so.stations));
  for (auto& m : monitors) m->signal(SIGTERM);
  for (auto& m : monitors) CHECK(testing::wait_for([&] { return !m->running(); }, 20s));
}
#endif

TEST_CASE("monitor: callback sinks run on the polling thread; a throwing callback loses nothing") {
  testing::TempDir dir;
  auto o = options_for(dir.path);
  PipelineOptions all;
  all.name = "all";  // no sinks of its own: the callback sink is added to it
  o.pipelines = {all};
  o.sinks.clear();
  Monitor monitor(o);
  const auto me = std::this_thread::get_id();
  std::vector<std::string> seen;
  int calls = 0, other_thread = 0;
  monitor.add_callback_sink("cb", [&](const std::vector<Record>& batch) {
    if (std::this_thread::get_id() != me) ++other_thread;
    if (++calls == 1) throw std::runtime_error("first batch fails");
    std::vector<Delivery> answer;
    for (const auto& r : batch) {
      const auto* id = r.get("data_id");
      seen.push_back(id && std::holds_alternative<std::string>(*id) ? std::get<std::string>(*id) : "?");
      answer.push_back({DeliveryStatus::delivered, ""});
    }
    return answer;
  });
  monitor.start();
  detail::SampleOptions so;
  so.count = 40;
  so.invalid_fraction = 0;
  const auto samples = detail::generate_samples(so);
  for (const auto& m : samples) monitor.push(m.topic, m.json);
  bool threw = false;
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (seen.size() < samples.size() && std::chrono::steady_clock::now() < until) {
    try {
      monitor.poll(50ms);
    } catch (const std::runtime_error& e) {
      threw = std::string(e.what()) == "first batch fails";
    }
  }
  CHECK(threw);                          // rethrown from the poll() that ran it...
  CHECK(seen.size() == samples.size());  // ...and its batch came back (Retry), nothing lost
  CHECK(other_thread == 0);
  REQUIRE(monitor.drain(10s));
  monitor.stop();
  CHECK(monitor.stats().records == samples.size());
  CHECK(monitor.stats().spool_stored == 0);
}

TEST_CASE("monitor: stop() flushes callback sinks on the calling thread even if nobody polled") {
  testing::TempDir dir;
  auto o = options_for(dir.path);
  PipelineOptions all;
  all.name = "all";
  all.sinks = {"cb"};
  o.pipelines = {all};
  o.sinks = {{"cb", "callback", {{"batch_max_age", "10s"}}}};  // held until the flush
  {
    Monitor missing(o);
    CHECK_THROWS_WITH_AS(missing.start(), doctest::Contains("callback sink"), Error);
    // A configured sink of another type is not taken over. (A spool of its own: one monitor
    // per spool, and `missing` still holds this one.)
    fs::create_directories(dir.path / "other");
    auto with_db = options_for(dir.path / "other");
    Monitor other(with_db);
    CHECK_THROWS_WITH_AS(
        other.add_callback_sink(with_db.sinks.at(0).name,
                                [](const std::vector<Record>& b) { return std::vector<Delivery>(b.size()); }),
        doctest::Contains("not a callback sink"), Error);
  }
  std::size_t got = 0;
  Monitor monitor(o);
  monitor.add_callback_sink("cb", [&](const std::vector<Record>& batch) {
    got += batch.size();
    return std::vector<Delivery>(batch.size());
  });
  monitor.start();
  detail::SampleOptions so;
  so.count = 10;
  so.invalid_fraction = 0;
  for (const auto& m : detail::generate_samples(so)) monitor.push(m.topic, m.json);
  while (monitor.stats().records < 10) std::this_thread::sleep_for(10ms);
  monitor.stop();
  CHECK(got == 10);
}

TEST_CASE("monitor: two monitors sharing a PostgreSQL dedup store take each item once") {
  if (testing::PostgresServer::bin_dir().empty()) {
    MESSAGE("PostgreSQL is not installed: skipped");
    return;
  }
  testing::PostgresServer server;
  testing::TempDir dir;
  detail::SampleOptions so;
  so.count = 200;
  so.invalid_fraction = 0;
  const auto samples = detail::generate_samples(so);
  // Both monitors get every message (as from two brokers carrying the same stream), at once.
  std::vector<std::unique_ptr<Monitor>> monitors;
  std::map<std::string, int> taken;  // data_id -> times it reached a sink, over both monitors
  for (const char* name : {"a", "b"}) {
    fs::create_directories(dir.path / name);
    auto o = options_for(dir.path / name);
    o.dedup_store = server.url();
    PipelineOptions all;
    all.name = "all";
    all.dedup = DedupPolicy::data_id_pubtime;
    o.pipelines = {all};
    o.sinks.clear();
    auto m = std::make_unique<Monitor>(o);
    m->add_callback_sink("cb", [&taken](const std::vector<Record>& batch) {
      std::vector<Delivery> answer;
      for (const auto& r : batch) {
        const auto* id = r.get("data_id");
        if (r.table() == "notifications" && id && std::holds_alternative<std::string>(*id))
          ++taken[std::get<std::string>(*id)];
        answer.push_back({DeliveryStatus::delivered, ""});
      }
      return answer;
    });
    m->start();
    monitors.push_back(std::move(m));
  }
  std::thread feed_b([&] {
    for (const auto& m : samples) monitors[1]->push(m.topic, m.json);
  });
  for (const auto& m : samples) monitors[0]->push(m.topic, m.json);
  feed_b.join();
  const auto until = std::chrono::steady_clock::now() + 60s;
  std::set<std::string> ids;
  for (const auto& m : samples) ids.insert(std::string(Notification::parse(m.json).notification.data_id()));
  REQUIRE(ids.size() == samples.size());  // every message a different item
  while (taken.size() < ids.size() && std::chrono::steady_clock::now() < until)
    for (auto& m : monitors) m->poll(20ms);
  for (auto& m : monitors) {
    REQUIRE(m->drain(20s));
    m->poll(50ms);
    m->stop();
  }
  CHECK(taken.size() == ids.size());
  int doubled = 0;
  for (const auto& [id, n] : taken) doubled += n > 1 ? 1 : 0;
  CHECK(doubled == 0);
  // Each item was a duplicate in exactly one of the two.
  CHECK(monitors[0]->stats().duplicates + monitors[1]->stats().duplicates == samples.size());
}
