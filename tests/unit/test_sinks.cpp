// Sinks: the compliance suite every sink passes, the engine, and sink-specific behaviour
// (real SQLite files, real files on disk, a writer process killed mid-batch).
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "influx_server.hpp"
#include "mosquitto_server.hpp"
#include "postgres_server.hpp"
#include "support.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/mqtt.hpp"
#include "wis2mon/sink.hpp"
#include "wis2mon/sinks/influxdb.hpp"
#include "wis2mon/sinks/mqtt.hpp"
#include "wis2mon/sinks/ndjson.hpp"
#include "wis2mon/sinks/postgresql.hpp"
#include "wis2mon/sinks/sqlite.hpp"

using namespace wis2mon;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const RecordSchemaPtr& event_schema() {
  static const auto s =
      std::make_shared<const RecordSchema>("events", std::vector<std::string>{"seq", "station", "value", "at"});
  return s;
}

Record event(std::int64_t seq) {
  Record r(event_schema());
  r.value(0) = seq;
  r.value(1) = std::string("0-20000-0-") + std::to_string(10000 + seq % 100);
  r.value(2) = 273.15 + static_cast<double>(seq % 50) / 10;
  r.value(3) = Timestamp{1700000000 + seq, 0};
  return r;
}

std::vector<Record> events(std::int64_t from, std::int64_t to) {
  std::vector<Record> out;
  for (auto i = from; i < to; ++i) out.push_back(event(i));
  return out;
}

std::vector<std::int64_t> range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> out;
  for (auto i = from; i < to; ++i) out.push_back(i);
  return out;
}

std::vector<DeliveryStatus> statuses(const std::vector<Delivery>& d) {
  std::vector<DeliveryStatus> out;
  for (const auto& x : d) out.push_back(x.status);
  return out;
}

bool all(const std::vector<Delivery>& d, DeliveryStatus s) {
  return !d.empty() && std::all_of(d.begin(), d.end(), [&](const Delivery& x) { return x.status == s; });
}

// ---- reading back what sinks stored, with independent readers ----

std::vector<std::int64_t> sqlite_seqs(const fs::path& db, const std::string& table = "events") {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  std::vector<std::int64_t> out;
  sqlite3_stmt* st = nullptr;
  const auto sql = "SELECT seq FROM \"" + table + "\" ORDER BY rowid";
  if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK)
    while (sqlite3_step(st) == SQLITE_ROW) out.push_back(sqlite3_column_int64(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

std::string sqlite_text(const fs::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  std::string out;
  INFO(sql);
  REQUIRE(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (!out.empty()) out += "|";
    const auto* t = sqlite3_column_text(st, 0);
    out += t ? reinterpret_cast<const char*>(t) : "NULL";
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

// Whole gzip member(s) decoded; complete=false when the stream ends early (a half file).
std::string gunzip(const std::string& bytes, bool& complete) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 31) == Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  std::string out;
  char buf[65536];
  int rc = Z_OK;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  complete = rc == Z_STREAM_END && z.avail_in == 0;
  inflateEnd(&z);
  return out;
}

// File order: by the numbers in "<prefix>-<stamp>-<n>.ndjson[.gz]".
std::pair<std::string, long> file_order(const fs::path& p) {
  auto name = p.filename().string();
  if (name[0] == '.') name = name.substr(1, name.size() - 5);
  const auto dash = name.rfind('-');
  return {name.substr(0, dash), std::stol(name.substr(dash + 1))};
}

struct NdjsonFile {
  fs::path path;
  bool temporary;
  std::string text;
  bool complete_gzip = true;
};

std::vector<NdjsonFile> ndjson_files(const fs::path& dir) {
  std::vector<NdjsonFile> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    NdjsonFile f{e.path(), e.path().filename().string()[0] == '.', testing::read_file(e.path())};
    const auto n = e.path().filename().string();
    if (n.find(".gz") != std::string::npos) f.text = gunzip(f.text, f.complete_gzip);
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(),
            [](const NdjsonFile& a, const NdjsonFile& b) { return file_order(a.path) < file_order(b.path); });
  return out;
}

std::vector<std::int64_t> seqs_in_lines(const std::string& text, const char* field = "seq") {
  std::vector<std::int64_t> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto nl = text.find('\n', start);
    REQUIRE(nl != std::string::npos);  // every line is complete
    rapidjson::Document d;
    d.Parse(text.data() + start, nl - start);
    REQUIRE_FALSE(d.HasParseError());
    if (d.HasMember(field)) out.push_back(d[field].GetInt64());
    start = nl + 1;
  }
  return out;
}

