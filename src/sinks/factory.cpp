// The configuration tables of the built-in sinks and the engine, and make_sink().
#include <map>
#include <mutex>

#include "wis2mon/error.hpp"
#include "wis2mon/sink.hpp"
#include "wis2mon/sinks/influxdb.hpp"
#include "wis2mon/sinks/ndjson.hpp"
#include "wis2mon/sinks/sqlite.hpp"

namespace wis2mon {

namespace {

const ConfigTable& engine_table() {
  static const ConfigTable t(
      "engine",
      {
          {"queue_capacity", ConfigType::integer, "100000", "records waiting in front of the sink"},
          {"when_full",
           ConfigType::choice,
           "block",
           "queue full: block the producer, or drop and count",
           false,
           {"block", "drop"}},
          {"batch_max_records", ConfigType::integer, "1000", "records per write"},
          {"batch_max_age", ConfigType::duration, "1s",
           "a partial batch is written when its oldest record is this old"},
          {"max_retries", ConfigType::integer, "5", "retries after the first attempt; then a dead letter"},
          {"retry_initial", ConfigType::duration, "100ms", "backoff before the first retry (doubles, with jitter)"},
          {"retry_max", ConfigType::duration, "30s", "backoff cap"},
          {"dead_letters", ConfigType::string, "", "SQLite file for rejected records (empty: count only)"},
      });
  return t;
}

const ConfigTable& sqlite_table() {
  static const ConfigTable t(
      "sqlite", {
                    {"path", ConfigType::string, "", "database file", true},
                    {"synchronous",
                     ConfigType::choice,
                     "full",
                     "full survives a power cut; normal a process crash",
                     false,
                     {"full", "normal"}},
                    {"retention", ConfigType::duration, "0", "delete rows older than this (0: keep all), e.g. 30d"},
                    {"retention_interval", ConfigType::duration, "10m", "how often the retention job runs"},
                    {"retention_step_rows", ConfigType::integer, "500", "rows deleted per retention transaction"},
                });
  return t;
}

const ConfigTable& ndjson_table() {
  static const ConfigTable t(
      "ndjson",
      {
          {"root", ConfigType::string, "", "directory (prefix) the table directories live under", true},
          {"file_prefix", ConfigType::string, "wis2mon", "first part of each file name"},
          {"gzip", ConfigType::boolean, "false", "gzip each file"},
          {"rotate_bytes", ConfigType::integer, "67108864", "close a file at this many (uncompressed) bytes"},
          {"rotate_age", ConfigType::duration, "5m", "close a file this long after it was opened"},
          {"raw_copy", ConfigType::boolean, "false", "also keep the raw notifications under <root>/raw"},
          {"errors_root", ConfigType::string, "", "prefix for records of table 'errors' (default <root>/errors)"},
          {"fsync", ConfigType::boolean, "true", "fsync each batch before it counts as delivered"},
      });
  return t;
}

const ConfigTable& influxdb_table() {
  static const ConfigTable t(
      "influxdb",
      {
          {"url", ConfigType::string, "http://127.0.0.1:8086", "base URL of the InfluxDB server"},
          {"api",
           ConfigType::choice,
           "v1",
           "v1: POST /write; v2: POST /api/v2/write with a token",
           false,
           {"v1", "v2"}},
          {"database", ConfigType::string, "", "1.x database"},
          {"retention_policy", ConfigType::string, "", "1.x retention policy (empty: the default)"},
          {"username", ConfigType::string, "", "1.x user (HTTP basic auth)"},
          {"password", ConfigType::string, "", "1.x password"},
          {"org", ConfigType::string, "", "2.x organisation"},
          {"bucket", ConfigType::string, "", "2.x bucket"},
          {"token", ConfigType::string, "", "2.x API token"},
          {"timeout", ConfigType::duration, "10s", "whole request; a timeout means Retry"},
          {"ca_file", ConfigType::string, "", "extra CA bundle for https"},
          {"verify_tls", ConfigType::boolean, "true", "check the server certificate"},
          {"measurement", ConfigType::string, "", "measurement for every record table (empty: the table name)"},
          {"tags", ConfigType::list, "", "record fields written as tags (empty: the built-in choice per table)"},
          {"fields", ConfigType::list, "", "record fields written as fields (empty: every field that is not a tag)"},
          {"time_field", ConfigType::string, "", "record field that is the point's time (empty: the built-in one)"},
      });
  return t;
}

std::int64_t positive(const ConfigValues& c, const char* key, const std::string& kind) {
  const auto v = c.integer(key);
  if (v <= 0) throw Error(ErrorCode::invalid_argument, kind + "." + key + ": must be positive");
  return v;
}

std::shared_ptr<Sink> make_sqlite(const std::string& name, const ConfigValues& c) {
  SqliteSinkOptions o;
  o.path = c.text("path");
  o.synchronous_full = c.text("synchronous") != "normal";
  o.retention = std::chrono::hours(c.duration_ms("retention") / 3600000);
  o.retention_interval = std::chrono::milliseconds(c.duration_ms("retention_interval"));
  o.retention_step_rows = static_cast<std::size_t>(positive(c, "retention_step_rows", "sqlite"));
  return std::make_shared<SqliteSink>(name, std::move(o));
}

std::shared_ptr<Sink> make_ndjson(const std::string& name, const ConfigValues& c) {
  NdjsonSinkOptions o;
  o.root = c.text("root");
  o.file_prefix = c.text("file_prefix");
  o.gzip = c.boolean("gzip");
  o.rotate_bytes = static_cast<std::uint64_t>(positive(c, "rotate_bytes", "ndjson"));
  o.rotate_age = std::chrono::milliseconds(c.duration_ms("rotate_age"));
  o.raw_copy = c.boolean("raw_copy");
  o.errors_root = c.text("errors_root");
  o.fsync = c.boolean("fsync");
  return std::make_shared<NdjsonSink>(name, std::move(o));
}

std::shared_ptr<Sink> make_influxdb(const std::string& name, const ConfigValues& c) {
  InfluxSinkOptions o;
  o.url = c.text("url");
  o.api = c.text("api") == "v2" ? InfluxApi::v2 : InfluxApi::v1;
  o.database = c.text("database");
  o.retention_policy = c.text("retention_policy");
  o.username = c.text("username");
  o.password = c.text("password");
  o.org = c.text("org");
  o.bucket = c.text("bucket");
  o.token = c.text("token");
  o.timeout = std::chrono::milliseconds(c.duration_ms("timeout"));
  o.ca_file = c.text("ca_file");
  o.verify_tls = c.boolean("verify_tls");
  // The keys below override the built-in spec of every table this sink receives.
  const auto measurement = c.text("measurement");
  const auto tags = c.list("tags");
  const auto fields = c.list("fields");
  const auto time_field = c.text("time_field");
  if (!measurement.empty() || !tags.empty() || !fields.empty() || !time_field.empty()) {
    o.override_all = InfluxTableSpec{measurement, tags, fields, time_field};
  }
  return std::make_shared<InfluxSink>(name, std::move(o));
}

struct KindRegistry {
  std::mutex mu;
  // unique_ptr: find_sink_kind hands out pointers that must outlive later registrations.
  std::map<std::string, std::unique_ptr<const SinkKind>, std::less<>> kinds;
};

// The built-in kinds are added on first use, through the same path as a user's.
KindRegistry& kinds() {
  static KindRegistry* r = [] {
    auto* made = new KindRegistry;  // never destroyed: sinks may be made during exit
    for (auto* k :
         {new SinkKind{"sqlite", "SQLite database (the embedded default)", sqlite_table(), make_sqlite},
          new SinkKind{"ndjson", "NDJSON files per table, rotated, optionally gzipped", ndjson_table(), make_ndjson},
          new SinkKind{"influxdb", "InfluxDB 1.x or 2.x, line protocol over HTTP", influxdb_table(), make_influxdb}})
      made->kinds.emplace(k->name, std::unique_ptr<const SinkKind>(k));
    return made;
  }();
  return *r;
}

std::string known_kinds() {
  std::string out;
  for (const auto& n : sink_kind_names()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

void register_sink_kind(SinkKind kind) {
  if (kind.name.empty() || !kind.make)
    throw Error(ErrorCode::invalid_argument, "register_sink_kind: a kind needs a name and a factory");
  if (kind.name == "engine" || kind.name == "callback" || kind.name.rfind("callback:", 0) == 0)
    throw Error(ErrorCode::invalid_argument, "register_sink_kind: '" + kind.name + "' is reserved");
  for (const auto& key : kind.config.keys())
    if (engine_table().find(key.name))
      throw Error(ErrorCode::invalid_argument, "register_sink_kind: " + kind.name + "." + key.name +
                                                   " is an engine key (engine keys apply to every sink)");
  auto& r = kinds();
  std::lock_guard lock(r.mu);
  const std::string name = kind.name;
  if (!r.kinds.emplace(name, std::make_unique<const SinkKind>(std::move(kind))).second)
    throw Error(ErrorCode::invalid_argument, "register_sink_kind: a sink kind named '" + name + "' exists already");
}

const SinkKind* find_sink_kind(std::string_view name) {
  auto& r = kinds();
  std::lock_guard lock(r.mu);
  const auto it = r.kinds.find(name);
  return it == r.kinds.end() ? nullptr : it->second.get();
}

std::vector<std::string> sink_kind_names() {
  auto& r = kinds();
  std::lock_guard lock(r.mu);
  std::vector<std::string> out;
  for (const auto& [name, kind] : r.kinds) out.push_back(name);
  return out;
}

const ConfigTable& sink_config_table(const std::string& kind) {
  if (kind == "engine") return engine_table();
  if (const auto* k = find_sink_kind(kind)) return k->config;
  throw Error(ErrorCode::invalid_argument, "unknown sink kind '" + kind + "' (" + known_kinds() + ")");
}

std::shared_ptr<Sink> make_sink(const std::string& kind, const std::string& name, const ConfigValues& c) {
  const auto* k = find_sink_kind(kind);
  if (!k) throw Error(ErrorCode::invalid_argument, "unknown sink kind '" + kind + "' (" + known_kinds() + ")");
  return k->make(name, c);
}

void split_sink_settings(const std::map<std::string, std::string>& settings, std::map<std::string, std::string>& own,
                         std::map<std::string, std::string>& engine) {
  for (const auto& [k, v] : settings) (engine_table().find(k) ? engine : own)[k] = v;
}

SinkEngineOptions sink_engine_options(const ConfigValues& c) {
  SinkEngineOptions o;
  o.queue_capacity = static_cast<std::size_t>(positive(c, "queue_capacity", "engine"));
  o.when_full = c.text("when_full") == "drop" ? QueueFullPolicy::drop_and_count : QueueFullPolicy::block;
  o.batch_max_records = static_cast<std::size_t>(positive(c, "batch_max_records", "engine"));
  o.batch_max_age = std::chrono::milliseconds(c.duration_ms("batch_max_age"));
  const auto retries = c.integer("max_retries");
  if (retries < 0) throw Error(ErrorCode::invalid_argument, "engine.max_retries: must not be negative");
  o.max_retries = static_cast<int>(retries);
  o.retry_initial = std::chrono::milliseconds(c.duration_ms("retry_initial"));
  o.retry_max = std::chrono::milliseconds(c.duration_ms("retry_max"));
  if (const auto& dl = c.text("dead_letters"); !dl.empty()) o.dead_letters = std::make_shared<DeadLetterStore>(dl);
  return o;
}

}  // namespace wis2mon
