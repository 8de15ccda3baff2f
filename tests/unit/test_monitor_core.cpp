// The monitor's core without brokers: the completion ledger at work (an entry whose
// processing throws frees its item), decoders and sink kinds from the registries (a decoder
// from examples/, a sink kind with its own config table and healthcheck), /health per sink,
// the lifecycle's state errors, and the metrics port bound exclusively.
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "csv_decoder.hpp"
#include "support.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/monitor.hpp"
#include "wis2mon/spool.hpp"

using namespace wis2mon;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A notification whose data is inline text.
std::string inline_notification(const std::string& id, const std::string& data_id, const std::string& text) {
  std::string value;
  for (char c : text) value += c == '\n' ? std::string("\\n") : c == '"' ? std::string("\\\"") : std::string(1, c);
  return R"({"id": ")" + id +
         R"(", "type": "Feature", "geometry": null,)"
         R"( "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],)"
         R"( "properties": {"data_id": ")" +
         data_id +
         R"(", "pubtime": "2026-11-30T06:05:00Z", "datetime": "2026-11-30T06:00:00Z",)"
         R"( "content": {"encoding": "utf-8", "size": )" +
         std::to_string(text.size()) + R"(, "value": ")" + value +
         R"("}}, "links": [{"href": "https://example.org/x", "rel": "canonical", "type": "text/plain"}]})";
}

const std::string kTopic = "origin/a/wis2/de-example/data/core/weather/surface-based-observations/synop";

MonitorOptions options_in(const fs::path& dir) {
  MonitorOptions o;
  o.spool = dir / "spool.db";
  o.status_interval = 0ms;
  o.log = [](std::string_view) {};
  return o;
}

PipelineOptions pipeline(const std::string& name, const std::string& decoder, std::vector<std::string> sinks) {
  PipelineOptions p;
  p.name = name;
  p.decoder = decoder;
  p.dedup = DedupPolicy::data_id_pubtime;
  p.sinks = std::move(sinks);
  return p;
}

// Throws on its first object, then gives one record per object.
class ThrowOnceDecoder : public Decoder {
 public:
  std::string name() const override { return "test_throw_once"; }
  std::string description() const override { return "throws once, then one record"; }
  std::vector<RecordSchemaPtr> schemas() const override { return {schema()}; }
  DecodeOutput decode(std::string_view data) const override {
    if (calls++ == 0) throw std::runtime_error("decoder bug on the first object");
    DecodeOutput out;
    out.records.emplace_back(schema(), std::vector<FieldValue>{std::string(data)});
    return out;
  }
  static const RecordSchemaPtr& schema() {
    static const auto s = std::make_shared<const RecordSchema>("thrown", std::vector<std::string>{"text"});
    return s;
  }
  mutable std::atomic<int> calls{0};
};

class FlakySink : public Sink {
 public:
  explicit FlakySink(std::string name, std::string reason) : Sink(std::move(name)), reason_(std::move(reason)) {}
  std::vector<Delivery> write(const std::vector<Record>& batch) override { return std::vector<Delivery>(batch.size()); }
  SinkHealth healthcheck() override { return {reason_.empty(), reason_}; }

 private:
  std::string reason_;
};

void register_test_kinds() {
  static const bool once = [] {
    register_decoder(std::make_shared<ThrowOnceDecoder>());
    register_decoder(std::make_shared<StationCsvDecoder>());
    register_sink_kind({"test_flaky",
                        "a sink whose healthcheck fails when `failing` is set",
                        ConfigTable("test_flaky", {{"failing", ConfigType::string, "", "the reason it fails"}}),
                        [](const std::string& name, const ConfigValues& c) {
                          return std::make_shared<FlakySink>(name, c.text("failing"));
                        },
                        {}});
    return true;
  }();
  (void)once;
}

// A monitor with every default but one pipeline "all" into a callback sink "cb" (settings:
// its engine's), quiet.
MonitorOptions callback_monitor_options(std::map<std::string, std::string> settings = {}) {
  MonitorOptions o;
  o.status_interval = 0ms;
  o.log = [](std::string_view) {};
  PipelineOptions p;
  p.name = "all";
  p.sinks = {"cb"};
  o.pipelines = {p};
  o.sinks = {SinkSpec{"cb", "callback", std::move(settings)}};
  return o;
}

}  // namespace

