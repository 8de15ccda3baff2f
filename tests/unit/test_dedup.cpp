#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "postgres_server.hpp"
#include "support.hpp"
#include "wis2mon/dedup.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/record.hpp"
#include "wis2mon/sinks/postgresql.hpp"

using namespace wis2mon;
using testing::mutate;

namespace {
Notification make(const std::string& pubtime, const char* rel = "canonical",
                  const char* id = "6f1c2c43-9a8e-4b8f-bb52-0c3b1c4d2e01") {
  auto p = Notification::parse(mutate(testing::valid_message(), {{"/properties/pubtime", "\"" + pubtime + "\""},
                                                                 {"/links/0/rel", std::string("\"") + rel + "\""},
                                                                 {"/id", std::string("\"") + id + "\""}}));
  REQUIRE(p.valid());
  return p.notification;
}
const Timestamp kNow{1767225600, 0};
}  // namespace

TEST_CASE("message_id policy: a repeated id is a duplicate, but only once recorded") {
  Deduplicator d(DedupPolicy::message_id, std::make_shared<MemoryDedupStore>());
  const auto n = make("2026-01-01T00:02:11Z");
  CHECK(d.check(n, kNow) == DedupVerdict::new_item);
  CHECK(d.check(n, kNow) == DedupVerdict::new_item);  // not recorded yet: a failed copy never blocks
  d.record(n, kNow);
  CHECK(d.check(n, kNow) == DedupVerdict::duplicate);
  CHECK(d.check(make("2026-01-01T00:02:11Z", "canonical", "11111111-2222-4333-8444-555555555555"), kNow) ==
        DedupVerdict::new_item);
}

TEST_CASE("data_id+pubtime policy: Global Cache semantics") {
  Deduplicator d(DedupPolicy::data_id_pubtime, std::make_shared<MemoryDedupStore>());
  d.record(make("2026-01-01T00:02:11Z"), kNow);
  CHECK(d.check(make("2026-01-01T00:02:11Z"), kNow) == DedupVerdict::duplicate);            // same pubtime
  CHECK(d.check(make("2026-01-01T00:01:00Z"), kNow) == DedupVerdict::duplicate);            // older
  CHECK(d.check(make("2026-01-01T00:05:00Z"), kNow) == DedupVerdict::duplicate);            // newer, no update link
  CHECK(d.check(make("2026-01-01T00:05:00Z", "update"), kNow) == DedupVerdict::update);     // newer update
  CHECK(d.check(make("2026-01-01T00:01:00Z", "update"), kNow) == DedupVerdict::duplicate);  // older update
  CHECK(d.check(make("2026-01-01T00:05:00Z", "deletion"), kNow) == DedupVerdict::update);
  d.record(make("2026-01-01T00:05:00Z", "update"), kNow);
  d.record(make("2026-01-01T00:01:00Z"), kNow);  // a late older copy does not roll back
  CHECK(d.check(make("2026-01-01T00:04:00Z", "update"), kNow) == DedupVerdict::duplicate);
  CHECK(Deduplicator::key(make("2026-01-01T00:05:00Z"), DedupPolicy::data_id_pubtime).rfind("ch-meteoswiss/", 0) == 0);
}

TEST_CASE("data_id+pubtime policy: a pubtime far in the future does not shadow later updates") {
  Deduplicator d(DedupPolicy::data_id_pubtime, std::make_shared<MemoryDedupStore>());
  d.record(make("2099-01-01T00:00:00Z"), kNow);                                   // kNow is 2026-01-01T00:00:00Z
  CHECK(d.check(make("2099-01-01T00:00:00Z"), kNow) == DedupVerdict::duplicate);  // recorded as kNow
  const Timestamp later{kNow.seconds + 300, 0};
  CHECK(d.check(make("2026-01-01T00:02:11Z", "update"), later) == DedupVerdict::update);
  // Within the skew, the pubtime is taken as given.
  Deduplicator near(DedupPolicy::data_id_pubtime, std::make_shared<MemoryDedupStore>());
  near.record(make("2026-01-01T00:05:00Z"), kNow);
  CHECK(near.check(make("2026-01-01T00:02:11Z", "update"), later) == DedupVerdict::duplicate);
  // 0 turns the guard off.
  Deduplicator off(DedupPolicy::data_id_pubtime, std::make_shared<MemoryDedupStore>(), std::chrono::seconds(0));
  off.record(make("2099-01-01T00:00:00Z"), kNow);
  CHECK(off.check(make("2026-01-01T00:02:11Z", "update"), later) == DedupVerdict::duplicate);
}

