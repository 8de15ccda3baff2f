// CompletionLedger: owns "this spool entry is done when all of its work is settled".
//
// Every unit of an entry's work (the pipeline thread working on it, a download in flight, a
// record queued at a sink) holds a copy of the entry's Ticket; dropping the last copy
// completes the entry, on whatever thread that happens (Vector's event finalizers work the
// same way). complete() is the one place where an entry's dedup keys are recorded (or freed,
// when its work failed) and the entry is queued for removal from the spool. Nothing counts
// by hand, so an exception or an early return can never leave an entry or a key behind.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace wis2mon::detail {

class CompletionLedger {
  struct Work;

 public:
  /// `log` reports a failure to record a key (the entry still completes).
  explicit CompletionLedger(std::function<void(std::string_view)> log = {});
  ~CompletionLedger();
  CompletionLedger(const CompletionLedger&) = delete;
  CompletionLedger& operator=(const CompletionLedger&) = delete;

  /// A share in one entry's work. Copies are more shares of the same entry; the entry
  /// completes when the last one is destroyed or reset. Thread-safe.
  class Ticket {
   public:
    Ticket() = default;
    explicit operator bool() const noexcept { return work_ != nullptr; }
    std::int64_t entry() const noexcept;
    /// Claims `key` in `scope` (e.g. a pipeline) for this entry. false when another entry in
    /// flight holds it (a copy of the same data item already being processed). `record` runs
    /// at completion unless the scope failed, `release` when it failed; the key is freed
    /// either way.
    bool claim(std::size_t scope, const std::string& key, std::function<void()> record,
               std::function<void()> release = {}) const;
    /// Sets the `release` of this entry's latest claim in `scope` (e.g. once a claim in a
    /// shared store was taken: only then is there anything to give back).
    void set_release(std::size_t scope, std::function<void()> release) const;
    /// The work of `scope` failed: its keys will be freed, not recorded.
    void fail(std::size_t scope) const;
    /// Everything failed (an exception while processing the entry).
    void fail_all() const;
    /// Drops this share (the same as destroying it).
    void reset() noexcept { work_.reset(); }
    /// The share as an opaque handle for holders that do not know the ledger (a SinkEngine
    /// keeps it with the record until the record is settled).
    std::shared_ptr<const void> share() const { return work_; }

   private:
    friend class CompletionLedger;
    explicit Ticket(std::shared_ptr<Work> w) : work_(std::move(w)) {}
    std::shared_ptr<Work> work_;
  };

  /// Opens an entry; the ticket returned is its first share.
  Ticket open(std::int64_t entry);
  /// Entries completed since the last call, to be marked done in the spool.
  std::vector<std::int64_t> take_completed();
  /// Entries opened and not yet completed.
  std::size_t open_entries() const;
  /// Waits until an entry completes or `timeout` passes.
  void wait_for_completion(std::chrono::milliseconds timeout);

 private:
  void complete(Work& w) noexcept;

  std::function<void(std::string_view)> log_;
  mutable std::mutex mu_;
  std::condition_variable completed_cv_;
  std::vector<std::unordered_set<std::string>> claimed_;  // per scope: keys of entries in flight
  std::vector<std::int64_t> completed_;
  std::size_t open_ = 0;
};

}  // namespace wis2mon::detail