TEST_CASE("monitor: processing that throws frees its item, so a later copy of it is processed") {
  register_test_kinds();
  testing::TempDir dir;
  auto o = options_in(dir.path);
  o.pipelines.push_back(pipeline("p", "test_throw_once", {}));
  Monitor monitor(o);
  std::atomic<int> delivered{0};
  monitor.add_callback_sink("mine", [&](const std::vector<Record>& batch) {
    delivered += static_cast<int>(batch.size());
    return std::vector<Delivery>(batch.size());
  });
  monitor.start();
  // The origin's message makes the decoder throw; a cache's copy of the same item follows.
  monitor.push(kTopic, inline_notification("11111111-1111-4111-8111-111111111111", "de-example/x/1", "obs"));
  REQUIRE(monitor.drain(10s));
  CHECK(monitor.stats().dead_letters == 1);
  CHECK(delivered == 0);
  monitor.push(kTopic, inline_notification("22222222-2222-4222-8222-222222222222", "de-example/x/1", "obs"));
  REQUIRE(monitor.drain(10s));
  CHECK(delivered == 1);
  CHECK(monitor.stats().duplicates == 0);
  // Now it was processed, the next copy is a duplicate.
  monitor.push(kTopic, inline_notification("33333333-3333-4333-8333-333333333333", "de-example/x/1", "obs"));
  REQUIRE(monitor.drain(10s));
  CHECK(delivered == 1);
  CHECK(monitor.stats().duplicates == 1);
  CHECK(monitor.stats().in_progress == 0);
}

