// The completion ledger on its own: an entry completes when its last ticket goes, on any
// thread; keys are recorded once, or freed unrecorded when the work failed.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "monitor/completion_ledger.hpp"

using wis2mon::detail::CompletionLedger;

TEST_CASE("ledger: an entry completes when its last share goes, not before") {
  CompletionLedger ledger;
  auto first = ledger.open(7);
  CHECK(first.entry() == 7);
  auto download = first;  // a second unit of work
  auto held_by_sink = first.share();
  CHECK(ledger.open_entries() == 1);
  first.reset();
  download.reset();
  CHECK(ledger.take_completed().empty());
  CHECK(ledger.open_entries() == 1);
  held_by_sink.reset();
  CHECK(ledger.take_completed() == std::vector<std::int64_t>{7});
  CHECK(ledger.open_entries() == 0);
  CHECK(ledger.take_completed().empty());  // taken once
}

TEST_CASE("ledger: a claimed key blocks other entries until completion, then is recorded once") {
  CompletionLedger ledger;
  int recorded = 0;
  {
    auto a = ledger.open(1);
    CHECK(a.claim(0, "k", [&] { ++recorded; }));
    auto b = ledger.open(2);
    CHECK_FALSE(b.claim(0, "k", [&] { ++recorded; }));  // in flight elsewhere: a duplicate
    CHECK(b.claim(1, "k", [&] { ++recorded; }));        // another scope is independent
    CHECK(recorded == 0);                               // nothing recorded while in flight
  }
  CHECK(recorded == 2);
  auto c = ledger.open(3);
  CHECK(c.claim(0, "k", nullptr));  // freed at completion
}

TEST_CASE("ledger: failed work frees its keys without recording them") {
  CompletionLedger ledger;
  int recorded = 0;
  {
    auto t = ledger.open(1);
    CHECK(t.claim(0, "a", [&] { ++recorded; }));
    CHECK(t.claim(1, "b", [&] { ++recorded; }));
    t.fail(1);
  }
  CHECK(recorded == 1);
  {
    auto t = ledger.open(2);
    CHECK(t.claim(0, "c", [&] { ++recorded; }));
    t.fail_all();
  }
  CHECK(recorded == 1);
  auto again = ledger.open(3);
  CHECK(again.claim(1, "b", nullptr));
  CHECK(again.claim(0, "c", nullptr));
  CHECK(ledger.take_completed() == std::vector<std::int64_t>{1, 2});
}

TEST_CASE("ledger: an exception while working still completes the entry and frees its keys") {
  CompletionLedger ledger;
  int recorded = 0;
  try {
    const auto t = ledger.open(5);
    REQUIRE(t.claim(0, "item", [&] { ++recorded; }));
    try {
      throw std::runtime_error("decoder bug");
    } catch (...) {
      t.fail_all();
      throw;
    }
  } catch (const std::runtime_error&) {
  }
  CHECK(recorded == 0);
  CHECK(ledger.take_completed() == std::vector<std::int64_t>{5});
  CHECK(ledger.open(6).claim(0, "item", nullptr));
}

TEST_CASE("ledger: a recorder that throws is logged and the entry still completes") {
  std::vector<std::string> lines;
  CompletionLedger ledger([&](std::string_view l) { lines.emplace_back(l); });
  {
    auto t = ledger.open(1);
    CHECK(t.claim(0, "k", [] { throw std::runtime_error("disk full"); }));
  }
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("disk full") != std::string::npos);
  CHECK(ledger.take_completed().size() == 1);
  CHECK(ledger.open_entries() == 0);
}

TEST_CASE("ledger: shares released on many threads complete each entry exactly once") {
  CompletionLedger ledger;
  std::atomic<int> recorded{0};
  std::vector<std::shared_ptr<const void>> shares;
  for (int e = 0; e < 200; ++e) {
    auto t = ledger.open(e);
    REQUIRE(t.claim(0, "key" + std::to_string(e), [&] { ++recorded; }));
    for (int i = 0; i < 8; ++i) shares.push_back(t.share());
  }
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th)
    threads.emplace_back([&, th] {
      for (std::size_t i = static_cast<std::size_t>(th); i < shares.size(); i += 4) shares[i].reset();
    });
  for (auto& th : threads) th.join();
  CHECK(recorded == 200);
  CHECK(ledger.take_completed().size() == 200);
  CHECK(ledger.open_entries() == 0);
}

TEST_CASE("ledger: a release set after the claim runs when the scope fails, and only then") {
  CompletionLedger ledger;
  int released = 0, recorded = 0;
  {
    auto t = ledger.open(1);
    CHECK(t.claim(0, "a", [&] { ++recorded; }));
    CHECK(t.claim(1, "b", [&] { ++recorded; }));
    t.set_release(0, [&] { ++released; });  // a shared store's claim was taken for "a" only
    t.fail(0);
    t.fail(1);  // no release set: nothing to give back
  }
  CHECK(released == 1);
  CHECK(recorded == 0);
  {
    auto t = ledger.open(2);
    CHECK(t.claim(0, "c", [&] { ++recorded; }));
    t.set_release(0, [&] { ++released; });
  }  // succeeded: recorded, not released
  CHECK(released == 1);
  CHECK(recorded == 1);
}
