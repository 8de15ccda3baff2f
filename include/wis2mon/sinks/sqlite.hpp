// SqliteSink: the embedded default sink. One database file, one table per record table.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "wis2mon/export.hpp"
#include "wis2mon/sink.hpp"

namespace wis2mon {

/// How rows of one table are identified and aged.
struct SqliteTableSpec {
  /// Columns that identify a row (a UNIQUE index). A record with the same key replaces the
  /// stored row, unless the table has a `pubtime` column and the stored row's is newer.
  std::vector<std::string> key;
  /// Extra indexes, each a list of columns.
  std::vector<std::vector<std::string>> indexes;
  /// RFC 3339 time column the retention job ages rows by ("" = never deleted).
  std::string time_column;
  /// Boolean column: a row where it is 0 never replaces a stored row where it is 1; such a
  /// record is answered Rejected (it goes to the dead letters) instead of being dropped.
  std::string valid_column;
};

struct SqliteSinkOptions {
  std::filesystem::path path;  ///< the database file (created when missing)
  /// FULL also survives a power cut (fsync per batch); NORMAL survives a process crash only.
  bool synchronous_full = true;
  /// Page size of a database created by the sink (an existing file keeps its own). Batches
  /// of observations touch index pages all over the station index; 16 KB pages cut the
  /// write calls per commit by four (measured: ~140k -> ~215k rows/s vs 4 KB pages).
  std::size_t page_size = 16384;
  /// How long a write waits for another connection's lock before answering Retry.
  std::chrono::milliseconds busy_timeout{5000};
  /// Table specs, added to (and overriding) sqlite_builtin_tables(). Another table takes its
  /// spec from the hints of the first record's schema (no hints: no key, never aged out).
  std::map<std::string, SqliteTableSpec> tables;
  /// Rows older than this (by the table's time column) are deleted by the retention job;
  /// 0 = keep everything.
  std::chrono::hours retention{0};
  /// How often the sink's background thread runs the retention job (0 = never; call
  /// apply_retention() yourself).
  std::chrono::milliseconds retention_interval{std::chrono::minutes(10)};
  /// Rows deleted per retention transaction (small steps keep writers moving).
  std::size_t retention_step_rows = 500;
  /// A stored pubtime further ahead of the current time than this (a publisher's clock in
  /// 2099) is replaced by any later copy instead of keeping out every update (0: never).
  std::chrono::seconds max_pubtime_skew{600};
};

/// The table specs of the library's known record schemas (known_record_schemas(): the
/// notifications and every registered decoder's tables), from their hints.
WIS2MON_API std::map<std::string, SqliteTableSpec> sqlite_builtin_tables();

/// Writes each batch in one transaction with prepared statements; Delivered after COMMIT.
/// Tables are created from the record schema; new fields add columns (ALTER TABLE). A
/// table/field name that is not an identifier ([A-Za-z_][A-Za-z0-9_]*, at most 64
/// characters) makes that record Rejected. Busy or I/O failures answer Retry.
class WIS2MON_API SqliteSink : public Sink {
 public:
  /// The schema version this library writes into `wis2mon_schema`.
  static constexpr int schema_version = 1;

  /// Opens or creates the database; throws Error(database) when it cannot, or when it was
  /// written by a newer schema version.
  SqliteSink(std::string name, SqliteSinkOptions options);
  ~SqliteSink() override;

  std::vector<Delivery> write(const std::vector<Record>& batch) override;
  void flush() override;
  SinkHealth healthcheck() override;
  void close() override;

  /// Deletes rows older than the retention age (options.retention, or `max_age` when given)
  /// in steps of retention_step_rows, each its own short transaction on a separate
  /// connection. Returns the number of rows deleted.
  std::size_t apply_retention(std::chrono::hours max_age = std::chrono::hours(0));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Whether a table or column name is accepted (and safe to quote into SQL).
WIS2MON_API bool is_sql_identifier(const std::string& name) noexcept;

}  // namespace wis2mon
