// DeadLetterStore: records no sink would take, kept in one SQLite table for inspection/replay.
#include <mutex>

#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "common/sqlite.hpp"
#include "wis2mon/sink.hpp"

namespace wis2mon {

struct DeadLetterStore::Impl {
  explicit Impl(const std::filesystem::path& file) : db(file, true) {
    db.exec(
        "CREATE TABLE IF NOT EXISTS dead_letters ("
        " id INTEGER PRIMARY KEY, sink TEXT NOT NULL, record_table TEXT NOT NULL, record_json TEXT NOT NULL,"
        " status TEXT NOT NULL, reason TEXT NOT NULL, attempts INTEGER NOT NULL, failed_at TEXT NOT NULL,"
        " fingerprint TEXT)");
    // Files from before the fingerprint: the column is added; their rows keep NULL (distinct).
    detail::SqliteStatement has(db.handle(),
                                "SELECT count(*) FROM pragma_table_info('dead_letters') WHERE name = 'fingerprint'");
    if (has.step() && has.column_int64(0) == 0) db.exec("ALTER TABLE dead_letters ADD COLUMN fingerprint TEXT");
    db.exec("CREATE UNIQUE INDEX IF NOT EXISTS ux_dead_letters_fingerprint ON dead_letters (fingerprint)");
    // The same record failing at the same sink again (an entry processed again after a crash
    // before its removal from the spool) is one dead letter, not two.
    insert = detail::SqliteStatement(
        db.handle(),
        "INSERT INTO dead_letters (sink, record_table, record_json, status, reason, attempts, failed_at, fingerprint)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING");
  }

  // sha256 over sink, table and record (or the caller's identity of it).
  static std::string fingerprint(const std::string& sink, const std::string& table, const std::string& json) {
    std::string text = sink;
    text.append(1, '\0').append(table).append(1, '\0').append(json);
    unsigned char d[32];
    detail::compute_digest("sha256", text.data(), text.size(), d);
    return detail::hex_encode({reinterpret_cast<const char*>(d), sizeof d});
  }
  std::mutex mu;
  detail::SqliteDatabase db;
  detail::SqliteStatement insert;
};

DeadLetterStore::DeadLetterStore(const std::filesystem::path& file) : impl_(std::make_unique<Impl>(file)) {}
DeadLetterStore::~DeadLetterStore() = default;

bool DeadLetterStore::add(const std::string& sink, const Record& record, DeliveryStatus status,
                          const std::string& reason, int attempts, const std::string& identity) {
  const std::string json = record.to_json();
  const std::string key = Impl::fingerprint(sink, record.table(), identity.empty() ? json : "identity:" + identity);
  std::lock_guard lock(impl_->mu);
  auto& st = impl_->insert;
  st.reset();
  st.bind(1, sink)
      .bind(2, record.table())
      .bind(3, json)
      .bind(4, to_string(status))
      .bind(5, reason)
      .bind(6, static_cast<sqlite3_int64>(attempts))
      .bind(7, format_rfc3339(Timestamp::now(), 3))
      .bind(8, key);
  st.step();
  st.reset();
  return impl_->db.changes() > 0;
}

std::size_t DeadLetterStore::count(const std::string& sink) const {
  std::lock_guard lock(impl_->mu);
  detail::SqliteStatement st(impl_->db.handle(), "SELECT count(*) FROM dead_letters WHERE ?1 = '' OR sink = ?1");
  st.bind(1, sink);
  st.step();
  return static_cast<std::size_t>(st.column_int64(0));
}

std::vector<DeadLetterStore::Entry> DeadLetterStore::entries(std::size_t limit, const std::string& sink,
                                                             std::optional<DeliveryStatus> status) const {
  std::lock_guard lock(impl_->mu);
  detail::SqliteStatement st(impl_->db.handle(),
                             "SELECT id, sink, record_table, record_json, status, reason, attempts, failed_at"
                             " FROM dead_letters WHERE (?1 = '' OR sink = ?1) AND (?3 = '' OR status = ?3)"
                             " ORDER BY id LIMIT ?2");
  st.bind(1, sink).bind(2, static_cast<sqlite3_int64>(limit)).bind(3, status ? to_string(*status) : "");
  std::vector<Entry> out;
  while (st.step()) {
    Entry e;
    e.id = st.column_int64(0);
    e.sink = st.column_text(1);
    e.record_table = st.column_text(2);
    e.record_json = st.column_text(3);
    const auto stored_status = st.column_text(4);
    e.status = stored_status == "retry" ? DeliveryStatus::retry : DeliveryStatus::rejected;
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
