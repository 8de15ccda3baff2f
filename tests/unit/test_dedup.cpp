#include <doctest/doctest.h>

#include "support.hpp"
#include "wis2mon/dedup.hpp"

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
