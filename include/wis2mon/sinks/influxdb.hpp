// InfluxSink: records as InfluxDB line protocol over HTTP (libcurl), to InfluxDB 1.x
// (POST /write?db=...) or 2.x (POST /api/v2/write?org=...&bucket=..., "Authorization: Token").
//
// Each record table maps to one measurement; named fields become tags, the rest fields, and a
// time field the point's timestamp (nanoseconds). One HTTP request per batch, on a kept-alive
// connection.
//
// Answers: 2xx Delivered. No answer (connection refused, timeout), 5xx, 408 and 429: Retry for
// the whole batch. 400, 413 and 422 mean some line was refused: the batch is split in halves
// and resent until the refused records are found (InfluxDB overwrites a point with the same
// series and time, so resending the good ones is harmless); those are Rejected with the
// server's message. Any other 4xx (401, 403, 404: credentials, database) Rejects the batch.
// A record that cannot be written at all (no field values, a missing time) is Rejected
// without a request.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wis2mon/export.hpp"
#include "wis2mon/sink.hpp"

namespace wis2mon {

/// How one record table is written.
struct InfluxTableSpec {
  std::string measurement;          ///< empty: the table name
  std::vector<std::string> tags;    ///< record fields written as tags (a null or empty one is left out)
  std::vector<std::string> fields;  ///< record fields written as fields; empty: every non-tag field
  std::string time_field;           ///< the point's time; empty: the server's receive time
};

/// Measurements for the library's own tables (notifications, surface_obs, cap_alerts,
/// cap_areas); a table not listed and not configured is written with every field as a field
/// and no timestamp.
WIS2MON_API std::map<std::string, InfluxTableSpec> influx_builtin_tables();

enum class InfluxApi { v1, v2 };

struct InfluxSinkOptions {
  std::string url = "http://127.0.0.1:8086";  ///< base URL of the server
  InfluxApi api = InfluxApi::v1;
  std::string database;          ///< 1.x: the database (required)
  std::string retention_policy;  ///< 1.x: optional
  std::string username;          ///< 1.x: optional, sent as HTTP basic auth
  std::string password;
  std::string org;     ///< 2.x: required
  std::string bucket;  ///< 2.x: required
  std::string token;   ///< 2.x: "Authorization: Token <token>"
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds connect_timeout{3000};
  std::string ca_file;  ///< extra CA bundle for https
  bool verify_tls = true;
  /// Per record table; merged over influx_builtin_tables() (a table here replaces the built-in).
  std::map<std::string, InfluxTableSpec> tables;
  /// When set, its non-empty parts replace those of every table's spec (what the config keys
  /// measurement, tags, fields and time_field set).
  std::optional<InfluxTableSpec> override_all;
};

/// Appends the line-protocol line (with its trailing '\n') for one record. Returns false, with
/// why in error and out unchanged, when the record cannot be written.
WIS2MON_API bool influx_line(const Record& record, const InfluxTableSpec& spec, std::string& out, std::string& error);

struct InfluxSinkStats {
  std::uint64_t requests = 0;        ///< HTTP requests sent (including halves)
  std::uint64_t points_written = 0;  ///< records answered Delivered
  std::uint64_t bytes_sent = 0;
};

class WIS2MON_API InfluxSink : public Sink {
 public:
  /// Checks the options (throws Error(invalid_argument)); does not contact the server.
  InfluxSink(std::string name, InfluxSinkOptions options);
  ~InfluxSink() override;

  std::vector<Delivery> write(const std::vector<Record>& batch) override;
  /// GET /ping: ok when the server answers 204.
  SinkHealth healthcheck() override;
  void close() override;

  InfluxSinkStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wis2mon
