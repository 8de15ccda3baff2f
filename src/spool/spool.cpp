// Spool: a SQLite table of received messages, with in-memory bookkeeping of what is in
// flight. See wis2mon/spool.hpp.
#include "wis2mon/spool.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <string>

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

struct Spool::Impl {
  SpoolOptions options;
  std::unique_ptr<SpoolLock> lock;  // first: held before the database is touched
  std::unique_ptr<SqliteDatabase> db;
  SqliteStatement insert, select_after, select_one, remove, bump, put_mark, get_mark;
  mutable std::mutex mu;
  std::condition_variable arrived;  // take() waiters
  std::condition_variable room;     // wait_for_room() waiters
  bool interrupted = false;
  bool admit_all = false;             // no backpressure any more (a stopping monitor)
  std::int64_t cursor = 0;            // highest id handed out from the table in order
  std::deque<std::int64_t> released;  // taken, then given back: handed out first
  std::set<std::int64_t> in_flight;
  SpoolStats stats;

  // Runs fn inside one transaction; rolls back and rethrows when it throws.
  template <typename Fn>
  void in_transaction(Fn&& fn) {
    db->exec("BEGIN");
    try {
      fn();
    } catch (...) {
      sqlite3_exec(db->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    db->exec("COMMIT");
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
};

Spool::Spool(SpoolOptions options) : impl_(std::make_unique<Impl>()) {
  auto& d = *impl_;
  d.options = std::move(options);
  d.lock = std::make_unique<SpoolLock>(d.options.path);
  d.db = std::make_unique<SqliteDatabase>(d.options.path, d.options.synchronous_full);
  d.db->exec(
      "CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, "
      "topic TEXT NOT NULL, payload BLOB NOT NULL, received TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)");
  d.db->exec("CREATE TABLE IF NOT EXISTS marks (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
  auto h = d.db->handle();
  d.put_mark = SqliteStatement(
      h, "INSERT INTO marks (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value");
  d.get_mark = SqliteStatement(h, "SELECT value FROM marks WHERE name = ?");
  d.insert = SqliteStatement(h, "INSERT INTO spool (source, topic, payload, received) VALUES (?, ?, ?, ?)");
  d.select_after = SqliteStatement(
      h, "SELECT id, source, topic, payload, received, attempts FROM spool WHERE id > ? ORDER BY id LIMIT ?");
  d.select_one = SqliteStatement(h, "SELECT id, source, topic, payload, received, attempts FROM spool WHERE id = ?");
  d.remove = SqliteStatement(h, "DELETE FROM spool WHERE id = ?");
  d.bump = SqliteStatement(h, "UPDATE spool SET attempts = attempts + 1 WHERE id = ?");
  SqliteStatement count(h, "SELECT count(*) FROM spool");
  count.step();
  d.stats.stored = static_cast<std::size_t>(count.column_int64(0));
  d.stats.resumed = d.stats.stored;
}

Spool::~Spool() = default;

std::int64_t Spool::append(std::string_view source, std::string_view topic, std::string_view payload,
                           Timestamp received) {
  auto& d = *impl_;
  char when[detail::rfc3339_buffer_size];
  const auto n = detail::format_rfc3339_into(received, when);
  std::int64_t id = 0;
  {
    std::lock_guard lock(d.mu);
    d.require_open();
    d.insert.bind(1, source).bind(2, topic);
    sqlite3_bind_blob(d.insert.handle(), 3, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
    d.insert.bind(4, std::string_view(when, n));
    try {
      d.insert.step();  // autocommit: durable (per the synchronous mode) when it returns
    } catch (...) {
      d.insert.reset();
      throw;
    }
    d.insert.reset();
    id = sqlite3_last_insert_rowid(d.db->handle());
    ++d.stats.appended;
    ++d.stats.stored;
  }
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
  while (out.size() < max && !d.released.empty()) {
    const auto id = d.released.front();
    d.released.pop_front();
    d.select_one.bind(1, static_cast<sqlite3_int64>(id));
    if (d.select_one.step()) out.push_back(d.read_row(d.select_one));
    d.select_one.reset();
  }
  if (out.size() < max) {
    d.select_after.bind(1, static_cast<sqlite3_int64>(d.cursor)).bind(2, static_cast<sqlite3_int64>(max - out.size()));
    while (d.select_after.step()) out.push_back(d.read_row(d.select_after));
    d.select_after.reset();
  }
  if (out.empty()) return out;
  d.in_transaction([&] {
    for (const auto& e : out) {
      d.bump.bind(1, static_cast<sqlite3_int64>(e.id));
      d.bump.step();
      d.bump.reset();
    }
  });
  for (const auto& e : out) {
    d.in_flight.insert(e.id);
    if (e.id > d.cursor) d.cursor = e.id;
  }
  return out;
}

void Spool::done(const std::vector<std::int64_t>& ids) {
  auto& d = *impl_;
  {
    std::lock_guard lock(d.mu);
    d.require_open();
    std::size_t removed = 0;
    d.in_transaction([&] {
      for (const auto id : ids) {
        d.remove.bind(1, static_cast<sqlite3_int64>(id));
        d.remove.step();
        removed += static_cast<std::size_t>(d.db->changes());
        d.remove.reset();
      }
    });
    for (const auto id : ids) d.in_flight.erase(id);
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
    d.interrupted = true;
    for (auto* st : {&d.insert, &d.select_after, &d.select_one, &d.remove, &d.bump, &d.put_mark, &d.get_mark})
      *st = SqliteStatement();
    d.db.reset();
    d.lock.reset();  // another monitor may take the spool now
  }
  d.arrived.notify_all();
  d.room.notify_all();
}

SpoolStats Spool::stats() const {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->stats;
  s.in_flight = impl_->in_flight.size();
  return s;
}

}  // namespace wis2mon
