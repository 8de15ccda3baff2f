// Sinks: where records end up, and the engine that feeds them.
//
// A Sink takes a batch of records and answers per record: Delivered (durable now), Retry
// (a passing failure: try again later) or Rejected (will never work). The SinkEngine in front
// of a sink owns everything else: the bounded queue, batching by count and by age, retries
// with exponential backoff and jitter, and the dead-letter table for Rejected records and
// records out of retries. Concrete sinks: sinks/sqlite.hpp, sinks/ndjson.hpp,
// sinks/influxdb.hpp, and CallbackSink below.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wis2mon/config.hpp"
#include "wis2mon/export.hpp"
#include "wis2mon/record.hpp"

namespace wis2mon {

enum class DeliveryStatus {
  delivered,  ///< stored durably; the record may be acknowledged upstream
  retry,      ///< not stored this time; the same record may succeed later
  rejected,   ///< never will be stored (bad record for this sink); goes to the dead letters
};
WIS2MON_API const char* to_string(DeliveryStatus s) noexcept;

/// The answer for one record of a batch. reason says why when not delivered.
struct Delivery {
  DeliveryStatus status = DeliveryStatus::delivered;
  std::string reason;
};

struct SinkHealth {
  bool ok = true;
  std::string message;
};

/// The sink contract. write() is called by one thread at a time (the engine's worker).
/// - It answers exactly one Delivery per record, in batch order.
/// - Delivered means durable: a crash after write() returns loses no Delivered record.
/// - Records of one batch are stored in batch order.
/// - It does not throw for per-record problems; an exception from write() means Retry for
///   the whole batch (the engine catches it).
/// - flush() and close() may be called any number of times; close() flushes first, and a
///   closed sink answers Retry to further writes.
class WIS2MON_API Sink {
 public:
  explicit Sink(std::string name) : name_(std::move(name)) {}
  virtual ~Sink() = default;
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  const std::string& name() const noexcept { return name_; }
  virtual std::vector<Delivery> write(const std::vector<Record>& batch) = 0;
  virtual void flush() {}
  virtual SinkHealth healthcheck() { return {}; }
  virtual void close() { flush(); }

 private:
  std::string name_;
};

/// Hands batches to a C++ function (the C and Python callbacks wrap this). The function
/// answers per record, or returns nothing to mean "all delivered". An exception thrown by it
/// answers Retry for the batch, with the exception text as the reason.
class WIS2MON_API CallbackSink : public Sink {
 public:
  using BatchFunction = std::function<std::vector<Delivery>(const std::vector<Record>&)>;
  using SimpleFunction = std::function<void(const std::vector<Record>&)>;

  CallbackSink(std::string name, BatchFunction fn);
  CallbackSink(std::string name, SimpleFunction fn);
  std::vector<Delivery> write(const std::vector<Record>& batch) override;
  void close() override { closed_ = true; }

 private:
  BatchFunction fn_;
  bool closed_ = false;
};

/// Records no sink will take: Rejected ones and those out of retries. One SQLite table
/// `dead_letters` (id, sink, record_table, record_json, status, reason, attempts, failed_at).
/// Thread-safe.
class WIS2MON_API DeadLetterStore {
 public:
  /// Opens (creating) the table in this SQLite file; ":memory:" keeps it in memory.
  explicit DeadLetterStore(const std::filesystem::path& file);
  ~DeadLetterStore();
  DeadLetterStore(const DeadLetterStore&) = delete;
  DeadLetterStore& operator=(const DeadLetterStore&) = delete;

