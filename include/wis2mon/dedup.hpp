// Deduplication of notifications.
//
// Two key policies:
//  - message_id: the notification id; a repeat is a duplicate (the anti-loop key brokers use).
//  - data_id_pubtime: Global Cache semantics. Per data_id the newest pubtime seen is kept;
//    a same-or-older pubtime is a duplicate; a newer pubtime is new only when the message
//    has an update (or deletion) link, else it is a duplicate too.
//
// check() never records: call record() once the item was processed successfully, so that a
// failed copy (e.g. a download from a broken cache) never blocks a later good one.
//
// Thread safety: stores and Deduplicator may be used from several threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "wis2mon/export.hpp"
#include "wis2mon/notification.hpp"
#include "wis2mon/time.hpp"

namespace wis2mon {

/// Remembers keys with a timestamp value for a time-to-live.
class WIS2MON_API DedupStore {
 public:
  virtual ~DedupStore() = default;
  /// The value recorded for key, unless absent or expired at `now`.
  virtual std::optional<Timestamp> get(std::string_view key, Timestamp now) = 0;
  /// Records (or replaces) key with value; it expires ttl after `now`.
  virtual void put(std::string_view key, Timestamp value, Timestamp now) = 0;
  /// Drops expired entries; returns how many.
  virtual std::size_t purge_expired(Timestamp now) = 0;
  /// Entries held (expired ones not yet purged may count).
  virtual std::size_t size() = 0;
  /// For a store several processes share: takes `key` for this process while it processes
  /// the item, unless another process holds it or a value at least `value` is recorded
  /// already; the database decides, so two processes seeing one item at the same moment
  /// cannot both take it. A claim ends with put() (kept until its lease runs out, then
  /// purged) or release_claim(). Stores of one process have nothing to decide: true.
  virtual bool try_claim(std::string_view key, Timestamp value, Timestamp now) {
    (void)key, (void)value, (void)now;
    return true;
  }
  /// Gives a claim back (the item's processing failed): another copy may be processed.
  virtual void release_claim(std::string_view key) { (void)key; }
  /// Records key with value unless a newer value is recorded (and not expired): recording an
  /// older copy late never rolls the key back. A get() then a put() here; a shared store does
  /// it in one statement (one round trip, and no other process can slip in between).
  virtual void put_unless_newer(std::string_view key, Timestamp value, Timestamp now) {
    if (const auto seen = get(key, now); seen && value < *seen) return;
    put(key, value, now);
  }
};

/// In memory, with a TTL and a hard capacity: when full, the oldest entry is evicted.
class WIS2MON_API MemoryDedupStore final : public DedupStore {
 public:
  explicit MemoryDedupStore(std::chrono::seconds ttl = std::chrono::hours(24), std::size_t capacity = 1'000'000);
  ~MemoryDedupStore() override;
  std::optional<Timestamp> get(std::string_view key, Timestamp now) override;
  void put(std::string_view key, Timestamp value, Timestamp now) override;
  std::size_t purge_expired(Timestamp now) override;
  std::size_t size() override;
  /// Entries evicted because the store was full.
  std::size_t evictions() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// In a SQLite file, so that dedup survives restarts. Opens (creating) the file; throws
/// Error(database) when it cannot.
class WIS2MON_API SqliteDedupStore final : public DedupStore {
 public:
  explicit SqliteDedupStore(const std::filesystem::path& file, std::chrono::seconds ttl = std::chrono::hours(24));
  ~SqliteDedupStore() override;
  std::optional<Timestamp> get(std::string_view key, Timestamp now) override;
  void put(std::string_view key, Timestamp value, Timestamp now) override;
  std::size_t purge_expired(Timestamp now) override;
  std::size_t size() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// In PostgreSQL, shared by several monitor processes (fed by shared subscriptions on several
/// brokers carrying the same messages): tables wis2mon_dedup and wis2mon_dedup_claims. `owner`
/// names this process in its claims and must stay the same across its restarts (the monitor
/// uses host name and spool path), so that a restarted monitor takes back its own claims for
/// the entries its spool gives it again; a claim of a process that is gone lasts `lease`.
/// Throws Error(database) when the server cannot be reached at construction; later failures
/// throw Error(database, retriable) from the calls.
class WIS2MON_API PostgresDedupStore final : public DedupStore {
 public:
  PostgresDedupStore(const std::string& url, std::chrono::seconds ttl, std::string owner,
                     std::chrono::seconds lease = std::chrono::minutes(15));
  ~PostgresDedupStore() override;
  std::optional<Timestamp> get(std::string_view key, Timestamp now) override;
  /// Keeps the newest value when two processes record one key (the database compares).
  void put(std::string_view key, Timestamp value, Timestamp now) override;
  std::size_t purge_expired(Timestamp now) override;
  std::size_t size() override;
  bool try_claim(std::string_view key, Timestamp value, Timestamp now) override;
  void release_claim(std::string_view key) override;
  /// put() already keeps the newest value: one statement.
  void put_unless_newer(std::string_view key, Timestamp value, Timestamp now) override { put(key, value, now); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

enum class DedupPolicy { message_id, data_id_pubtime };

enum class DedupVerdict {
  new_item,   ///< never seen (or expired)
  update,     ///< seen, and this one is newer with an update/deletion link: process it
  duplicate,  ///< seen before: skip it
};

WIS2MON_API const char* to_string(DedupVerdict v) noexcept;

class WIS2MON_API Deduplicator {
 public:
  /// The store is shared so that several deduplicators (pipelines) may use one file.
  /// A pubtime more than `max_pubtime_skew` ahead of the recording clock is recorded as that
  /// clock's time, so that a copy dated 2099 does not shadow every later update (0: as given).
  Deduplicator(DedupPolicy policy, std::shared_ptr<DedupStore> store,
               std::chrono::seconds max_pubtime_skew = std::chrono::seconds(600));

  DedupPolicy policy() const noexcept { return policy_; }
  /// data_id_pubtime: by default a newer pubtime is an update only when the message says so
  /// (an update or deletion link). On: any newer pubtime is new data, as a Global Cache
  /// compares them (WIS2 Guide 2.7.4.2: "comparing the pubtime value ... with the list of
  /// data_id values").
  void set_newer_pubtime_is_update(bool on) noexcept { newer_pubtime_is_update_ = on; }
  /// What the notification is, given what was recorded so far. Does not record.
  DedupVerdict check(const Notification& n, Timestamp now = Timestamp::now());
  /// Records the notification as done; call after it was processed successfully.
  void record(const Notification& n, Timestamp now = Timestamp::now());
  /// The key this policy uses for a notification ("" when the notification lacks it).
  static std::string key(const Notification& n, DedupPolicy policy);

 private:
  DedupPolicy policy_;
  std::shared_ptr<DedupStore> store_;
  std::chrono::seconds max_pubtime_skew_;
  bool newer_pubtime_is_update_ = false;
};

}  // namespace wis2mon
