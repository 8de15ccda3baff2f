// Backfill from a WIS2 Global Replay service (issue #16, item 14): Monitor::backfill on its
// own, and the automatic backfill when a broker comes back without the monitor's session,
// against a real mosquitto. The replay service here is a stand-in on cpp-httplib that pages
// and filters like pygeoapi; the fault suite (tests/faults) runs the same against pygeoapi.
#include <doctest/doctest.h>
#include <httplib.h>
#include <rapidjson/document.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include "child_process.hpp"
#include "mosquitto_server.hpp"
#include "support.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/monitor.hpp"
#include "wis2mon/spool.hpp"

using namespace wis2mon;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string kTopic = "origin/a/wis2/ch-meteoswiss/data/core/weather/surface-based-observations/synop";
const std::string kCollection = "wis2-notification-messages";

// Notification i, published at `pubtime`.
std::string message(int i, Timestamp pubtime) {
  const std::string n = std::to_string(1000 + i);
  return testing::mutate(
      testing::valid_message(),
      {{"/id", "\"6f1c2c43-9a8e-4b8f-bb52-0c3b1c4d" + n + "\""},
       {"/properties/data_id", "\"ch-meteoswiss/data/core/weather/surface-based-observations/synop/" + n + "\""},
       {"/properties/pubtime", "\"" + format_rfc3339(pubtime) + "\""}});
}

// What the replay service keeps of a message: the same, with the topic in properties.topic.
std::string kept(const std::string& topic, const std::string& payload) {
  return testing::mutate(payload, {{"/properties/topic", "\"" + topic + "\""}});
}

// The replay service stand-in: /collections/<collection>/items with limit, offset and
// datetime=<since>/<until> on properties.pubtime, answering GeoJSON pages with a rel=next link.
class ReplayStandIn {
 public:
  explicit ReplayStandIn(std::vector<std::string> features) : features_(std::move(features)) {
    server_.Get("/collections/" + kCollection + "/items", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        windows_.push_back(req.get_param_value("datetime"));
      }
      if (failing_ > 0) {
        --failing_;
        res.status = 503;
        return;
      }
      const auto limit = std::stoul(req.get_param_value("limit"));
      const auto offset = req.has_param("offset") ? std::stoul(req.get_param_value("offset")) : 0;
      const auto window = req.get_param_value("datetime");
      const auto since = parse_rfc3339(window.substr(0, window.find('/')));
      const auto until = parse_rfc3339(window.substr(window.find('/') + 1));
      std::vector<const std::string*> matched;
      for (const auto& f : features_) {
        rapidjson::Document d;
        d.Parse(f.c_str());
        const auto t = parse_rfc3339(d["properties"]["pubtime"].GetString());
        if (since && until && t && *since <= *t && *t <= *until) matched.push_back(&f);
      }
      std::string body = "{\"type\":\"FeatureCollection\",\"features\":[";
      for (std::size_t i = offset; i < matched.size() && i < offset + limit; ++i)
        body += (i > offset ? "," : "") + *matched[i];
      body += "],\"links\":[";
      if (offset + limit < matched.size())
        body += "{\"rel\":\"next\",\"type\":\"application/geo+json\",\"href\":\"" + url() + "/collections/" +
                kCollection + "/items?f=json&limit=" + std::to_string(limit) +
                "&offset=" + std::to_string(offset + limit) + "&datetime=" + window + "\"}";
      body += "],\"numberMatched\":" + std::to_string(matched.size()) + "}";
      res.set_content(body, "application/geo+json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~ReplayStandIn() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> windows() const {  // the datetime of every request, in order
    std::lock_guard lock(mu_);
    return windows_;
  }
  void fail_next(int n) { failing_ = n; }

 private:
  std::vector<std::string> features_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;
  std::vector<std::string> windows_;
  std::atomic<int> failing_{0};
};

MonitorOptions options_in(const fs::path& dir) {
  MonitorOptions o;
  o.spool = dir / "spool.db";
  o.status_interval = 0ms;
  o.log = [](std::string_view) {};
  o.sinks.push_back({"db", "sqlite", {{"path", (dir / "w.db").string()}}});
  PipelineOptions p;
  p.name = "all";
  p.dedup = DedupPolicy::data_id_pubtime;
  p.sinks = {"db"};
  o.pipelines.push_back(p);
  return o;
}

// What a monitor logged, for the checks.
class CapturedLog {
 public:
  std::function<void(std::string_view)> sink() {
    return [this](std::string_view line) {
      std::lock_guard lock(mu_);
      text_.append(line).append("\n");
    };
  }
  bool has(const std::string& what) const {
    std::lock_guard lock(mu_);
    return text_.find(what) != std::string::npos;
  }

 private:
  mutable std::mutex mu_;
  std::string text_;
};

// A monitor on one broker, "gb", with a replay service to fetch its gaps from.
MonitorOptions gap_options(const fs::path& dir, const std::string& broker_url, const std::string& replay_url,
                           CapturedLog& log) {
  auto o = options_in(dir);
  o.replay_url = replay_url;
  BrokerOptions b;
  b.name = "gb";
  b.url = broker_url;
  o.brokers = {b};
  o.log = log.sink();
  return o;
}

}  // namespace

