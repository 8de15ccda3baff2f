// The monitor's config file: YAML (yaml-cpp) or JSON (RapidJSON) into one small tree, every
// section checked against its ConfigTable, then turned into MonitorOptions. The effective
// configuration (defaults filled in) is kept as YAML for `wis2mon config dump`.
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <set>

#include "common/file.hpp"
#include "common/json_text.hpp"
#include "common/text.hpp"
#include "wis2mon/enrich.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/monitor.hpp"
#include "wis2mon/topic.hpp"

namespace wis2mon {

namespace {

// Each section is bound to the options it fills; defaults are the options structs' own.

const ConfigBinding<MonitorOptions>& monitor_binding() {
  static const auto b =
      ConfigBinding<MonitorOptions>("monitor")
          .add("spool", &MonitorOptions::spool,
               "SQLite file of the durable message spool (empty: in memory; wis2mon run and wis2mon cache then use "
               "wis2mon-spool.db, wis2mon-cache-spool.db)")
          .add("spool_high_water", &MonitorOptions::spool_high_water, "stored messages at which ingestion waits",
               ConfigLimits::at_least(1))
          .choice("spool_synchronous", &MonitorOptions::spool_synchronous_full, {{"normal", false}, {"full", true}},
                  "normal: survives a killed process; full: also a power cut (one fsync per message)")
          .add("dead_letters", &MonitorOptions::dead_letters,
               "SQLite file of the dead letters (empty: the spool's file)")
          .add("subscriptions", &MonitorOptions::subscriptions,
               "topic filters each broker subscribes to unless it lists its own")
          .add("validate_topics", &MonitorOptions::validate_topics, "check topics against the WIS2 topic hierarchy")
          .add("replay_url", &MonitorOptions::replay_url,
               "OGC API - Features endpoint of a WIS2 Global Replay service (wis2mon backfill, backfill_after_gap)")
          .add("replay_collection", &MonitorOptions::replay_collection, "its collection of notifications")
          .add("backfill_after_gap", &MonitorOptions::backfill_after_gap,
               "with a replay_url: a broker that lost this monitor's session gets what it published since its "
               "latest message fetched from the replay service")
          .add("backfill_margin", &MonitorOptions::backfill_margin,
               "how much wider than the gap the window fetched is, on both sides")
          .add("backfill_max_window", &MonitorOptions::backfill_max_window,
               "the longest window fetched after a gap (the most recent part of a longer gap)",
               ConfigLimits::at_least(1000))
          .add("max_pubtime_skew", &MonitorOptions::max_pubtime_skew,
               "a pubtime further ahead of arrival is warned about and never blocks later updates (0: off)")
          .add("status_interval", &MonitorOptions::status_interval, "how often a status line is logged (0: never)")
          .add("health_interval", &MonitorOptions::health_interval,
               "how often each sink's healthcheck runs (0: only at start)")
          .add("batch", &MonitorOptions::batch, "spool entries taken at once", ConfigLimits::at_least(1))
          .add("scgb", &MonitorOptions::scgb, &ScgbOptions::centre_id,
               "this Sensor Centre's centre-id: the monitor is also a Sensor Centre for Global Brokers, each broker "
               "one Global Broker (docs/sensor-centre.md)")
          .add("availability", &MonitorOptions::availability, &AvailabilityOptions::centre_id,
               "this centre's id: the monitor keeps station availability and findings (docs/sensor-centre.md)")
          .add("availability_stations", &MonitorOptions::availability, &AvailabilityOptions::stations,
               "station list CSV (empty: each station's schedule is learned from its reports)")
          .add("availability_default_schedule", &MonitorOptions::availability, &AvailabilityOptions::default_schedule,
               "schedule of listed stations without one (hourly, 3-hourly, synoptic, every 10m, at 00:00 12:00)")
          .add("availability_grace", &MonitorOptions::availability, &AvailabilityOptions::grace,
               "an hour's figures are final this long after it ends; later reports count as late")
          .add("availability_state", &MonitorOptions::availability, &AvailabilityOptions::state,
               "SQLite file keeping the figures, stations and findings across restarts (empty: in memory)")
          .add("availability_sinks", &MonitorOptions::availability_sinks, "sinks of the availability and findings rows")
          .add("availability_event_sinks", &MonitorOptions::availability_event_sinks,
               "sinks of the WIS2 Monitoring Events (monitor_events: topic, message), e.g. an mqtt sink")
          .add("findings_silent_station_hours", &MonitorOptions::availability,
               &AvailabilityOptions::silent_station_hours,
               "a station with no report in this many consecutive hours it was expected in is a finding",
               ConfigLimits::at_least(1))
          .add("findings_silent_centre_hours", &MonitorOptions::availability, &AvailabilityOptions::silent_centre_hours,
               "a centre with no message in this many consecutive hours is a finding", ConfigLimits::at_least(1))
          .add("findings_missing_hours", &MonitorOptions::availability, &AvailabilityOptions::missing_hours,
               "a Global Cache or Global Broker missing items in this many consecutive hours is a finding",
               ConfigLimits::at_least(1))
          .add("findings_clear_after_hours", &MonitorOptions::availability, &AvailabilityOptions::clear_after_hours,
               "a finding clears after this many consecutive good hours", ConfigLimits::at_least(1))
          .add("scgb_window", &MonitorOptions::scgb, &ScgbOptions::window,
               "a message one Global Broker delivered is missing on another that has not delivered it within this "
               "time");
  return b;
}

const ConfigBinding<MonitorOptions>& dedup_binding() {
  static const auto b =
      ConfigBinding<MonitorOptions>("dedup")
          .add("store", &MonitorOptions::dedup_store,
               "SQLite file that keeps dedup keys across restarts, or postgresql://... shared by several monitors "
               "(empty: memory)")
          .add("ttl", &MonitorOptions::dedup_ttl, "how long a key is remembered", ConfigLimits::at_least(1000));
  return b;
}

const ConfigBinding<MonitorOptions>& metrics_binding() {
  static const auto b =
      ConfigBinding<MonitorOptions>("metrics")
          .add("port", &MonitorOptions::metrics_port, "HTTP port of /metrics and /health (0: off; -1: any free port)",
               ConfigLimits::between(-1, 65535))
          .add("host", &MonitorOptions::metrics_host, "address the endpoint listens on")
          .add("control_token", &MonitorOptions::control_token,
               "bearer token of the control API under /api/control/ (empty: off); ${VAR} reads the environment")
          .add("control_allow_remote", &MonitorOptions::control_allow_remote,
               "serve the control API on a host other than loopback (the token then crosses the network: put TLS "
               "in front)");
  return b;
}

// The downloader's own keys, then how copies are chosen (the monitor's SourcePolicy).
const ConfigBinding<MonitorOptions>& download_binding() {
  static const auto b =
      ConfigBinding<MonitorOptions>("download")
          .include(&MonitorOptions::download, download_options_config())
          .bind(
              ConfigKey("prefer", ConfigType::choice, "", "try Global Cache copies or the origin first", false,
                        {"cache", "origin"}),
              [](const MonitorOptions& o) { return std::string(o.sources.origin_first ? "origin" : "cache"); },
              [](MonitorOptions& o, const std::string& s) { o.sources.origin_first = s == "origin"; })
          .add("preferred_caches", &MonitorOptions::sources, &SourcePolicy::preferred_caches,
               "Global Caches to try first (centre ids or hosts)");
  return b;
}

const ConfigBinding<BrokerOptions>& broker_binding() {
  static const auto b =
      ConfigBinding<BrokerOptions>("broker")
          .add("name", &BrokerOptions::name, "label in logs and metrics (empty: the host)")
          .add("global_broker", &BrokerOptions::global_broker,
               "centre-id of the Global Broker it reaches, for the scgb role (empty: the name)")
          .add("url", &BrokerOptions::url, "mqtt://[user:pass@]host[:port], mqtts://..., ws://.../path, wss://.../path",
               ConfigLimits::needed())
          .add("client_id", &BrokerOptions::client_id,
               "MQTT client id (empty: one derived from the spool and the URL, fixed across restarts)")
          .add("username", &BrokerOptions::username, "overrides the URL's")
          .add("password", &BrokerOptions::password, "overrides the URL's; ${VAR} reads the environment")
          .choice("mqtt_version", &BrokerOptions::mqtt_version, {{"5", 5}, {"3", 3}}, "protocol version")
          .add("clean_start", &BrokerOptions::clean_start, "false: a persistent session")
          .add("session_expiry", &BrokerOptions::session_expiry, "MQTT 5: how long the broker keeps the session")
          .add("subscriptions", &BrokerOptions::subscriptions, "topic filters (empty: the monitor's)")
          .choice("qos", &BrokerOptions::qos, {{"0", 0}, {"1", 1}, {"2", 2}}, "subscription QoS")
          .add("ca_file", &BrokerOptions::ca_file, "CA bundle for mqtts/wss (empty: the system's)")
          .add("verify_tls", &BrokerOptions::verify_tls, "check the broker's certificate")
          .add("keep_alive", &BrokerOptions::keep_alive, "MQTT keep-alive", ConfigLimits::at_least(1000))
          .add("reconnect_min", &BrokerOptions::reconnect_min, "first reconnect delay", ConfigLimits::at_least(1000))
          .add("reconnect_max", &BrokerOptions::reconnect_max, "longest reconnect delay", ConfigLimits::at_least(1000));
  return b;
}

const ConfigBinding<PipelineOptions>& pipeline_binding() {
  static const auto b =
      ConfigBinding<PipelineOptions>("pipeline")
          .add("name", &PipelineOptions::name, "pipeline name (logs, metrics)", ConfigLimits::needed())
          .add("filters", &PipelineOptions::filters, "MQTT topic filters the pipeline takes")
          .choice("validation", &PipelineOptions::validation,
                  {{"lenient", ValidationMode::lenient}, {"strict", ValidationMode::strict}},
                  "notification validation mode")
          .add("keep_invalid", &PipelineOptions::keep_invalid, "decoder none: record invalid messages too (valid = 0)")
          .bind(
              ConfigKey("dedup", ConfigType::choice, "",
                        "key policy: message id, or data_id+pubtime (Global Cache semantics)", false,
                        {"none", "message_id", "data_id_pubtime"}),
              [](const PipelineOptions& p) {
                return std::string(!p.dedup                              ? "none"
                                   : *p.dedup == DedupPolicy::message_id ? "message_id"
                                                                         : "data_id_pubtime");
              },
              [](PipelineOptions& p, const std::string& s) {
                if (s == "none")
                  p.dedup.reset();
                else
                  p.dedup = s == "message_id" ? DedupPolicy::message_id : DedupPolicy::data_id_pubtime;
              })
          .add("decoder", &PipelineOptions::decoder,
               "none: notifications records; or a registered decoder (bufr: surface_obs; cap: cap_alerts, cap_areas)")
          .add("fetch", &PipelineOptions::fetch, "download the data (implied by a decoder)")
          .add("store_dir", &PipelineOptions::store_dir, "keep each verified object under this directory")
          .add("store_url", &PipelineOptions::store_url,
               "s3://bucket/prefix: keep each verified object in object storage (store_dir stages them)")
          .add("store_endpoint", &PipelineOptions::store_endpoint,
               "S3-compatible server for store_url, e.g. http://127.0.0.1:9000 (default: AWS)")
          .add("store_fsync", &PipelineOptions::store_fsync,
               "fsync each object kept (store_dir, global_cache_store) before going on: survives power loss, slower")
          .add("sinks", &PipelineOptions::sinks,
               "names of the sinks the records go to (none: only callback sinks added from code)")
          .add("global_cache", &PipelineOptions::global_cache,
               "this cache's centre-id: the pipeline is a WIS2 Global Cache (docs/global-cache.md)")
          .add("global_cache_base_url", &PipelineOptions::global_cache_base_url,
               "the URL global_cache_store is served at (republished hrefs start with it)")
          .add("global_cache_store", &PipelineOptions::global_cache_store, "directory of the cached objects")
          .add("global_cache_max_object_bytes", &PipelineOptions::global_cache_max_object_bytes,
               "items announced larger are declined: republished uncached, with a WME (0: no limit)")
          .add("global_cache_max_items_per_minute", &PipelineOptions::global_cache_max_items_per_minute,
               "more items from one centre in a minute are declined, with a WME (0: no limit)")
          .add("global_cache_retention", &PipelineOptions::global_cache_retention,
               "cached objects older than this are deleted (at least 24h)", ConfigLimits::at_least(86400000))
          .add("scgc", &PipelineOptions::scgc, &ScgcOptions::centre_id,
               "this Sensor Centre's centre-id: the pipeline is a Sensor Centre for Global Caches "
               "(docs/sensor-centre.md)")
          .add("scgc_global_caches", &PipelineOptions::scgc, &ScgcOptions::global_caches,
               "Global Caches expected to cache every item (others are learned from their messages)")
          .bind(
              ConfigKey("scgc_delay_thresholds", ConfigType::list, "",
                        "delay thresholds of wmo_wis2_scgc_messages_cached_delay_total; a watch closes at the "
                        "highest (WIS2 Guide 3.3.3.1: 120s, 300s, 600s)",
                        false),
              [](const PipelineOptions& p) {
                std::vector<std::string> out;
                for (const auto t : p.scgc.delay_thresholds)
                  out.push_back(detail::config_duration_text(static_cast<std::int64_t>(t.count()) * 1000));
                return detail::config_list_text(out);
              },
              [](PipelineOptions& p, const std::string& s) {
                p.scgc.delay_thresholds.clear();
                for (const auto& t : detail::config_list(s))
                  p.scgc.delay_thresholds.push_back(std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::milliseconds(detail::config_duration_ms(t))));
              })
          .add("scgc_duplicate_window", &PipelineOptions::scgc, &ScgcOptions::duplicate_window,
               "a data_id again within this time without rel=update is a duplicate")
          .add("scgc_state", &PipelineOptions::scgc, &ScgcOptions::state,
               "SQLite file keeping the watches across restarts (empty: in memory)")
          .add("scgc_log_dir", &PipelineOptions::scgc, &ScgcOptions::log_dir, "directory of the hourly logs")
          .add("scgc_log_base_url", &PipelineOptions::scgc, &ScgcOptions::log_base_url,
               "URL scgc_log_dir is served at (the hourly event links the log there)")
          .add("scgc_log_event_type", &PipelineOptions::scgc, &ScgcOptions::log_event_type,
               "type of the hourly event (the WME schema 1.0.0 allows int.wmo.wis.wme.event)");
  return b;
}

// ---- a small document tree both parsers fill ---------------------------------------------

struct Node {
  enum class Kind { null, scalar, list, map } kind = Kind::null;
  std::string text;
  std::vector<Node> items;
  // A map's keys and values side by side (a pair holding the still incomplete Node is
  // refused by some standard libraries).
  std::vector<std::string> keys;
  std::vector<Node> values;
  std::string where;  // "line 12" (YAML) or a JSON pointer
};

// A config is small: these bounds stop a hostile file, whose aliases can refer to themselves
// (`a: &a [*a]`) or multiply (an alias bomb), long before memory or the stack run out.
constexpr int kMaxDepth = 32;
constexpr std::size_t kMaxValues = 100000;

Node from_yaml(const YAML::Node& y, const std::string& where, int depth, std::size_t& values) {
  if (depth > kMaxDepth)
    throw Error(ErrorCode::parse,
                "the configuration nests deeper than " + std::to_string(kMaxDepth) + " levels (a recursive alias?)");
  if (++values > kMaxValues)
    throw Error(ErrorCode::parse,
                "the configuration has more than " + std::to_string(kMaxValues) + " values (aliases that multiply?)");
  Node n;
  n.where = y.Mark().line >= 0 ? "line " + std::to_string(y.Mark().line + 1) : where;
  if (y.IsScalar()) {
    n.kind = Node::Kind::scalar;
    n.text = y.Scalar();
  } else if (y.IsSequence()) {
    n.kind = Node::Kind::list;
    for (const auto& item : y) n.items.push_back(from_yaml(item, where, depth + 1, values));
  } else if (y.IsMap()) {
    n.kind = Node::Kind::map;
    for (const auto& kv : y) {
      if (!kv.first.IsScalar()) throw Error(ErrorCode::parse, n.where + ": a key must be a plain name");
      n.keys.push_back(kv.first.Scalar());
      n.values.push_back(from_yaml(kv.second, where, depth + 1, values));
    }
  }
  return n;
}

Node from_json(const rapidjson::Value& v, const std::string& where) {
  Node n;
  n.where = where.empty() ? "/" : where;
  if (v.IsObject()) {
    n.kind = Node::Kind::map;
    for (const auto& m : v.GetObject()) {
      std::string key(m.name.GetString(), m.name.GetStringLength());
      n.values.push_back(from_json(m.value, where + "/" + key));
      n.keys.push_back(std::move(key));
    }
  } else if (v.IsArray()) {
    n.kind = Node::Kind::list;
    rapidjson::SizeType i = 0;
    for (const auto& item : v.GetArray()) n.items.push_back(from_json(item, where + "/" + std::to_string(i++)));
  } else if (v.IsString()) {
    n.kind = Node::Kind::scalar;
    n.text.assign(v.GetString(), v.GetStringLength());
  } else if (v.IsBool()) {
    n.kind = Node::Kind::scalar;
    n.text = v.GetBool() ? "true" : "false";
  } else if (v.IsInt64()) {
    n.kind = Node::Kind::scalar;
    n.text = std::to_string(v.GetInt64());
  } else if (v.IsNumber()) {
    n.kind = Node::Kind::scalar;
    n.text = std::to_string(v.GetDouble());
  }
  return n;
}

// ${NAME} in a value reads the environment (so passwords stay out of files).
std::string expand_env(const std::string& s, const std::string& where, std::vector<std::string>& problems) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s.compare(i, 2, "${") == 0) {
      const auto end = s.find('}', i + 2);
      if (end != std::string::npos) {
        const std::string name = s.substr(i + 2, end - i - 2);
        const char* v = std::getenv(name.c_str());
        if (!v) problems.push_back(where + ": environment variable " + name + " is not set");
        out += v ? v : "";
        i = end + 1;
        continue;
      }
    }
    out += s[i++];
  }
  return out;
}

