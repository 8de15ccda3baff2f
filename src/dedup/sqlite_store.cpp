// SqliteDedupStore: keys in a WITHOUT ROWID table so that dedup survives restarts.
#include <mutex>

#include "common/sqlite.hpp"
#include "wis2mon/dedup.hpp"

namespace wis2mon {

struct SqliteDedupStore::Impl {
  explicit Impl(const std::filesystem::path& file) : db(file) {
    db.exec(
        "CREATE TABLE IF NOT EXISTS wis2mon_dedup ("
        " key TEXT PRIMARY KEY, value_s INTEGER NOT NULL, value_ns INTEGER NOT NULL,"
        " expires INTEGER NOT NULL) WITHOUT ROWID");
    db.exec("CREATE INDEX IF NOT EXISTS wis2mon_dedup_expires ON wis2mon_dedup(expires)");
    get = detail::SqliteStatement(db.handle(),
                                  "SELECT value_s, value_ns FROM wis2mon_dedup WHERE key = ?1 AND expires > ?2");
    put = detail::SqliteStatement(db.handle(), "INSERT OR REPLACE INTO wis2mon_dedup VALUES (?1, ?2, ?3, ?4)");
    purge = detail::SqliteStatement(db.handle(),
                                    "DELETE FROM wis2mon_dedup WHERE key IN (SELECT key FROM wis2mon_dedup"
                                    " WHERE expires <= ?1 LIMIT 1000)");
    count = detail::SqliteStatement(db.handle(), "SELECT count(*) FROM wis2mon_dedup");
  }
  std::mutex mutex;
  detail::SqliteDatabase db;
  detail::SqliteStatement get, put, purge, count;
  std::int64_t ttl = 0;
};

SqliteDedupStore::SqliteDedupStore(const std::filesystem::path& file, std::chrono::seconds ttl)
    : impl_(std::make_unique<Impl>(file)) {
  impl_->ttl = ttl.count();
}
SqliteDedupStore::~SqliteDedupStore() = default;

std::optional<Timestamp> SqliteDedupStore::get(std::string_view key, Timestamp now) {
  std::lock_guard lock(impl_->mutex);
  auto& st = impl_->get;
  st.bind(1, key).bind(2, now.seconds);
  std::optional<Timestamp> out;
  if (st.step()) out = Timestamp{st.column_int64(0), static_cast<std::int32_t>(st.column_int64(1))};
  st.reset();
  return out;
}

void SqliteDedupStore::put(std::string_view key, Timestamp value, Timestamp now) {
  std::lock_guard lock(impl_->mutex);
  auto& st = impl_->put;
  st.bind(1, key).bind(2, value.seconds).bind(3, value.nanos).bind(4, now.seconds + impl_->ttl);
  st.step();
  st.reset();
}

std::size_t SqliteDedupStore::purge_expired(Timestamp now) {
  std::size_t total = 0;
  // Small steps so that writers are never blocked for long.
  while (true) {
    std::lock_guard lock(impl_->mutex);
    auto& st = impl_->purge;
    st.bind(1, now.seconds);
    st.step();
    st.reset();
    const auto n = static_cast<std::size_t>(impl_->db.changes());
    total += n;
    if (n == 0) return total;
  }
}

std::size_t SqliteDedupStore::size() {
  std::lock_guard lock(impl_->mutex);
  auto& st = impl_->count;
  st.step();
  const auto n = static_cast<std::size_t>(st.column_int64(0));
  st.reset();
  return n;
}

}  // namespace wis2mon
