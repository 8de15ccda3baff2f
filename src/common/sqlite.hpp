// Thin RAII wrappers over the SQLite C API, private to the library.
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace wis2mon::detail {

class SqliteStatement {
 public:
  SqliteStatement() = default;
  SqliteStatement(sqlite3* db, std::string_view sql);
  ~SqliteStatement();
  SqliteStatement(SqliteStatement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  SqliteStatement& operator=(SqliteStatement&& o) noexcept {
    if (this != &o) {
      sqlite3_finalize(stmt_);
      db_ = o.db_;
      stmt_ = o.stmt_;
      o.stmt_ = nullptr;
    }
    return *this;
  }

  SqliteStatement& bind(int index, std::string_view text);
  SqliteStatement& bind(int index, sqlite3_int64 value);
  sqlite3_stmt* handle() const noexcept { return stmt_; }
  /// Steps once: true when a row is available, false when done. Throws Error(database).
  bool step();
  /// Resets for the next use and clears bindings.
  void reset() noexcept;
  sqlite3_int64 column_int64(int col) const noexcept { return sqlite3_column_int64(stmt_, col); }
  std::string column_text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteDatabase {
 public:
  /// Opens (creating) the file in WAL mode with a busy timeout. Throws Error(database).
  /// page_size (bytes, a power of two 512..65536) applies to a database created here.
  explicit SqliteDatabase(const std::filesystem::path& file, bool synchronous_full = false, int page_size = 0);
  ~SqliteDatabase();
  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;

  /// Runs SQL; throws Error(database), retriable when the failure is transient.
  void exec(const std::string& sql);
  sqlite3* handle() const noexcept { return db_; }
  int changes() const noexcept { return sqlite3_changes(db_); }

 private:
  sqlite3* db_ = nullptr;
};

/// Whether an SQLite result code is a passing condition (busy, locked, I/O, full disk...)
/// rather than something about the statement: trying again later may succeed.
bool sqlite_is_transient(int rc) noexcept;

/// Whether a table or column name is accepted, and so safe to quote into SQL:
/// [A-Za-z_][A-Za-z0-9_]*, at most 64 characters, not one of SQLite's own (sqlite_*).
bool is_sql_identifier(const std::string& name) noexcept;

/// Throws Error(database) with SQLite's message; transient errors are retriable.
[[noreturn]] void throw_sqlite(sqlite3* db, int rc, const std::string& what);

}  // namespace wis2mon::detail