// A map of scalars (lists become comma-separated); nested maps only under `nested_ok` keys.
std::map<std::string, std::string> scalar_map(const Node& n, const std::string& section,
                                              std::vector<std::string>& problems,
                                              std::map<std::string, const Node*>* nested = nullptr) {
  std::map<std::string, std::string> out;
  if (n.kind == Node::Kind::null) return out;
  if (n.kind != Node::Kind::map) {
    problems.push_back(section + " (" + n.where + "): expected a map of key: value");
    return out;
  }
  for (std::size_t i = 0; i < n.keys.size(); ++i) {
    const std::string& key = n.keys[i];
    const Node& value = n.values[i];
    if (value.kind == Node::Kind::scalar) {
      out[key] = expand_env(value.text, section + "." + key, problems);
    } else if (value.kind == Node::Kind::list) {
      std::string joined;
      for (const auto& item : value.items) {
        if (item.kind != Node::Kind::scalar) {
          problems.push_back(section + "." + key + " (" + item.where + "): list items must be plain values");
          continue;
        }
        joined += (joined.empty() ? "" : ",") + expand_env(item.text, section + "." + key, problems);
      }
      out[key] = joined;
    } else if (value.kind == Node::Kind::map && nested) {
      (*nested)[key] = &value;
    } else if (value.kind == Node::Kind::null) {
      out[key] = "";
    } else {
      problems.push_back(section + "." + key + " (" + value.where + "): expected a value, not a map");
    }
  }
  return out;
}