TEST_CASE("monitor: a decoder from examples/ runs through a monitor into SQLite, keyed by its schema") {
  register_test_kinds();
  testing::TempDir dir;
  auto o = options_in(dir.path);
  o.sinks.push_back({"db", "sqlite", {{"path", (dir.path / "obs.db").string()}}});
  auto p = pipeline("csv", "station_csv", {"db"});
  p.dedup.reset();
  o.pipelines.push_back(p);
  Monitor monitor(o);
  monitor.start();
  monitor.push(kTopic, inline_notification("44444444-4444-4444-8444-444444444444", "de-example/csv/1",
                                           "station,observed_at,air_temperature\n"
                                           "0-20000-0-10385,2026-11-30T06:00:00Z,271.35\n"
                                           "0-20000-0-10384,2026-11-30T06:00:00Z,270.95\n"
                                           "garbage\n"));
  // A correction of one reading: the same key (station, observed_at) updates the row.
  monitor.push(kTopic, inline_notification("55555555-5555-4555-8555-555555555555", "de-example/csv/2",
                                           "0-20000-0-10385,2026-11-30T06:00:00Z,272.05\n"));
  REQUIRE(monitor.drain(10s));
  monitor.stop();
  const auto db = dir.path / "obs.db";
  CHECK(testing::sqlite_int(db, "SELECT count(*) FROM csv_obs") == 2);
  CHECK(testing::sqlite_int(
            db, "SELECT count(*) FROM csv_obs WHERE station = '0-20000-0-10385' AND air_temperature = 272.05") == 1);
  CHECK(testing::sqlite_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'ux_csv_obs'") == 1);
}

TEST_CASE("monitor: every alert of a CAP envelope is stored; the parts that fail are counted and logged") {
  testing::TempDir dir;
  auto o = options_in(dir.path);
  std::vector<std::string> lines;
  std::mutex lines_mu;
  o.log = [&](std::string_view line) {
    std::lock_guard lock(lines_mu);
    lines.emplace_back(line);
  };
  const auto logged = [&](const std::string& part) {
    std::lock_guard lock(lines_mu);
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(part) != std::string::npos; });
  };
  auto p = pipeline("alerts", "cap", {});
  p.dedup.reset();
  o.pipelines.push_back(p);
  auto strict = pipeline("strict-alerts", "cap", {});
  strict.dedup.reset();
  strict.validation = ValidationMode::strict;
  strict.filters = {"origin/a/wis2/+/data/core/weather/advisories-warnings"};
  o.pipelines.push_back(strict);
  Monitor monitor(o);
  std::mutex mu;
  std::map<std::string, int> rows;  // pipeline's identifiers seen in cap_alerts rows
  monitor.add_callback_sink("mine", [&](const std::vector<Record>& batch) {
    std::lock_guard lock(mu);
    for (const auto& r : batch)
      if (r.table() == "cap_alerts") ++rows[std::get<std::string>(*r.get("identifier"))];
    return std::vector<Delivery>(batch.size());
  });
  monitor.start();
  const auto alert = [](const std::string& id, const std::string& sent) {
    return "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>" + id +
           "</identifier><sender>s@example.org</sender><sent>" + sent +
           "</sent><status>Test</status><msgType>Alert</msgType><scope>Public</scope></alert>";
  };
  const auto envelope = [](const std::vector<std::string>& alerts) {
    std::string out = "<EDXLDistribution xmlns=\"urn:oasis:names:tc:emergency:EDXL:DE:1.0\">";
    for (const auto& a : alerts)
      out +=
          "<contentObject><xmlContent><embeddedXMLContent>" + a + "</embeddedXMLContent></xmlContent></contentObject>";
    return out + "</EDXLDistribution>";
  };
  monitor.push(kTopic, inline_notification("66666666-6666-4666-8666-666666666666", "de-example/cap/1",
                                           envelope({alert("A-1", "2026-11-30T06:00:00+00:00"),
                                                     alert("A-2", "2026-11-30T06:00:00+00:00"),
                                                     "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"/>"})));
  REQUIRE(monitor.drain(10s));
  {
    std::lock_guard lock(mu);
    CHECK(rows == std::map<std::string, int>{{"A-1", 1}, {"A-2", 1}});
  }
  CHECK(monitor.stats().decode_part_errors == 1);
  CHECK(monitor.stats().decode_failures == 0);
  CHECK(monitor.stats().dead_letters == 0);
  CHECK(
      logged("decode: alerts: 1 part(s) of de-example/cap/1 not decoded: alert 3 of <EDXLDistribution>: "
             "the <alert> element is empty"));
  // A time without its zone offset: a warning for the lenient pipeline, an error (counted,
  // the row still stored with valid = 0) for the strict one.
  const std::string warnings_topic = "origin/a/wis2/de-example/data/core/weather/advisories-warnings";
  monitor.push(warnings_topic, inline_notification("77777777-7777-4777-8777-777777777777", "de-example/cap/2",
                                                   alert("A-3", "2026-11-30T06:00:00")));
  REQUIRE(monitor.drain(10s));
  {
    std::lock_guard lock(mu);
    CHECK(rows["A-3"] == 2);  // one row from each pipeline
  }
  CHECK(monitor.stats().decode_part_errors == 2);
  CHECK(
      logged("decode: strict-alerts: 1 part(s) of de-example/cap/2 not decoded: <sent> \"2026-11-30T06:00:00\" "
             "has no zone offset"));
  CHECK_FALSE(logged("decode: alerts: 1 part(s) of de-example/cap/2"));
}

TEST_CASE("config: sink kinds and decoders come from the registries; unknown ones are refused") {
  register_test_kinds();
  const std::string base = "pipelines: [{name: p, sinks: [s]}]\n";
  try {
    parse_monitor_config("sinks: [{name: s, type: sqlit, path: x.db}]\n" + base);
    FAIL("type sqlit accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("unknown sink kind 'sqlit'") != std::string::npos);
  }
  CHECK_NOTHROW(parse_monitor_config("sinks: [{name: s, type: test_flaky}]\n" + base));
  CHECK_THROWS_WITH_AS(parse_monitor_config("sinks: [{name: s, type: test_flaky, failng: x}]\n" + base),
                       doctest::Contains("did you mean 'failing'"), Error);
  CHECK_NOTHROW(parse_monitor_config(
      "sinks: [{name: s, type: test_flaky}]\npipelines: [{name: p, sinks: [s], decoder: station_csv}]"));
  CHECK_THROWS_WITH_AS(
      parse_monitor_config("sinks: [{name: s, type: test_flaky}]\npipelines: [{name: p, sinks: [s], decoder: bufx}]"),
      doctest::Contains("'bufx' is not a registered decoder"), Error);
  CHECK_THROWS_AS(register_sink_kind({"sqlite",
                                      "again",
                                      ConfigTable("sqlite", {}),
                                      [](const std::string&, const ConfigValues&) { return std::shared_ptr<Sink>(); },
                                      {}}),
                  Error);
  CHECK_THROWS_AS(register_decoder(std::make_shared<StationCsvDecoder>()), Error);
  const auto names = sink_kind_names();
  CHECK(std::find(names.begin(), names.end(), "test_flaky") != names.end());
  CHECK(sink_config_table("test_flaky").find("failing") != nullptr);
}

TEST_CASE("monitor: /health reports each sink and answers 503 when one fails its healthcheck") {
  register_test_kinds();
  testing::TempDir dir;
  auto o = options_in(dir.path);
  o.metrics_port = -1;
  o.sinks.push_back({"good", "test_flaky", {}});
  o.sinks.push_back({"bad", "test_flaky", {{"failing", "disk on fire"}}});
  o.pipelines.push_back(pipeline("p", "none", {"good", "bad"}));
  BrokerOptions nowhere;
  nowhere.name = "nowhere";
  nowhere.url = "mqtt://127.0.0.1:1";  // port 1: refused
  o.brokers.push_back(nowhere);
  Monitor monitor(o);
  monitor.start();
  const auto h = monitor.health();
  CHECK(h.json.find(R"("broker_states":{"nowhere":{"connected":false,"reason":")") != std::string::npos);
  CHECK_FALSE(h.ok);
  CHECK(
      h.json.find(R"("sinks":{"bad":{"healthy":false,"reason":"disk on fire"},"good":{"healthy":true,"reason":""}})") !=
      std::string::npos);
  httplib::Client http("127.0.0.1", monitor.metrics_port());
  const auto res = http.Get("/health");
  REQUIRE(res);
  CHECK(res->status == 503);
  CHECK(res->body.find("disk on fire") != std::string::npos);
  CHECK(monitor.metrics_text().find("wis2mon_sink_healthy{sink=\"bad\"} 0") != std::string::npos);
}

class RejectingSink : public Sink {
 public:
  using Sink::Sink;
  std::vector<Delivery> write(const std::vector<Record>& batch) override {
    return std::vector<Delivery>(batch.size(), Delivery{DeliveryStatus::rejected, "never"});
  }
};

TEST_CASE("monitor: a sink's own dead_letters file gets its rejected records; others go to the monitor's") {
  static const bool registered = [] {
    register_sink_kind(
        {"test_rejecting",
         "rejects everything",
         ConfigTable("test_rejecting", {}),
         [](const std::string& name, const ConfigValues&) { return std::make_shared<RejectingSink>(name); },
         {}});
    return true;
  }();
  (void)registered;
  testing::TempDir dir;
  auto o = options_in(dir.path);
  o.sinks.push_back({"own", "test_rejecting", {{"dead_letters", (dir.path / "own.db").string()}}});
  o.sinks.push_back({"shared", "test_rejecting", {}});
  auto p = pipeline("p", "none", {"own", "shared"});
  p.dedup.reset();
  o.pipelines.push_back(p);
  {
    Monitor monitor(o);
    monitor.start();
    monitor.push("origin/a/wis2/ch-meteoswiss/data/core/weather/surface-based-observations/synop",
                 testing::valid_message());
    REQUIRE(monitor.drain(10s));
  }
  CHECK(DeadLetterStore(dir.path / "own.db").entries(10, "own").size() == 1);
  CHECK(DeadLetterStore(dir.path / "own.db").entries(10, "shared").empty());
  CHECK(DeadLetterStore(o.dead_letter_file()).entries(10, "shared").size() == 1);
  CHECK(DeadLetterStore(o.dead_letter_file()).entries(10, "own").empty());
}

// Healthy until told otherwise, then unhealthy (the periodic checks must notice).
class TurningSink : public Sink {
 public:
  TurningSink(std::string name, std::shared_ptr<std::atomic<bool>> failing)
      : Sink(std::move(name)), failing_(std::move(failing)) {}
  std::vector<Delivery> write(const std::vector<Record>& batch) override { return std::vector<Delivery>(batch.size()); }
  SinkHealth healthcheck() override { return {!*failing_, *failing_ ? "disk full" : ""}; }

 private:
  std::shared_ptr<std::atomic<bool>> failing_;
};

TEST_CASE("monitor: sink healthchecks run again every health_interval, and /health follows") {
  testing::TempDir dir;
  auto o = options_in(dir.path);
  o.health_interval = 50ms;
  std::vector<std::string> lines;
  std::mutex lines_mu;
  o.log = [&](std::string_view l) {
    std::lock_guard lock(lines_mu);
    lines.emplace_back(l);
  };
  o.sinks.push_back({"turning", "test_turning", {}});
  o.pipelines.push_back(pipeline("p", "none", {"turning"}));
  auto failing = std::make_shared<std::atomic<bool>>(false);
  Monitor monitor(o);
  monitor.add_sink_type("test_turning",
                        [failing](const SinkSpec& s) { return std::make_shared<TurningSink>(s.name, failing); });
  monitor.start();
  CHECK(monitor.health().ok);
  *failing = true;
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (monitor.health().ok && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  CHECK_FALSE(monitor.health().ok);
  CHECK(monitor.health().json.find("disk full") != std::string::npos);
  *failing = false;
  while (!monitor.health().ok && std::chrono::steady_clock::now() < until + 5s) std::this_thread::sleep_for(20ms);
  CHECK(monitor.health().ok);
  monitor.stop();
  std::lock_guard lock(lines_mu);
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  CHECK(all.find("sink turning: unhealthy: disk full") != std::string::npos);
  CHECK(all.find("sink turning: healthy again") != std::string::npos);
}

TEST_CASE("monitor: lifecycle errors are ErrorCode::state; start is idempotent while running") {
  testing::TempDir dir;
  auto o = options_in(dir.path);
  o.pipelines.push_back(pipeline("p", "none", {}));
  Monitor monitor(o);
  const auto code_of = [](const std::function<void()>& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::internal;
  };
  CHECK(code_of([&] { monitor.drain(0ms); }) == ErrorCode::state);
  monitor.add_callback_sink("mine", [](const std::vector<Record>& b) { return std::vector<Delivery>(b.size()); });
  monitor.start();
  monitor.start();
  CHECK(code_of([&] { monitor.add_callback_sink("late", nullptr); }) == ErrorCode::state);
  CHECK(code_of([&] { monitor.add_sink_type("late", nullptr); }) == ErrorCode::state);
  monitor.stop();
  monitor.stop();
  CHECK(code_of([&] { monitor.push(kTopic, "{}"); }) == ErrorCode::state);
  CHECK(code_of([&] { monitor.poll(0ms); }) == ErrorCode::state);
  CHECK(code_of([&] { monitor.drain(0ms); }) == ErrorCode::state);
  CHECK(code_of([&] { monitor.start(); }) == ErrorCode::state);
}

TEST_CASE("monitor: the endpoint answers /health and /metrics with 1,000 idle connections open; 404, 405 otherwise") {
  // Two sockets per connection live in this process (ours and the server's).
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  if (files.rlim_cur < 2400 && files.rlim_max >= 2400) {
    files.rlim_cur = 2400;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  getrlimit(RLIMIT_NOFILE, &files);
  REQUIRE(files.rlim_cur >= 2400);
  testing::TempDir dir;
  auto o = options_in(dir.path);
  o.metrics_port = -1;
  o.sinks.push_back({"s", "test_flaky", {}});
  register_test_kinds();
  o.pipelines.push_back(pipeline("p", "none", {"s"}));
  Monitor monitor(o);
  monitor.start();
  // The idle clients live in another process, as they would (a child that only opens sockets
  // and waits, so forking this multi-threaded process is safe).
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(monitor.metrics_port()));
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    char status = 'y';
    for (int i = 0; i < 1000; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) status = 'n';
      if (i % 10 == 0 && ::send(fd, "GET /hea", 8, 0) != 8) status = 'n';  // half a request, then silence
    }
    if (::write(ready[1], &status, 1) != 1) ::_exit(1);
    for (;;) ::pause();
  }
  char status = 0;
  REQUIRE(::read(ready[0], &status, 1) == 1);
  ::close(ready[0]);
  ::close(ready[1]);
  CHECK(status == 'y');
  std::this_thread::sleep_for(1s);  // the server has taken them all in by now
  httplib::Client http("127.0.0.1", monitor.metrics_port());
  http.set_connection_timeout(1, 0);
  http.set_read_timeout(1, 0);
  for (int i = 0; i < 3; ++i) {
    const auto health = http.Get("/health");
    REQUIRE(health);
    CHECK(health->status == 200);
    CHECK(health->body.find("\"sinks\"") != std::string::npos);
  }
  const auto metrics = http.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("wis2mon_spool_entries") != std::string::npos);
  CHECK(http.Get("/nothing")->status == 404);
  CHECK(http.Post("/health", "x", "text/plain")->status == 405);
  // A body past the endpoint's limit is read and dropped, and refused whole.
  const auto big = http.Post("/api/control/subscriptions", std::string(70 * 1024, 'x'), "application/json");
  REQUIRE(big);
  CHECK(big->status == 413);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

TEST_CASE("monitor: a second monitor on the same metrics port fails to start with a clear message") {
  testing::TempDir dir;
  auto first = options_in(dir.path / "a");
  fs::create_directories(dir.path / "a");
  fs::create_directories(dir.path / "b");
  first.metrics_port = -1;
  first.sinks.push_back({"s", "test_flaky", {}});
  register_test_kinds();
  first.pipelines.push_back(pipeline("p", "none", {"s"}));
  Monitor a(first);
  a.start();
  auto second = first;
  second.spool = dir.path / "b" / "spool.db";
  second.metrics_port = a.metrics_port();
  Monitor b(second);
  try {
    b.start();
    FAIL("the second monitor started on a taken port");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::io);
    CHECK(std::string(e.what()).find(std::to_string(a.metrics_port())) != std::string::npos);
  }
}

TEST_CASE("monitor: the notifications record takes the message's fields from the shared field table") {
  testing::TempDir dir;
  auto o = options_in(dir.path);
  auto p = pipeline("all", "none", {});
  p.dedup.reset();
  o.pipelines.push_back(p);
  Monitor monitor(o);
  std::vector<Record> got;
  monitor.add_callback_sink("mine", [&](const std::vector<Record>& batch) {
    got.insert(got.end(), batch.begin(), batch.end());
    return std::vector<Delivery>(batch.size());
  });
  monitor.start();
  const auto message = testing::valid_message();
  monitor.push("origin/a/wis2/ch-meteoswiss/data/core/weather/surface-based-observations/synop", message);
  REQUIRE(monitor.drain(10s));
  REQUIRE(got.size() == 1);
  const auto n = Notification::parse(message).notification;
  for (const char* name : {"id", "data_id", "metadata_id", "pubtime", "datetime"}) {
    const auto* value = got[0].get(name);
    REQUIRE(value != nullptr);
    CHECK_MESSAGE(*value == find_notification_field(name)->value(n), name);
  }
  CHECK(*got[0].get("href") == find_notification_field("data_url")->value(n));
  CHECK(got[0].schema() == notifications_schema());
}

TEST_CASE("monitor: an invalid copy of an item never replaces its valid row; it becomes a dead letter") {
  testing::TempDir dir;
  auto o = options_in(dir.path);
  o.sinks.push_back({"db", "sqlite", {{"path", (dir.path / "w.db").string()}}});
  auto p = pipeline("all", "none", {"db"});
  p.keep_invalid = true;
  o.pipelines.push_back(p);
  const std::string topic = "origin/a/wis2/ch-meteoswiss/data/core/weather/surface-based-observations/synop";
  const auto good = testing::valid_message();
  // Another copy of the same item (same data_id and pubtime), broken on the way: no geometry.
  const auto bad = testing::mutate(good, {{"/id", "\"7a2d0b6e-0000-4000-8000-000000000001\""}, {"/geometry", {}}});
  REQUIRE_FALSE(Notification::parse(bad).valid());
  {
    Monitor monitor(o);
    monitor.start();
    monitor.push(topic, good);
    REQUIRE(monitor.drain(10s));
    monitor.push(topic, bad);
    REQUIRE(monitor.drain(10s));
  }
  const auto db = dir.path / "w.db";
  CHECK(testing::sqlite_int(db, "SELECT count(*) FROM notifications") == 1);
  CHECK(testing::sqlite_int(db, "SELECT valid FROM notifications") == 1);
  CHECK(testing::sqlite_int(
            db, "SELECT count(*) FROM notifications WHERE id = '6f1c2c43-9a8e-4b8f-bb52-0c3b1c4d2e01'") == 1);
  const auto letters = DeadLetterStore(o.dead_letter_file()).entries(10, "db");
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].reason.find("invalid record does not replace") != std::string::npos);
  CHECK(letters[0].record_json.find("7a2d0b6e") != std::string::npos);
}

TEST_CASE("monitor: an invalid message without a data_id is keyed by its bytes, so a repeat is one row") {
  testing::TempDir dir;
  auto o = options_in(dir.path);
  o.sinks.push_back({"db", "sqlite", {{"path", (dir.path / "w.db").string()}}});
  auto p = pipeline("all", "none", {"db"});
  p.dedup.reset();  // nothing remembers the first arrival: only the key can
  p.keep_invalid = true;
  o.pipelines.push_back(p);
  const std::string topic = "origin/a/wis2/ch-meteoswiss/data/core/weather/surface-based-observations/synop";
  const auto a = testing::mutate(testing::valid_message(), {{"/properties/data_id", {}}});
  const auto b = testing::mutate(testing::valid_message(), {{"/properties/data_id", "\"\""}});
  {
    Monitor monitor(o);
    monitor.start();
    for (const auto* m : {&a, &a, &b, &b}) monitor.push(topic, *m);  // each twice (redelivery)
    REQUIRE(monitor.drain(10s));
  }
  const auto db = dir.path / "w.db";
  CHECK(testing::sqlite_int(db, "SELECT count(*) FROM notifications") == 2);
  CHECK(testing::sqlite_int(db, "SELECT count(*) FROM notifications WHERE data_id LIKE 'raw:%' AND valid = 0") == 2);
}

TEST_CASE("monitor: a copy dated 9999 does not block the item's later update") {
  testing::TempDir dir;
  auto o = options_in(dir.path);
  o.sinks.push_back({"db", "sqlite", {{"path", (dir.path / "w.db").string()}}});
  o.pipelines.push_back(pipeline("all", "none", {"db"}));
  const std::string topic = "origin/a/wis2/ch-meteoswiss/data/core/weather/surface-based-observations/synop";
  const auto future = testing::mutate(testing::valid_message(), {{"/properties/pubtime", "\"9999-12-31T00:00:00Z\""}});
  Monitor monitor(o);
  monitor.start();
  monitor.push(topic, future);
  REQUIRE(monitor.drain(10s));
  // The publisher's corrected update, sent after the bad copy was handled.
  const auto update = testing::mutate(testing::valid_message(),
                                      {{"/id", "\"7a2d0b6e-0000-4000-8000-000000000002\""},
                                       {"/properties/pubtime", "\"" + format_rfc3339(Timestamp::now()) + "\""},
                                       {"/links/0/rel", "\"update\""}});
  CHECK(testing::sqlite_int(dir.path / "w.db", "SELECT count(*) FROM notifications WHERE pubtime LIKE '9999%'") == 1);
  monitor.push(topic, update);
  REQUIRE(monitor.drain(10s));
  monitor.stop();
  CHECK(monitor.stats().duplicates == 0);
  CHECK(testing::sqlite_int(dir.path / "w.db", "SELECT count(*) FROM notifications") == 1);
  CHECK(testing::sqlite_int(dir.path / "w.db",
                            "SELECT count(*) FROM notifications WHERE id = '7a2d0b6e-0000-4000-8000-000000000002'") ==
        1);
}

TEST_CASE("monitor: an entry processed again after a crash gives its dead letters once") {
  // The crash image: a copy of the spool taken while the entries were still in it, as a
  // monitor killed after writing the dead letters but before removing the entries leaves it.
  testing::TempDir dir;
  const std::string topic = "origin/a/wis2/ch-meteoswiss/data/core/weather/surface-based-observations/synop";
  const auto invalid = testing::mutate(testing::valid_message(), {{"/type", "\"Collection\""}});
  {
    Spool spool({dir.path / "spool.db"});
    spool.append("test", topic, invalid, Timestamp{1767225600, 0});
    spool.append("test", topic, invalid, Timestamp{1767225601, 0});  // the same bytes arriving twice
    spool.close();
  }
  fs::copy_file(dir.path / "spool.db", dir.path / "crash.db");
  auto o = options_in(dir.path);
  o.dead_letters = dir.path / "dead.db";
  o.sinks.push_back({"db", "test_rejecting_all", {}});
  auto p = pipeline("all", "none", {"db"});
  p.dedup.reset();
  p.keep_invalid = true;
  o.pipelines.push_back(p);
  static const bool registered = [] {
    register_sink_kind(
        {"test_rejecting_all",
         "rejects everything",
         ConfigTable("test_rejecting_all", {}),
         [](const std::string& name, const ConfigValues&) { return std::make_shared<RejectingSink>(name); },
         {}});
    return true;
  }();
  (void)registered;
  for (const char* spool : {"spool.db", "crash.db"}) {
    o.spool = dir.path / spool;
    Monitor monitor(o);
    monitor.start();
    REQUIRE(monitor.drain(10s));
  }
  // The validate stage judges the message: the same bytes on the same topic are one message,
  // whenever they arrive (a broker redelivers what a crash left unacknowledged), so one dead
  // letter. The sink's records carry their arrival time: one per arrival. None twice.
  DeadLetterStore letters(o.dead_letters);
  CHECK(letters.entries(10, "validate").size() == 1);
  CHECK(letters.entries(10, "db").size() == 2);
  CHECK(letters.count() == 3);
}

// Answers Retry "database or disk is full" while the disk is full, and says so when checked.
class FullDiskSink : public Sink {
 public:
  FullDiskSink(std::string name, std::shared_ptr<std::atomic<bool>> full)
      : Sink(std::move(name)), full_(std::move(full)) {}
  std::vector<Delivery> write(const std::vector<Record>& batch) override {
    if (*full_) return std::vector<Delivery>(batch.size(), {DeliveryStatus::retry, "database or disk is full"});
    written += batch.size();
    return std::vector<Delivery>(batch.size());
  }
  SinkHealth healthcheck() override { return {!*full_, *full_ ? "disk full" : ""}; }
  std::atomic<std::size_t> written{0};

 private:
  std::shared_ptr<std::atomic<bool>> full_;
};

TEST_CASE("monitor: a sink's give-ups are logged and counted, and delivered once the sink is healthy again") {
  testing::TempDir dir;
  auto o = options_in(dir.path);
  std::mutex log_mu;
  std::vector<std::string> lines;
  o.log = [&](std::string_view line) {
    std::lock_guard lock(log_mu);
    lines.emplace_back(line);
  };
  o.health_interval = 100ms;
  o.sinks.push_back({"disk", "full_disk", {{"max_retries", "1"}, {"retry_initial", "1ms"}, {"batch_max_age", "10ms"}}});
  auto p = pipeline("all", "none", {"disk"});
  p.dedup.reset();
  o.pipelines.push_back(p);
  auto full = std::make_shared<std::atomic<bool>>(true);
  std::shared_ptr<FullDiskSink> sink;
  Monitor monitor(o);
  monitor.add_sink_type("full_disk",
                        [&](const SinkSpec& spec) { return sink = std::make_shared<FullDiskSink>(spec.name, full); });
  monitor.start();
  const std::string topic = "origin/a/wis2/ch-meteoswiss/data/core/weather/surface-based-observations/synop";
  for (int i = 0; i < 5; ++i)
    monitor.push(topic, testing::mutate(testing::valid_message(),
                                        {{"/properties/data_id", "\"ch-meteoswiss/x/" + std::to_string(i) + "\""}}));
  REQUIRE(monitor.drain(10s));
  const auto stats = monitor.stats();
  CHECK(stats.dead_letters == 5);
  CHECK(stats.sinks.at("disk").out_of_retries == 5);
  CHECK(stats.sinks.at("disk").delivered == 0);
  CHECK(to_json(stats).find(R"("disk":{"delivered":0,"rejected":0,"out_of_retries":5)") != std::string::npos);
  const auto metrics = monitor.metrics_text();
  INFO(metrics);
  CHECK(metrics.find(R"(wis2mon_dead_letters_total{stage="sink",sink="disk"} 5)") != std::string::npos);
  {
    std::lock_guard lock(log_mu);
    std::size_t gave_up = 0;
    for (const auto& l : lines)
      if (l.find("sink 'disk': ") == 0 &&
          l.find("to the dead letters after 2 attempts: out of retries: database or disk is full") != std::string::npos)
        gave_up += static_cast<std::size_t>(std::stoul(l.substr(std::string("sink 'disk': ").size())));
    CHECK(gave_up == 5);
  }
  CHECK(DeadLetterStore(o.dead_letter_file()).count("disk") == 5);
  // The disk frees up: the next healthcheck passes and the records go to the sink again.
  *full = false;
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (DeadLetterStore(o.dead_letter_file()).count("disk") > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);
  CHECK(DeadLetterStore(o.dead_letter_file()).count("disk") == 0);
  CHECK(sink->written == 5);
  monitor.stop();
  CHECK(monitor.stats().sinks.at("disk").delivered == 5);
}

TEST_CASE("monitor: two monitors on one spool: the second is refused; after stop() the spool is free") {
  testing::TempDir dir;
  auto o = options_in(dir.path);
  o.pipelines.push_back(pipeline("p", "none", {}));
  Monitor first(o);
  try {
    Monitor second(o);
    FAIL("a second monitor opened the same spool");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::state);
    CHECK(std::string(e.what()).find("in use by another monitor") != std::string::npos);
  }
  first.stop();
  CHECK_NOTHROW(Monitor{o});
  CHECK(first.stats().spool_stored == 0);  // stats still answer after stop
}

