// Spool: received messages in an append-only journal (the arrival path) and a SQLite table
// (what waits longer), with in-memory bookkeeping of what is in flight. See wis2mon/spool.hpp.
#include "wis2mon/spool.hpp"
#include "common/thread_name.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/sqlite.hpp"
#include "common/time_text.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon {

using detail::SqliteDatabase;
using detail::SqliteStatement;

// An exclusive lock on `<spool>.lock` for the spool's lifetime: two monitors on one spool would
// take each other's entries, share a client id and keep kicking each other off the broker. flock
// goes with the process, so a killed monitor never leaves the lock behind.
class SpoolLock {
 public:
  explicit SpoolLock(const std::filesystem::path& spool) {
    if (spool.empty() || spool == ":memory:") return;
    const auto path = spool.string() + ".lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(ErrorCode::io, "spool: cannot open " + path + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      char owner[32] = {};
      const auto n = ::pread(fd_, owner, sizeof owner - 1, 0);
      ::close(fd_);
      fd_ = -1;
      throw Error(ErrorCode::state,
                  "spool " + spool.string() + " is in use by another monitor" +
                      (n > 0 ? " (process " + std::string(owner, static_cast<std::size_t>(n)) + ")" : std::string()) +
                      ": give each monitor its own spool (several monitors share the work "
                      "through a shared subscription)");
    }
    const auto pid = std::to_string(::getpid());
    if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
      // The pid is only for the message above; the lock holds without it.
    }
  }
  ~SpoolLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  SpoolLock(const SpoolLock&) = delete;
  SpoolLock& operator=(const SpoolLock&) = delete;

 private:
  int fd_ = -1;
};

// The journal: each arrival is one record appended with one writev() to the current segment
// file, `<spool>.journal-<n>`, before append() returns. That is as durable as a SQLite commit
// under synchronous=NORMAL (the bytes are in the kernel's page cache: a killed process loses
// nothing), and with synchronous_full the file is opened O_DSYNC (a power cut loses nothing),
// at a fraction of a commit's cost: the broker's acknowledgement waits for the write only.
// A flusher thread moves the entries still pending after flush_interval (1 s) into the SQLite
// table in one transaction, then deletes the segments whose entries are all done or in the
// table; entries finished before that (nearly all, when the pipelines keep up) never reach
// SQLite. On open, segments left by a killed process are read back into the table.
//
// Record: magic, body length, CRC-32 of the body (zlib), then the body: id, seconds, nanos,
// attempts, source length, topic length, source, topic, payload. A torn last record (the
// process died inside the write) fails its CRC and is dropped: its append never returned.
namespace {

constexpr std::uint32_t kMagic = 0x314A5357;  // "WSJ1"
constexpr std::size_t kHeader = 12;           // magic, body length, crc
constexpr std::size_t kBodyFixed = 32;        // id, seconds, nanos, attempts, source and topic lengths
// Arrivals waiting only in the journal beyond this many payload bytes are flushed at once,
// whatever their age (a stalled pipeline must not hold the stream in memory).
constexpr std::size_t kFlushBytes = std::size_t{16} << 20;
// Payloads of entries already in SQLite are dropped from memory beyond this, and read back
// when taken: a long backlog (a sink down for hours) costs disk, not memory.
constexpr std::size_t kMemoryBudget = std::size_t{64} << 20;

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof v];
  std::memcpy(b, &v, sizeof v);
  out.append(b, sizeof v);
}
template <typename T>
T get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::filesystem::path segment_path(const std::filesystem::path& spool, std::uint64_t n) {
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".journal-%012llu", static_cast<unsigned long long>(n));
  return spool.string() + suffix;
}