ConfigValues checked(const ConfigTable& table, const std::map<std::string, std::string>& user, const std::string& where,
                     std::vector<std::string>& problems) {
  try {
    return table.validate(user);
  } catch (const Error& e) {
    problems.push_back(where + ": " + e.what());
  }
  // Nothing set: the caller's checks that need values of this entry use the raw text, so
  // that every problem of the file is reported at once.
  return {};
}

// A list value as written (for checks on an entry that failed validation).
std::vector<std::string> raw_list(const std::map<std::string, std::string>& raw, const std::string& key) {
  const auto it = raw.find(key);
  return it == raw.end() ? std::vector<std::string>{} : detail::config_list(it->second);
}

// Sets the members of the keys `user` gives, through the section's binding; a problem is
// collected (with every other one of the file) instead of thrown.
template <class T>
bool apply_section(const ConfigBinding<T>& binding, const std::map<std::string, std::string>& user, T& out,
                   const std::string& where, std::vector<std::string>& problems) {
  try {
    binding.apply_user(user, out);
    return true;
  } catch (const Error& e) {
    problems.push_back(where + ": " + e.what());
    return false;
  }
}

// One value as YAML: lists as flow sequences, the rest as text.
void emit_value(YAML::Emitter& out, const ConfigTable& table, const std::string& key, const std::string& value) {
  const auto* k = table.find(key);
  if (k && k->type == ConfigType::list) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& item : detail::config_list(value)) out << item;
    out << YAML::EndSeq;
  } else {
    out << value;
  }
}