std::vector<std::int64_t> ndjson_seqs(const fs::path& dir) {
  std::vector<std::int64_t> out;
  for (const auto& f : ndjson_files(dir)) {
    const auto s = seqs_in_lines(f.text);
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

// ---- the compliance suite ----

struct SinkUnderTest {
  std::string kind;
  std::function<std::shared_ptr<Sink>()> make;
  std::function<std::vector<std::int64_t>()> stored;  // seq of table "events", storage order
  std::function<Record()> bad_record;                 // one this sink must Reject
  std::function<void()> break_sink;                   // makes writes answer Retry...
  std::function<void()> heal_sink;                    // ...until healed
  std::function<void()> after_close = [] {};          // extra checks once closed
};

void run_compliance(const SinkUnderTest& t) {
  INFO("sink " << t.kind);
  auto sink = t.make();
  REQUIRE(sink->healthcheck().ok);

  // Ordering within a batch, and durable (visible to an independent reader) on return.
  const auto first = sink->write(events(0, 50));
  for (const auto& d : first)
    if (d.status != DeliveryStatus::delivered) {
      INFO("an answer: " << std::string(to_string(d.status)) << " " << d.reason);
      CHECK(d.status == DeliveryStatus::delivered);
      break;
    }
  REQUIRE(all(first, DeliveryStatus::delivered));
  CHECK(t.stored() == range(0, 50));

  // Rejected: only the bad record; its neighbours are stored, in order.
  std::vector<Record> mixed;
  mixed.push_back(event(50));
  mixed.push_back(t.bad_record());
  mixed.push_back(event(51));
  const auto answers = sink->write(mixed);
  CHECK(statuses(answers) ==
        std::vector<DeliveryStatus>{DeliveryStatus::delivered, DeliveryStatus::rejected, DeliveryStatus::delivered});
  CHECK_FALSE(answers[1].reason.empty());
  CHECK(t.stored() == range(0, 52));

  // Retry: nothing is acknowledged; the same records go through once healed, stored once.
  t.break_sink();
  const auto refused = sink->write(events(52, 55));
  CHECK(all(refused, DeliveryStatus::retry));
  CHECK_FALSE(refused[0].reason.empty());
  t.heal_sink();
  REQUIRE(all(sink->write(events(52, 55)), DeliveryStatus::delivered));
  CHECK(t.stored() == range(0, 55));

  // flush is idempotent; close flushes, is idempotent, and later writes answer Retry.
  sink->flush();
  sink->flush();
  CHECK(t.stored() == range(0, 55));
  REQUIRE(all(sink->write(events(55, 60)), DeliveryStatus::delivered));
  sink->close();
  sink->close();
  CHECK(t.stored() == range(0, 60));
  CHECK(all(sink->write(events(60, 61)), DeliveryStatus::retry));
  t.after_close();

  // Through the engine: batches of 64, every record delivered in submission order.
  auto fresh = t.make();
  {
    SinkEngineOptions o;
    o.batch_max_records = 64;
    o.batch_max_age = 20ms;
    SinkEngine engine(fresh, o);
    for (std::int64_t i = 61; i < 1061; ++i) REQUIRE(engine.submit(event(i)));
    engine.close();
    const auto s = engine.stats();
    CHECK(s.delivered == 1000);
    CHECK(s.batches >= 16);
  }
  auto expected = range(0, 60);
  const auto tail = range(61, 1061);
  expected.insert(expected.end(), tail.begin(), tail.end());
  const auto got = t.stored();
  CHECK(got.size() == expected.size());
  for (std::size_t i = 0; i < std::min(got.size(), expected.size()); ++i)
    if (got[i] != expected[i]) {
      FAIL_CHECK("first difference at " << i << ": " << got[i] << " != " << expected[i]);
      break;
    }
}

}  // namespace

TEST_CASE("compliance: callback sink") {
  std::mutex mu;
  std::vector<std::int64_t> got;
  bool broken = false;
  const auto fn = [&](const std::vector<Record>& batch) {
    std::lock_guard lock(mu);
    if (broken) throw std::runtime_error("downstream unavailable");
    std::vector<Delivery> out;
    for (const auto& r : batch) {
      if (r.table() == "reject_me") {
        out.push_back({DeliveryStatus::rejected, "not for me"});
        continue;
      }
      got.push_back(std::get<std::int64_t>(r.value(0)));
      out.push_back({});
    }
    return out;
  };
  SinkUnderTest t;
  t.kind = "callback";
  t.make = [&] { return std::make_shared<CallbackSink>("cb", CallbackSink::BatchFunction(fn)); };
  t.stored = [&] {
    std::lock_guard lock(mu);
    return got;
  };
  t.bad_record = [] { return Record("reject_me").set("x", std::int64_t{1}); };
  // The engine turns a throwing callback into Retry; the sink itself lets it through.
  t.break_sink = [&] { broken = true; };
  t.heal_sink = [&] { broken = false; };
  SUBCASE("contract") {
    // write() itself propagates the callback's exception: check the engine's view here.
    auto sink = t.make();
    broken = true;
    CHECK_THROWS(sink->write(events(0, 1)));
    broken = false;
  }
  SUBCASE("suite") {
    // Retry through write() needs an answer, not an exception: wrap like the engine does.
    auto base = t.make;
    t.make = [&, base] {
      auto inner = base();
      return std::make_shared<CallbackSink>(
          "cb", CallbackSink::BatchFunction([inner](const std::vector<Record>& b) {
            try {
              return inner->write(b);
            } catch (const std::exception& e) {
              return std::vector<Delivery>(b.size(), {DeliveryStatus::retry, e.what()});
            }
          }));
    };
    run_compliance(t);
  }
}

TEST_CASE("compliance: sqlite sink") {
  testing::TempDir dir;
  const auto db = dir.path / "wis2mon.db";
  sqlite3* locker = nullptr;
  SinkUnderTest t;
  t.kind = "sqlite";
  t.make = [&] {
    SqliteSinkOptions o;
    o.path = db;
    o.busy_timeout = 100ms;
    return std::make_shared<SqliteSink>("db", o);
  };
  t.stored = [&] { return sqlite_seqs(db); };
  t.bad_record = [] { return Record("no such; table").set("seq", std::int64_t{-1}); };
  t.break_sink = [&] {  // another connection holds the write lock
    REQUIRE(sqlite3_open(db.c_str(), &locker) == SQLITE_OK);
    REQUIRE(sqlite3_exec(locker, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
  };
  t.heal_sink = [&] {
    sqlite3_exec(locker, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(locker);
  };
  run_compliance(t);
  CHECK(sqlite_text(db, "PRAGMA integrity_check") == "ok");
}

TEST_CASE("compliance: ndjson sink, plain and gzip") {
  for (const bool gz : {false, true}) {
    testing::TempDir dir;
    const auto root = dir.path / "out";
    SinkUnderTest t;
    t.kind = gz ? "ndjson.gz" : "ndjson";
    // Each sink instance gets its own root: file names order files within one writer only.
    int instances = 0;
    t.make = [&] {
      NdjsonSinkOptions o;
      o.root = instances++ == 0 ? root : fs::path(root.string() + "-" + std::to_string(instances));
      o.gzip = gz;
      o.rotate_bytes = 4096;
      o.rotate_age = 0ms;  // a file per write: the break below then hits the next file
      return std::make_shared<NdjsonSink>("files", o);
    };
    t.stored = [&] {
      auto seqs = ndjson_seqs(root / "events");
      for (int i = 2; i <= instances; ++i) {
        const auto more = ndjson_seqs(fs::path(root.string() + "-" + std::to_string(i)) / "events");
        seqs.insert(seqs.end(), more.begin(), more.end());
      }
      return seqs;
    };
    t.bad_record = [] { return Record("../escape").set("seq", std::int64_t{-1}); };
    t.break_sink = [&] {  // the next file cannot be created: its directory is a file
      fs::create_directories(root);
      std::ofstream(root / "events.lock") << "x";
      fs::rename(root / "events", root / "events.saved");
      std::ofstream(root / "events") << "not a directory";
    };
    t.heal_sink = [&] {
      fs::remove(root / "events");
      fs::rename(root / "events.saved", root / "events");
      fs::remove(root / "events.lock");
    };
    t.after_close = [&] {
      for (const auto& f : ndjson_files(root / "events")) {
        INFO(f.path);
        CHECK_FALSE(f.temporary);  // close renamed everything
        CHECK(f.complete_gzip);
      }
    };
    run_compliance(t);
  }
}

TEST_CASE("compliance: influxdb sink (a real influxd)") {
  if (testing::InfluxServer::binary().empty()) {
    MESSAGE("influxd is not installed (Debian package influxdb): skipped");
    return;
  }
  testing::InfluxServer server;
  server.query("", "CREATE DATABASE wis2mon");
  SinkUnderTest t;
  t.kind = "influxdb";
  t.make = [&] {
    InfluxSinkOptions o;
    o.url = server.url();
    o.database = "wis2mon";
    o.timeout = 1s;
    o.tables["events"] = {"events", {"station"}, {}, "at"};
    return std::make_shared<InfluxSink>("influx", o);
  };
  t.stored = [&] {  // points come back in time order, and "at" grows with seq
    rapidjson::Document d;
    d.Parse(server.query("wis2mon", "SELECT seq FROM events").c_str());
    std::vector<std::int64_t> out;
    REQUIRE(d.IsObject());
    const auto& result = d["results"][0];
    if (!result.HasMember("series")) return out;
    for (const auto& row : result["series"][0]["values"].GetArray()) out.push_back(row[1].GetInt64());
    return out;
  };
  // The server refuses it (seq is an integer field already): found by splitting the batch.
  t.bad_record = [] {
    Record r("events");
    r.set("seq", std::string("not a number"));
    r.set("at", Timestamp{1700000050, 500000000});
    return r;
  };
  t.break_sink = [&] { server.pause(); };  // requests time out
  t.heal_sink = [&] { server.resume(); };
  run_compliance(t);
}

TEST_CASE("compliance: mqtt sink (a real mosquitto, read back by a subscriber)") {
  if (testing::MosquittoServer::binary().empty()) {
    MESSAGE("mosquitto is not installed (Debian package mosquitto): skipped");
    return;
  }
  testing::MosquittoServer broker;
  std::mutex mu;
  std::vector<std::int64_t> received;
  BrokerOptions so;
  so.url = broker.url();
  so.client_id = "compliance-reader";  // a persistent session: the broker's restart loses nothing
  so.subscriptions = {"test/events"};
  so.reconnect_min = 1s;
  so.reconnect_max = 1s;
  MqttSubscriber reader(so, [&](const MqttMessage& m) {
    rapidjson::Document d;
    d.Parse(m.payload.data(), m.payload.size());
    std::lock_guard lock(mu);
    if (d.IsObject() && d.HasMember("seq")) received.push_back(d["seq"].GetInt64());
    return true;
  });
  reader.start();
  REQUIRE(reader.wait_subscribed(10s));
  SinkUnderTest t;
  t.kind = "mqtt";
  t.make = [&] {
    MqttSinkOptions o;
    o.url = broker.url();
    o.topic = "test/events";
    o.timeout = 2s;
    return std::make_shared<MqttSink>("out", o);
  };
  t.stored = [&] {  // what the reader got, once nothing more arrives for 300 ms
    std::size_t seen = 0;
    for (int quiet = 0; quiet < 6;) {
      std::this_thread::sleep_for(50ms);
      std::lock_guard lock(mu);
      quiet = received.size() == seen ? quiet + 1 : 0;
      seen = received.size();
    }
    std::lock_guard lock(mu);
    return received;
  };
  t.bad_record = [] { return Record("events").set("topic", std::string("test/+/wildcard")); };
  t.break_sink = [&] { broker.stop(); };
  t.heal_sink = [&] {
    broker.start();
    REQUIRE(reader.wait_subscribed(20s));
    std::this_thread::sleep_for(3s);  // the sink's publisher reconnects (backoff 1-2 s)
  };
  run_compliance(t);
}

// ---- the engine ----

namespace {

// A sink whose answers a test scripts, that records each call.
class ScriptedSink : public Sink {
 public:
  using Answer = std::function<Delivery(const Record&, int call)>;
  explicit ScriptedSink(Answer a) : Sink("scripted"), answer_(std::move(a)) {}
  std::vector<Delivery> write(const std::vector<Record>& batch) override {
    if (gate_) gate_->wait();
    std::lock_guard lock(mu_);
    ++calls_;
    sizes_.push_back(batch.size());
    times_.push_back(std::chrono::steady_clock::now());
    std::vector<Delivery> out;
    for (const auto& r : batch) {
      out.push_back(answer_(r, calls_));
      if (out.back().status == DeliveryStatus::delivered) delivered_.push_back(std::get<std::int64_t>(r.value(0)));
    }
    return out;
  }
  std::vector<std::size_t> sizes() {
    std::lock_guard lock(mu_);
    return sizes_;
  }
  std::vector<std::int64_t> delivered() {
    std::lock_guard lock(mu_);
    return delivered_;
  }
  std::vector<std::chrono::steady_clock::time_point> times() {
    std::lock_guard lock(mu_);
    return times_;
  }
  std::shared_future<void>* gate_ = nullptr;

 private:
  Answer answer_;
  std::mutex mu_;
  int calls_ = 0;
  std::vector<std::size_t> sizes_;
  std::vector<std::int64_t> delivered_;
  std::vector<std::chrono::steady_clock::time_point> times_;
};

template <typename F>
bool eventually(F f, std::chrono::milliseconds limit = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return f();
}

}  // namespace

TEST_CASE("engine: batches by count and by age; flush writes the rest") {
  auto sink = std::make_shared<ScriptedSink>([](const Record&, int) { return Delivery{}; });
  SinkEngineOptions o;
  o.batch_max_records = 10;
  o.batch_max_age = 1h;
  SinkEngine engine(sink, o);
  for (int i = 0; i < 25; ++i) engine.submit(event(i));
  REQUIRE(eventually([&] { return sink->sizes().size() == 2; }));
  std::this_thread::sleep_for(100ms);
  CHECK(sink->sizes() == std::vector<std::size_t>{10, 10});  // 5 wait for more or for age
  engine.flush();
  CHECK(sink->sizes() == std::vector<std::size_t>{10, 10, 5});
  CHECK(sink->delivered() == range(0, 25));

  auto aged = std::make_shared<ScriptedSink>([](const Record&, int) { return Delivery{}; });
  o.batch_max_records = 1000;
  o.batch_max_age = 50ms;
  SinkEngine by_age(aged, o);
  for (int i = 0; i < 3; ++i) by_age.submit(event(i));
  CHECK(eventually([&] { return aged->sizes() == std::vector<std::size_t>{3}; }));
}

TEST_CASE("engine: Retry backs off exponentially, then delivers; out of retries is a dead letter") {
  auto dead = std::make_shared<DeadLetterStore>(":memory:");
  std::mutex mu;
  std::map<std::int64_t, DeliveryStatus> settled;
  // Record 1 fails three times then succeeds; record 2 always fails; record 3 is rejected.
  std::map<std::int64_t, int> seen;
  auto sink = std::make_shared<ScriptedSink>([&](const Record& r, int) -> Delivery {
    const auto seq = std::get<std::int64_t>(r.value(0));
    const int n = ++seen[seq];
    if (seq == 1 && n <= 3) return {DeliveryStatus::retry, "busy"};
    if (seq == 2) return {DeliveryStatus::retry, "always busy"};
    if (seq == 3) return {DeliveryStatus::rejected, "bad field"};
    return {};
  });
  SinkEngineOptions o;
  o.batch_max_records = 1;
  o.batch_max_age = 0ms;
  o.max_retries = 3;
  o.retry_initial = 40ms;
  o.retry_max = 10s;
  o.dead_letters = dead;
  o.on_settled = [&](const Record& r, DeliveryStatus s, std::uint64_t) {
    std::lock_guard lock(mu);
    settled[std::get<std::int64_t>(r.value(0))] = s;
  };
  SinkEngine engine(sink, o);
  engine.submit(event(1));
  engine.flush();
  // 4 attempts of record 1: gaps from backoffs of 40, 80, 160 ms with jitter in [d/2, d].
  const auto t = sink->times();
  REQUIRE(t.size() == 4);
  const auto gap = [&](std::size_t i) { return t[i + 1] - t[i]; };
  CHECK(gap(0) >= 20ms);
  CHECK(gap(2) >= 80ms);
  CHECK(gap(2) > gap(0));
  engine.submit(event(2));
  engine.submit(event(3));
  engine.submit(event(4));
  engine.flush();
  const auto s = engine.stats();
  CHECK(s.delivered == 2);
  CHECK(s.rejected == 1);
  CHECK(s.out_of_retries == 1);
  CHECK(s.retries == 3 + 3);
  CHECK(s.queued == 0);
  {
    std::lock_guard lock(mu);
    CHECK(settled[1] == DeliveryStatus::delivered);
    CHECK(settled[2] == DeliveryStatus::retry);
    CHECK(settled[3] == DeliveryStatus::rejected);
    CHECK(settled[4] == DeliveryStatus::delivered);
  }
  const auto letters = dead->entries();
  REQUIRE(letters.size() == 2);
  // Record 3 was rejected at once; record 2 became a dead letter after its retries.
  CHECK(letters[0].sink == "scripted");
  CHECK(letters[0].status == DeliveryStatus::rejected);
  CHECK(letters[0].reason == "bad field");
  CHECK(letters[0].attempts == 1);
  CHECK(letters[1].status == DeliveryStatus::retry);
  CHECK(letters[1].attempts == 4);
  CHECK(letters[1].reason == "out of retries: always busy");
  CHECK(letters[1].record_json.find("\"seq\":2") != std::string::npos);
  CHECK(letters[0].record_table == "events");
}

TEST_CASE("engine: every give-up is reported once per batch and reason; a repeat is no new dead letter") {
  auto dead = std::make_shared<DeadLetterStore>(":memory:");
  auto sink = std::make_shared<ScriptedSink>([&](const Record& r, int) -> Delivery {
    const auto seq = std::get<std::int64_t>(r.value(0));
    if (seq % 3 == 0) return {DeliveryStatus::rejected, "bad field"};
    return {DeliveryStatus::retry, "database or disk is full"};
  });
  SinkEngineOptions o;
  o.batch_max_records = 100;
  o.max_retries = 1;
  o.retry_initial = 1ms;
  o.dead_letters = dead;
  std::mutex mu;
  std::vector<SinkGiveUp> reports;
  o.on_give_up = [&](const SinkGiveUp& g) {
    std::lock_guard lock(mu);
    reports.push_back(g);
  };
  SinkEngine engine(sink, o);
  for (std::int64_t i = 1; i <= 6; ++i) engine.submit(event(i));
  engine.flush();
  for (std::int64_t i = 1; i <= 2; ++i) engine.submit(event(i));  // the same records fail again
  engine.flush();
  std::lock_guard lock(mu);
  std::map<std::string, std::pair<std::size_t, std::size_t>> by_reason;  // records, new dead letters
  for (const auto& g : reports) {
    CHECK(g.sink == "scripted");
    by_reason[g.reason].first += g.records;
    by_reason[g.reason].second += g.new_dead_letters;
    CHECK(g.attempts == (g.status == DeliveryStatus::rejected ? 1 : 2));
  }
  CHECK(by_reason["bad field"] == std::make_pair<std::size_t, std::size_t>(2, 2));
  CHECK(by_reason["out of retries: database or disk is full"] == std::make_pair<std::size_t, std::size_t>(6, 4));
  CHECK(dead->count() == 6);
  CHECK(dead->count("scripted") == 6);
  CHECK(dead->entries(10, "", DeliveryStatus::retry).size() == 4);
  CHECK(dead->entries(10, "scripted", DeliveryStatus::rejected).size() == 2);
}

TEST_CASE("record: from_json gives back what to_json wrote, times included") {
  Record r("t");
  r.set("at", Timestamp{1767225600, 123000000})
      .set("text", std::string("2026-01-01"))
      .set("looks_like_time", std::string("2026-01-01T00:00:00+00:00"))
      .set("n", std::int64_t{-3})
      .set("x", 2.5)
      .set("b", true)
      .set("none", std::monostate{});
  const auto back = Record::from_json("t", r.to_json());
  CHECK(back == r);
  CHECK(back.to_json() == r.to_json());
  CHECK_THROWS_AS(Record::from_json("t", "[1]"), Error);
}

TEST_CASE("engine: a throwing sink or a wrong answer count means Retry for the batch") {
  int calls = 0;
  auto sink = std::make_shared<CallbackSink>("flaky", CallbackSink::BatchFunction([&](const std::vector<Record>& b) {
                                               ++calls;
                                               if (calls == 1) throw std::runtime_error("boom");
                                               if (calls == 2) return std::vector<Delivery>(b.size() - 1);
                                               return std::vector<Delivery>(b.size());
                                             }));
  SinkEngineOptions o;
  o.retry_initial = 1ms;
  SinkEngine engine(sink, o);
  engine.submit(event(1));
  engine.submit(event(2));
  engine.flush();
  const auto s = engine.stats();
  CHECK(s.delivered == 2);
  CHECK(s.retries == 4);
  CHECK(calls == 3);  // the retried batch stays together
}

TEST_CASE("engine: a full queue blocks, or drops and counts") {
  std::promise<void> open;
  std::shared_future<void> gate = open.get_future().share();
  auto sink = std::make_shared<ScriptedSink>([](const Record&, int) { return Delivery{}; });
  sink->gate_ = &gate;
  SinkEngineOptions o;
  o.queue_capacity = 5;
  o.batch_max_records = 2;
  o.batch_max_age = 0ms;
  o.when_full = QueueFullPolicy::drop_and_count;
  {
    SinkEngine engine(sink, o);
    int accepted = 0;
    for (int i = 0; i < 20; ++i) accepted += engine.submit(event(i)) ? 1 : 0;
    CHECK(accepted == 5);  // 2 in the stuck write, 3 queued
    CHECK(engine.stats().dropped == 15);
    open.set_value();
    engine.flush();
    CHECK(engine.stats().delivered == 5);
  }

  std::promise<void> open2;
  std::shared_future<void> gate2 = open2.get_future().share();
  auto blocking = std::make_shared<ScriptedSink>([](const Record&, int) { return Delivery{}; });
  blocking->gate_ = &gate2;
  o.when_full = QueueFullPolicy::block;
  SinkEngine engine(blocking, o);
  std::atomic<int> submitted{0};
  std::thread producer([&] {
    for (int i = 0; i < 20; ++i) {
      engine.submit(event(i));
      ++submitted;
    }
  });
  REQUIRE(eventually([&] { return submitted.load() == 5; }));
  std::this_thread::sleep_for(100ms);
  CHECK(submitted.load() == 5);  // the producer waits for room
  open2.set_value();
  producer.join();
  engine.close();
  CHECK(blocking->delivered() == range(0, 20));
  CHECK(engine.stats().dropped == 0);
  CHECK_FALSE(engine.submit(event(99)));  // closed
}

// ---- SQLite specifics ----

TEST_CASE("sqlite sink: schema, indexes, WAL, update semantics, new columns") {
  testing::TempDir dir;
  const auto db = dir.path / "w.db";
  SqliteSinkOptions o;
  o.path = db;
  SqliteSink sink("db", o);
  const auto note = [](const std::string& data_id, std::int64_t pub, const std::string& href) {
    return Record("notifications")
        .set("data_id", data_id)
        .set("centre_id", std::string("de-dwd"))
        .set("pubtime", Timestamp{pub, 0})
        .set("href", href);
  };
  REQUIRE(all(sink.write({note("a/b/1", 100, "v1"), note("a/b/2", 100, "other")}), DeliveryStatus::delivered));
  REQUIRE(all(sink.write({note("a/b/1", 200, "v2")}), DeliveryStatus::delivered));     // newer: replaces
  REQUIRE(all(sink.write({note("a/b/1", 150, "v-old")}), DeliveryStatus::delivered));  // older: kept out
  CHECK(sqlite_text(db, "SELECT data_id || '=' || href FROM notifications ORDER BY data_id") == "a/b/1=v2|a/b/2=other");
  CHECK(sqlite_text(db, "SELECT pubtime FROM notifications WHERE data_id = 'a/b/1'") == "1970-01-01T00:03:20Z");
  CHECK(sqlite_text(db, "PRAGMA journal_mode") == "wal");
  CHECK(sqlite_text(db, "SELECT version FROM wis2mon_schema") == "1");
  CHECK(sqlite_text(
            db, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'notifications' ORDER BY name") ==
        "ix_notifications_centre_id_pubtime|ix_notifications_pubtime|ux_notifications");

  // Types from values; a new field becomes a column; a user table is created as seen.
  Record obs("surface_obs");
  obs.set("wigos_station_identifier", std::string("0-20000-0-15015"))
      .set("observed_at", Timestamp{1679400000, 0})
      .set("air_temperature", 271.5)
      .set("valid", true)
      .set("station_name", std::monostate{});
  REQUIRE(all(sink.write({obs}), DeliveryStatus::delivered));
  obs.set("air_temperature", 272.0).set("wind_speed", 3.5);  // same key: an update, one more column
  REQUIRE(all(sink.write({obs}), DeliveryStatus::delivered));
  CHECK(sqlite_text(
            db, "SELECT count(*) || ':' || air_temperature || ':' || wind_speed || ':' || valid FROM surface_obs") ==
        "1:272.0:3.5:1");
  CHECK(sqlite_text(db, "SELECT type FROM pragma_table_info('surface_obs') ORDER BY cid") ==
        "TEXT|TEXT|REAL|INTEGER||REAL");
  CHECK(sqlite_text(db, "SELECT typeof(station_name) FROM surface_obs") == "null");

  // Names are checked, never pasted: bad ones reject the record, bad config throws.
  const auto bad = sink.write({Record("ok_table").set("x\"; DROP TABLE notifications; --", std::int64_t{1}),
                               Record("sqlite_master").set("x", std::int64_t{1})});
  CHECK(statuses(bad) == std::vector<DeliveryStatus>{DeliveryStatus::rejected, DeliveryStatus::rejected});
  CHECK(sqlite_text(db, "SELECT count(*) FROM notifications") == "2");
  SqliteSinkOptions evil = o;
  evil.tables["x; DROP TABLE y"] = {};
  CHECK_THROWS_AS(SqliteSink("evil", evil), Error);
  sink.close();

  // A database from a newer schema version is refused, not damaged.
  {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    sqlite3_exec(h, "UPDATE wis2mon_schema SET version = 99", nullptr, nullptr, nullptr);
    sqlite3_close(h);
  }
  CHECK_THROWS_AS(SqliteSink("db", o), Error);
  CHECK(sqlite_text(db, "SELECT count(*) FROM surface_obs") == "1");
}

TEST_CASE("sqlite sink: an invalid copy never replaces the valid row of its item; it is Rejected, not dropped") {
  testing::TempDir dir;
  const auto db = dir.path / "v.db";
  SqliteSinkOptions o;
  o.path = db;
  SqliteSink sink("db", o);
  const auto note = [](std::int64_t pub, bool valid, const std::string& href) {
    Record r("notifications");
    r.set("data_id", std::string("c/a/1")).set("href", href).set("valid", valid);
    if (pub >= 0) r.set("pubtime", Timestamp{pub, 0});
    return r;
  };
  // Invalid first: stored; the valid copy then replaces it.
  REQUIRE(all(sink.write({note(100, false, "bad0")}), DeliveryStatus::delivered));
  REQUIRE(all(sink.write({note(100, true, "good")}), DeliveryStatus::delivered));
  // Later invalid copies (equal, newer and missing pubtime) are refused, and say why.
  for (const std::int64_t pub : {100, 300, -1}) {
    const auto d = sink.write({note(pub, false, "bad")});
    CHECK(d[0].status == DeliveryStatus::rejected);
    CHECK(d[0].reason.find("invalid record does not replace") != std::string::npos);
  }
  CHECK(sqlite_text(db, "SELECT href || ':' || valid || ':' || pubtime FROM notifications") ==
        "good:1:1970-01-01T00:01:40Z");
  // A valid update still replaces the valid row.
  REQUIRE(all(sink.write({note(200, true, "good2")}), DeliveryStatus::delivered));
  CHECK(sqlite_text(db, "SELECT href FROM notifications") == "good2");
}

TEST_CASE("sqlite sink: a stored pubtime far in the future gives way to a later copy") {
  testing::TempDir dir;
  const auto db = dir.path / "f.db";
  SqliteSinkOptions o;
  o.path = db;
  SqliteSink sink("db", o);
  const auto note = [](const std::string& data_id, const std::string& pubtime, const std::string& href) {
    return Record("notifications")
        .set("data_id", data_id)
        .set("pubtime", *parse_rfc3339(pubtime))
        .set("href", href)
        .set("valid", true);
  };
  const auto now = format_rfc3339(Timestamp::now());
  REQUIRE(all(sink.write({note("a/1", "2099-01-01T00:00:00Z", "future"), note("a/2", "2000-01-01T00:00:00Z", "old")}),
              DeliveryStatus::delivered));
  REQUIRE(all(sink.write({note("a/1", now, "now"), note("a/2", "1999-01-01T00:00:00Z", "older")}),
              DeliveryStatus::delivered));
  CHECK(sqlite_text(db, "SELECT href FROM notifications ORDER BY data_id") == "now|old");  // older still kept out
  sink.close();
  o.max_pubtime_skew = std::chrono::seconds(0);  // off: the 2099 row would win
  SqliteSink strict("db", o);
  REQUIRE(all(strict.write({note("a/3", "2099-01-01T00:00:00Z", "future")}), DeliveryStatus::delivered));
  REQUIRE(all(strict.write({note("a/3", now, "now")}), DeliveryStatus::delivered));
  CHECK(sqlite_text(db, "SELECT href FROM notifications WHERE data_id = 'a/3'") == "future");
}

TEST_CASE("sqlite sink: retention deletes old rows in steps while a writer keeps writing") {
  testing::TempDir dir;
  SqliteSinkOptions o;
  o.path = dir.path / "r.db";
  o.retention_step_rows = 200;
  o.retention_interval = 0ms;
  SqliteSink sink("db", o);
  const auto now = Timestamp::now().seconds;
  const auto schema = std::make_shared<const RecordSchema>(
      "surface_obs", std::vector<std::string>{"wigos_station_identifier", "observed_at", "seq"});
  const auto obs = [&](std::int64_t i, std::int64_t at) {
    Record r(schema);
    r.value(0) = "0-20000-0-" + std::to_string(i);
    r.value(1) = Timestamp{at, 0};
    r.value(2) = i;
    return r;
  };
  std::vector<Record> old;
  for (int i = 0; i < 3000; ++i) old.push_back(obs(i, now - 10 * 86400));
  REQUIRE(all(sink.write(old), DeliveryStatus::delivered));

  std::atomic<bool> stop{false};
  std::atomic<int> written{0}, refused{0};
  std::thread writer([&] {
    for (std::int64_t i = 100000; !stop; ++i) {
      const auto a = sink.write({obs(i, now)});
      (a[0].status == DeliveryStatus::delivered ? written : refused)++;
    }
  });
  REQUIRE(eventually([&] { return written.load() > 10; }));
  std::size_t deleted = 0;
  std::string failure;
  try {
    deleted = sink.apply_retention(std::chrono::hours(24 * 7));
  } catch (const std::exception& e) {
    failure = e.what();
  }
  stop = true;
  writer.join();
  CHECK(failure == "");
  CHECK(deleted == 3000);
  CHECK(refused.load() == 0);
  CHECK(sqlite_text(o.path, "SELECT count(*) FROM surface_obs") == std::to_string(written.load()));
}

TEST_CASE("sqlite sink: a writer killed mid-batch leaves every acknowledged batch and no partial one") {
  testing::TempDir dir;
  const auto db = dir.path / "crash.db";
  const auto last_acked = testing::run_writer_and_kill("sqlite", db, "500", 8);
  REQUIRE(last_acked >= 8);
  CHECK(sqlite_text(db, "PRAGMA integrity_check") == "ok");
  // Every batch present is whole; every acknowledged batch is present.
  CHECK(sqlite_text(db, "SELECT count(*) FROM (SELECT batch FROM crash_rows GROUP BY batch HAVING count(*) != 500)") ==
        "0");
  CHECK(std::stoll(sqlite_text(db, "SELECT count(DISTINCT batch) FROM crash_rows WHERE batch <= " +
                                       std::to_string(last_acked))) == last_acked);
}

// ---- NDJSON specifics ----

TEST_CASE("ndjson sink: partitions by table and UTC hour, rotates by size and age, raw copy and errors") {
  testing::TempDir dir;
  NdjsonSinkOptions o;
  o.root = dir.path / "lake";
  o.rotate_bytes = 2000;
  o.rotate_age = 1h;
  o.raw_copy = true;
  o.errors_root = dir.path / "errors";
  NdjsonSink sink("lake", o);
  const auto before = Timestamp::now();
  for (int b = 0; b < 10; ++b) REQUIRE(all(sink.write(events(b * 10, b * 10 + 10)), DeliveryStatus::delivered));
  Record n("notifications");
  n.set("data_id", std::string("x/y")).set("raw", std::string("{\n  \"id\": \"abc\"\n}"));
  Record err("errors");
  err.set("stage", std::string("decode")).set("message", std::string("bad BUFR"));
  REQUIRE(all(sink.write({n, err}), DeliveryStatus::delivered));
  sink.close();

  const auto files = ndjson_files(o.root / "events");
  CHECK(files.size() > 3);  // rotated by size
  CHECK(ndjson_seqs(o.root / "events") == range(0, 100));
  for (const auto& f : files) {
    const auto rel = fs::relative(f.path, o.root).string();
    INFO(rel);
    // events/YYYY/MM/DD/HH/wis2mon-<stamp>-<n>.ndjson, in the UTC hour the file was opened
    char hour_dir[96];
    std::tm tm{};
    const std::time_t t = static_cast<std::time_t>(before.seconds);
    gmtime_r(&t, &tm);
    std::strftime(hour_dir, sizeof hour_dir, "events/%Y/%m/%d/%H/wis2mon-%Y%m%dT%H", &tm);
    CHECK(rel.rfind(hour_dir, 0) == 0);
    CHECK(rel.size() > std::string(hour_dir).size() + std::string("MMSSZ-1.ndjson").size() - 1);
    CHECK(rel.compare(rel.size() - 7, 7, ".ndjson") == 0);
    CHECK(f.text.size() < 2000 + 1400);  // the batch that crosses the limit still goes in
  }
  const auto raw = ndjson_files(o.root / "raw");
  REQUIRE(raw.size() == 1);
  CHECK(raw[0].text == "{   \"id\": \"abc\" }\n");  // one line, still the same JSON
  const auto errors = ndjson_files(o.errors_root);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].text == "{\"stage\":\"decode\",\"message\":\"bad BUFR\"}\n");

  // Age: a file older than rotate_age is closed by flush().
  NdjsonSinkOptions aged = o;
  aged.root = dir.path / "aged";
  aged.rotate_age = 30ms;
  NdjsonSink by_age("aged", aged);
  REQUIRE(all(by_age.write(events(0, 3)), DeliveryStatus::delivered));
  CHECK(ndjson_files(aged.root / "events").at(0).temporary);
  std::this_thread::sleep_for(60ms);
  by_age.flush();
  CHECK_FALSE(ndjson_files(aged.root / "events").at(0).temporary);
}

TEST_CASE("ndjson sink: a reader never sees a half-written file under its final name") {
  for (const bool gz : {false, true}) {
    testing::TempDir dir;
    NdjsonSinkOptions o;
    o.root = dir.path / "lake";
    o.gzip = gz;
    o.rotate_bytes = 3000;
    o.fsync = false;
    std::atomic<bool> done{false};
    std::atomic<int> checked{0};
    std::atomic<int> bad{0};
    std::thread reader([&] {
      for (bool last = false; !last;) {
        last = done.load();
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(o.root, ec); !ec && it != fs::recursive_directory_iterator();
             it.increment(ec)) {
          const auto name = it->path().filename().string();
          if (!it->is_regular_file(ec) || name[0] == '.') continue;
          const auto bytes = testing::read_file(it->path());
          bool complete = true;
          const auto text = gz ? gunzip(bytes, complete) : bytes;
          if (!complete || text.empty() || text.back() != '\n') ++bad;
          ++checked;
        }
      }
    });
    {
      NdjsonSink sink("lake", o);
      for (int b = 0; b < 300; ++b) {
        REQUIRE(all(sink.write(events(b * 5, b * 5 + 5)), DeliveryStatus::delivered));
        if (b % 20 == 0) std::this_thread::sleep_for(2ms);  // let the reader interleave
      }
    }
    done = true;
    reader.join();
    CHECK(checked.load() > 0);
    CHECK(bad.load() == 0);
    CHECK(ndjson_seqs(o.root / "events") == range(0, 1500));
  }
}

TEST_CASE("ndjson sink: files of a killed writer are completed at the next start") {
  for (const char* kind : {"ndjson", "ndjson-gz"}) {
    INFO(kind);
    testing::TempDir dir;
    const auto root = dir.path / "lake";
    const auto last_acked = testing::run_writer_and_kill(kind, root, "50", 20);
    REQUIRE(last_acked >= 20);

    NdjsonSinkOptions o;
    o.root = root;
    NdjsonSink sink("lake", o);
    CHECK(sink.recovered_files() == 1);
    std::map<std::int64_t, int> per_batch;
    for (const auto& f : ndjson_files(root / "crash_rows")) {
      CHECK_FALSE(f.temporary);
      CHECK(f.complete_gzip);
      for (const auto b : seqs_in_lines(f.text, "batch")) ++per_batch[b];
    }
    for (std::int64_t b = 1; b <= last_acked; ++b) CHECK(per_batch[b] == 50);  // acknowledged: all there
  }
}

namespace {

std::vector<std::int64_t> integers(const std::string& lines) {
  std::vector<std::int64_t> out;
  std::istringstream in(lines);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(std::stoll(line));
  return out;
}

std::shared_ptr<PostgresSink> postgres_sink(const testing::PostgresServer& server) {
  PostgresSinkOptions o;
  o.url = server.url();
  o.connect_timeout = 2s;
  return std::make_shared<PostgresSink>("pg", o);
}

}  // namespace

TEST_CASE("compliance: postgresql sink (a real PostgreSQL server)") {
  if (testing::PostgresServer::bin_dir().empty()) {
    MESSAGE("PostgreSQL is not installed (Debian package postgresql): skipped");
    return;
  }
  testing::PostgresServer server;
  SinkUnderTest t;
  t.kind = "postgresql";
  t.make = [&] { return postgres_sink(server); };
  // No key: rows in the order they were inserted (their physical order in a table only
  // appended to).
  t.stored = [&] { return integers(server.query("SELECT seq FROM events ORDER BY ctid")); };
  // The server refuses it (seq is a BIGINT column already): found by splitting the statement.
  t.bad_record = [] {
    Record r("events");
    r.set("seq", std::string("not a number"));
    r.set("at", Timestamp{1700000050, 500000000});
    return r;
  };
  // The server shut down (every session ended): writes answer Retry until it is back.
  t.break_sink = [&] { server.stop(); };
  t.heal_sink = [&] { server.start(); };
  run_compliance(t);
  // The schema version is recorded; the columns have PostgreSQL's types.
  CHECK(server.query("SELECT version FROM wis2mon_schema") == "1\n");
  CHECK(server.query("SELECT column_name || ' ' || data_type FROM information_schema.columns WHERE table_name = "
                     "'events' ORDER BY ordinal_position") ==
        "seq bigint\nstation text\nvalue double precision\nat timestamp with time zone\n");
}

TEST_CASE("postgresql sink: the SQLite sink's keys and update rules, row for row") {
  if (testing::PostgresServer::bin_dir().empty()) {
    MESSAGE("PostgreSQL is not installed: skipped");
    return;
  }
  testing::PostgresServer server;
  testing::TempDir dir;
  SqliteSinkOptions so;
  so.path = dir.path / "same.db";
  auto lite = std::make_shared<SqliteSink>("lite", so);
  auto pg = postgres_sink(server);
  SchemaHints hints;
  hints.key = {"data_id"};
  hints.time_field = "pubtime";
  hints.valid_field = "valid";
  const auto schema = std::make_shared<const RecordSchema>(
      "items", std::vector<std::string>{"data_id", "pubtime", "valid", "size"}, hints);
  const auto item = [&](const std::string& id, std::int64_t pubtime, bool valid, std::int64_t size) {
    Record r(schema);
    r.value(0) = id;
    r.value(1) = Timestamp{pubtime, 0};
    r.value(2) = valid;
    r.value(3) = size;
    return r;
  };
  // The same writes to both: updates by pubtime, an older copy, an invalid copy of a valid
  // item (Rejected), an invalid new item (stored), a valid copy replacing an invalid one,
  // and two copies of one key in one batch.
  const std::vector<std::vector<Record>> batches = {
      {item("a", 100, true, 1), item("b", 100, true, 1), item("c", 100, false, 1)},
      {item("a", 200, true, 2), item("b", 50, true, 2), item("a", 150, true, 3)},
      {item("b", 300, false, 4), item("c", 100, true, 5), item("d", 400, true, 6), item("d", 500, true, 7)},
  };
  for (const auto& batch : batches) {
    const auto from_lite = lite->write(batch);
    const auto from_pg = pg->write(batch);
    CHECK(statuses(from_pg) == statuses(from_lite));
  }
  CHECK(statuses(pg->write({item("b", 900, false, 8)})) == std::vector<DeliveryStatus>{DeliveryStatus::rejected});
  lite->write({item("b", 900, false, 8)});
  // Row for row: data_id, pubtime (seconds), valid, size.
  std::string from_lite;
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(so.path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT data_id, CAST(strftime('%s', pubtime) AS INTEGER), valid, size FROM items ORDER BY "
                       "data_id",
                       -1, &st, nullptr);
    while (sqlite3_step(st) == SQLITE_ROW)
      from_lite += std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) + "|" +
                   std::to_string(sqlite3_column_int64(st, 1)) + "|" + (sqlite3_column_int64(st, 2) ? "t" : "f") + "|" +
                   std::to_string(sqlite3_column_int64(st, 3)) + "\n";
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  const auto from_pg = server.query(
      "SELECT data_id || '|' || extract(epoch FROM pubtime)::bigint || '|' || CASE WHEN valid THEN 't' ELSE 'f' "
      "END || '|' || size FROM items ORDER BY data_id");
  CHECK(from_pg == from_lite);
  CHECK(from_pg == "a|200|t|2\nb|100|t|1\nc|100|t|5\nd|500|t|7\n");
  // The key is a unique index; retention deletes by the time column, in steps.
  CHECK(server.query("SELECT indexname FROM pg_indexes WHERE tablename = 'items'") == "ux_items\n");
  PostgresSinkOptions o;
  o.url = server.url();
  o.retention_step_rows = 1;
  o.tables["items"] = {{"data_id"}, {}, "pubtime", "valid"};  // a sink that has not written items yet
  PostgresSink aged("aged", o);
  CHECK(aged.apply_retention(std::chrono::hours(24)) == 4);  // 1970 is long ago
  CHECK(server.query("SELECT count(*) FROM items") == "0\n");
}

TEST_CASE("postgresql sink: a server restart in the middle of a stream loses nothing") {
  if (testing::PostgresServer::bin_dir().empty()) {
    MESSAGE("PostgreSQL is not installed: skipped");
    return;
  }
  testing::PostgresServer server;
  auto pg = postgres_sink(server);
  SinkEngineOptions eo;
  eo.batch_max_records = 50;
  eo.batch_max_age = 5ms;
  eo.retry_initial = 20ms;
  eo.retry_max = 200ms;
  eo.max_retries = 1000;
  SinkEngine engine(pg, eo);
  for (std::int64_t i = 0; i < 3000; ++i) {
    REQUIRE(engine.submit(event(i)));
    if (i == 1000) server.stop();  // batches in flight answer Retry
    if (i == 1500) server.start();
  }
  engine.close();
  const auto s = engine.stats();
  CHECK(s.delivered == 3000);
  CHECK(s.out_of_retries == 0);
  CHECK(s.retries > 0);  // the restart was seen
  // Every record once (a batch is one transaction: a retried batch was never half written).
  CHECK(integers(server.query("SELECT seq FROM events ORDER BY seq")) == range(0, 3000));
}

TEST_CASE("postgresql sink: options; a server away at start") {
  PostgresSinkOptions o;
  o.url = "mysql://x";
  CHECK_THROWS_AS(PostgresSink("bad", o), Error);
  // An unreachable server is not an error at start: writes answer Retry with the reason.
  o.url = "postgresql://nobody@127.0.0.1:" + std::to_string(testing::free_port()) + "/none";
  o.connect_timeout = 1s;
  PostgresSink away("away", o);
  const auto answers = away.write(events(0, 2));
  CHECK(all(answers, DeliveryStatus::retry));
  CHECK(answers[0].reason.find("PostgreSQL not reached") != std::string::npos);
  CHECK_FALSE(away.healthcheck().ok);
}

TEST_CASE("postgresql sink: long runs through COPY; a refused record, repeated keys and new columns fall back") {
  if (testing::PostgresServer::bin_dir().empty()) {
    MESSAGE("PostgreSQL is not installed: skipped");
    return;
  }
  testing::PostgresServer server;
  auto pg = postgres_sink(server);
  SchemaHints hints;
  hints.key = {"station"};
  const auto plain = std::make_shared<const RecordSchema>("obs", std::vector<std::string>{"station", "value"}, hints);
  const auto wider =
      std::make_shared<const RecordSchema>("obs", std::vector<std::string>{"station", "value", "note"}, hints);
  const auto obs = [&](std::int64_t station, FieldValue value) {
    Record r(plain);
    r.value(0) = "s" + std::to_string(station);
    r.value(1) = std::move(value);
    return r;
  };
  // 40 rows (COPY), text with a tab, a newline and a backslash survives the COPY format.
  std::vector<Record> batch;
  for (std::int64_t i = 0; i < 40; ++i) batch.push_back(obs(i, static_cast<double>(i)));
  REQUIRE(all(pg->write(batch), DeliveryStatus::delivered));
  CHECK(server.query("SELECT count(*), sum(value) FROM obs") == "40|780\n");
  // One value of the wrong type in a run of 40: only it is refused.
  batch.clear();
  for (std::int64_t i = 40; i < 80; ++i) batch.push_back(obs(i, static_cast<double>(i)));
  batch[17].value(1) = std::string("warm");
  const auto answers = statuses(pg->write(batch));
  CHECK(answers[17] == DeliveryStatus::rejected);
  CHECK(std::count(answers.begin(), answers.end(), DeliveryStatus::delivered) == 39);
  CHECK(server.query("SELECT count(*) FROM obs") == "79\n");
  // The same key twice in one run: both applied in order (the later one stays).
  batch.clear();
  for (std::int64_t i = 0; i < 30; ++i) batch.push_back(obs(i % 20, static_cast<double>(1000 + i)));
  REQUIRE(all(pg->write(batch), DeliveryStatus::delivered));
  CHECK(server.query("SELECT value FROM obs WHERE station = 's5'") == "1025\n");
  CHECK(server.query("SELECT value FROM obs WHERE station = 's15'") == "1015\n");
  // A new field: the column is added, and the next long run still goes through.
  batch.clear();
  for (std::int64_t i = 100; i < 140; ++i) {
    Record r(wider);
    r.value(0) = "s" + std::to_string(i);
    r.value(1) = 1.5;
    r.value(2) = std::string("tab\there\nline\\end");
    batch.push_back(std::move(r));
  }
  REQUIRE(all(pg->write(batch), DeliveryStatus::delivered));
  CHECK(server.query("SELECT count(*) FROM obs WHERE note = E'tab\\there\\nline\\\\end'") == "40\n");
  batch.clear();
  for (std::int64_t i = 200; i < 240; ++i) batch.push_back(obs(i, 2.0));
  REQUIRE(all(pg->write(batch), DeliveryStatus::delivered));
  CHECK(server.query("SELECT count(*) FROM obs") == "159\n");
  // New keys go straight into the table; a run meeting stored keys goes through the staging
  // table and updates them; rounds of both, so the direct COPY is tried again after the
  // staged runs (and a mix of stored and new keys is right either way).
  for (int round = 0; round < 12; ++round) {
    batch.clear();
    for (std::int64_t i = 0; i < 40; ++i) {
      const auto station = round % 2 ? 300 + 40 * round + i : 200 + i;  // odd: new keys; even: stored
      batch.push_back(obs(station, static_cast<double>(round)));
    }
    REQUIRE(all(pg->write(batch), DeliveryStatus::delivered));
  }
  CHECK(server.query("SELECT count(*) FROM obs") == std::to_string(159 + 6 * 40) + "\n");
  CHECK(server.query("SELECT min(value), max(value) FROM obs WHERE station IN ('s200', 's239')") == "10|10\n");
  CHECK(server.query("SELECT value FROM obs WHERE station = 's' || (300 + 40 * 11 + 7)") == "11\n");
}
