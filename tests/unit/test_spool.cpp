// Spool: order, take/done/release, resume after a restart, a writer killed with SIGKILL,
// backpressure.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
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

namespace {

// The spool's journal segments, oldest first.
std::vector<std::filesystem::path> journal_of(const std::filesystem::path& spool) {
  std::vector<std::filesystem::path> out;
  for (const auto& f : std::filesystem::directory_iterator(spool.parent_path()))
    if (f.path().filename().string().rfind(spool.filename().string() + ".journal-", 0) == 0) out.push_back(f.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string payload_of(int i) {
  return "payload " + std::to_string(i) + " " + std::string(200, 'p');
}

// A spool in dir whose flusher runs every `interval`.
SpoolOptions flushing_every(const testing::TempDir& dir, std::chrono::milliseconds interval) {
  SpoolOptions o;
  o.path = dir.path / "spool.db";
  o.flush_interval = interval;
  return o;
}

}  // namespace

TEST_CASE("spool: the journal: a crash image gives back every whole record and drops a torn one") {
  testing::TempDir dir;
  const auto o = flushing_every(dir, std::chrono::hours(1));  // nothing reaches the table on its own
  Spool spool(o);
  for (int i = 1; i <= 10; ++i)
    spool.append("gb", "t/" + std::to_string(i), payload_of(i), Timestamp{1700000000 + i, 7});
  // The image a process killed now leaves: the database and its journal, the last record torn
  // (the process died inside its write, so that append never returned).
  const auto crash = dir.path / "crash.db";
  for (const char* suffix : {"", "-wal"})
    if (std::filesystem::exists(o.path.string() + suffix))
      std::filesystem::copy_file(o.path.string() + suffix, crash.string() + suffix);
  const auto segments = journal_of(o.path);
  REQUIRE(segments.size() == 1);
  const auto image = crash.string() + segments[0].filename().string().substr(o.path.filename().string().size());
  std::filesystem::copy_file(segments[0], image);
  std::filesystem::resize_file(image, std::filesystem::file_size(image) - 5);
  {
    SpoolOptions c = o;
    c.path = crash;
    Spool crashed(c);
    CHECK(crashed.stats().resumed == 9);
    CHECK(journal_of(crash).empty());  // read into the table
    const auto got = crashed.take(100);
    REQUIRE(ids_of(got) == iota(1, 9));
    CHECK(got[6].source == "gb");
    CHECK(got[6].topic == "t/7");
    CHECK(got[6].payload == payload_of(7));
    CHECK(got[6].received == Timestamp{1700000007, 7});
  }
  CHECK(testing::sqlite_int(crash, "SELECT count(*) FROM spool") == 9);
}

TEST_CASE("spool: the flusher moves what is pending into the table and empties the journal; done entries never go") {
  testing::TempDir dir;
  const auto o = flushing_every(dir, std::chrono::milliseconds(20));
  {
    Spool spool(o);
    for (int i = 1; i <= 10; ++i) spool.append("gb", "t", payload_of(i));
    const auto first = spool.take(3);
    spool.done(ids_of(first));
    CHECK(!journal_of(o.path).empty());
    REQUIRE(testing::wait_for([&] { return journal_of(o.path).empty(); }, std::chrono::seconds(10)));
    CHECK(testing::sqlite_int(o.path, "SELECT count(*) FROM spool") == 7);
    CHECK(testing::sqlite_int(o.path, "SELECT min(id) FROM spool") == 4);
    // Now in the table: taken, finished and given back from there.
    const auto next = spool.take(2);
    CHECK(ids_of(next) == iota(4, 5));
    CHECK(next[1].payload == payload_of(5));
    spool.done({4});
    spool.release({5});
    CHECK(ids_of(spool.take(1)) == std::vector<std::int64_t>{5});
    CHECK(testing::sqlite_int(o.path, "SELECT count(*) FROM spool") == 6);
    CHECK(testing::sqlite_int(o.path, "SELECT attempts FROM spool WHERE id = 5") == 2);
    for (int i = 11; i <= 15; ++i) spool.append("gb", "t", payload_of(i));
    auto rest = ids_of(spool.take(100));
    CHECK(rest == iota(6, 15));
    rest.push_back(5);
    spool.done(rest);  // some in the table, some only in the journal
    CHECK(spool.stats().stored == 0);
  }
  CHECK(journal_of(o.path).empty());
  CHECK(testing::sqlite_int(o.path, "SELECT count(*) FROM spool") == 0);
  Spool again(o);
  CHECK(again.append("gb", "t", "x") == 16);  // no id is used twice, even of entries that never reached the table
}

TEST_CASE("spool: a backlog larger than the memory budget is read back from the table, intact") {
  testing::TempDir dir;
  const auto o = flushing_every(dir, std::chrono::milliseconds(10));
  Spool spool(o);
  const auto big = [](int i) { return std::string(1 << 20, static_cast<char>('a' + i % 26)) + std::to_string(i); };
  for (int i = 1; i <= 80; ++i) spool.append("gb", "t", big(i));  // 80 MiB, beyond the 64 MiB kept in memory
  REQUIRE(testing::wait_for([&] { return journal_of(o.path).empty(); }, std::chrono::seconds(30)));
  for (int round = 0; round < 8; ++round) {
    const auto got = spool.take(10);
    REQUIRE(got.size() == 10);
    for (const auto& e : got) CHECK(e.payload == big(static_cast<int>(e.id)));
    spool.done(ids_of(got));
  }
  CHECK(spool.stats().stored == 0);
}

TEST_CASE("spool: a table that refuses (a full disk) keeps entries in the journal, says why, and catches up") {
  testing::TempDir dir;
  const auto o = flushing_every(dir, std::chrono::milliseconds(20));
  Spool spool(o);
  const auto sql = [&](const char* text) {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(o.path.c_str(), &h) == SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    CHECK(sqlite3_exec(h, text, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
  };
  sql("CREATE TRIGGER refuse BEFORE INSERT ON spool BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
  for (int i = 1; i <= 5; ++i) spool.append("gb", "t", payload_of(i));
  REQUIRE(testing::wait_for([&] { return spool.stats().flush_error.find("disk is full") != std::string::npos; },
                            std::chrono::seconds(10)));
  CHECK_FALSE(journal_of(o.path).empty());
  CHECK(testing::sqlite_int(o.path, "SELECT count(*) FROM spool") == 0);
  sql("DROP TRIGGER refuse");
  REQUIRE(testing::wait_for([&] { return spool.stats().flush_error.empty() && journal_of(o.path).empty(); },
                            std::chrono::seconds(10)));
  CHECK(testing::sqlite_int(o.path, "SELECT count(*) FROM spool") == 5);
  const auto got = spool.take(10);
  REQUIRE(ids_of(got) == iota(1, 5));
  CHECK(got[4].payload == payload_of(5));
}
