#include "common/sqlite.hpp"

#include "wis2mon/error.hpp"

namespace wis2mon::detail {

bool sqlite_is_transient(int rc) noexcept {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_INTERRUPT:
      return true;
    default:
      return false;
  }
}

void throw_sqlite(sqlite3* db, int rc, const std::string& what) {
  throw Error(ErrorCode::database, what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)),
              sqlite_is_transient(rc));
}

SqliteStatement::SqliteStatement(sqlite3* db, std::string_view sql) : db_(db) {
  const int rc =
      sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) throw_sqlite(db, rc, "prepare '" + std::string(sql) + "'");
}

SqliteStatement::~SqliteStatement() {
  sqlite3_finalize(stmt_);
}

SqliteStatement& SqliteStatement::bind(int index, std::string_view text) {
  const int rc = sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "bind");
  return *this;
}

SqliteStatement& SqliteStatement::bind(int index, sqlite3_int64 value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "bind");
  return *this;
}

bool SqliteStatement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(stmt_);
  throw_sqlite(db_, rc, "step");
}

void SqliteStatement::reset() noexcept {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

SqliteDatabase::SqliteDatabase(const std::filesystem::path& file, bool synchronous_full, int page_size) {
  const int rc =
      sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(ErrorCode::database, "cannot open " + file.string() + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  if (page_size > 0) exec(("PRAGMA page_size=" + std::to_string(page_size)).c_str());  // before WAL
  exec("PRAGMA journal_mode=WAL");
  // NORMAL survives a crash of the process (not of the machine); FULL also a power cut.
  exec(synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
}

SqliteDatabase::~SqliteDatabase() {
  sqlite3_close_v2(db_);
}

void SqliteDatabase::exec(const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    const std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw Error(ErrorCode::database, "'" + sql + "': " + msg, sqlite_is_transient(rc));
  }
}

bool is_sql_identifier(const std::string& name) noexcept {
  if (name.empty() || name.size() > 64) return false;
  const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(name[0])) return false;
  for (char c : name)
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  return name.rfind("sqlite_", 0) != 0;  // SQLite's own tables
}

}  // namespace wis2mon::detail