// A section's effective values as YAML keys, in table order (inside an open map).
template <class T>
void emit_keys(YAML::Emitter& out, const ConfigBinding<T>& binding, const T& options,
               const std::map<std::string, std::string>& replace = {}) {
  for (const auto& [key, value] : binding.values(options)) {
    out << YAML::Key << key << YAML::Value;
    const auto r = replace.find(key);
    emit_value(out, binding.table(), key, r == replace.end() ? value : r->second);
  }
}

template <class T>
void emit_section_map(YAML::Emitter& out, const ConfigBinding<T>& binding, const T& options) {
  out << YAML::BeginMap;
  emit_keys(out, binding, options);
  out << YAML::EndMap;
}

template <class T>
void emit_section(YAML::Emitter& out, const char* name, const ConfigBinding<T>& binding, const T& options) {
  out << YAML::Key << name << YAML::Value;
  emit_section_map(out, binding, options);
}

// Splits a sink entry's keys between the sink's own table and the engine's.
void check_sink(const SinkSpec& spec, const std::string& where, std::vector<std::string>& problems,
                YAML::Emitter* dump) {
  std::map<std::string, std::string> own, engine;
  const ConfigTable& engine_t = sink_config_table("engine");
  split_sink_settings(spec.settings, own, engine);
  // A registered kind has a table to check against; "callback" gets its function from code.
  const SinkKind* kind = find_sink_kind(spec.type);
  const bool builtin = kind != nullptr;
  if (!kind && spec.type != "callback" && !spec.type.empty()) {
    std::string known;
    for (const auto& n : sink_kind_names()) known += n + ", ";
    problems.push_back(where + ".type: unknown sink kind '" + spec.type + "' (" + known +
                       "or callback; register_sink_kind adds one)");
  }
  ConfigValues own_v, engine_v = checked(engine_t, engine, where, problems);
  if (builtin) own_v = checked(sink_config_table(spec.type), own, where, problems);
  if (!dump) return;
  *dump << YAML::BeginMap << YAML::Key << "name" << YAML::Value << spec.name << YAML::Key << "type" << YAML::Value
        << spec.type;
  const auto put_all = [&](const ConfigTable* t, const ConfigValues& v, const std::map<std::string, std::string>& raw) {
    if (!t) {
      for (const auto& [k, value] : raw) *dump << YAML::Key << k << YAML::Value << value;
      return;
    }
    for (const auto& key : t->keys())
      if (v.has(key.name)) *dump << YAML::Key << key.name << YAML::Value << v.text(key.name);
  };
  put_all(builtin ? &sink_config_table(spec.type) : nullptr, own_v, own);
  put_all(&engine_t, engine_v, engine);
  *dump << YAML::EndMap;
}

