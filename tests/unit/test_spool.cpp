// Spool: order, take/done/release, resume after a restart, a writer killed with SIGKILL,
// backpressure.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "support.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/spool.hpp"

using namespace wis2mon;
using namespace std::chrono_literals;

namespace {

std::vector<std::int64_t> ids_of(const std::vector<SpoolEntry>& entries) {
  std::vector<std::int64_t> out;
  for (const auto& e : entries) out.push_back(e.id);
  return out;
}

std::vector<std::int64_t> iota(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> out;
  for (auto i = from; i <= to; ++i) out.push_back(i);
  return out;
}

}  // namespace

TEST_CASE("spool: entries come out in arrival order; done removes, release gives back; a restart resumes") {
  testing::TempDir dir;
  const auto path = dir.path / "spool.db";
  {
    Spool spool({path});
    for (int i = 1; i <= 100; ++i)
      CHECK(spool.append("gb1", "origin/a/wis2/t/" + std::to_string(i), std::string("p\0q", 3) + std::to_string(i),
                         Timestamp{1700000000 + i, 0}) == i);
    const auto first = spool.take(30);
    CHECK(ids_of(first) == iota(1, 30));
    CHECK(first[4].source == "gb1");
    CHECK(first[4].topic == "origin/a/wis2/t/5");
    CHECK(first[4].payload == std::string("p\0q5", 4));  // bytes kept, NULs too
    CHECK(first[4].received == Timestamp{1700000005, 0});
    CHECK(first[4].attempts == 0);
    CHECK(ids_of(spool.take(100)) == iota(31, 100));
    CHECK(spool.take(10).empty());  // all in flight
    spool.done(iota(1, 50));
    spool.release(iota(51, 60));
    const auto again = spool.take(5);
    CHECK(ids_of(again) == iota(51, 55));
    CHECK(again[0].attempts == 1);
    const auto s = spool.stats();
    CHECK(s.appended == 100);
    CHECK(s.done == 50);
    CHECK(s.stored == 50);
    CHECK(s.in_flight == 45);
  }
  // A new run: whatever was not done is pending again, in order.
  Spool spool({path});
  CHECK(spool.stats().resumed == 50);
  const auto resumed = spool.take(1000);
  CHECK(ids_of(resumed) == iota(51, 100));
  CHECK(resumed[0].attempts == 2);                // taken twice before
  CHECK(resumed[10].attempts == 1);               // id 61: once
  CHECK(spool.append("gb1", "t", "new") == 101);  // ids never reused
}

TEST_CASE("spool: a writer killed with SIGKILL keeps every message it acknowledged") {
  testing::TempDir dir;
  const auto path = dir.path / "spool.db";
  const auto last_acked = testing::run_writer_and_kill("spool", path, "1", 2000);
  REQUIRE(last_acked >= 2000);
  Spool spool({path});
  const auto stored = spool.take(1000000);
  REQUIRE(stored.size() >= static_cast<std::size_t>(last_acked));
  CHECK(ids_of(stored) == iota(1, static_cast<std::int64_t>(stored.size())));  // no gap, no damage
  CHECK(stored[static_cast<std::size_t>(last_acked) - 1].payload == std::string(700, 'm') + std::to_string(last_acked));
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &h) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "ok");
  sqlite3_finalize(st);
  sqlite3_close(h);
}

TEST_CASE("spool: admit_all lifts backpressure for a stopping monitor, without waking take()") {
  testing::TempDir dir;
  SpoolOptions o;
  o.path = dir.path / "spool.db";
  o.high_water = 2;
  Spool spool(o);
  spool.append("b", "t", "1");
  spool.append("b", "t", "2");
  CHECK_FALSE(spool.wait_for_room(20ms));
  std::thread lifter([&] {
    std::this_thread::sleep_for(50ms);
    spool.admit_all();
  });
  CHECK(spool.wait_for_room(5s));  // the waiter is released
  lifter.join();
  spool.append("b", "t", "3");
  CHECK(spool.wait_for_room(0ms));  // over the mark, still admitted
  CHECK(spool.take(10, 0ms).size() == 3);
  const auto start = std::chrono::steady_clock::now();
  CHECK(spool.take(10, 100ms).empty());  // take() still waits for arrivals
  CHECK(std::chrono::steady_clock::now() - start >= 90ms);
}

TEST_CASE("spool: take waits for arrivals; wait_for_room holds the producer at the high-water mark") {
  testing::TempDir dir;
  SpoolOptions o;
  o.path = dir.path / "spool.db";
  o.high_water = 5;
  Spool spool(o);
  std::thread producer([&] {
    std::this_thread::sleep_for(50ms);
    spool.append("b", "t", "late");
  });
  const auto got = spool.take(10, 5s);
  producer.join();
  REQUIRE(got.size() == 1);
  CHECK(got[0].payload == "late");

  for (int i = 0; i < 4; ++i) spool.append("b", "t", "x");
  CHECK_FALSE(spool.wait_for_room(30ms));  // 5 stored: full
  CHECK(spool.stats().waits == 1);
  std::thread consumer([&] {
    std::this_thread::sleep_for(50ms);
    spool.done({got[0].id});
  });
  CHECK(spool.wait_for_room(5s));
  consumer.join();
  // interrupt() releases every waiter (shutdown).
  spool.append("b", "t", "y");
  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    spool.interrupt();
  });
  const auto start = std::chrono::steady_clock::now();
  CHECK(spool.wait_for_room(10s));
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  stopper.join();
}

TEST_CASE("spool: one holder at a time; a second one is refused with a clear message, the lock goes with the holder") {
  testing::TempDir dir;
  SpoolOptions o;
  o.path = dir.path / "spool.db";
  {
    Spool first(o);
    first.append("b", "t", "x");
    try {
      Spool second(o);
      FAIL("a second spool on the same file was opened");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::state);
      CHECK(std::string(e.what()).find("in use by another monitor (process " + std::to_string(::getpid()) + ")") !=
            std::string::npos);
    }
  }
  Spool again(o);  // the first one is gone: free again
  CHECK(again.stats().stored == 1);
  SpoolOptions memory;
  memory.path = ":memory:";
  Spool a(memory), b(memory);  // in-memory spools lock nothing
}
