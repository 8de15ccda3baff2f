// wis2mon run | replay | config check|dump | dlq list|retry|purge: the live monitor from the
// command line.
#include <rapidjson/document.h>

#include <algorithm>
#include <csignal>
#include <functional>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/monitor_setup.hpp"
#include "monitor/replay_service.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/monitor.hpp"
#include "wis2mon/spool.hpp"
#include "wis2mon/topic.hpp"

namespace wis2mon::cli {

MonitorConfig load_config_or_default(const std::string& file) {
  return file.empty() ? default_monitor_config() : load_monitor_config(file);
}

void apply_db_override(MonitorOptions& o, const std::string& db) {
  // --db postgresql://...: every sqlite sink becomes a postgresql sink on that database,
  // keeping the settings both kinds have (retention, engine keys).
  const bool postgres = db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0;
  for (auto& s : o.sinks) {
    if (db.empty() || s.type != "sqlite") continue;
    if (!postgres) {
      s.settings["path"] = db;
      continue;
    }
    s.type = "postgresql";
    for (const char* only_sqlite : {"path", "synchronous", "page_size", "busy_timeout"}) s.settings.erase(only_sqlite);
    s.settings["url"] = db;
  }
  // The program's spool is a file (a library's default is memory): wis2mon-spool.db, or next
  // to the database, so that two monitors with their own databases never share a spool.
  if (o.spool.empty()) {
    const std::filesystem::path p(db);
    o.spool = db.empty() || postgres ? std::filesystem::path("wis2mon-spool.db")
                                     : p.parent_path() / (p.stem().string() + "-spool.db");
  }
}

namespace {
sigset_t stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}
}  // namespace