TEST_CASE("monitor: backfill() fetches a window page by page, keeps to the filters, and lands each item once") {
  testing::TempDir dir;
  const Timestamp t0{1795000000, 0};
  std::vector<std::string> features;
  for (int i = 0; i < 7; ++i) features.push_back(kept(kTopic, message(i, Timestamp{t0.seconds + 60 * i, 0})));
  // Outside the filter, and outside the window.
  features.push_back(kept("origin/a/wis2/jp-jma/data/core/weather/surface-based-observations/synop",
                          message(20, Timestamp{t0.seconds + 30, 0})));
  features.push_back(kept(kTopic, message(21, Timestamp{t0.seconds + 86400, 0})));
  ReplayStandIn grep(features);

  auto o = options_in(dir.path);
  o.replay_url = grep.url() + "/";  // a trailing slash is fine
  Monitor monitor(o);
  monitor.start();
  monitor.push(kTopic, message(0, t0));  // the monitor had two of them already
  monitor.push(kTopic, message(1, Timestamp{t0.seconds + 60, 0}));
  BackfillRequest r;
  r.since = t0;
  r.until = Timestamp{t0.seconds + 3600, 0};
  r.filters = {"origin/a/wis2/ch-meteoswiss/#"};
  r.page_size = 3;
  std::vector<std::size_t> fed_per_page;
  r.on_page = [&](const BackfillProgress& p) { fed_per_page.push_back(p.fed); };
  const auto p = monitor.backfill(r);
  CHECK(p.ok);
  CHECK(p.pages == 3);  // 8 in the window, 3 a page
  CHECK(p.fed == 7);
  CHECK(p.skipped == 1);
  CHECK(fed_per_page == std::vector<std::size_t>{3, 6, 7});
  REQUIRE(monitor.drain(10s));
  CHECK(monitor.stats().backfilled == 7);
  CHECK(monitor.stats().duplicates == 2);
  CHECK(testing::sqlite_int(dir.path / "w.db", "SELECT count(*) FROM notifications") == 7);
  CHECK(testing::sqlite_int(dir.path / "w.db", "SELECT count(DISTINCT data_id) FROM notifications") == 7);

  // A service that fails says why; a bad filter or no service is refused.
  grep.fail_next(100);
  const auto failed = monitor.backfill(r);
  CHECK_FALSE(failed.ok);
  CHECK(failed.error.find("503") != std::string::npos);
  r.filters = {"a/#/b"};
  CHECK_THROWS_AS(monitor.backfill(r), Error);
  monitor.stop();
  CHECK_THROWS_AS(monitor.backfill(r), Error);
  auto none = options_in(dir.path);
  Monitor without(none);
  r.filters.clear();
  CHECK_THROWS_WITH_AS(without.backfill(r), doctest::Contains("no replay service"), Error);
}

