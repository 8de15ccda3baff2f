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
#include "wis2mon/enrich.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/monitor.hpp"
#include "wis2mon/topic.hpp"

namespace wis2mon {

namespace {

const ConfigTable& monitor_table() {
  static const ConfigTable t(
      "monitor",
      {
          {"spool", ConfigType::string, "wis2mon-spool.db", "SQLite file of the durable message spool"},
          {"spool_high_water", ConfigType::integer, "100000", "stored messages at which ingestion waits"},
          {"spool_synchronous",
           ConfigType::choice,
           "normal",
           "normal: survives a killed process; full: also a power cut (one fsync per message)",
           false,
           {"normal", "full"}},
          {"dead_letters", ConfigType::string, "", "SQLite file of the dead letters (empty: the spool's file)"},
          {"subscriptions", ConfigType::list, "origin/a/wis2/#,cache/a/wis2/#",
           "topic filters each broker subscribes to unless it lists its own"},
          {"validate_topics", ConfigType::boolean, "true", "check topics against the WIS2 topic hierarchy"},
          {"status_interval", ConfigType::duration, "30s", "how often a status line is logged (0: never)"},
          {"batch", ConfigType::integer, "512", "spool entries taken at once"},
      });
  return t;
}

const ConfigTable& dedup_table() {
  static const ConfigTable t("dedup", {
                                          {"store", ConfigType::string, "",
                                           "SQLite file that keeps dedup keys across restarts (empty: memory)"},
                                          {"ttl", ConfigType::duration, "24h", "how long a key is remembered"},
                                      });
  return t;
}

const ConfigTable& metrics_table() {
  static const ConfigTable t("metrics",
                             {
                                 {"port", ConfigType::integer, "0", "HTTP port of /metrics and /health (0: off)"},
                                 {"host", ConfigType::string, "127.0.0.1", "address the endpoint listens on"},
                             });
  return t;
}

const ConfigTable& download_table() {
  static const ConfigTable t(
      "download", {
                      {"max_in_flight", ConfigType::integer, "256", "transfers at once, all hosts together"},
                      {"max_per_host", ConfigType::integer, "16", "connections per host"},
                      {"connect_timeout", ConfigType::duration, "10s", "connect timeout of one attempt"},
                      {"total_timeout", ConfigType::duration, "120s", "time limit of one attempt"},
                      {"max_retries", ConfigType::integer, "3", "retries of a passing failure, per URL"},
                      {"max_object_bytes", ConfigType::integer, "67108864", "larger objects are refused"},
                      {"verify_tls", ConfigType::boolean, "true", "check servers' certificates"},
                      {"ca_file", ConfigType::string, "", "extra CA bundle (PEM) to trust"},
                      {"allow_ftp", ConfigType::boolean, "false", "also ftp:// and sftp:// links"},
                      {"prefer",
                       ConfigType::choice,
                       "cache",
                       "try Global Cache copies or the origin first",
                       false,
                       {"cache", "origin"}},
                      {"preferred_caches", ConfigType::list, "", "Global Caches to try first (centre ids or hosts)"},
                      {"user_agent", ConfigType::string, "", "User-Agent header (empty: libwis2mon/<version>)"},
                  });
  return t;
}

const ConfigTable& broker_table() {
  static const ConfigTable t(
      "broker", {
                    {"name", ConfigType::string, "", "label in logs and metrics (empty: the host)"},
                    {"url", ConfigType::string, "",
                     "mqtt://[user:pass@]host[:port], mqtts://..., ws://.../path, wss://.../path", true},
                    {"client_id", ConfigType::string, "", "MQTT client id (a persistent session needs a fixed one)"},
                    {"username", ConfigType::string, "", "overrides the URL's"},
                    {"password", ConfigType::string, "", "overrides the URL's; ${VAR} reads the environment"},
                    {"mqtt_version", ConfigType::choice, "5", "protocol version", false, {"5", "3"}},
                    {"clean_start", ConfigType::boolean, "false", "false: a persistent session"},
                    {"session_expiry", ConfigType::duration, "24h", "MQTT 5: how long the broker keeps the session"},
                    {"subscriptions", ConfigType::list, "", "topic filters (empty: the monitor's)"},
                    {"qos", ConfigType::choice, "1", "subscription QoS", false, {"0", "1", "2"}},
                    {"ca_file", ConfigType::string, "", "CA bundle for mqtts/wss (empty: the system's)"},
                    {"verify_tls", ConfigType::boolean, "true", "check the broker's certificate"},
                    {"keep_alive", ConfigType::duration, "30s", "MQTT keep-alive"},
                    {"reconnect_min", ConfigType::duration, "1s", "first reconnect delay"},
                    {"reconnect_max", ConfigType::duration, "60s", "longest reconnect delay"},
                });
  return t;
}

const ConfigTable& pipeline_table() {
  static const ConfigTable t(
      "pipeline",
      {
          {"name", ConfigType::string, "", "pipeline name (logs, metrics)", true},
          {"filters", ConfigType::list, "#", "MQTT topic filters the pipeline takes"},
          {"validation", ConfigType::choice, "lenient", "notification validation mode", false, {"lenient", "strict"}},
          {"keep_invalid", ConfigType::boolean, "false", "decoder none: record invalid messages too (valid = 0)"},
          {"dedup",
           ConfigType::choice,
           "none",
           "key policy: message id, or data_id+pubtime (Global Cache semantics)",
           false,
           {"none", "message_id", "data_id_pubtime"}},
          {"decoder", ConfigType::string, "none",
           "none: notifications records; or a registered decoder (bufr: surface_obs; cap: cap_alerts, cap_areas)"},
          {"fetch", ConfigType::boolean, "false", "download the data (implied by a decoder)"},
          {"store_dir", ConfigType::string, "", "keep each verified object under this directory"},
          {"sinks", ConfigType::list, "",
           "names of the sinks the records go to (none: only callback sinks added from code)"},
      });
  return t;
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

Node from_yaml(const YAML::Node& y, const std::string& where) {
  Node n;
  n.where = y.Mark().line >= 0 ? "line " + std::to_string(y.Mark().line + 1) : where;
  if (y.IsScalar()) {
    n.kind = Node::Kind::scalar;
    n.text = y.Scalar();
  } else if (y.IsSequence()) {
    n.kind = Node::Kind::list;
    for (const auto& item : y) n.items.push_back(from_yaml(item, where));
  } else if (y.IsMap()) {
    n.kind = Node::Kind::map;
    for (const auto& kv : y) {
      if (!kv.first.IsScalar()) throw Error(ErrorCode::parse, n.where + ": a key must be a plain name");
      n.keys.push_back(kv.first.Scalar());
      n.values.push_back(from_yaml(kv.second, where));
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
  std::vector<std::string> out;
  const auto it = raw.find(key);
  if (it == raw.end()) return out;
  std::size_t start = 0;
  while (start <= it->second.size()) {
    const auto end = std::min(it->second.find(',', start), it->second.size());
    if (end > start) out.push_back(it->second.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::chrono::seconds seconds_of(const ConfigValues& v, std::string_view key) {
  return std::chrono::seconds(v.duration_ms(key) / 1000);
}

// A section's effective values as YAML keys, in table order (inside an open map).
void emit_keys(YAML::Emitter& out, const ConfigTable& table, const ConfigValues& values) {
  for (const auto& key : table.keys()) {
    out << YAML::Key << key.name << YAML::Value;
    if (!values.has(key.name)) {
      out << YAML::Null;
    } else if (key.type == ConfigType::list) {
      out << YAML::Flow << YAML::BeginSeq;
      for (const auto& item : values.list(key.name)) out << item;
      out << YAML::EndSeq;
    } else {
      out << values.text(key.name);
    }
  }
}

void emit_values(YAML::Emitter& out, const ConfigTable& table, const ConfigValues& values) {
  out << YAML::BeginMap;
  emit_keys(out, table, values);
  out << YAML::EndMap;
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

// mqtt://user:secret@host -> mqtt://user:********@host
std::string masked_url(std::string url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto host_end = url.find('/', scheme + 3);
  const auto at = url.rfind('@', host_end);
  if (at == std::string::npos || at < scheme) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.replace(colon + 1, at - colon - 1, "********");
}

DedupPolicy policy_of(const std::string& s) {
  return s == "message_id" ? DedupPolicy::message_id : DedupPolicy::data_id_pubtime;
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

  YAML::Emitter dump;
  dump << YAML::BeginMap;

  const auto monitor_v = checked(monitor_table(), scalar_map(get("monitor"), "monitor", problems), "monitor", problems);
  if (monitor_v.has("spool")) {
    o.spool = monitor_v.text("spool");
    o.spool_high_water = static_cast<std::size_t>(std::max<std::int64_t>(1, monitor_v.integer("spool_high_water")));
    o.spool_synchronous_full = monitor_v.text("spool_synchronous") == "full";
    o.dead_letters = monitor_v.has("dead_letters") ? monitor_v.text("dead_letters") : "";
    o.subscriptions = monitor_v.list("subscriptions");
    o.validate_topics = monitor_v.boolean("validate_topics");
    o.status_interval = std::chrono::milliseconds(monitor_v.duration_ms("status_interval"));
    o.batch = static_cast<std::size_t>(std::max<std::int64_t>(1, monitor_v.integer("batch")));
  }
  dump << YAML::Key << "monitor" << YAML::Value;
  emit_values(dump, monitor_table(), monitor_v);

  const auto dedup_v = checked(dedup_table(), scalar_map(get("dedup"), "dedup", problems), "dedup", problems);
  if (dedup_v.has("ttl")) {
    o.dedup_store = dedup_v.has("store") ? dedup_v.text("store") : "";
    o.dedup_ttl = seconds_of(dedup_v, "ttl");
  }
  dump << YAML::Key << "dedup" << YAML::Value;
  emit_values(dump, dedup_table(), dedup_v);

  const auto metrics_v = checked(metrics_table(), scalar_map(get("metrics"), "metrics", problems), "metrics", problems);
  if (metrics_v.has("port")) {
    o.metrics_port = static_cast<int>(metrics_v.integer("port"));
    o.metrics_host = metrics_v.text("host");
    if (o.metrics_port < -1 || o.metrics_port > 65535) problems.push_back("metrics.port: not a port number");
  }
  dump << YAML::Key << "metrics" << YAML::Value;
  emit_values(dump, metrics_table(), metrics_v);

  const auto dl = checked(download_table(), scalar_map(get("download"), "download", problems), "download", problems);
  if (dl.has("max_in_flight")) {
    auto& d = o.download;
    d.max_in_flight = static_cast<std::size_t>(std::max<std::int64_t>(1, dl.integer("max_in_flight")));
    d.max_per_host = static_cast<std::size_t>(std::max<std::int64_t>(1, dl.integer("max_per_host")));
    d.connect_timeout = std::chrono::milliseconds(dl.duration_ms("connect_timeout"));
    d.total_timeout = std::chrono::milliseconds(dl.duration_ms("total_timeout"));
    d.max_retries = static_cast<int>(dl.integer("max_retries"));
    d.max_object_bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(1, dl.integer("max_object_bytes")));
    d.verify_tls = dl.boolean("verify_tls");
    d.ca_file = dl.has("ca_file") ? dl.text("ca_file") : "";
    d.allow_ftp = dl.boolean("allow_ftp");
    d.user_agent = dl.has("user_agent") ? dl.text("user_agent") : "";
    o.sources.origin_first = dl.text("prefer") == "origin";
    o.sources.preferred_caches = dl.has("preferred_caches") ? dl.list("preferred_caches") : std::vector<std::string>{};
  }
  dump << YAML::Key << "download" << YAML::Value;
  emit_values(dump, download_table(), dl);

  const auto each = [&](const std::string& name, auto&& fn) {
    const Node& list = get(name);
    if (list.kind == Node::Kind::null) return;
    if (list.kind != Node::Kind::list) {
      problems.push_back(name + " (" + list.where + "): expected a list");
      return;
    }
    for (std::size_t i = 0; i < list.items.size(); ++i) fn(list.items[i], name + "[" + std::to_string(i) + "]");
  };

  each("brokers", [&](const Node& n, const std::string& where) {
    const auto v = checked(broker_table(), scalar_map(n, where, problems), where, problems);
    if (!v.has("url")) return;
    BrokerOptions b;
    b.url = v.text("url");
    try {
      const auto address = parse_broker_url(b.url);
      b.name = v.has("name") ? v.text("name") : address.host;
    } catch (const Error& e) {
      problems.push_back(where + ".url: " + e.what());
    }
    b.client_id = v.has("client_id") ? v.text("client_id") : "";
    b.username = v.has("username") ? v.text("username") : "";
    b.password = v.has("password") ? v.text("password") : "";
    b.mqtt_version = v.text("mqtt_version") == "3" ? 3 : 5;
    b.clean_start = v.boolean("clean_start");
    b.session_expiry = seconds_of(v, "session_expiry");
    b.subscriptions = v.has("subscriptions") ? v.list("subscriptions") : std::vector<std::string>{};
    b.qos = static_cast<int>(v.integer("qos"));
    b.ca_file = v.has("ca_file") ? v.text("ca_file") : "";
    b.verify_tls = v.boolean("verify_tls");
    b.keep_alive = seconds_of(v, "keep_alive");
    b.reconnect_min = seconds_of(v, "reconnect_min");
    b.reconnect_max = seconds_of(v, "reconnect_max");
    for (const auto& f : b.subscriptions)
      if (std::string why; !is_valid_filter(f, &why)) problems.push_back(where + ".subscriptions: '" + f + "' " + why);
    o.brokers.push_back(std::move(b));
  });
  // Brokers are dumped from the options: names filled in, passwords masked.
  dump << YAML::Key << "brokers" << YAML::Value << YAML::BeginSeq;
  for (const auto& b : o.brokers) {
    const auto seconds = [](std::chrono::seconds s) { return std::to_string(s.count()) + "s"; };
    dump << YAML::BeginMap << YAML::Key << "name" << YAML::Value << b.name << YAML::Key << "url" << YAML::Value
         << masked_url(b.url) << YAML::Key << "client_id" << YAML::Value << b.client_id << YAML::Key << "username"
         << YAML::Value << b.username << YAML::Key << "password" << YAML::Value
         << (b.password.empty() ? "" : "********") << YAML::Key << "mqtt_version" << YAML::Value << b.mqtt_version
         << YAML::Key << "clean_start" << YAML::Value << b.clean_start << YAML::Key << "session_expiry" << YAML::Value
         << seconds(b.session_expiry) << YAML::Key << "subscriptions" << YAML::Value << YAML::Flow << b.subscriptions
         << YAML::Key << "qos" << YAML::Value << b.qos << YAML::Key << "ca_file" << YAML::Value << b.ca_file
         << YAML::Key << "verify_tls" << YAML::Value << b.verify_tls << YAML::Key << "keep_alive" << YAML::Value
         << seconds(b.keep_alive) << YAML::Key << "reconnect_min" << YAML::Value << seconds(b.reconnect_min)
         << YAML::Key << "reconnect_max" << YAML::Value << seconds(b.reconnect_max) << YAML::EndMap;
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
    const auto v = checked(pipeline_table(), raw, where, problems);
    PipelineOptions p;
    if (!v.has("filters")) {  // invalid entry: check what can be checked from the raw text
      p.filters = raw_list(raw, "filters");
      p.sinks = raw_list(raw, "sinks");
      p.name = raw.count("name") ? raw.at("name") : "";
    }
    if (v.has("name")) p.name = v.text("name");
    if (!pipeline_names.insert(p.name).second) problems.push_back(where + ": a second pipeline named '" + p.name + "'");
    if (v.has("filters")) p.filters = v.list("filters");
    for (const auto& f : p.filters)
      if (std::string why; !is_valid_filter(f, &why)) problems.push_back(where + ".filters: '" + f + "' " + why);
    if (v.has("validation"))
      p.validation = v.text("validation") == "strict" ? ValidationMode::strict : ValidationMode::lenient;
    if (v.has("keep_invalid")) p.keep_invalid = v.boolean("keep_invalid");
    if (v.has("dedup") && v.text("dedup") != "none") p.dedup = policy_of(v.text("dedup"));
    if (v.has("decoder")) {
      p.decoder = v.text("decoder");
      if (p.decoder != "none" && !find_decoder(p.decoder)) {
        std::string known = "none";
        for (const auto& d : registered_decoders()) known += ", " + d->name();
        problems.push_back(where + ".decoder: '" + p.decoder + "' is not a registered decoder (" + known + ")");
      }
    }
    if (v.has("fetch")) p.fetch = v.boolean("fetch");
    if (v.has("store_dir")) p.store_dir = v.text("store_dir");
    if (v.has("sinks")) p.sinks = v.list("sinks");
    ConfigValues enrich_v;
    for (const auto& [key, node] : nested) {
      if (key != "enrich") {
        problems.push_back(where + "." + key + ": expected a value, not a map");
        continue;
      }
      p.enrich = scalar_map(*node, where + ".enrich", problems);
      enrich_v = checked(enrich_config_table(), p.enrich, where + ".enrich", problems);
    }
    dump << YAML::BeginMap;
    emit_keys(dump, pipeline_table(), v);
    if (!p.enrich.empty()) {
      dump << YAML::Key << "enrich" << YAML::Value;
      emit_values(dump, enrich_config_table(), enrich_v);
    }
    dump << YAML::EndMap;
    o.pipelines.push_back(std::move(p));
  });
  dump << YAML::EndSeq << YAML::EndMap;

  for (const auto& p : o.pipelines)
    for (const auto& s : p.sinks)
      if (!sink_names.count(s)) problems.push_back("pipeline '" + p.name + "': no sink named '" + s + "'");
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
monitor:
  spool: wis2mon-spool.db
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
  if (section == "monitor") return monitor_table();
  if (section == "dedup") return dedup_table();
  if (section == "metrics") return metrics_table();
  if (section == "download") return download_table();
  if (section == "broker") return broker_table();
  if (section == "pipeline") return pipeline_table();
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
  return build(from_yaml(doc, ""), origin);
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

}  // namespace wis2mon
