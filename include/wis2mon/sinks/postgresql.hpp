// PostgresSink: the SQLite sink's tables and keys on a PostgreSQL server (libpq), for
// several monitors sharing one database (docs/sinks.md).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "wis2mon/export.hpp"
#include "wis2mon/sink.hpp"
#include "wis2mon/sinks/sqlite.hpp"

namespace wis2mon {

struct PostgresSinkOptions {
  /// A libpq connection URI, postgresql://user:password@host:port/database?sslmode=verify-full
  /// (TLS and every other libpq parameter go in its query). In a config file `${NAME}` is the
  /// environment variable NAME, as everywhere in it; libpq's own PGPASSWORD and ~/.pgpass work
  /// as well, so no password need be written down.
  std::string url;
  /// Table specs, as the SQLite sink's (same keys, same update semantics), added to the
  /// built-in ones.
  std::map<std::string, SqliteTableSpec> tables;
  /// Rows older than this (by the table's time column) are deleted by the retention job.
  std::chrono::hours retention{0};
  std::chrono::milliseconds retention_interval{std::chrono::minutes(10)};
  /// Rows deleted per retention statement (each its own short transaction).
  std::size_t retention_step_rows = 5000;
  /// As SqliteSinkOptions::max_pubtime_skew.
  std::chrono::seconds max_pubtime_skew{600};
  /// Connecting gives up after this long (the write answers Retry).
  std::chrono::seconds connect_timeout{10};
  /// Rows per multi-row INSERT statement.
  std::size_t rows_per_statement = 500;
};

/// Writes each batch in one transaction: long runs of one table through COPY into a staging
/// table and one INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE, short ones as multi-row
/// INSERT ... ON CONFLICT statements, with the SQLite sink's rules (a newer or equal pubtime replaces; an invalid
/// copy never replaces a valid row and is answered Rejected). Tables are created from the
/// record schemas and extended with new columns (booleans BOOLEAN, integers BIGINT, reals
/// DOUBLE PRECISION, times TIMESTAMPTZ, text TEXT); the schema version is kept in
/// `wis2mon_schema`. A lost connection, a server shutting down, a serialization failure or a
/// deadlock answer Retry for the whole batch (nothing of it is committed); a record the
/// server refuses (a value of the wrong type, a constraint) is found by splitting the
/// statement and answered Rejected alone.
class WIS2MON_API PostgresSink : public Sink {
 public:
  static constexpr int schema_version = 1;

  /// Checks the options and connects; a server that cannot be reached now is not an error
  /// (writes answer Retry until it can), one written by a newer schema version is.
  PostgresSink(std::string name, PostgresSinkOptions options);
  ~PostgresSink() override;

  std::vector<Delivery> write(const std::vector<Record>& batch) override;
  void flush() override;
  SinkHealth healthcheck() override;
  void close() override;

  /// Deletes rows older than the retention age in steps; returns the number deleted.
  std::size_t apply_retention(std::chrono::hours max_age = std::chrono::hours(0));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wis2mon