MonitorConfig build(const Node& root, const std::string& origin) {
  std::vector<std::string> problems;
  if (root.kind != Node::Kind::map && root.kind != Node::Kind::null)
    throw Error(ErrorCode::parse, origin + ": the configuration must be a map of sections");

  static const std::set<std::string> kSections = {"monitor", "dedup", "metrics",  "download",
                                                  "brokers", "sinks", "pipelines"};
  const auto find = [&](const std::string& name) -> const Node* {
    for (std::size_t i = 0; i < root.keys.size(); ++i)
      if (root.keys[i] == name) return &root.values[i];
    return nullptr;
  };
  for (const auto& k : root.keys)
    if (!kSections.count(k))
      problems.push_back("unknown section '" + k +
                         "' (sections: monitor, dedup, metrics, download, brokers, sinks, pipelines)");
  static const Node kEmpty;
  const auto get = [&](const std::string& name) -> const Node& {
    const Node* n = find(name);
    return n ? *n : kEmpty;
  };

  MonitorConfig config;
  config.source = origin;
  MonitorOptions& o = config.options;
  o.pipelines.clear();
  o.sinks.clear();

  apply_section(monitor_binding(), scalar_map(get("monitor"), "monitor", problems), o, "monitor", problems);
  apply_section(dedup_binding(), scalar_map(get("dedup"), "dedup", problems), o, "dedup", problems);
  apply_section(metrics_binding(), scalar_map(get("metrics"), "metrics", problems), o, "metrics", problems);
  apply_section(download_binding(), scalar_map(get("download"), "download", problems), o, "download", problems);

  YAML::Emitter dump;
  dump << YAML::BeginMap;
  emit_section(dump, "monitor", monitor_binding(), o);
  emit_section(dump, "dedup", dedup_binding(), o);
  dump << YAML::Key << "metrics" << YAML::Value << YAML::BeginMap;  // the token masked
  emit_keys(dump, metrics_binding(), o, {{"control_token", o.control_token.empty() ? "" : "********"}});
  dump << YAML::EndMap;
  emit_section(dump, "download", download_binding(), o);

  const auto each = [&](const std::string& name, auto&& fn) {
    const Node& list = get(name);
    if (list.kind == Node::Kind::null) return;
    if (list.kind != Node::Kind::list) {
      problems.push_back(name + " (" + list.where + "): expected a list");
      return;
    }
    for (std::size_t i = 0; i < list.items.size(); ++i) fn(list.items[i], name + "[" + std::to_string(i) + "]");
  };

  std::set<std::string> broker_names;
  each("brokers", [&](const Node& n, const std::string& where) {
    BrokerOptions b;
    if (!apply_section(broker_binding(), scalar_map(n, where, problems), b, where, problems)) return;
    try {
      const auto address = parse_broker_url(b.url);
      if (b.name.empty()) b.name = address.host;
    } catch (const Error& e) {
      problems.push_back(where + ".url: " + e.what());
    }
    if (!broker_names.insert(b.name).second)
      problems.push_back(where + ": a second broker named '" + b.name + "' (give each a name)");
    if (b.reconnect_max < b.reconnect_min) problems.push_back(where + ": reconnect_max is shorter than reconnect_min");
    for (const auto& f : b.subscriptions)
      if (std::string why; !is_valid_filter(f, &why)) problems.push_back(where + ".subscriptions: '" + f + "' " + why);
    o.brokers.push_back(std::move(b));
  });
  // Brokers are dumped from the options: names filled in, passwords masked.
  dump << YAML::Key << "brokers" << YAML::Value << YAML::BeginSeq;
  for (const auto& b : o.brokers) {
    dump << YAML::BeginMap;
    emit_keys(dump, broker_binding(), b,
              {{"url", detail::masked_url(b.url)}, {"password", b.password.empty() ? "" : "********"}});
    dump << YAML::EndMap;
  }
  dump << YAML::EndSeq;
  for (const auto& f : o.subscriptions)
    if (std::string why; !is_valid_filter(f, &why)) problems.push_back("monitor.subscriptions: '" + f + "' " + why);

  std::set<std::string> sink_names;
  dump << YAML::Key << "sinks" << YAML::Value << YAML::BeginSeq;
  each("sinks", [&](const Node& n, const std::string& where) {
    auto raw = scalar_map(n, where, problems);
    SinkSpec s;
    s.name = raw.count("name") ? raw["name"] : "";
    s.type = raw.count("type") ? raw["type"] : "";
    raw.erase("name");
    raw.erase("type");
    if (s.name.empty()) problems.push_back(where + ".name: required");
    if (s.type.empty()) problems.push_back(where + ".type: required (a registered sink kind, or callback)");
    if (!sink_names.insert(s.name).second) problems.push_back(where + ": a second sink named '" + s.name + "'");
    s.settings = std::move(raw);
    check_sink(s, where, problems, &dump);
    o.sinks.push_back(std::move(s));
  });
  dump << YAML::EndSeq;

  std::set<std::string> pipeline_names;
  dump << YAML::Key << "pipelines" << YAML::Value << YAML::BeginSeq;
  each("pipelines", [&](const Node& n, const std::string& where) {
    std::map<std::string, const Node*> nested;
    const auto raw = scalar_map(n, where, problems, &nested);
    PipelineOptions p;
    if (!apply_section(pipeline_binding(), raw, p, where, problems)) {
      // An invalid entry: check what can be checked from the raw text.
      p.filters = raw.count("filters") ? raw_list(raw, "filters") : p.filters;
      p.sinks = raw_list(raw, "sinks");
      p.name = raw.count("name") ? raw.at("name") : "";
    }
    if (!pipeline_names.insert(p.name).second) problems.push_back(where + ": a second pipeline named '" + p.name + "'");
    for (const auto& f : p.filters)
      if (std::string why; !is_valid_filter(f, &why)) problems.push_back(where + ".filters: '" + f + "' " + why);
    if (!p.global_cache.empty()) {
      if (p.global_cache_base_url.empty())
        problems.push_back(where + ".global_cache_base_url: needed by a Global Cache");
      if (p.global_cache_store.empty()) problems.push_back(where + ".global_cache_store: needed by a Global Cache");
      if (p.decoder != "none") problems.push_back(where + ".decoder: a Global Cache pipeline has none");
      p.dedup = DedupPolicy::data_id_pubtime;  // Guide 2.7.4.2: new or updated data only
      p.fetch = true;
    }
    if (p.decoder != "none" && !find_decoder(p.decoder)) {
      std::string known = "none";
      for (const auto& d : registered_decoders()) known += ", " + d->name();
      problems.push_back(where + ".decoder: '" + p.decoder + "' is not a registered decoder (" + known + ")");
    }
    EnrichSettings enrich;
    for (const auto& [key, node] : nested) {
      if (key != "enrich") {
        problems.push_back(where + "." + key + ": expected a value, not a map");
        continue;
      }
      p.enrich = scalar_map(*node, where + ".enrich", problems);
      apply_section(enrich_config(), p.enrich, enrich, where + ".enrich", problems);
    }
    dump << YAML::BeginMap;
    emit_keys(dump, pipeline_binding(), p);
    if (!p.enrich.empty()) {
      dump << YAML::Key << "enrich" << YAML::Value;
      emit_section_map(dump, enrich_config(), enrich);
    }
    dump << YAML::EndMap;
    o.pipelines.push_back(std::move(p));
  });
  dump << YAML::EndSeq << YAML::EndMap;

  for (const auto& p : o.pipelines)
    for (const auto& s : p.sinks)
      if (!sink_names.count(s)) problems.push_back("pipeline '" + p.name + "': no sink named '" + s + "'");
  for (const auto* list : {&o.availability_sinks, &o.availability_event_sinks})
    for (const auto& s : *list)
      if (!sink_names.count(s)) problems.push_back("monitor: availability sinks: no sink named '" + s + "'");
  if (!o.availability.centre_id.empty()) try {
      parse_station_schedule(o.availability.default_schedule);
      if (!o.availability.stations.empty())
        (void)load_station_list(o.availability.stations, parse_station_schedule(o.availability.default_schedule));
    } catch (const std::exception& e) {
      problems.push_back(std::string("monitor: availability: ") + e.what());
    }
  if (o.pipelines.empty()) problems.push_back("pipelines: at least one pipeline is needed");

  if (!problems.empty()) {
    std::string m = origin + ": " + std::to_string(problems.size()) + " problem" + (problems.size() > 1 ? "s" : "");
    for (const auto& p : problems) m += "\n  - " + p;
    throw Error(ErrorCode::invalid_argument, m);
  }
  config.effective = std::string(dump.c_str()) + "\n";
  return config;
}