TEST_CASE("monitor + mosquitto: a broker that lost the session: the gap is fetched from the replay service") {
  if (testing::MosquittoServer::binary().empty() || testing::find_program("mosquitto_pub").empty()) {
    MESSAGE("mosquitto / mosquitto_pub are not installed: skipped");
    return;
  }
  testing::TempDir dir;
  testing::MosquittoServer broker;
  const auto now = Timestamp::now();
  std::vector<std::string> stream;
  for (int i = 0; i < 30; ++i) stream.push_back(message(i, now));
  std::vector<std::string> features;
  for (const auto& m : stream) features.push_back(kept(kTopic, m));
  ReplayStandIn grep(features);

  CapturedLog log;
  auto o = gap_options(dir.path, broker.url(), grep.url(), log);
  o.backfill_margin = 120s;
  const auto logged = [&](const std::string& what) { return log.has(what); };
  const auto rows = [&] { return testing::sqlite_int(dir.path / "w.db", "SELECT count(*) FROM notifications"); };

  // First run: the first ten arrive; a first connection is no gap.
  {
    Monitor monitor(o);
    monitor.start();
    REQUIRE(monitor.wait_connected(10s));
    REQUIRE(broker.publish(kTopic, {stream.begin(), stream.begin() + 10}));
    REQUIRE(testing::wait_for([&] { return rows() == 10; }, 20s));
    monitor.stop();
  }
  CHECK(grep.windows().empty());
  std::int64_t last = 0;  // the arrival of the latest message, kept in the spool's file
  {
    Spool spool({dir.path / "spool.db"});
    const auto mark = spool.mark("last_message:gb");
    REQUIRE(mark);
    const auto t = parse_rfc3339(*mark);
    REQUIRE(t);
    last = t->seconds;
    CHECK(last >= now.seconds);
    CHECK(last <= Timestamp::now().seconds);
  }

  // The broker forgets the session while the monitor is away: ten are published to nobody.
  broker.restart_forgetting();
  REQUIRE(broker.publish(kTopic, {stream.begin() + 10, stream.begin() + 20}));
  {
    Monitor monitor(o);
    monitor.start();
    REQUIRE(monitor.wait_connected(10s));
    REQUIRE(testing::wait_for([&] { return rows() == 30; }, 20s));  // the replay service has all 30
    REQUIRE(testing::wait_for([&] { return logged("backfill of"); }, 10s));
    REQUIRE(grep.windows().size() == 1);
    // From the last message (minus the margin) to now (plus the margin), on pubtime.
    const auto window = grep.windows().at(0);
    const auto since = parse_rfc3339(window.substr(0, window.find('/')));
    const auto until = parse_rfc3339(window.substr(window.find('/') + 1));
    REQUIRE(since);
    REQUIRE(until);
    CHECK(since->seconds == last - 120);
    CHECK(until->seconds >= Timestamp::now().seconds + 100);
    CHECK(logged("30 notifications spooled from 1 pages"));
    REQUIRE(monitor.drain(10s));
    CHECK(monitor.stats().backfilled == 30);

    // While it runs: the broker restarts forgetting again, the connection comes back without
    // the session, and the window is fetched again. The replay service fails the first fetch
    // (its four attempts: the downloader's own retries), so the monitor tries again later.
    grep.fail_next(4);
    broker.restart_forgetting();
    REQUIRE(testing::wait_for([&] { return grep.windows().size() >= 6; }, 30s));
    REQUIRE(testing::wait_for([&] { return monitor.stats().backfilled == 60; }, 20s));
    // The first gap was closed by its backfill: the second starts from that connection.
    const auto second = grep.windows().back();
    CHECK(parse_rfc3339(second.substr(0, second.find('/')))->seconds > last - 120);
    CHECK(logged("backfill failed: "));
    CHECK(logged("trying again in 5 s"));
    REQUIRE(broker.publish(kTopic, {stream.begin() + 20, stream.end()}));  // live again
    REQUIRE(testing::wait_for([&] { return monitor.broker_stats().at(0).messages == 10; }, 20s));
    REQUIRE(monitor.drain(10s));
    monitor.stop();
  }
  CHECK(rows() == 30);  // every one once
  CHECK(testing::sqlite_int(dir.path / "w.db", "SELECT count(DISTINCT data_id) FROM notifications") == 30);

  // Without a replay service the gap is said, with what would fetch it.
  o.replay_url.clear();
  broker.restart_forgetting();
  {
    Monitor monitor(o);
    monitor.start();
    REQUIRE(monitor.wait_connected(10s));
    REQUIRE(
        testing::wait_for([&] { return logged("is missing here (monitor.replay_url names a replay service"); }, 10s));
    monitor.stop();
  }
}

TEST_CASE("monitor + mosquitto: a subscription the control API added is backfilled after a lost session too") {
  if (testing::MosquittoServer::binary().empty() || testing::find_program("mosquitto_pub").empty()) {
    MESSAGE("mosquitto / mosquitto_pub are not installed: skipped");
    return;
  }
  const std::string french = "origin/a/wis2/fr-meteofrance/data/core/weather/surface-based-observations/synop";
  testing::TempDir dir;
  testing::MosquittoServer broker;
  const auto now = Timestamp::now();
  std::vector<std::string> swiss, france, features;
  for (int i = 0; i < 10; ++i) {
    swiss.push_back(message(i, now));
    france.push_back(message(100 + i, now));
    features.push_back(kept(kTopic, swiss.back()));
    features.push_back(kept(french, france.back()));
  }
  ReplayStandIn grep(features);

  CapturedLog log;
  auto o = gap_options(dir.path, broker.url(), grep.url(), log);
  o.metrics_port = -1;
  o.control_token = "backfill-test-token";
  o.brokers.at(0).subscriptions = {kTopic};  // the French centre only through the control API
  const auto rows = [&] { return testing::sqlite_int(dir.path / "w.db", "SELECT count(*) FROM notifications"); };

  {
    Monitor monitor(o);
    monitor.start();
    REQUIRE(monitor.wait_connected(10s));
    httplib::Client control("127.0.0.1", monitor.metrics_port());
    const auto added = control.Post("/api/control/subscriptions", {{"Authorization", "Bearer " + o.control_token}},
                                    "{\"filter\": \"" + french + "\"}", "application/json");
    REQUIRE(added);
    REQUIRE(added->status == 200);
    REQUIRE(broker.publish(kTopic, {swiss.at(0)}));
    REQUIRE(broker.publish(french, {france.at(0)}));
    REQUIRE(testing::wait_for([&] { return rows() == 2; }, 20s));
    monitor.stop();
  }
  // The broker forgets the session: at the next start the gap is fetched for both filters, the
  // configured one and the one the control API added (kept by the monitor across the restart).
  broker.restart_forgetting();
  {
    Monitor monitor(o);
    monitor.start();
    REQUIRE(monitor.wait_connected(10s));
    REQUIRE(testing::wait_for([&] { return log.has("backfill of"); }, 20s));
    REQUIRE(monitor.drain(10s));
    CHECK(rows() == 20);
    CHECK(testing::sqlite_int(dir.path / "w.db",
                              "SELECT count(*) FROM notifications WHERE topic LIKE "
                              "'origin/a/wis2/fr-meteofrance/%'") == 10);
    monitor.stop();
  }
}