TEST_CASE("monitor: embedded with its defaults, it writes no file (spool and dead letters in memory)") {
  testing::TempDir dir;
  const fs::path before = fs::current_path();
  fs::current_path(dir.path);
  fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec);  // read-only (root ignores it)
  std::size_t delivered = 0, rejected = 0;
  {
    Monitor monitor(callback_monitor_options());  // no spool, dead letters or dedup store: every default
    int n = 0;
    monitor.add_callback_sink("cb", [&](const std::vector<Record>& batch) {
      std::vector<Delivery> out;
      for (std::size_t i = 0; i < batch.size(); ++i)  // every other record refused: dead letters
        out.push_back(++n % 2 ? Delivery{DeliveryStatus::delivered, ""} : Delivery{DeliveryStatus::rejected, "no"});
      return out;
    });
    monitor.start();
    for (int i = 0; i < 10; ++i)
      monitor.push("origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop",
                   testing::mutate(testing::valid_message(),
                                   {{"/id", "\"6f1c2c43-9a8e-4b8f-bb52-0c3b1c4d2e" + std::to_string(10 + i) + "\""},
                                    {"/properties/data_id", "\"de-dwd/x/" + std::to_string(i) + "\""}}));
    monitor.push("origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop", "not json");
    REQUIRE(monitor.drain(20s));
    monitor.stop();
    const auto s = monitor.stats();
    delivered = s.sinks.at("cb").delivered;
    rejected = s.sinks.at("cb").rejected;
    CHECK(s.dead_letters >= 6);  // 5 refused records and the invalid message
  }
  fs::permissions(dir.path, fs::perms::owner_all);
  fs::current_path(before);
  CHECK(delivered == 5);
  CHECK(rejected == 5);  // stats count what the sinks rejected
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir.path)) files.push_back(e.path().filename().string());
  CHECK_MESSAGE(files.empty(), files.size() << " file(s) written, the first " << (files.empty() ? "" : files[0]));
}