const char* kDefaultConfig = R"(# The default configuration: everything into one SQLite database.
sinks:
  - name: db
    type: sqlite
    path: wis2mon.db
pipelines:
  - name: notifications
    filters: ["#"]
    dedup: message_id
    keep_invalid: true
    sinks: [db]
  - name: surface_obs
    filters: ["+/a/wis2/+/data/core/weather/surface-based-observations/#"]
    dedup: data_id_pubtime
    decoder: bufr
    sinks: [db]
  - name: cap
    filters: ["+/a/wis2/+/data/core/weather/advisories-warnings/#"]
    dedup: data_id_pubtime
    decoder: cap
    sinks: [db]
)";

}  // namespace

const ConfigTable& monitor_config_table(const std::string& section) {
  if (section == "monitor") return monitor_binding().table();
  if (section == "dedup") return dedup_binding().table();
  if (section == "metrics") return metrics_binding().table();
  if (section == "download") return download_binding().table();
  if (section == "broker") return broker_binding().table();
  if (section == "pipeline") return pipeline_binding().table();
  throw Error(ErrorCode::invalid_argument,
              "unknown config section '" + section + "' (monitor, dedup, metrics, download, broker, pipeline)");
}

MonitorConfig parse_monitor_config(std::string_view text, const std::string& origin) {
  std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text[first] == '{') {
    rapidjson::Document doc;
    detail::parse_json_text(doc, text);
    if (doc.HasParseError())
      throw Error(ErrorCode::parse, origin + ": JSON error at offset " + std::to_string(doc.GetErrorOffset()) + ": " +
                                        rapidjson::GetParseError_En(doc.GetParseError()));
    return build(from_json(doc, ""), origin);
  }
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw Error(ErrorCode::parse, origin + ": YAML error: " + e.what());
  }
  std::size_t values = 0;
  Node root;
  try {
    root = from_yaml(doc, "", 0, values);
  } catch (const Error& e) {
    throw Error(ErrorCode::parse, origin + ": " + e.what());
  }
  return build(root, origin);
}