void block_stop_signals() {
  const sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

void wait_for_stop(const char* who, double duration) {
  const sigset_t signals = stop_signals();
  const auto started = std::chrono::steady_clock::now();
  for (;;) {
    timespec tick{0, 200 * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      std::cerr << "wis2mon " << who << ": " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", stopping\n";
      return;
    }
    if (duration > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() >= duration)
      return;
  }
}

std::string summary_text(const MonitorStats& s) {
  std::string out = std::to_string(s.received) + " messages: " + std::to_string(s.valid) + " valid, " +
                    std::to_string(s.invalid) + " invalid, " + std::to_string(s.duplicates) + " duplicates, " +
                    std::to_string(s.downloads) + " downloads (" + std::to_string(s.download_failures) + " failed), " +
                    std::to_string(s.dead_letters) + " dead letters\n";
  out += "records:";
  if (s.records_per_table.empty()) out += " none";
  for (const auto& [table, n] : s.records_per_table) out += " " + table + " " + std::to_string(n);
  out += "\nsinks:";
  if (s.sinks.empty()) out += " none";
  // What each sink took, gave up on and still holds: records handed over are not records written.
  for (const auto& [name, e] : s.sinks) {
    out += " " + name + " " + std::to_string(e.delivered) + " written";
    if (e.rejected + e.out_of_retries > 0)
      out += " " + std::to_string(e.rejected + e.out_of_retries) + " dead letters (" + std::to_string(e.rejected) +
             " rejected, " + std::to_string(e.out_of_retries) + " out of retries)";
    if (e.queued > 0) out += " " + std::to_string(e.queued) + " waiting";
    out += ";";
  }
  if (out.back() == ';') out.pop_back();
  out += "\n";
  if (s.gc_cached + s.gc_uncached > 0)
    out += "global cache: " + std::to_string(s.gc_cached) + " cached, " + std::to_string(s.gc_uncached) +
           " republished uncached (" + std::to_string(s.gc_declined) + " declined)\n";
  if (s.backfilled > 0) out += "backfill: " + std::to_string(s.backfilled) + " notifications from the replay service\n";
  return out;
}

namespace {

// run and replay refuse what config check reports, with the same words.
void refuse_problems(const MonitorConfig& config) {
  const auto problems = check_monitor_config(config);
  if (problems.empty()) return;
  std::string m = (config.source.empty() ? std::string("configuration") : config.source) + ":";
  for (const auto& p : problems) m += "\n  - " + p;
  throw Error(ErrorCode::invalid_argument, m);
}

struct RunArgs {
  std::string config;
  std::vector<std::string> brokers;
  std::vector<std::string> subscribe;
  std::string db;
  int metrics_port = -2;  // -2: not given
  double duration = 0;
};

int run_run(const RunArgs& a) {
  auto config = load_config_or_default(a.config);
  auto& o = config.options;
  if (!a.brokers.empty()) {
    o.brokers.clear();
    for (const auto& url : a.brokers) {
      BrokerOptions b;
      b.url = url;
      const auto address = parse_broker_url(url);
      b.name = address.host;
      for (const auto& other : o.brokers)
        if (other.name == b.name) b.name = address.host + "-" + std::to_string(o.brokers.size() + 1);
      o.brokers.push_back(std::move(b));
    }
  }
  if (!a.subscribe.empty()) {
    o.subscriptions = a.subscribe;
    for (auto& b : o.brokers) b.subscriptions.clear();
  }
  apply_db_override(o, a.db);
  if (a.metrics_port != -2) o.metrics_port = a.metrics_port;
  if (o.brokers.empty())
    throw Error(ErrorCode::invalid_argument, "no broker: give --broker URL or list brokers in the config file");

  // Signals are taken by this thread only (blocked before any other thread starts).
  block_stop_signals();

  refuse_problems(config);
  Monitor monitor(config);
  monitor.start();
  std::cerr << "wis2mon run: " << o.brokers.size() << " broker(s), " << o.pipelines.size() << " pipeline(s), spool "
            << o.spool.string() << "; Ctrl-C stops\n";
  wait_for_stop("run", a.duration);
  monitor.stop();
  std::cout << summary_text(monitor.stats());
  // A run that never reached a broker did nothing it was asked to: say why, and fail.
  const auto brokers = monitor.broker_stats();
  if (std::none_of(brokers.begin(), brokers.end(), [](const BrokerStats& b) { return b.connects > 0; })) {
    std::cerr << "wis2mon run: never connected to a broker";
    for (std::size_t i = 0; i < brokers.size() && i < o.brokers.size(); ++i)
      std::cerr << (i ? "; " : ": ") << (o.brokers[i].name.empty() ? o.brokers[i].url : o.brokers[i].name) << ": "
                << (brokers[i].last_error.empty() ? "no answer yet" : brokers[i].last_error);
    std::cerr << "\n";
    return kExitUsage;
  }
  return kExitOk;
}

struct ReplayArgs {
  std::string config;
  std::string db;
  std::vector<std::string> files;
};

// Runs the pipelines of a config on what `produce` pushes (no broker; the spool is in memory,
// the source being durable; dead letters go where the live monitor keeps them), then prints
// the summary. `produce` answers false on an input error.
int feed_pipelines(MonitorConfig config, const std::string& db, const char* who,
                   const std::function<bool(Monitor&)>& produce) {
  auto& o = config.options;
  apply_db_override(o, db);
  o.dead_letters = o.dead_letter_file();
  o.spool = ":memory:";
  o.brokers.clear();
  refuse_problems(config);
  Monitor monitor(config);
  monitor.start();
  const bool ok = produce(monitor);
  while (!monitor.drain(std::chrono::seconds(5)))
    std::cerr << "wis2mon " << who << ": " << monitor.status_line() << "\n";
  monitor.stop();
  std::cout << summary_text(monitor.stats());
  return ok ? kExitOk : kExitUsage;
}

int run_replay(const ReplayArgs& a) {
  return feed_pipelines(load_config_or_default(a.config), a.db, "replay", [&](Monitor& monitor) {
    std::size_t pushed = 0;
    bool ok = true;
    for (const auto& file : a.files) {
      try {
        for_each_message(file, [&](std::size_t, std::string_view text) {
          rapidjson::Document doc;
          doc.Parse(text.data(), text.size());
          monitor.push(doc.HasParseError() ? std::string() : detail::topic_member(doc), text, "replay");
          if (++pushed % 10000 == 0) std::cerr << "wis2mon replay: " << pushed << " messages queued\n";
        });
      } catch (const Error& e) {
        std::cerr << "wis2mon replay: " << e.what() << "\n";
        ok = false;
      }
    }
    return ok;
  });
}

struct BackfillArgs {
  std::string config;
  std::string db;
  std::string since, until;
  std::vector<std::string> topics;
  std::string url;
  std::string collection;
  std::size_t page = 1000;
};

// The notifications a WIS2 Global Replay service kept for [since, until], page after page,
// through the same pipelines (Monitor::backfill); dedup and the keyed tables make what the
// monitor already had harmless.
int run_backfill(const BackfillArgs& a) {
  auto config = load_config_or_default(a.config);
  BackfillRequest r;
  r.url = a.url.empty() ? config.options.replay_url : a.url;
  r.collection = a.collection;
  if (r.url.empty())
    throw Error(ErrorCode::invalid_argument, "no replay service: give --url or monitor.replay_url in the config");
  const auto since = parse_rfc3339(a.since), until = parse_rfc3339(a.until);
  if (!since || !until || *until < *since)
    throw Error(ErrorCode::invalid_argument, "--since and --until must be RFC 3339 times, since <= until");
  for (const auto& f : a.topics)
    if (std::string why; !is_valid_filter(f, &why))
      throw Error(ErrorCode::invalid_argument, "--topic " + f + ": " + why);
  r.since = *since;
  r.until = *until;
  r.filters = a.topics;
  r.page_size = a.page;
  r.on_page = [](const BackfillProgress& p) {
    std::cerr << "wis2mon backfill: page " << p.pages << ", " << p.fed << " notifications fed"
              << (p.skipped ? ", " + std::to_string(p.skipped) + " outside --topic" : std::string()) << "\n";
  };
  return feed_pipelines(std::move(config), a.db, "backfill", [&](Monitor& monitor) {
    const auto p = monitor.backfill(r);
    if (!p.ok) std::cerr << "wis2mon backfill: " << p.error << "\n";
    return p.ok;
  });
}

std::filesystem::path dead_letter_file(const std::string& config_file, const std::string& explicit_path,
                                       const std::string& db) {
  if (!explicit_path.empty()) return explicit_path;
  auto config = load_config_or_default(config_file);
  apply_db_override(config.options, db);
  return config.options.dead_letter_file();
}

struct DlqArgs {
  std::string config;
  std::string file;
  std::string db;
  std::string sink;
  std::size_t limit = 100;
};

int run_dlq_list(const DlqArgs& a) {
  DeadLetterStore store(dead_letter_file(a.config, a.file, a.db));
  const auto entries = store.entries(a.limit, a.sink);
  for (const auto& e : entries)
    std::cout << e.id << "\t" << e.failed_at << "\t" << e.sink << "\t" << e.record_table << "\t" << e.reason << "\n";
  std::cerr << entries.size() << " shown, " << store.count() << " dead letters in all\n";
  return kExitOk;
}

int run_dlq_purge(const DlqArgs& a) {
  DeadLetterStore store(dead_letter_file(a.config, a.file, a.db));
  std::cout << store.purge(a.sink) << " dead letters deleted\n";
  return kExitOk;
}

// Messages (invalid, undownloadable, undecodable) go back into the spool for the next run;
// records no sink took are written to that sink again now.
int run_dlq_retry(const DlqArgs& a) {
  auto config = load_config_or_default(a.config);
  apply_db_override(config.options, a.db);
  DeadLetterStore store(a.file.empty() ? config.options.dead_letter_file() : std::filesystem::path(a.file));
  const auto entries = store.entries(a.limit, a.sink);
  std::vector<std::int64_t> requeued, delivered;
  std::size_t failed = 0;
  std::unique_ptr<Spool> spool;
  std::map<std::string, std::vector<std::pair<std::int64_t, Record>>> by_sink;
  for (const auto& e : entries) {
    Record r = Record::from_json(e.record_table, e.record_json);
    if (e.record_table == "messages") {
      if (!spool) {
        SpoolOptions so;
        so.path = config.options.spool;
        spool = std::make_unique<Spool>(so);
      }
      const auto* topic = r.get("topic");
      const auto* payload = r.get("payload");
      if (!topic || !payload || !std::holds_alternative<std::string>(*topic) ||
          !std::holds_alternative<std::string>(*payload)) {
        ++failed;
        continue;
      }
      spool->append("dlq", std::get<std::string>(*topic), std::get<std::string>(*payload));
      requeued.push_back(e.id);
    } else {
      by_sink[e.sink].emplace_back(e.id, std::move(r));
    }
  }
  for (auto& [sink_name, items] : by_sink) {
    const SinkSpec* spec = nullptr;
    for (const auto& s : config.options.sinks)
      if (s.name == sink_name) spec = &s;
    if (!spec || !find_sink_kind(spec->type)) {
      std::cerr << "wis2mon dlq retry: no sink named '" << sink_name
                << "' of a registered kind in the configuration (callback sinks live in their program)\n";
      failed += items.size();
      continue;
    }
    std::map<std::string, std::string> own, engine;
    split_sink_settings(spec->settings, own, engine);
    auto sink = make_sink(spec->type, spec->name, sink_config_table(spec->type).validate(own));
    std::vector<Record> batch;
    for (auto& [id, r] : items) batch.push_back(r);
    const auto answers = sink->write(batch);
    sink->close();
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i < answers.size() && answers[i].status == DeliveryStatus::delivered)
        delivered.push_back(items[i].first);
      else
        ++failed;
    }
  }
  store.remove(requeued);
  store.remove(delivered);
  std::cout << requeued.size() << " messages back in the spool, " << delivered.size() << " records delivered, "
            << failed << " still failing";
  // --limit bounds one run: say what it left untried, so nobody reads "0 failing" as "all done".
  const std::size_t left = store.count(a.sink) - failed;
  if (left > 0) std::cout << ", " << left << " not tried (--limit " << a.limit << "; run again)";
  std::cout << "\n";
  return failed || left ? kExitInvalid : kExitOk;
}

}  // namespace