  struct Entry {
    std::int64_t id = 0;
    std::string sink;
    std::string record_table;
    std::string record_json;
    DeliveryStatus status = DeliveryStatus::rejected;  ///< rejected, or retry when out of retries
    std::string reason;
    int attempts = 0;
    std::string failed_at;  ///< RFC 3339
  };
  /// Adds an entry; false when this sink already has a dead letter of this very record (the
  /// same message or record failing again after a crash is kept once). `identity`, when not
  /// empty, is what makes two entries the same instead of the whole record: a message's topic
  /// and bytes, say, so that a broker's redelivery (which arrives at another time) is kept once.
  bool add(const std::string& sink, const Record& record, DeliveryStatus status, const std::string& reason,
           int attempts, const std::string& identity = "");
  /// Entries in all, or only `sink`'s.
  std::size_t count(const std::string& sink = "") const;
  /// Oldest first; `sink` non-empty keeps only that sink's entries, `status` only those that
  /// ended that way (rejected, or retry: out of retries).
  std::vector<Entry> entries(std::size_t limit = 1000, const std::string& sink = "",
                             std::optional<DeliveryStatus> status = std::nullopt) const;
  /// Deletes entries by id (after a successful retry); returns how many were deleted.
  std::size_t remove(const std::vector<std::int64_t>& ids);
  /// Deletes every entry (or only `sink`'s); returns how many.
  std::size_t purge(const std::string& sink = "");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

enum class QueueFullPolicy {
  block,          ///< submit() waits for room
  drop_and_count  ///< submit() drops the record and counts it
};

/// Records of one batch that a sink engine gave up on for one reason.
struct SinkGiveUp {
  std::string sink;
  DeliveryStatus status = DeliveryStatus::rejected;  ///< rejected, or retry when out of retries
  std::string reason;                                ///< the sink's answer (the first record's)
  std::size_t records = 0;                           ///< how many records
  std::size_t new_dead_letters = 0;                  ///< of them, stored as new dead letters (not a repeat of one)
  int attempts = 0;                                  ///< write() calls the records went through
};

struct SinkEngineOptions {
  std::size_t queue_capacity = 100000;  ///< records waiting in front of the sink
  QueueFullPolicy when_full = QueueFullPolicy::block;
  std::size_t batch_max_records = 1000;           ///< a batch is written when it has this many...
  std::chrono::milliseconds batch_max_age{1000};  ///< ...or its oldest record is this old
  int max_retries = 5;                            ///< attempts after the first; then the record is a dead letter
  std::chrono::milliseconds retry_initial{100};   ///< backoff before the first retry
  std::chrono::milliseconds retry_max{30000};     ///< backoff cap
  /// Where Rejected and out-of-retries records go; nullptr: dead_letter_file, or only counted.
  std::shared_ptr<DeadLetterStore> dead_letters;
  /// A SQLite file the engine opens for its dead letters when dead_letters is nullptr (the
  /// config key `dead_letters` of a sink); empty: none of its own.
  std::filesystem::path dead_letter_file;
  /// Called on the engine's worker thread once a record is settled (delivered, or a dead
  /// letter) with its final status and the tag it was submitted with; used to acknowledge
  /// upstream (e.g. the spool entry the record came from).
  std::function<void(const Record&, DeliveryStatus, std::uint64_t tag)> on_settled;
  /// Called on the engine's worker thread when records become dead letters, once per batch
  /// and reason, so that a give-up is never silent (the monitor logs and counts it).
  std::function<void(const SinkGiveUp&)> on_give_up;
};

/// Engine counters (a snapshot).
struct SinkEngineStats {
  std::uint64_t submitted = 0;
  std::uint64_t delivered = 0;
  std::uint64_t rejected = 0;        ///< answered Rejected (dead letters)
  std::uint64_t retries = 0;         ///< Retry answers (each retried record, each time)
  std::uint64_t out_of_retries = 0;  ///< dead letters after max_retries
  std::uint64_t dropped = 0;         ///< queue full with drop_and_count
  std::uint64_t batches = 0;         ///< write() calls
  std::size_t queued = 0;            ///< waiting now (including records waiting to retry)
};

/// Feeds one sink from a bounded queue on its own worker thread.
class WIS2MON_API SinkEngine {
 public:
  SinkEngine(std::shared_ptr<Sink> sink, SinkEngineOptions options = {});
  ~SinkEngine();  ///< close()
  SinkEngine(const SinkEngine&) = delete;
  SinkEngine& operator=(const SinkEngine&) = delete;

  /// Queues a record; `tag` comes back in on_settled. false when it was dropped (queue full
  /// with drop_and_count) or the engine is closed.
  bool submit(Record record, std::uint64_t tag = 0);
  /// Queues a record with something to hold until it is settled: the engine drops its
  /// reference to `hold` right after on_settled (or when it drops the record), so the last
  /// holder's destructor learns that the record is done (how the Monitor completes a spool
  /// entry). false as above; `hold` is released then too.
  bool submit(Record record, std::shared_ptr<const void> hold);
  /// Waits until every record submitted so far is settled (delivered or dead-lettered),
  /// then flushes the sink. Retry backoffs are waited out.
  void flush();
  /// flush(), then stops the worker and closes the sink. Idempotent.
  void close();

  SinkEngineStats stats() const;
  Sink& sink() noexcept { return *sink_; }

 private:
  bool submit(Record record, std::uint64_t tag, std::shared_ptr<const void> hold);
  struct Impl;
  std::shared_ptr<Sink> sink_;
  std::unique_ptr<Impl> impl_;
};

/// A kind of sink: its name (`type:` in a config file), its own configuration keys and the
/// factory that makes one from validated values. The built-in kinds (sqlite, ndjson, influxdb)
/// are registered the same way a user's is; config checking, the factory, the CLI's help and
/// the docs all read this one list.
struct SinkKind {
  std::string name;
  std::string description;
  ConfigTable config;  ///< the kind's own keys (the engine's are separate: "engine")
  std::function<std::shared_ptr<Sink>(const std::string& sink_name, const ConfigValues& config)> make;
  /// Optional: checks values beyond their types (keys needed together), without side
  /// effects; throws Error(invalid_argument). `config check` runs it, so it refuses what a
  /// run would.
  std::function<void(const ConfigValues& config)> check;
};

/// Adds a sink kind to the process-wide registry (thread-safe). Register before a config file
/// naming it is read. Throws Error(invalid_argument) for an empty name, no factory, a name
/// taken, or "engine"/"callback" (reserved).
WIS2MON_API void register_sink_kind(SinkKind kind);
/// The kind of that name, or nullptr. The pointer stays valid for the life of the process.
WIS2MON_API const SinkKind* find_sink_kind(std::string_view name);
/// The registered kinds' names, sorted.
WIS2MON_API std::vector<std::string> sink_kind_names();

/// The configuration keys of a registered sink kind, or of the engine in front of any sink
/// ("engine"), for validation, help and docs. Throws Error(invalid_argument) for an unknown
/// kind, naming the known ones.
WIS2MON_API const ConfigTable& sink_config_table(const std::string& kind);

/// Makes a sink of a registered kind from validated configuration. Throws
/// Error(invalid_argument) for an unknown kind or a bad value.
WIS2MON_API std::shared_ptr<Sink> make_sink(const std::string& kind, const std::string& name,
                                            const ConfigValues& config);
/// Splits one sink's settings (as a config file gives them) into the keys of the engine table
/// and the rest, the sink kind's own keys.
WIS2MON_API void split_sink_settings(const std::map<std::string, std::string>& settings,
                                     std::map<std::string, std::string>& own,
                                     std::map<std::string, std::string>& engine);
/// Engine options from configuration keys of the "engine" table.
WIS2MON_API SinkEngineOptions sink_engine_options(const ConfigValues& config);

}  // namespace wis2mon