MonitorConfig load_monitor_config(const std::filesystem::path& file) {
  return parse_monitor_config(detail::read_file(file), file.string());
}

MonitorConfig default_monitor_config() {
  auto config = parse_monitor_config(kDefaultConfig, "default configuration");
  config.source.clear();
  return config;
}

std::string dump_monitor_config(const MonitorConfig& config) {
  return config.effective;
}

std::vector<std::string> check_monitor_config(const MonitorConfig& config) {
  std::vector<std::string> problems;
  const auto& o = config.options;
  for (const auto& p : o.pipelines) {
    if (p.sinks.empty() && p.scgc.centre_id.empty())  // a Sensor Centre may report by metrics alone
      problems.push_back("pipeline '" + p.name + "': no sinks (only a program can add a callback sink)");
    if (!p.enrich.empty()) {
      try {
        (void)make_enricher(enrich_config_table().validate(p.enrich));
      } catch (const std::exception& e) {
        problems.push_back("pipeline '" + p.name + "' enrich: " + e.what());
      }
    }
  }
  for (const auto& s : o.sinks) {
    if (s.type == "callback") {
      problems.push_back("sink '" + s.name + "': a callback sink gets its function from a program");
      continue;
    }
    const auto* kind = find_sink_kind(s.type);
    if (!kind || !kind->check) continue;
    std::map<std::string, std::string> own, engine;
    split_sink_settings(s.settings, own, engine);
    try {
      kind->check(kind->config.validate(own));
    } catch (const std::exception& e) {
      problems.push_back("sink '" + s.name + "': " + e.what());
    }
  }
  return problems;
}