TEST_CASE("monitor: dead letters read back with their reasons, retried and purged through the Monitor") {
  Monitor monitor(callback_monitor_options({{"max_retries", "0"}}));  // spool and dead letters in memory
  std::atomic<bool> accept_all{false};
  std::vector<std::string> delivered;
  monitor.add_callback_sink("cb", [&](const std::vector<Record>& batch) {
    std::vector<Delivery> out;
    for (const auto& r : batch) {
      const auto id = std::get<std::string>(*r.get("data_id"));
      if (!accept_all && id.back() == '1') {
        out.push_back({DeliveryStatus::rejected, "refused " + id});
      } else {
        delivered.push_back(id);
        out.push_back({DeliveryStatus::delivered, ""});
      }
    }
    return out;
  });
  monitor.start();
  const std::string topic = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop";
  for (int i = 0; i < 3; ++i)
    monitor.push(topic, testing::mutate(testing::valid_message(),
                                        {{"/id", "\"6f1c2c43-9a8e-4b8f-bb52-0c3b1c4d2e0" + std::to_string(i) + "\""},
                                         {"/properties/data_id", "\"de-dwd/x/" + std::to_string(i) + "\""}}));
  monitor.push(topic, "{\"not\": \"a notification\"}");
  REQUIRE(monitor.drain(20s));

  auto letters = monitor.dead_letters();
  REQUIRE(letters.size() == 2);
  std::map<std::string, DeadLetterStore::Entry> by_sink;
  for (auto& e : letters) by_sink[e.sink] = e;
  CHECK(by_sink.at("cb").reason == "refused de-dwd/x/1");
  CHECK(by_sink.at("cb").record_table == "notifications");
  CHECK(by_sink.at("validate").record_table == "messages");
  CHECK(by_sink.at("validate").record_json.find("a notification") != std::string::npos);  // the payload
  CHECK_FALSE(by_sink.at("validate").reason.empty());                                     // the errors
  CHECK(monitor.dead_letters(10, "cb").size() == 1);
  const std::string json = to_json(letters);
  CHECK(json.find("\"sink\":\"validate\"") != std::string::npos);
  CHECK(json.find("\"record\":{") != std::string::npos);

  // The sink takes everything now: its dead letter goes to it and leaves the store.
  accept_all = true;
  CHECK(monitor.retry_dead_letters("cb") == 1);
  REQUIRE(testing::wait_for([&] {
    monitor.poll(20ms);
    return monitor.dead_letters(10, "cb").empty();
  }));
  CHECK(std::count(delivered.begin(), delivered.end(), "de-dwd/x/1") == 1);
  // The invalid message goes back into the spool, and is refused again: one dead letter still.
  CHECK(monitor.retry_dead_letters("validate") == 1);
  REQUIRE(monitor.drain(20s));
  CHECK(monitor.dead_letters(10, "validate").size() == 1);
  CHECK(monitor.purge_dead_letters() == 1);
  CHECK(monitor.dead_letters().empty());
  monitor.stop();
  CHECK_THROWS_AS(monitor.retry_dead_letters(), Error);
}
