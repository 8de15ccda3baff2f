// wis2mon cache [CONFIG] [--broker URL]... [--publish URL] [--store DIR] [--base-url URL]
//   [--http-port N] [--centre-id ID] [--retention DURATION] [--metrics-port N] [--duration S]
//
// Runs a WIS2 Global Cache (docs/global-cache.md): the monitor with one Global Cache pipeline,
// an mqtt sink publishing to the cache's broker, and the data server on the store. Flags
// override the config file; without one a default configuration is used. SIGINT, SIGTERM or
// --duration stop it cleanly, with the run's summary on stdout.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/monitor_setup.hpp"
#include "wis2mon/cache.hpp"
#include "wis2mon/config.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/monitor.hpp"

namespace wis2mon::cli {

// Without a config file: one Global Cache pipeline publishing to the cache's broker; the
// spool and the dedup keys in files, so a restart neither loses nor downloads again.
MonitorConfig default_cache_config() {
  MonitorConfig c;
  auto& o = c.options;
  o.spool = "wis2mon-cache-spool.db";
  o.dedup_store = "wis2mon-cache-dedup.db";
  o.dedup_ttl = std::chrono::hours(48);
  o.sinks = {{"cache-broker",
              "mqtt",
              // A republication waits at most 100 ms for its batch (the engine's default is 1 s).
              {{"url", "mqtt://127.0.0.1:1883"},
               {"topic_field", "topic"},
               {"payload_field", "message"},
               {"batch_max_age", "100ms"}}}};
  PipelineOptions p;
  p.name = "global-cache";
  p.filters = {"origin/a/wis2/#", "cache/a/wis2/#"};  // Guide 2.7.4.2
  p.global_cache = "xx-wis2mon-global-cache";
  p.global_cache_store = "global-cache";
  p.sinks = {"cache-broker"};
  o.pipelines = {p};
  return c;
}

namespace {

struct CacheArgs {
  std::string config;
  std::vector<std::string> brokers;
  std::string publish;
  std::string store;
  std::string base_url;
  int http_port = -2;  // -2: not given
  std::string centre_id;
  std::string retention;
  int metrics_port = -2;
  double duration = 0;
};

int run_cache(const CacheArgs& a) {
  auto config = a.config.empty() ? default_cache_config() : load_config_or_default(a.config);
  auto& o = config.options;
  if (o.spool.empty()) o.spool = "wis2mon-cache-spool.db";  // the program's spool is a file
  auto cache = std::find_if(o.pipelines.begin(), o.pipelines.end(),
                            [](const PipelineOptions& p) { return !p.global_cache.empty(); });
  if (cache == o.pipelines.end())
    throw Error(ErrorCode::invalid_argument, a.config + ": no pipeline with global_cache (docs/global-cache.md)");
  if (!a.centre_id.empty()) cache->global_cache = a.centre_id;
  if (!a.brokers.empty()) {
    o.brokers.clear();
    for (const auto& url : a.brokers) {
      BrokerOptions b;
      b.url = url;
      b.name = parse_broker_url(url).host;
      for (const auto& other : o.brokers)
        if (other.name == b.name) b.name += "-" + std::to_string(o.brokers.size() + 1);
      b.client_id = cache->global_cache + "-" + b.name;  // a persistent session across restarts
      o.brokers.push_back(std::move(b));
    }
  }
  if (o.brokers.empty())
    throw Error(ErrorCode::invalid_argument, "no broker: give --broker URL (a Global Broker, another Global Cache)");
  if (!a.store.empty()) cache->global_cache_store = a.store;
  if (!a.retention.empty()) {
    const auto ms = detail::config_duration_ms(a.retention);
    if (ms <= 0) throw Error(ErrorCode::invalid_argument, "--retention: not a duration: " + a.retention);
    cache->global_cache_retention = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::milliseconds(ms));
  }
  const int http_port = a.http_port == -2 ? 8080 : a.http_port;
  if (!a.base_url.empty())
    cache->global_cache_base_url = a.base_url;
  else if (cache->global_cache_base_url.empty())
    cache->global_cache_base_url = "http://127.0.0.1:" + std::to_string(http_port);
  if (!a.publish.empty()) {
    // The pipeline's first mqtt sink publishes to the given broker.
    bool set = false;
    for (auto& s : o.sinks)
      if (s.type == "mqtt" && std::find(cache->sinks.begin(), cache->sinks.end(), s.name) != cache->sinks.end()) {
        s.settings["url"] = a.publish;
        set = true;
        break;
      }
    if (!set) throw Error(ErrorCode::invalid_argument, "--publish: the Global Cache pipeline has no mqtt sink");
  }
  if (a.metrics_port != -2) o.metrics_port = a.metrics_port;

  block_stop_signals();  // before any thread starts

  std::unique_ptr<CacheDataServer> server;
  if (http_port != 0)  // 0: the store is served by another web server
    server = std::make_unique<CacheDataServer>(CacheDataServerOptions{cache->global_cache_store, "0.0.0.0", http_port});
  Monitor monitor(config);
  monitor.start();
  std::cerr << "wis2mon cache: " << cache->global_cache << ", " << o.brokers.size() << " broker(s), store "
            << cache->global_cache_store.string() << " served as " << cache->global_cache_base_url
            << (server ? " (port " + std::to_string(server->port()) + ")" : std::string()) << "; Ctrl-C stops\n";
  wait_for_stop("cache", a.duration);
  monitor.stop();
  server.reset();
  std::cout << summary_text(monitor.stats());
  return kExitOk;
}

}  // namespace

void add_cache_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<CacheArgs>();
  auto* cmd = app.add_subcommand("cache", "Run a WIS2 Global Cache: download, verify, store, serve, republish");
  cmd->add_option("config", a->config, "Config file with a global_cache pipeline (default: built in)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--broker", a->brokers, "Broker to take notifications from (repeatable)");
  cmd->add_option("--publish", a->publish, "The cache's own broker, where it republishes");
  cmd->add_option("--store", a->store, "Directory of the cached objects");
  cmd->add_option("--base-url", a->base_url, "URL the store is served at (default http://127.0.0.1:<http-port>)");
  cmd->add_option("--http-port", a->http_port, "Port of the built-in data server (default 8080; 0: none)");
  cmd->add_option("--centre-id", a->centre_id, "This cache's centre-id, e.g. xx-example-global-cache");
  cmd->add_option("--retention", a->retention, "Keep objects this long (at least 24h; e.g. 2d)");
  cmd->add_option("--metrics-port", a->metrics_port, "Port of /metrics and /health on 127.0.0.1 (0: off)");
  cmd->add_option("--duration", a->duration, "Stop cleanly after this many seconds");
  cmd->callback([a, &action] { action = [a] { return run_cache(*a); }; });
}

}  // namespace wis2mon::cli
