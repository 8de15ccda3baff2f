// DeadLetterStore: records no sink would take, kept in one SQLite table for inspection/replay.
#include <mutex>

#include "common/sqlite.hpp"
#include "wis2mon/sink.hpp"

namespace wis2mon {

struct DeadLetterStore::Impl {
  explicit Impl(const std::filesystem::path& file) : db(file, true) {
    db.exec(
        "CREATE TABLE IF NOT EXISTS dead_letters ("
        " id INTEGER PRIMARY KEY, sink TEXT NOT NULL, record_table TEXT NOT NULL, record_json TEXT NOT NULL,"
        " status TEXT NOT NULL, reason TEXT NOT NULL, attempts INTEGER NOT NULL, failed_at TEXT NOT NULL)");
    insert = detail::SqliteStatement(
        db.handle(),
        "INSERT INTO dead_letters (sink, record_table, record_json, status, reason, attempts, failed_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)");
  }
  std::mutex mu;
  detail::SqliteDatabase db;
  detail::SqliteStatement insert;
};

DeadLetterStore::DeadLetterStore(const std::filesystem::path& file) : impl_(std::make_unique<Impl>(file)) {}
DeadLetterStore::~DeadLetterStore() = default;

void DeadLetterStore::add(const std::string& sink, const Record& record, DeliveryStatus status,
                          const std::string& reason, int attempts) {
  std::lock_guard lock(impl_->mu);
  auto& st = impl_->insert;
  st.reset();
  st.bind(1, sink)
      .bind(2, record.table())
      .bind(3, record.to_json())
      .bind(4, to_string(status))
      .bind(5, reason)
      .bind(6, static_cast<sqlite3_int64>(attempts))
      .bind(7, format_rfc3339(Timestamp::now(), 3));
  st.step();
  st.reset();
}

std::size_t DeadLetterStore::count() const {
  std::lock_guard lock(impl_->mu);
  detail::SqliteStatement st(impl_->db.handle(), "SELECT count(*) FROM dead_letters");
  st.step();
  return static_cast<std::size_t>(st.column_int64(0));
}

std::vector<DeadLetterStore::Entry> DeadLetterStore::entries(std::size_t limit, const std::string& sink) const {
  std::lock_guard lock(impl_->mu);
  detail::SqliteStatement st(impl_->db.handle(),
                             "SELECT id, sink, record_table, record_json, status, reason, attempts, failed_at"
                             " FROM dead_letters WHERE ?1 = '' OR sink = ?1 ORDER BY id LIMIT ?2");
  st.bind(1, sink).bind(2, static_cast<sqlite3_int64>(limit));
  std::vector<Entry> out;
  while (st.step()) {
    Entry e;
    e.id = st.column_int64(0);
    e.sink = st.column_text(1);
    e.record_table = st.column_text(2);
    e.record_json = st.column_text(3);
    const auto status = st.column_text(4);
    e.status = status == "retry" ? DeliveryStatus::retry : DeliveryStatus::rejected;
    e.reason = st.column_text(5);
    e.attempts = static_cast<int>(st.column_int64(6));
    e.failed_at = st.column_text(7);
    out.push_back(std::move(e));
  }
  return out;
}

std::size_t DeadLetterStore::remove(const std::vector<std::int64_t>& ids) {
  std::lock_guard lock(impl_->mu);
  std::size_t n = 0;
  impl_->db.exec("BEGIN");
  try {
    detail::SqliteStatement st(impl_->db.handle(), "DELETE FROM dead_letters WHERE id = ?");
    for (auto id : ids) {
      st.reset();
      st.bind(1, static_cast<sqlite3_int64>(id));
      st.step();
      n += static_cast<std::size_t>(impl_->db.changes());
    }
    impl_->db.exec("COMMIT");
  } catch (...) {
    impl_->db.exec("ROLLBACK");
    throw;
  }
  return n;
}

std::size_t DeadLetterStore::purge(const std::string& sink) {
  std::lock_guard lock(impl_->mu);
  detail::SqliteStatement st(impl_->db.handle(), "DELETE FROM dead_letters WHERE ?1 = '' OR sink = ?1");
  st.bind(1, sink);
  st.step();
  return static_cast<std::size_t>(impl_->db.changes());
}

}  // namespace wis2mon