// The journal segments beside the spool, oldest first.
std::vector<std::pair<std::uint64_t, std::filesystem::path>> segments_of(const std::filesystem::path& spool) {
  std::vector<std::pair<std::uint64_t, std::filesystem::path>> out;
  const auto dir = spool.has_parent_path() ? spool.parent_path() : std::filesystem::path(".");
  const std::string prefix = spool.filename().string() + ".journal-";
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
    const auto name = f.path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const auto digits = name.substr(prefix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    out.emplace_back(std::stoull(digits), f.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

struct Spool::Impl {
  // An entry of this run not yet done: where its durable copy is.
  enum class Where { journal, flushing, table };
  struct Live {
    SpoolEntry entry;  // payload dropped (loaded false) once in the table and memory is short
    bool loaded = true;
    Where where = Where::journal;
    std::chrono::steady_clock::time_point appended = std::chrono::steady_clock::now();
  };

  SpoolOptions options;
  bool journaled = false;                // a file spool; ":memory:" keeps entries in memory only
  std::unique_ptr<SpoolLock> file_lock;  // first: held before the database is touched
  std::unique_ptr<SqliteDatabase> db;
  SqliteStatement select_after, select_one, remove, bump, put_mark, get_mark;
  mutable std::mutex mu;
  std::condition_variable arrived;  // take() waiters
  std::condition_variable room;     // wait_for_room() waiters
  bool interrupted = false;
  bool admit_all = false;         // no backpressure any more (a stopping monitor)
  std::int64_t cursor = 0;        // highest id handed out in order
  std::int64_t resumed_last = 0;  // entries up to this id came from an earlier run (in the table)
  std::int64_t next_id = 1;
  std::deque<std::int64_t> released;  // taken, then given back: handed out first
  std::set<std::int64_t> in_flight;
  std::map<std::int64_t, Live> live;
  std::size_t live_bytes = 0;     // payload bytes held in `live`
  std::size_t journal_bytes = 0;  // payload bytes of entries whose only copy is the journal
  std::vector<std::int64_t> done_while_flushing;
  SpoolStats stats;

  // The journal (under mu).
  int journal_fd = -1;
  std::uint64_t segment = 0;       // number of the current segment
  std::uint64_t segment_size = 0;  // bytes written to it
  std::int64_t segment_last = 0;   // the highest id written to it
  // Closed segments and the highest id in each: deleted once every entry up to that id is
  // done or in the table.
  std::vector<std::pair<std::uint64_t, std::int64_t>> sealed;

  // The flusher (its own connection; one writer at a time is SQLite's business).
  std::unique_ptr<SqliteDatabase> flush_db;
  SqliteStatement flush_insert, flush_mark;
  std::thread flusher;
  std::condition_variable flush_wake;
  bool stop_flusher = false;

  // Runs fn inside one transaction; rolls back and rethrows when it throws.
  template <typename Fn>
  static void in_transaction(SqliteDatabase& on, Fn&& fn) {
    on.exec("BEGIN");
    try {
      fn();
    } catch (...) {
      sqlite3_exec(on.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    on.exec("COMMIT");
  }

  // Under mu: the file is open (not close()d).
  void require_open() const {
    if (!db) throw Error(ErrorCode::state, "spool " + options.path.string() + ": closed");
  }

  SpoolEntry read_row(SqliteStatement& st) {
    SpoolEntry e;
    e.id = st.column_int64(0);
    e.source = st.column_text(1);
    e.topic = st.column_text(2);
    const auto* blob = static_cast<const char*>(sqlite3_column_blob(st.handle(), 3));
    e.payload.assign(blob ? blob : "", static_cast<std::size_t>(sqlite3_column_bytes(st.handle(), 3)));
    e.received = parse_rfc3339(st.column_text(4)).value_or(Timestamp{});
    e.attempts = static_cast<int>(st.column_int64(5));
    return e;
  }

  // ---- journal ----------------------------------------------------------------------------

  void open_segment() {
    ++segment;
    const auto path = segment_path(options.path, segment);
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC;
    if (options.synchronous_full) flags |= O_DSYNC;
    journal_fd = ::open(path.c_str(), flags, 0600);
    if (journal_fd < 0)
      throw Error(ErrorCode::io, "spool: cannot create " + path.string() + ": " + std::strerror(errno));
    segment_size = 0;
  }

  // Under mu: one record, written whole or not at all (a failed write is cut off again).
  void journal_write(const SpoolEntry& e) {
    if (journal_fd < 0) open_segment();
    std::string head;
    head.reserve(kHeader + kBodyFixed);
    put<std::uint32_t>(head, kMagic);
    put<std::uint32_t>(head,
                       static_cast<std::uint32_t>(kBodyFixed + e.source.size() + e.topic.size() + e.payload.size()));
    put<std::uint32_t>(head, 0);  // the CRC, below
    put<std::int64_t>(head, e.id);
    put<std::int64_t>(head, e.received.seconds);
    put<std::int32_t>(head, e.received.nanos);
    put<std::int32_t>(head, e.attempts);
    put<std::uint32_t>(head, static_cast<std::uint32_t>(e.source.size()));
    put<std::uint32_t>(head, static_cast<std::uint32_t>(e.topic.size()));
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(head.data() + kHeader), static_cast<uInt>(kBodyFixed));
    for (const std::string* part : {&e.source, &e.topic, &e.payload})
      crc = crc32(crc, reinterpret_cast<const Bytef*>(part->data()), static_cast<uInt>(part->size()));
    const auto c = static_cast<std::uint32_t>(crc);
    std::memcpy(head.data() + 8, &c, sizeof c);
    iovec parts[4] = {{head.data(), head.size()},
                      {const_cast<char*>(e.source.data()), e.source.size()},
                      {const_cast<char*>(e.topic.data()), e.topic.size()},
                      {const_cast<char*>(e.payload.data()), e.payload.size()}};
    const std::size_t total = head.size() + e.source.size() + e.topic.size() + e.payload.size();
    const auto n = ::writev(journal_fd, parts, 4);
    if (n == static_cast<ssize_t>(total)) {
      segment_size += total;
      segment_last = e.id;
      return;
    }
    const std::string why = n < 0 ? std::strerror(errno) : "short write (disk full?)";
    // Cut a partial record off, so the records after it stay readable; failing that, later
    // records go to a new segment.
    if (n > 0 && ::ftruncate(journal_fd, static_cast<off_t>(segment_size)) != 0) {
      seal();
    }
    throw Error(ErrorCode::io, "spool: cannot write the journal: " + why, true);
  }

  // Reads a segment's whole records into the table (ids already there are kept as they are).
  // Returns the entries read; a torn or damaged tail is left out.
  std::size_t recover_segment(const std::filesystem::path& path, SqliteStatement& insert) {
    std::string data;
    {
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw Error(ErrorCode::io, "spool: cannot read " + path.string() + ": " + std::strerror(errno));
      char buf[65536];
      for (;;) {
        const auto n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        data.append(buf, static_cast<std::size_t>(n));
      }
      ::close(fd);
    }
    std::size_t at = 0, count = 0;
    while (data.size() - at >= kHeader + kBodyFixed) {
      const char* p = data.data() + at;
      const auto body = get<std::uint32_t>(p + 4);
      if (get<std::uint32_t>(p) != kMagic || body < kBodyFixed || body > data.size() - at - kHeader) break;
      const char* b = p + kHeader;
      if (static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(b), body)) !=
          get<std::uint32_t>(p + 8))
        break;
      const auto source_len = get<std::uint32_t>(b + 24), topic_len = get<std::uint32_t>(b + 28);
      if (std::uint64_t{source_len} + topic_len > body - kBodyFixed) break;
      const Timestamp received{get<std::int64_t>(b + 8), get<std::int32_t>(b + 16)};
      char when[detail::rfc3339_buffer_size];
      const auto when_len = detail::format_rfc3339_into(received, when);
      const char* text = b + kBodyFixed;
      insert.bind(1, static_cast<sqlite3_int64>(get<std::int64_t>(b)))
          .bind(2, std::string_view(text, source_len))
          .bind(3, std::string_view(text + source_len, topic_len));
      sqlite3_bind_blob(insert.handle(), 4, text + source_len + topic_len,
                        static_cast<int>(body - kBodyFixed - source_len - topic_len), SQLITE_STATIC);
      insert.bind(5, std::string_view(when, when_len)).bind(6, static_cast<sqlite3_int64>(get<std::int32_t>(b + 20)));
      insert.step();
      insert.reset();
      next_id = std::max(next_id, static_cast<std::int64_t>(get<std::int64_t>(b)) + 1);
      ++count;
      at += kHeader + body;
    }
    return count;
  }

  // ---- flushing: pending journal entries into the table ------------------------------------

  // Under mu: closes the current segment (the next record starts a new one).
  void seal() {
    if (journal_fd < 0) return;
    ::close(journal_fd);
    journal_fd = -1;
    if (segment_size > 0)
      sealed.emplace_back(segment, segment_last);
    else
      ::unlink(segment_path(options.path, segment).c_str());
  }

  // One round: entries waiting only in the journal for flush_interval or longer (all of them
  // when `everything`, or when they hold too much memory) go into the table in one
  // transaction; then the closed segments whose every entry is done or in the table are
  // deleted. False when the table refused (a full disk): the journal keeps them meanwhile.
  bool flush_once(bool everything) {
    std::vector<SpoolEntry> batch;
    std::int64_t next = 0;
    {
      std::lock_guard guard(mu);
      if (!db) return true;
      const auto cutoff = std::chrono::steady_clock::now() - options.flush_interval;
      const bool all = everything || journal_bytes > kFlushBytes;
      for (auto& [id, l] : live)
        if (l.where == Where::journal && (all || l.appended <= cutoff)) {
          l.where = Where::flushing;
          journal_bytes -= l.entry.payload.size();
          batch.push_back(l.entry);
        }
      seal();
      next = next_id;
      if (batch.empty() && sealed.empty()) return true;
    }
    std::string error;
    try {
      in_transaction(*flush_db, [&] {
        char when[detail::rfc3339_buffer_size];
        for (const auto& e : batch) {
          const auto n = detail::format_rfc3339_into(e.received, when);
          flush_insert.bind(1, static_cast<sqlite3_int64>(e.id)).bind(2, e.source).bind(3, e.topic);
          sqlite3_bind_blob(flush_insert.handle(), 4, e.payload.data(), static_cast<int>(e.payload.size()),
                            SQLITE_STATIC);
          flush_insert.bind(5, std::string_view(when, n)).bind(6, static_cast<sqlite3_int64>(e.attempts));
          flush_insert.step();
          flush_insert.reset();
        }
        // Ids of entries that never reach the table are used all the same: never reused.
        flush_mark.bind(1, "next_id").bind(2, std::to_string(next));
        flush_mark.step();
        flush_mark.reset();
      });
    } catch (const std::exception& ex) {
      error = ex.what();
    }
    std::vector<std::uint64_t> deletable;
    {
      std::lock_guard guard(mu);
      for (const auto& e : batch) {
        const auto it = live.find(e.id);
        if (it == live.end() || it->second.where != Where::flushing) continue;
        it->second.where = error.empty() ? Where::table : Where::journal;
        if (!error.empty()) journal_bytes += it->second.entry.payload.size();
      }
      std::vector<std::int64_t> to_delete;
      to_delete.swap(done_while_flushing);
      if (error.empty()) {
        stats.flush_error.clear();
        // The oldest entry whose only copy is still the journal bounds what can go.
        std::int64_t unsecured = std::numeric_limits<std::int64_t>::max();
        for (const auto& [id, l] : live)
          if (l.where != Where::table) {
            unsecured = id;
            break;
          }
        while (!sealed.empty() && sealed.front().second < unsecured) {
          deletable.push_back(sealed.front().first);
          sealed.erase(sealed.begin());
        }
        if (!to_delete.empty() && db) {
          try {
            in_transaction(*db, [&] {
              for (const auto id : to_delete) {
                remove.bind(1, static_cast<sqlite3_int64>(id));
                remove.step();
                remove.reset();
              }
            });
          } catch (const std::exception&) {
            // Left in the table: pending again in the next run, where dedup makes it harmless.
          }
        }
      } else {
        stats.flush_error = error;  // done meanwhile: nothing of them reached the table
      }
      evict();
    }
    for (const auto n : deletable) ::unlink(segment_path(options.path, n).c_str());
    return error.empty();
  }

  // Under mu: drop payloads of entries safe in the table, newest first, down to the budget.
  void evict() {
    for (auto it = live.rbegin(); it != live.rend() && live_bytes > kMemoryBudget; ++it) {
      auto& l = it->second;
      if (l.where != Where::table || !l.loaded) continue;
      live_bytes -= l.entry.payload.size();
      std::string().swap(l.entry.payload);
      l.loaded = false;
    }
  }

  void flush_loop() {
    std::unique_lock lock(mu);
    while (!stop_flusher) {
      flush_wake.wait_for(lock, options.flush_interval, [this] { return stop_flusher || journal_bytes > kFlushBytes; });
      if (stop_flusher) break;
      lock.unlock();
      const bool ok = flush_once(false);
      lock.lock();
      // A failing table (a full disk): wait a little before trying again.
      if (!ok) flush_wake.wait_for(lock, std::chrono::seconds(1), [this] { return stop_flusher; });
    }
  }
};

Spool::Spool(SpoolOptions options) : impl_(std::make_unique<Impl>()) {
  auto& d = *impl_;
  d.options = std::move(options);
  d.journaled = !(d.options.path.empty() || d.options.path == ":memory:");
  d.file_lock = std::make_unique<SpoolLock>(d.options.path);
  d.db = std::make_unique<SqliteDatabase>(d.options.path, d.options.synchronous_full);
  d.db->exec(
      "CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, "
      "topic TEXT NOT NULL, payload BLOB NOT NULL, received TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)");
  d.db->exec("CREATE TABLE IF NOT EXISTS marks (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
  auto h = d.db->handle();
  const char* insert_with_id =
      "INSERT OR IGNORE INTO spool (id, source, topic, payload, received, attempts) VALUES (?, ?, ?, ?, ?, ?)";
  const char* set_mark =
      "INSERT INTO marks (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value";
  d.put_mark = SqliteStatement(h, set_mark);
  d.get_mark = SqliteStatement(h, "SELECT value FROM marks WHERE name = ?");
  d.select_after = SqliteStatement(h,
                                   "SELECT id, source, topic, payload, received, attempts FROM spool"
                                   " WHERE id > ? AND id <= ? ORDER BY id LIMIT ?");
  d.select_one = SqliteStatement(h, "SELECT id, source, topic, payload, received, attempts FROM spool WHERE id = ?");
  d.remove = SqliteStatement(h, "DELETE FROM spool WHERE id = ?");
  d.bump = SqliteStatement(h, "UPDATE spool SET attempts = attempts + 1 WHERE id = ?");
  if (d.journaled) {
    // What a killed process left in its journal goes into the table first.
    const auto segments = segments_of(d.options.path);
    if (!segments.empty()) {
      SqliteStatement insert(h, insert_with_id);
      Impl::in_transaction(*d.db, [&] {
        for (const auto& [n, path] : segments) d.recover_segment(path, insert);
      });
      for (const auto& [n, path] : segments) ::unlink(path.c_str());
      d.segment = segments.back().first;
    }
  }
  // Ids are never reused: past the table's highest, AUTOINCREMENT's, and the flusher's mark
  // (entries finished before they reached the table took ids too).
  SqliteStatement q(h,
                    "SELECT (SELECT count(*) FROM spool), (SELECT coalesce(max(id), 0) FROM spool),"
                    " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'spool'), 0),"
                    " coalesce((SELECT CAST(value AS INTEGER) FROM marks WHERE name = 'next_id'), 1)");
  q.step();
  d.stats.stored = static_cast<std::size_t>(q.column_int64(0));
  d.stats.resumed = d.stats.stored;
  d.resumed_last = q.column_int64(1);
  d.next_id = std::max({d.next_id, d.resumed_last + 1, static_cast<std::int64_t>(q.column_int64(2)) + 1,
                        static_cast<std::int64_t>(q.column_int64(3))});
  if (d.journaled) {
    d.flush_db = std::make_unique<SqliteDatabase>(d.options.path, d.options.synchronous_full);
    d.flush_insert = SqliteStatement(d.flush_db->handle(), insert_with_id);
    d.flush_mark = SqliteStatement(d.flush_db->handle(), set_mark);
    d.flusher = std::thread([&d] {
      detail::name_this_thread("wis2mon-spool");
      d.flush_loop();
    });
  }
}

Spool::~Spool() {
  try {
    close();
  } catch (...) {
    // Destructors do not throw; the journal keeps what the table did not get.
  }
}

std::int64_t Spool::append(std::string_view source, std::string_view topic, std::string_view payload,
                           Timestamp received) {
  auto& d = *impl_;
  Impl::Live l;
  l.entry.source.assign(source);
  l.entry.topic.assign(topic);
  l.entry.payload.assign(payload);
  l.entry.received = received;
  std::int64_t id = 0;
  bool flush_now = false;
  {
    std::lock_guard lock(d.mu);
    d.require_open();
    id = l.entry.id = d.next_id;
    if (d.journaled) d.journal_write(l.entry);  // durable (per the synchronous mode) when it returns
    ++d.next_id;
    d.live_bytes += payload.size();
    d.live.emplace(id, std::move(l));
    ++d.stats.appended;
    ++d.stats.stored;
    if (d.journaled) {
      d.journal_bytes += payload.size();
      flush_now = d.journal_bytes > kFlushBytes;
    }
  }
  if (flush_now) d.flush_wake.notify_one();
  d.arrived.notify_one();
  return id;
}

std::vector<SpoolEntry> Spool::take(std::size_t max, std::chrono::milliseconds wait) {
  auto& d = *impl_;
  std::unique_lock lock(d.mu);
  const auto pending = [&] { return d.stats.stored > d.in_flight.size(); };
  if (!pending() && wait.count() > 0) d.arrived.wait_for(lock, wait, [&] { return pending() || d.interrupted; });
  d.require_open();
  std::vector<SpoolEntry> out;
  std::vector<std::int64_t> in_table;  // their attempts are counted in the table
  const auto from_table = [&](std::int64_t id) {
    d.select_one.bind(1, static_cast<sqlite3_int64>(id));
    const bool found = d.select_one.step();
    if (found) out.push_back(d.read_row(d.select_one));
    d.select_one.reset();
    return found;
  };
  // An entry of this run: from memory, or its payload read back from the table.
  const auto from_live = [&](Impl::Live& l) {
    if (l.loaded) {
      out.push_back(l.entry);
    } else {
      if (!from_table(l.entry.id)) return;
      out.back().attempts = l.entry.attempts;
    }
    ++l.entry.attempts;
    if (l.where == Impl::Where::table) in_table.push_back(l.entry.id);
  };
  while (out.size() < max && !d.released.empty()) {
    const auto id = d.released.front();
    d.released.pop_front();
    if (const auto it = d.live.find(id); it != d.live.end())
      from_live(it->second);
    else if (from_table(id))
      in_table.push_back(id);
  }
  // In arrival order: an earlier run's entries (in the table), then this run's.
  if (out.size() < max && d.cursor < d.resumed_last) {
    d.select_after.bind(1, static_cast<sqlite3_int64>(d.cursor))
        .bind(2, static_cast<sqlite3_int64>(d.resumed_last))
        .bind(3, static_cast<sqlite3_int64>(max - out.size()));
    std::size_t rows = 0;
    while (d.select_after.step()) {
      out.push_back(d.read_row(d.select_after));
      in_table.push_back(out.back().id);
      ++rows;
    }
    d.select_after.reset();
    if (out.size() < max) d.cursor = std::max(d.cursor, d.resumed_last);  // none left there
    if (rows > 0) d.cursor = std::max(d.cursor, out.back().id);
  }
  if (d.cursor >= d.resumed_last)
    for (auto it = d.live.upper_bound(d.cursor); out.size() < max && it != d.live.end(); ++it) {
      from_live(it->second);
      d.cursor = it->first;
    }
  if (!in_table.empty())
    Impl::in_transaction(*d.db, [&] {
      for (const auto id : in_table) {
        d.bump.bind(1, static_cast<sqlite3_int64>(id));
        d.bump.step();
        d.bump.reset();
      }
    });
  for (const auto& e : out) d.in_flight.insert(e.id);
  return out;
}

void Spool::done(const std::vector<std::int64_t>& ids) {
  auto& d = *impl_;
  {
    std::lock_guard lock(d.mu);
    d.require_open();
    // The table first: when it fails (a full disk) nothing has changed, and the caller tries again.
    std::vector<std::int64_t> in_table;
    for (const auto id : ids) {
      const auto it = d.live.find(id);
      if (it == d.live.end() || it->second.where == Impl::Where::table) in_table.push_back(id);
    }
    std::size_t removed = 0;
    if (!in_table.empty())
      Impl::in_transaction(*d.db, [&] {
        for (const auto id : in_table) {
          d.remove.bind(1, static_cast<sqlite3_int64>(id));
          d.remove.step();
          if (!d.live.count(id)) removed += static_cast<std::size_t>(d.db->changes());
          d.remove.reset();
        }
      });
    for (const auto id : ids) {
      d.in_flight.erase(id);
      const auto it = d.live.find(id);
      if (it == d.live.end()) continue;
      if (it->second.where == Impl::Where::journal) d.journal_bytes -= it->second.entry.payload.size();
      if (it->second.where == Impl::Where::flushing) d.done_while_flushing.push_back(id);
      if (it->second.loaded) d.live_bytes -= it->second.entry.payload.size();
      d.live.erase(it);
      ++removed;
    }
    d.stats.stored -= removed;
    d.stats.done += removed;
  }
  d.room.notify_all();
}

void Spool::release(const std::vector<std::int64_t>& ids) {
  auto& d = *impl_;
  {
    std::lock_guard lock(d.mu);
    for (const auto id : ids)
      if (d.in_flight.erase(id)) d.released.push_back(id);
  }
  d.arrived.notify_all();
}

bool Spool::wait_for_room(std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  std::unique_lock lock(d.mu);
  const auto has_room = [&] { return d.stats.stored < d.options.high_water || d.interrupted || d.admit_all; };
  if (has_room()) return true;
  ++d.stats.waits;
  return d.room.wait_for(lock, timeout, has_room);
}

void Spool::admit_all() {
  auto& d = *impl_;
  {
    std::lock_guard lock(d.mu);
    d.admit_all = true;
  }
  d.room.notify_all();
}

void Spool::interrupt() {
  auto& d = *impl_;
  {
    std::lock_guard lock(d.mu);
    d.interrupted = true;
  }
  d.arrived.notify_all();
  d.room.notify_all();
}

void Spool::set_mark(std::string_view name, std::string_view value) {
  auto& d = *impl_;
  std::lock_guard lock(d.mu);
  d.require_open();
  d.put_mark.reset();
  d.put_mark.bind(1, name).bind(2, value);
  d.put_mark.step();
  d.put_mark.reset();
}

std::optional<std::string> Spool::mark(std::string_view name) const {
  auto& d = *impl_;
  std::lock_guard lock(d.mu);
  d.require_open();
  d.get_mark.reset();
  d.get_mark.bind(1, name);
  std::optional<std::string> value;
  if (d.get_mark.step()) value = d.get_mark.column_text(0);
  d.get_mark.reset();
  return value;
}

void Spool::close() {
  auto& d = *impl_;
  {
    std::lock_guard lock(d.mu);
    if (!d.db) return;
    d.stop_flusher = true;
    d.interrupted = true;
  }
  d.flush_wake.notify_all();
  d.arrived.notify_all();
  d.room.notify_all();
  if (d.flusher.joinable()) d.flusher.join();
  // What is still pending goes into the table now; if that fails, the journal keeps it for
  // the next open.
  if (d.journaled) d.flush_once(true);
  {
    std::lock_guard lock(d.mu);
    for (auto* st :
         {&d.select_after, &d.select_one, &d.remove, &d.bump, &d.put_mark, &d.get_mark, &d.flush_insert, &d.flush_mark})
      *st = SqliteStatement();
    if (d.journal_fd >= 0) ::close(d.journal_fd);
    d.journal_fd = -1;
    d.flush_db.reset();
    d.db.reset();
    d.live.clear();
    d.file_lock.reset();  // another monitor may take the spool now
  }
}

SpoolStats Spool::stats() const {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->stats;
  s.in_flight = impl_->in_flight.size();
  return s;
}

}  // namespace wis2mon