std::string monitor_config_reference() {
  std::string out =
      "# Configuration reference\n\n"
      "<!-- Generated by `wis2mon config docs` from the option tables in the code: do not edit by hand;\n"
      "     run scripts/gen-docs.sh. A test fails when this file and the code disagree. -->\n\n"
      "Every key of the monitor's config file (YAML or JSON; docs/monitor.md shows a whole file). The\n"
      "same tables read the C API's option JSON and Python's keyword arguments. Durations are written\n"
      "`250ms`, `10s`, `2m`, `1h`, `7d` or as a number of seconds; lists as YAML lists or\n"
      "comma-separated text; `${VAR}` in a value reads the environment.\n";
  const auto section = [&](const std::string& title, const std::string& text, const ConfigTable& table) {
    out += "\n## " + title + "\n\n" + text + "\n\n" + table.markdown();
  };
  section("monitor", "The spool, dead letters and the pipeline thread.", monitor_binding().table());
  section("dedup", "Where dedup keys are remembered.", dedup_binding().table());
  section("metrics",
          "The HTTP endpoint: `/metrics` (Prometheus text), `/health` (JSON), the dashboard at `/` with its JSON "
          "under `/api/`, and the control API under `/api/control/` (docs/dashboard.md).",
          metrics_binding().table());
  section("download",
          "Downloads (also the C API's `wis2mon_downloader_new` options and Python's `Downloader(**options)`).",
          download_binding().table());
  section("brokers[]", "Each Global Broker to subscribe to.", broker_binding().table());
  section("pipelines[]",
          "Each pipeline: which topics it takes and what it makes of them. `enrich:` (a map) adds lookup columns.",
          pipeline_binding().table());
  section("pipelines[].enrich", "Columns from a lookup table (CSV or SQLite) added to each record.",
          enrich_config_table());
  section("sinks[]: the engine", "Keys every sink takes besides `name`, `type` and its kind's own keys.",
          sink_config_table("engine"));
  for (const auto& name : sink_kind_names()) {
    const auto* kind = find_sink_kind(name);
    section("sinks[]: type " + name, kind->description + ".", kind->config);
  }
  out +=
      "\n## Decoders\n\n`decoder:` of a pipeline: `none` (one `notifications` record per message) or a registered "
      "decoder.\n\n| decoder | records |\n|---|---|\n";
  for (const auto& d : registered_decoders()) {
    std::string tables;
    for (const auto& s : d->schemas()) tables += (tables.empty() ? "`" : ", `") + s->table() + "`";
    out += "| `" + d->name() + "` | " + d->description() + " (" + tables + ") |\n";
  }
  return out;
}

}  // namespace wis2mon
