// The configuration tables of the built-in sinks and the engine, and make_sink().
#include <map>
#include <mutex>

#include "wis2mon/error.hpp"
#include "wis2mon/object_store.hpp"
#include "wis2mon/sink.hpp"
#include "wis2mon/sinks/influxdb.hpp"
#include "wis2mon/sinks/mqtt.hpp"
#include "wis2mon/sinks/ndjson.hpp"
#include "wis2mon/sinks/postgresql.hpp"
#include "wis2mon/sinks/sqlite.hpp"

namespace wis2mon {

namespace {

// Each table is bound to the options struct it fills: defaults are the struct's own.

const ConfigBinding<SinkEngineOptions>& engine_binding() {
  static const auto b = ConfigBinding<SinkEngineOptions>("engine")
                            .add("queue_capacity", &SinkEngineOptions::queue_capacity,
                                 "records waiting in front of the sink", ConfigLimits::at_least(1))
                            .choice("when_full", &SinkEngineOptions::when_full,
                                    {{"block", QueueFullPolicy::block}, {"drop", QueueFullPolicy::drop_and_count}},
                                    "queue full: block the producer, or drop and count")
                            .add("batch_max_records", &SinkEngineOptions::batch_max_records, "records per write",
                                 ConfigLimits::at_least(1))
                            .add("batch_max_age", &SinkEngineOptions::batch_max_age,
                                 "a partial batch is written when its oldest record is this old")
                            .add("max_retries", &SinkEngineOptions::max_retries,
                                 "retries after the first attempt; then a dead letter", ConfigLimits::at_least(0))
                            .add("retry_initial", &SinkEngineOptions::retry_initial,
                                 "backoff before the first retry (doubles, with jitter)")
                            .add("retry_max", &SinkEngineOptions::retry_max, "backoff cap")
                            .add("dead_letters", &SinkEngineOptions::dead_letter_file,
                                 "SQLite file for this sink's rejected records (empty: the monitor's dead letters)");
  return b;
}

const ConfigTable& engine_table() {
  return engine_binding().table();
}

const ConfigBinding<SqliteSinkOptions>& sqlite_binding() {
  static const auto b =
      ConfigBinding<SqliteSinkOptions>("sqlite")
          .add("path", &SqliteSinkOptions::path, "database file", ConfigLimits::needed())
          .choice("synchronous", &SqliteSinkOptions::synchronous_full, {{"full", true}, {"normal", false}},
                  "full survives a power cut; normal a process crash")
          .add("retention", &SqliteSinkOptions::retention, "delete rows older than this (0: keep all), e.g. 30d")
          .add("retention_interval", &SqliteSinkOptions::retention_interval, "how often the retention job runs")
          .add("retention_step_rows", &SqliteSinkOptions::retention_step_rows, "rows deleted per retention transaction",
               ConfigLimits::at_least(1))
          .add("max_pubtime_skew", &SqliteSinkOptions::max_pubtime_skew,
               "a stored pubtime further ahead of now than this gives way to any later copy (0: never)");
  return b;
}

const ConfigBinding<PostgresSinkOptions>& postgresql_binding() {
  static const auto b =
      ConfigBinding<PostgresSinkOptions>("postgresql")
          .add("url", &PostgresSinkOptions::url,
               "postgresql://user:password@host:port/database[?sslmode=...] (libpq connection URI)",
               ConfigLimits::needed())
          .add("retention", &PostgresSinkOptions::retention, "delete rows older than this (0: keep all), e.g. 30d")
          .add("retention_interval", &PostgresSinkOptions::retention_interval, "how often the retention job runs")
          .add("retention_step_rows", &PostgresSinkOptions::retention_step_rows, "rows deleted per retention statement",
               ConfigLimits::at_least(1))
          .add("max_pubtime_skew", &PostgresSinkOptions::max_pubtime_skew,
               "a stored pubtime further ahead of now than this gives way to any later copy (0: never)")
          .add("connect_timeout", &PostgresSinkOptions::connect_timeout, "give up connecting after this long")
          .add("rows_per_statement", &PostgresSinkOptions::rows_per_statement, "rows per multi-row INSERT",
               ConfigLimits::at_least(1));
  return b;
}

const ConfigBinding<NdjsonSinkOptions>& ndjson_binding() {
  static const auto b =
      ConfigBinding<NdjsonSinkOptions>("ndjson")
          .add("root", &NdjsonSinkOptions::root,
               "directory the table directories live under (with url: the local staging folder, default "
               "wis2mon-staging/<name>)")
          .add("file_prefix", &NdjsonSinkOptions::file_prefix, "first part of each file name")
          .add("gzip", &NdjsonSinkOptions::gzip, "gzip each file")
          .add("rotate_bytes", &NdjsonSinkOptions::rotate_bytes, "close a file at this many (uncompressed) bytes",
               ConfigLimits::at_least(1))
          .add("rotate_age", &NdjsonSinkOptions::rotate_age, "close a file this long after it was opened")
          .add("raw_copy", &NdjsonSinkOptions::raw_copy, "also keep the raw notifications under <root>/raw")
          .add("errors_root", &NdjsonSinkOptions::errors_root,
               "prefix for records of table 'errors' (default <root>/errors)")
          .add("fsync", &NdjsonSinkOptions::fsync, "fsync each batch before it counts as delivered")
          .add("url", &NdjsonSinkOptions::url, "s3://bucket/prefix: upload each closed file there (object storage)")
          .add("endpoint", &NdjsonSinkOptions::endpoint,
               "S3-compatible server for url, e.g. http://127.0.0.1:9000 (default: AWS)")
          .add("region", &NdjsonSinkOptions::region, "AWS region for url (default: AWS_REGION, the AWS config)")
          .add("multipart_threshold", &NdjsonSinkOptions::multipart_threshold, "files larger than this go up in parts",
               ConfigLimits::at_least(5 * 1024 * 1024))
          .add("part_bytes", &NdjsonSinkOptions::part_bytes, "size of each part of a multipart upload",
               ConfigLimits::at_least(5 * 1024 * 1024))
          .add("upload_drain", &NdjsonSinkOptions::upload_drain,
               "at close, wait this long for uploads; the rest go at the next start");
  return b;
}

// The override keys of an InfluxDB sink fill override_all, which stays unset while all are empty.
ConfigBinding<InfluxSinkOptions>& add_influx_override(ConfigBinding<InfluxSinkOptions>& b, const char* name,
                                                      std::string InfluxTableSpec::*text, const char* description) {
  return b.bind(
      ConfigKey(name, ConfigType::string, "", description),
      [text](const InfluxSinkOptions& o) { return o.override_all ? (*o.override_all).*text : std::string(); },
      [text](InfluxSinkOptions& o, const std::string& s) {
        if (s.empty()) return;
        if (!o.override_all) o.override_all.emplace();
        (*o.override_all).*text = s;
      });
}

ConfigBinding<InfluxSinkOptions>& add_influx_override(ConfigBinding<InfluxSinkOptions>& b, const char* name,
                                                      std::vector<std::string> InfluxTableSpec::*list,
                                                      const char* description) {
  return b.bind(
      ConfigKey(name, ConfigType::list, "", description),
      [list](const InfluxSinkOptions& o) {
        return o.override_all ? detail::config_list_text((*o.override_all).*list) : std::string();
      },
      [list](InfluxSinkOptions& o, const std::string& s) {
        auto items = detail::config_list(s);
        if (items.empty()) return;
        if (!o.override_all) o.override_all.emplace();
        (*o.override_all).*list = std::move(items);
      });
}

const ConfigBinding<InfluxSinkOptions>& influxdb_binding() {
  static const auto b = [] {
    ConfigBinding<InfluxSinkOptions> made("influxdb");
    made.add("url", &InfluxSinkOptions::url, "base URL of the InfluxDB server")
        .choice("api", &InfluxSinkOptions::api, {{"v1", InfluxApi::v1}, {"v2", InfluxApi::v2}},
                "v1: POST /write; v2: POST /api/v2/write with a token")
        .add("database", &InfluxSinkOptions::database, "1.x database")
        .add("retention_policy", &InfluxSinkOptions::retention_policy, "1.x retention policy (empty: the default)")
        .add("username", &InfluxSinkOptions::username, "1.x user (HTTP basic auth)")
        .add("password", &InfluxSinkOptions::password, "1.x password")
        .add("org", &InfluxSinkOptions::org, "2.x organisation")
        .add("bucket", &InfluxSinkOptions::bucket, "2.x bucket")
        .add("token", &InfluxSinkOptions::token, "2.x API token")
        .add("timeout", &InfluxSinkOptions::timeout, "whole request; a timeout means Retry", ConfigLimits::at_least(1))
        .add("ca_file", &InfluxSinkOptions::ca_file, "extra CA bundle for https")
        .add("verify_tls", &InfluxSinkOptions::verify_tls, "check the server certificate");
    add_influx_override(made, "measurement", &InfluxTableSpec::measurement,
                        "measurement for every record table (empty: the table name)");
    add_influx_override(made, "tags", &InfluxTableSpec::tags,
                        "record fields written as tags (empty: the table's schema hints)");
    add_influx_override(made, "fields", &InfluxTableSpec::fields,
                        "record fields written as fields (empty: every field that is not a tag)");
    add_influx_override(made, "time_field", &InfluxTableSpec::time_field,
                        "record field that is the point's time (empty: the table's schema hint)");
    return made;
  }();
  return b;
}

const ConfigBinding<MqttSinkOptions>& mqtt_binding() {
  static const auto b =
      ConfigBinding<MqttSinkOptions>("mqtt")
          .add("url", &MqttSinkOptions::url, "broker: mqtt://, mqtts://, ws://, wss:// (user:password@ allowed)",
               ConfigLimits::needed())
          .add("username", &MqttSinkOptions::username, "overrides the URL's")
          .add("password", &MqttSinkOptions::password, "overrides the URL's; ${ENV} reads the environment")
          .add("client_id", &MqttSinkOptions::client_id, "empty: a random one")
          .add("mqtt_version", &MqttSinkOptions::mqtt_version, "5, or 3 for 3.1.1", ConfigLimits::between(3, 5))
          .add("qos", &MqttSinkOptions::qos, "1: delivered once the broker acknowledged it; 0: once sent",
               ConfigLimits::between(0, 1))
          .add("ca_file", &MqttSinkOptions::ca_file, "CA bundle for mqtts/wss (empty: the system's)")
          .add("verify_tls", &MqttSinkOptions::verify_tls, "check the broker's certificate and name")
          .add("topic_field", &MqttSinkOptions::topic_field, "record field holding each message's topic")
          .add("topic", &MqttSinkOptions::topic, "topic of the records without that field (empty: they are rejected)")
          .add("payload_field", &MqttSinkOptions::payload_field,
               "record field holding the payload text (empty: the record as JSON)")
          .add("retain", &MqttSinkOptions::retain, "publish retained messages")
          .add("timeout", &MqttSinkOptions::timeout, "wait this long for a batch's acknowledgements, then Retry",
               ConfigLimits::at_least(1));
  return b;
}

// A factory from a binding: the validated values onto a default options struct.
template <class Options, class SinkType>
SinkKind bound_kind(const char* name, const char* description, const ConfigBinding<Options>& binding) {
  return SinkKind{name,
                  description,
                  binding.table(),
                  [&binding](const std::string& sink_name, const ConfigValues& c) {
                    Options o;
                    binding.apply(c, o);
                    return std::shared_ptr<Sink>(std::make_shared<SinkType>(sink_name, std::move(o)));
                  },
                  {}};
}

// Making an InfluxSink checks its options without contacting the server: that is the check.
SinkKind influx_kind() {
  auto kind = bound_kind<InfluxSinkOptions, InfluxSink>("influxdb", "InfluxDB 1.x or 2.x, line protocol over HTTP",
                                                        influxdb_binding());
  kind.check = [make = kind.make](const ConfigValues& c) { make("check", c); };
  return kind;
}

// Checking a postgresql sink's options must not connect: the url's form is the check.
SinkKind postgresql_kind() {
  auto kind = bound_kind<PostgresSinkOptions, PostgresSink>(
      "postgresql", "PostgreSQL database (the SQLite sink's tables, for several monitors)", postgresql_binding());
  kind.check = [](const ConfigValues& c) {
    PostgresSinkOptions o;
    postgresql_binding().apply(c, o);
    if (o.url.rfind("postgresql://", 0) != 0 && o.url.rfind("postgres://", 0) != 0)
      throw Error(ErrorCode::invalid_argument, "url must start with postgresql://");
  };
  return kind;
}

// An ndjson sink needs a root or an s3:// url; checked without contacting the store.
SinkKind ndjson_kind() {
  auto kind = bound_kind<NdjsonSinkOptions, NdjsonSink>(
      "ndjson", "NDJSON files per table, rotated, optionally gzipped, optionally uploaded to S3", ndjson_binding());
  kind.check = [](const ConfigValues& c) {
    NdjsonSinkOptions o;
    ndjson_binding().apply(c, o);
    if (o.url.empty() && o.root.empty()) throw Error(ErrorCode::invalid_argument, "needs root (or url)");
    if (!o.url.empty()) S3Location::parse(o.url);
    if (!o.endpoint.empty() && o.endpoint.rfind("http://", 0) != 0 && o.endpoint.rfind("https://", 0) != 0)
      throw Error(ErrorCode::invalid_argument, "endpoint must start with http:// or https://");
  };
  return kind;
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
    for (auto&& k : {bound_kind<SqliteSinkOptions, SqliteSink>("sqlite", "SQLite database (the embedded default)",
                                                               sqlite_binding()),
                     ndjson_kind(), influx_kind(), postgresql_kind(),
                     bound_kind<MqttSinkOptions, MqttSink>(
                         "mqtt", "MQTT publish, one message per record (acknowledged at QoS 1)", mqtt_binding())})
      made->kinds.emplace(k.name, std::make_unique<const SinkKind>(k));
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
  engine_binding().apply(c, o);
  return o;
}

}  // namespace wis2mon