void add_monitor_commands(CLI::App& app, Action& action) {
  {
    auto a = std::make_shared<RunArgs>();
    auto* cmd = app.add_subcommand("run", "Monitor WIS2 brokers: spool, validate, dedup, fetch, decode, store");
    cmd->add_option("config", a->config, "Config file (YAML or JSON); default: the built-in configuration")
        ->check(CLI::ExistingFile);
    cmd->add_option("--broker", a->brokers,
                    "Broker URL (repeatable): mqtt://[user:pass@]host[:port], mqtts://, wss://");
    cmd->add_option("--subscribe", a->subscribe, "Topic filter to subscribe to (repeatable)");
    cmd->add_option("--db", a->db, "SQLite database of the sqlite sinks (postgresql://...: those sinks on PostgreSQL)");
    cmd->add_option("--metrics-port", a->metrics_port, "Port of /metrics and /health on 127.0.0.1 (0: off)");
    cmd->add_option("--duration", a->duration, "Stop cleanly after this many seconds");
    cmd->callback([a, &action] { action = [a] { return run_run(*a); }; });
  }
  {
    auto a = std::make_shared<ReplayArgs>();
    auto* cmd =
        app.add_subcommand("replay", "Feed NDJSON notifications (optional \"topic\" member) through the pipelines");
    cmd->add_option("--config", a->config, "Config file (YAML or JSON)")->check(CLI::ExistingFile);
    cmd->add_option("--db", a->db, "SQLite database of the sqlite sinks (postgresql://...: those sinks on PostgreSQL)");
    cmd->add_option("files", a->files, "NDJSON files ('-' for stdin)")->required();
    cmd->callback([a, &action] { action = [a] { return run_replay(*a); }; });
  }
  {
    auto* cfg = app.add_subcommand("config", "Check or print a monitor configuration");
    cfg->require_subcommand(1);
    auto file = std::make_shared<std::string>();
    auto* check = cfg->add_subcommand("check", "Check a config file; print what it sets up");
    check->add_option("file", *file, "Config file")->required()->check(CLI::ExistingFile);
    check->callback([file, &action] {
      action = [file] {
        try {
          const auto c = load_monitor_config(*file);
          // What run would refuse beyond the file's own checks (the same words as run's).
          if (const auto problems = check_monitor_config(c); !problems.empty()) {
            std::cout << *file << ": " << problems.size() << " problem" << (problems.size() > 1 ? "s" : "");
            for (const auto& p : problems) std::cout << "\n  - " << p;
            std::cout << "\n";
            return kExitInvalid;
          }
          std::cout << *file << ": ok (" << c.options.brokers.size() << " brokers, " << c.options.pipelines.size()
                    << " pipelines, " << c.options.sinks.size() << " sinks)\n";
          return kExitOk;
        } catch (const Error& e) {
          std::cout << e.what() << "\n";
          return kExitInvalid;
        }
      };
    });
    auto* docs = cfg->add_subcommand("docs", "Print the configuration reference (docs/configuration.md) as Markdown");
    docs->callback([&action] {
      action = [] {
        std::cout << monitor_config_reference();
        return kExitOk;
      };
    });
    auto dump_file = std::make_shared<std::string>();
    auto* dump = cfg->add_subcommand("dump", "Print the effective configuration (defaults filled in) as YAML");
    dump->add_option("file", *dump_file, "Config file (default: the built-in configuration)")->check(CLI::ExistingFile);
    dump->callback([dump_file, &action] {
      action = [dump_file] {
        std::cout << dump_monitor_config(load_config_or_default(*dump_file));
        return kExitOk;
      };
    });
  }
  {
    auto a = std::make_shared<BackfillArgs>();
    auto* cmd = app.add_subcommand(
        "backfill", "Fetch [since, until] from a WIS2 Global Replay service and feed it through the pipelines");
    cmd->add_option("config", a->config, "Config file (YAML or JSON); default: the built-in configuration")
        ->check(CLI::ExistingFile);
    cmd->add_option("--since", a->since, "Start of the gap (RFC 3339)")->required();
    cmd->add_option("--until", a->until, "End of the gap (RFC 3339)")->required();
    cmd->add_option("--topic", a->topics, "Only notifications on topics matching this filter (repeatable)");
    cmd->add_option("--url", a->url, "The replay service's OGC API - Features endpoint (default: monitor.replay_url)");
    cmd->add_option("--collection", a->collection, "Its collection (default: monitor.replay_collection)");
    cmd->add_option("--db", a->db, "SQLite database of the sqlite sinks (postgresql://...: those sinks on PostgreSQL)");
    cmd->add_option("--page", a->page, "Notifications per request")->check(CLI::Range(1, 10000));
    cmd->callback([a, &action] { action = [a] { return run_backfill(*a); }; });
  }
  {
    auto* dlq = app.add_subcommand("dlq", "Dead letters: list, retry or purge");
    dlq->require_subcommand(1);
    const auto common = [](CLI::App* cmd, DlqArgs& a) {
      cmd->add_option("--config", a.config, "Config file (finds the dead-letter file)")->check(CLI::ExistingFile);
      cmd->add_option("--file", a.file, "The dead-letter SQLite file itself");
      cmd->add_option("--db", a.db, "As given to run/replay (the spool sits next to it)");
      cmd->add_option("--sink", a.sink, "Only entries of this sink or stage (validate, download, decode)");
      cmd->add_option("--limit", a.limit, "At most this many entries");
    };
    auto list_args = std::make_shared<DlqArgs>();
    auto* list = dlq->add_subcommand("list", "List dead letters: id, time, sink or stage, table, reason");
    common(list, *list_args);
    list->callback([list_args, &action] { action = [list_args] { return run_dlq_list(*list_args); }; });
    auto retry_args = std::make_shared<DlqArgs>();
    auto* retry = dlq->add_subcommand("retry", "Messages back into the spool; records written to their sink again");
    common(retry, *retry_args);
    retry->callback([retry_args, &action] { action = [retry_args] { return run_dlq_retry(*retry_args); }; });
    auto purge_args = std::make_shared<DlqArgs>();
    auto* purge = dlq->add_subcommand("purge", "Delete dead letters");
    common(purge, *purge_args);
    purge->callback([purge_args, &action] { action = [purge_args] { return run_dlq_purge(*purge_args); }; });
  }
}

}  // namespace wis2mon::cli