TEST_CASE("memory store: put_unless_newer keeps the newest value, an expired one gives way") {
  MemoryDedupStore store(std::chrono::seconds(60));
  const Timestamp now{1'767'225'600, 0};
  store.put_unless_newer("k", Timestamp{now.seconds + 10, 0}, now);
  store.put_unless_newer("k", Timestamp{now.seconds + 5, 0}, now);
  CHECK(store.get("k", now) == Timestamp{now.seconds + 10, 0});
  store.put_unless_newer("k", Timestamp{now.seconds + 20, 0}, now);
  CHECK(store.get("k", now) == Timestamp{now.seconds + 20, 0});
  const Timestamp much_later{now.seconds + 120, 0};
  store.put_unless_newer("k", Timestamp{now.seconds + 1, 0}, much_later);  // the newer one expired
  CHECK(store.get("k", much_later) == Timestamp{now.seconds + 1, 0});
}

TEST_CASE("memory store: TTL and hard capacity") {
  MemoryDedupStore s(std::chrono::seconds(60), 3);
  s.put("a", kNow, kNow);
  CHECK(s.get("a", Timestamp{kNow.seconds + 59, 0}));
  CHECK_FALSE(s.get("a", Timestamp{kNow.seconds + 60, 0}));
  s.put("b", kNow, Timestamp{kNow.seconds + 10, 0});
  s.put("c", kNow, Timestamp{kNow.seconds + 20, 0});
  s.put("d", kNow, Timestamp{kNow.seconds + 30, 0});  // full: evicts the oldest ("a")
  CHECK(s.size() == 3);
  CHECK(s.evictions() == 1);
  CHECK_FALSE(s.get("a", kNow));
  CHECK(s.purge_expired(Timestamp{kNow.seconds + 75, 0}) == 1);  // "b" expired at +70
  CHECK(s.size() == 2);
  // Re-putting a key many times keeps memory bounded and the key alive.
  for (int i = 0; i < 1000; ++i) s.put("c", kNow, Timestamp{kNow.seconds + 30 + i, 0});
  CHECK(s.get("c", Timestamp{kNow.seconds + 1000, 0}));
  CHECK(s.size() == 2);
}

TEST_CASE("SQLite store survives a restart") {
  testing::TempDir tmp;
  const auto file = tmp.path / "dedup.sqlite";
  {
    auto store = std::make_shared<SqliteDedupStore>(file, std::chrono::seconds(3600));
    Deduplicator d(DedupPolicy::message_id, store);
    d.record(make("2026-01-01T00:02:11Z"), kNow);
    CHECK(store->size() == 1);
  }
  auto store = std::make_shared<SqliteDedupStore>(file, std::chrono::seconds(3600));
  Deduplicator d(DedupPolicy::message_id, store);
  CHECK(d.check(make("2026-01-01T00:02:11Z"), kNow) == DedupVerdict::duplicate);
  const auto v = store->get("6f1c2c43-9a8e-4b8f-bb52-0c3b1c4d2e01", kNow);
  REQUIRE(v);
  CHECK(*v == Timestamp{1767225731, 0});
  CHECK_FALSE(store->get("6f1c2c43-9a8e-4b8f-bb52-0c3b1c4d2e01", Timestamp{kNow.seconds + 3600, 0}));
  CHECK(store->purge_expired(Timestamp{kNow.seconds + 3600, 0}) == 1);
  CHECK(store->size() == 0);
  CHECK_THROWS(SqliteDedupStore(tmp.path / "no" / "such" / "dir" / "x.sqlite"));
}

TEST_CASE("PostgresDedupStore: shared by processes, the database decides who takes an item") {
  if (testing::PostgresServer::bin_dir().empty()) {
    MESSAGE("PostgreSQL is not installed: skipped");
    return;
  }
  testing::PostgresServer server;
  // Two monitors (two owners) on one database; a third connection is the first one restarted.
  PostgresDedupStore a(server.url(), std::chrono::hours(1), "host:/a/spool.db", std::chrono::seconds(60));
  PostgresDedupStore b(server.url(), std::chrono::hours(1), "host:/b/spool.db", std::chrono::seconds(60));
  const Timestamp now{1764482400, 0}, pubtime{1764482300, 5};
  CHECK_FALSE(a.get("item", now));
  // Both saw "item" as new at the same moment: one takes it.
  CHECK(a.try_claim("item", pubtime, now));
  CHECK_FALSE(b.try_claim("item", pubtime, now));
  CHECK(a.try_claim("item", pubtime, now));  // its own claim again (a restarted monitor)
  // a failed: the claim is given back, b may take it.
  a.release_claim("item");
  CHECK(b.try_claim("item", pubtime, now));
  b.release_claim("item");
  // a processed it: recorded; nobody takes the same (or an older) version again, even once
  // the claim has run out; a newer version (an update) may be taken.
  CHECK(a.try_claim("item", pubtime, now));
  a.put("item", pubtime, now);
  CHECK(a.get("item", now) == pubtime);
  CHECK(b.get("item", now) == pubtime);
  const Timestamp later{now.seconds + 120, 0};
  CHECK_FALSE(b.try_claim("item", pubtime, later));
  CHECK_FALSE(b.try_claim("item", Timestamp{pubtime.seconds - 1, 0}, later));
  CHECK(b.try_claim("item", Timestamp{pubtime.seconds + 10, 0}, later));
  // A claim of a process that is gone lasts its lease, then another may take the item.
  CHECK(a.try_claim("other", pubtime, now));
  CHECK_FALSE(b.try_claim("other", pubtime, Timestamp{now.seconds + 30, 0}));
  CHECK(b.try_claim("other", pubtime, Timestamp{now.seconds + 61, 0}));
  // An older value recorded late does not roll back a newer one; expiry and purge.
  b.put("item", Timestamp{pubtime.seconds + 10, 0}, later);
  a.put("item", pubtime, later);
  CHECK(a.get("item", later) == Timestamp{pubtime.seconds + 10, 0});
  a.put_unless_newer("item", Timestamp{pubtime.seconds + 5, 0}, later);  // one statement, same rule
  CHECK(a.get("item", later) == Timestamp{pubtime.seconds + 10, 0});
  CHECK(a.size() == 1);
  CHECK_FALSE(a.get("item", Timestamp{later.seconds + 3601, 0}));
  CHECK(a.purge_expired(Timestamp{later.seconds + 3601, 0}) == 1);
  CHECK(b.size() == 0);
  // Many claims of one key from two threads at once: exactly one wins each round.
  for (int round = 0; round < 20; ++round) {
    const std::string key = "race-" + std::to_string(round);
    std::atomic<int> won{0};
    std::thread ta([&] { won += a.try_claim(key, pubtime, now) ? 1 : 0; });
    std::thread tb([&] { won += b.try_claim(key, pubtime, now) ? 1 : 0; });
    ta.join();
    tb.join();
    CHECK(won == 1);
  }
  CHECK_THROWS_AS(PostgresDedupStore("sqlite:x", std::chrono::hours(1), "o"), Error);
}

TEST_CASE("PostgreSQL: monitors starting together on a new database make the shared tables one after the other") {
  if (testing::PostgresServer::bin_dir().empty()) {
    MESSAGE("PostgreSQL is not installed: skipped");
    return;
  }
  testing::PostgresServer server;
  // CREATE TABLE IF NOT EXISTS from two sessions at once fails in one of them (the catalog's
  // unique index); the schema lock orders them. Rounds from a new database each time.
  for (int round = 0; round < 10; ++round) {
    server.query("DROP TABLE IF EXISTS wis2mon_dedup, wis2mon_dedup_claims, wis2mon_schema, events");
    std::atomic<int> failed{0};
    std::mutex why_mu;
    std::string why;  // doctest's macros are for this thread only
    std::vector<std::thread> monitors;
    for (int m = 0; m < 4; ++m)
      monitors.emplace_back([&, m] {
        try {
          PostgresDedupStore store(server.url(), std::chrono::hours(1), "host:/m" + std::to_string(m));
          PostgresSinkOptions o;
          o.url = server.url();
          PostgresSink sink("pg", o);
          Record r("events");
          r.set("n", static_cast<std::int64_t>(m));
          for (const auto& d : sink.write({r}))
            if (d.status != DeliveryStatus::delivered) ++failed;
        } catch (const std::exception& ex) {
          std::lock_guard lock(why_mu);
          why += std::string(ex.what()) + "\n";
          ++failed;
        }
      });
    for (auto& t : monitors) t.join();
    INFO(why);
    REQUIRE(failed == 0);
    CHECK(server.query("SELECT count(*) FROM events") == "4\n");
  }
}
