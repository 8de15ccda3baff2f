// Spool: the durable queue between the MQTT subscriber and the pipelines.
//
// Each arriving message is appended (made durable) before the subscriber acknowledges it to
// the broker; the pipelines take entries, and an entry is removed (done) only once every sink
// it went to answered Delivered or Rejected. After a crash or restart every stored entry is
// pending again, so a message is either still at the broker or in the spool: never lost.
//
// Durability: an arrival is one record appended to a journal file beside the spool
// (`<spool>.journal-<n>`, one write) before append() returns; a flusher thread moves what is
// still pending after flush_interval into a SQLite table (WAL) in one transaction, then deletes
// the journal segments it no longer needs, so an entry finished quickly never costs a commit. By default
// (synchronous=NORMAL) that survives a killed process, like a SQLite commit in WAL mode;
// synchronous_full writes the journal O_DSYNC and survives a power cut too. Opening a spool
// reads back what a killed process left in its journal (a torn last record, whose append never
// returned, is dropped).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wis2mon/export.hpp"
#include "wis2mon/time.hpp"

namespace wis2mon {

struct SpoolEntry {
  std::int64_t id = 0;  ///< grows with arrival order
  std::string source;   ///< where it came from (a broker's name, "replay", ...)
  std::string topic;
  std::string payload;
  Timestamp received;
  int attempts = 0;  ///< times it was taken before (by this or earlier runs)
};

struct SpoolOptions {
  std::filesystem::path path;       ///< SQLite file (":memory:" for tests that need no file)
  std::size_t high_water = 100000;  ///< wait_for_room() blocks while this many are stored
  bool synchronous_full = false;
  /// How long an arrival not yet done may stay only in the journal before the flusher moves
  /// it into the table (within twice this); sooner when such arrivals hold 16 MiB.
  std::chrono::milliseconds flush_interval{1000};
};

struct SpoolStats {
  std::uint64_t appended = 0;  ///< in this run
  std::uint64_t done = 0;      ///< removed in this run
  std::size_t stored = 0;      ///< entries in the file now
  std::size_t in_flight = 0;   ///< taken and neither done nor released
  std::uint64_t resumed = 0;   ///< entries found in the file at start
  std::uint64_t waits = 0;     ///< times wait_for_room() had to wait
  /// Why the flusher's latest round could not move entries into the table (a full disk, say;
  /// they stay in the journal meanwhile); empty when it succeeded.
  std::string flush_error;
};

/// Thread-safe: several subscribers append while pipeline workers take and finish.
class WIS2MON_API Spool {
 public:
  /// Opens or creates the spool; entries left by an earlier run are pending again.
  /// Throws Error(database) when the file cannot be opened. Holds an exclusive lock on
  /// `<path>.lock` until close(): a second Spool on the same file (another monitor, in this
  /// process or another) throws Error(state) naming the process that holds it. A killed
  /// process releases it with its death.
  explicit Spool(SpoolOptions options);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  /// Stores one message durably (committed on return); returns its id. Throws Error(database)
  /// when it cannot be stored: the caller must then not acknowledge the message.
  std::int64_t append(std::string_view source, std::string_view topic, std::string_view payload,
                      Timestamp received = Timestamp::now());

  /// Up to max pending entries, oldest first (released ones before new ones); they are in
  /// flight until done() or release(). Waits up to `wait` for one to arrive when none is.
  std::vector<SpoolEntry> take(std::size_t max, std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  /// Removes finished entries.
  void done(const std::vector<std::int64_t>& ids);
  /// Makes in-flight entries pending again (to be taken again, e.g. after a Retry).
  void release(const std::vector<std::int64_t>& ids);

  /// Blocks while the spool holds high_water entries or more (backpressure for the arrival
  /// side), up to timeout; false when it timed out still full.
  bool wait_for_room(std::chrono::milliseconds timeout);
  /// Wakes every waiter of take() and wait_for_room() (shutdown).
  void interrupt();
  /// From now on wait_for_room() returns true at once (take() is unaffected). A stopping
  /// monitor calls it before it disconnects: paho acknowledges a message whose handler refuses
  /// it (it keeps it in its own memory), so what still arrives must be stored, not refused.
  void admit_all();
  /// A small named value kept in the spool's file across restarts, committed on return (the
  /// monitor keeps there the arrival time of each broker's last message, the start of the gap
  /// to fetch from a replay service after a lost session). Throws Error(database) or Error(state).
  void set_mark(std::string_view name, std::string_view value);
  /// The value set_mark stored under `name` (in this run or an earlier one), if any.
  std::optional<std::string> mark(std::string_view name) const;
  /// Closes the file and releases the spool's lock (another monitor may open it then); stats()
  /// keeps the last figures, append/take/done throw Error(state). The destructor does it too.
  void close();

  SpoolStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wis2mon
