// Monitor: the whole WIS2 monitoring pipeline in one object.
//
//   brokers (MQTT) | push() | replay files
//     -> spool (durable; a message is ours once spooled, acknowledged to the broker after)
//     -> parse + validate -> router (topic filters) -> per pipeline: dedup -> fetch
//        (inline content or cache-aware download) -> decode (a registered Decoder) -> enrich
//     -> sinks (one SinkEngine each)
//     -> the spool entry is removed once every record it produced is Delivered or Rejected
//
//   auto config = wis2mon::load_monitor_config("wis2mon.yaml");   // or default_monitor_config()
//   wis2mon::Monitor monitor(config);
//   monitor.start();            // connects, subscribes, serves /metrics
//   ...                         // run until told to stop
//   monitor.stop();             // stops ingest, finishes work in flight, flushes sinks
//
// Threads: MQTT arrivals are spooled on paho's threads; one pipeline thread parses, routes,
// downloads (libcurl multi, driven from the pipeline thread) and decodes; each sink has its own
// worker; sink healthchecks have a thread of their own. Sinks made by add_sink_type run on
// their engine's worker; add_callback_sink callbacks on the thread calling poll()/drain()/stop().
// docs/architecture.md walks through all of it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wis2mon/availability.hpp"
#include "wis2mon/config.hpp"
#include "wis2mon/decoder.hpp"
#include "wis2mon/dedup.hpp"
#include "wis2mon/download.hpp"
#include "wis2mon/export.hpp"
#include "wis2mon/metrics.hpp"
#include "wis2mon/mqtt.hpp"
#include "wis2mon/notification.hpp"
#include "wis2mon/sensor.hpp"
#include "wis2mon/sink.hpp"

namespace wis2mon {

struct PipelineOptions {
  std::string name;
  std::vector<std::string> filters{"#"};  ///< MQTT topic filters the pipeline takes
  ValidationMode validation = ValidationMode::lenient;
  /// Also record invalid messages (as `notifications` rows with valid = 0). Only for decoder
  /// none; an invalid message is never downloaded or decoded.
  bool keep_invalid = false;
  std::optional<DedupPolicy> dedup;  ///< nullopt: every message is processed
  /// "none": one `notifications` record per message; otherwise the name of a registered
  /// Decoder (decoder.hpp; built in: "bufr" surface_obs, "cap" cap_alerts + cap_areas) that
  /// the downloaded (or inline) data is given to.
  std::string decoder = "none";
  /// Download the data even with decoder none (to store it under store_dir). Implied by a
  /// decoder.
  bool fetch = false;
  std::filesystem::path store_dir;  ///< keep each verified object here (empty: do not keep)
  /// "s3://bucket/prefix": keep each verified object in object storage instead, under
  /// <prefix>/<the store_dir layout> (storage_path_for(data_id)); store_dir is then the local
  /// staging folder (default wis2mon-staging/store-<name>), each file removed once uploaded.
  std::string store_url;
  std::string store_endpoint;  ///< S3-compatible server for store_url (empty: AWS)
  /// Enrichment: the "enrich" config table's keys (source, key_field, ...); empty: none.
  std::map<std::string, std::string> enrich;
  std::vector<std::string> sinks;  ///< names of MonitorOptions::sinks entries
  /// This cache's centre-id (e.g. "xx-example-global-cache"): the pipeline is a WIS2 Global
  /// Cache (docs/global-cache.md; WIS2 Guide 2.7.4). It ignores recommended data, downloads
  /// each new or updated core item once (dedup data_id_pubtime is implied), verifies it, keeps
  /// it under global_cache_store, and emits one `cache_messages` record per item: the message
  /// to republish (new id, canonical href under global_cache_base_url, properties.global-cache)
  /// and its cache/a/wis2/... topic, for an mqtt sink (topic_field topic, payload_field
  /// message). Items with "cache": false, or declined (larger than global_cache_max_object_bytes,
  /// or over global_cache_max_items_per_minute), are republished with only a new id; a declined
  /// item also gives a WIS2 Monitoring Event record on monitor/a/wis2/<its centre-id>.
  std::string global_cache;
  std::string global_cache_base_url;                ///< where global_cache_store is served
  std::filesystem::path global_cache_store;         ///< the objects, at storage_path_for(data_id)
  std::uint64_t global_cache_max_object_bytes = 0;  ///< larger items are declined (0: no limit)
  /// More core items than this from one centre in a minute are declined for the rest of that
  /// minute (Guide 2.7.4.1: "an excessive number of small files"; 0: no limit).
  std::uint64_t global_cache_max_items_per_minute = 0;
  /// fsync each stored object (and its folder) before it is announced: survives power loss,
  /// at the cost of one disk flush per object. Off: the object is renamed into place whole
  /// (a crashed process never leaves half an object), and the kernel writes it back.
  bool store_fsync = false;
  /// Objects last written longer ago are deleted (and answer 404), by a background thread in
  /// steps; at least 24 hours (WIS2 Guide 2.7.4.2).
  std::chrono::seconds global_cache_retention{std::chrono::hours(24)};
  /// scgc.centre_id set: the pipeline is a Sensor Centre for Global Caches (WIS2 Guide 3.3.3;
  /// docs/sensor-centre.md). Origin notifications open watches, cache notifications are
  /// checked with an HTTP HEAD of their link and timed (no dedup, nothing downloaded); the
  /// wmo_wis2_scgc_* metrics go on /metrics, and each completed hour gives a
  /// `monitor_events` record (topic monitor/a/wis2/<centre-id>, the WME announcing the log)
  /// for the pipeline's sinks.
  ScgcOptions scgc;
};

/// The schema of the events a pipeline emits for publication: topic, message.
WIS2MON_API const RecordSchemaPtr& monitor_events_schema();

/// The schema of a Global Cache pipeline's records: topic, message, data_id, pubtime, cached.
WIS2MON_API const RecordSchemaPtr& cache_messages_schema();

struct SinkSpec {
  std::string name;
  std::string type;  ///< sqlite, ndjson, influxdb, or a name given to Monitor::add_sink
  /// The sink's and the engine's keys (sink_config_table(type) and "engine").
  std::map<std::string, std::string> settings;
};

struct MonitorOptions {
  std::vector<BrokerOptions> brokers;
  /// Filters every broker subscribes to when its own list is empty.
  std::vector<std::string> subscriptions{"origin/a/wis2/#", "cache/a/wis2/#"};
  std::vector<SinkSpec> sinks;
  std::vector<PipelineOptions> pipelines;

  /// The durable spool's SQLite file. Empty (the default): in memory, and the monitor writes
  /// no file it was not given: embedded, the event source is the durable store (a broker's
  /// persistent session, a Kinesis stream, a queue). `wis2mon run` uses wis2mon-spool.db.
  std::filesystem::path spool;
  std::size_t spool_high_water = 100000;
  bool spool_synchronous_full = false;
  /// Dead letters (invalid messages, failed downloads, records no sink took). Empty: in the
  /// spool's file.
  std::filesystem::path dead_letters;
  /// Where the dead letters are: dead_letters, or the spool's file (in memory with the spool).
  std::filesystem::path dead_letter_file() const {
    return !dead_letters.empty() ? dead_letters : spool.empty() ? std::filesystem::path(":memory:") : spool;
  }
  /// Dedup memory: empty keeps it in memory (lost on restart); a path keeps it in SQLite.
  std::filesystem::path dedup_store;
  std::chrono::seconds dedup_ttl{std::chrono::hours(24)};
  /// Check topics against the WIS2 Topic Hierarchy (form and built-in levels).
  bool validate_topics = true;
  /// A WIS2 Global Replay service (GREP: an OGC API - Features endpoint keeping recent
  /// notifications) and its collection, for Monitor::backfill and `wis2mon backfill`.
  std::string replay_url;
  std::string replay_collection = "wis2-notification-messages";
  /// With a replay_url: when a broker connection comes back without its session (the broker
  /// forgot it, or clean_start), fetch what was published since that broker's last message
  /// (kept in the spool's file across restarts) from the replay service, widened by
  /// backfill_margin on both sides and at most backfill_max_window long.
  bool backfill_after_gap = true;
  std::chrono::seconds backfill_margin{300};
  std::chrono::seconds backfill_max_window{std::chrono::hours(24)};
  /// A pubtime further ahead of the arrival time than this is a warning (pubtime.future) and
  /// is recorded for dedup as the time it was handled, so it never blocks a later update of
  /// the item (0: no check, pubtimes taken as given).
  std::chrono::seconds max_pubtime_skew{600};

  DownloadOptions download;
  SourcePolicy sources;

  std::string metrics_host = "127.0.0.1";
  int metrics_port = 0;  ///< 0: no HTTP endpoint; -1: any free port (see Monitor::metrics_port())
  /// The control API under /api/control/ on that endpoint (docs/dashboard.md): list, add and
  /// remove subscriptions and pipelines' filters at run time, retry or purge dead letters.
  /// Empty: off. Every request must carry "Authorization: Bearer <token>" (else 401, logged).
  std::string control_token;
  /// Refuse to start (false) when the control API would listen on a host other than loopback.
  bool control_allow_remote = false;
  std::chrono::milliseconds status_interval{30000};  ///< one status line this often (0: never)
  std::chrono::milliseconds health_interval{30000};  ///< sink healthchecks this often (0: only at start)
  std::size_t batch = 512;                           ///< spool entries taken at once
  /// Where log lines go; default: stderr with a UTC time stamp.
  std::function<void(std::string_view)> log;
  /// scgb.centre_id set: the monitor is also a Sensor Centre for Global Brokers (WIS2 Guide
  /// 3.3.2; docs/sensor-centre.md): every message from each broker (named by its
  /// global_broker) is counted before any dedup, wmo_wis2_scgb_* metrics and, per origin
  /// centre, the messages a broker did not deliver while another did.
  ScgbOptions scgb;
  /// availability.centre_id set: the monitor keeps station availability and findings
  /// (docs/sensor-centre.md#station-availability): every notification counts for its centre
  /// (once, as the pipelines' dedup sees it), every surface_obs record for its station; each
  /// closed hour gives `availability` rows, `findings` rows and WIS2 Monitoring Events. The
  /// Sensor Centre roles' misses (scgc pipelines, scgb) feed the cache_missing and
  /// broker_missing findings.
  AvailabilityOptions availability;
  std::vector<std::string> availability_sinks;        ///< sinks of the availability and findings rows
  std::vector<std::string> availability_event_sinks;  ///< sinks of the events (monitor_events: topic, message)
  /// The time arrivals are stamped with and the Sensor Centres run on; empty: the system
  /// clock. Tests drive it to make delays and hours exact.
  std::function<Timestamp()> clock;
};

/// How far a backfill got (Monitor::backfill).
struct BackfillProgress {
  bool ok = true;
  std::string error;        ///< why it stopped, when not ok
  std::size_t pages = 0;    ///< pages read
  std::size_t fed = 0;      ///< notifications spooled
  std::size_t skipped = 0;  ///< items outside the filters
};

/// A window of notifications to fetch from a WIS2 Global Replay service (Monitor::backfill).
struct BackfillRequest {
  Timestamp since, until;                                ///< the window, on the service's time field (GREP: pubtime)
  std::vector<std::string> filters;                      ///< topic filters; empty: everything
  std::string url;                                       ///< empty: MonitorOptions::replay_url
  std::string collection;                                ///< empty: MonitorOptions::replay_collection
  std::size_t page_size = 1000;                          ///< items asked for per page (GREP allows up to 10,000)
  std::function<void(const BackfillProgress&)> on_page;  ///< after each page: progress
};

/// The effective configuration read from a file, ready to run.
struct MonitorConfig {
  MonitorOptions options;
  std::string source;     ///< the file it came from ("" for the default)
  std::string effective;  ///< the effective configuration as YAML (defaults filled in)
};

/// The default configuration: a `notifications` pipeline for everything (message-id dedup),
/// a `surface_obs` pipeline for `+/a/wis2/+/data/core/weather/surface-based-observations/#`
/// (BUFR) and a `cap` pipeline for `+/a/wis2/+/data/core/weather/advisories-warnings/#`
/// (CAP), both with data_id+pubtime dedup, all into one SQLite database `wis2mon.db`; no
/// broker.
WIS2MON_API MonitorConfig default_monitor_config();

/// Reads a YAML or JSON config file (JSON when it starts with '{'). Every key is checked
/// against its table; problems are collected and thrown as one Error(invalid_argument) naming
/// the file and each key.
WIS2MON_API MonitorConfig load_monitor_config(const std::filesystem::path& file);
/// The same from text (`origin` names it in errors).
WIS2MON_API MonitorConfig parse_monitor_config(std::string_view text, const std::string& origin = "config");

/// What a Monitor made from this configuration would refuse when nothing is added from code
/// (no add_callback_sink, no add_sink_type): pipelines without sinks, `callback` sinks, sink
/// values their kind refuses (SinkKind::check), enrichment tables that cannot be loaded. Empty
/// when `wis2mon run` would accept it; `wis2mon config check` prints these.
WIS2MON_API std::vector<std::string> check_monitor_config(const MonitorConfig& config);

/// The configuration reference in Markdown: every section's keys with type, default and
/// description, the sink kinds and decoders registered now. docs/configuration.md is this
/// text (`wis2mon config docs`; a test fails when they differ).
WIS2MON_API std::string monitor_config_reference();

/// The effective configuration as YAML, every key with its value (defaults included).
WIS2MON_API std::string dump_monitor_config(const MonitorConfig& config);

/// The config tables of the file's sections: "monitor", "metrics", "download", "dedup",
/// "broker", "pipeline" (sinks use sink_config_table, enrichment enrich_config_table).
WIS2MON_API const ConfigTable& monitor_config_table(const std::string& section);

/// A snapshot of what the monitor did (this run).
struct MonitorStats {
  std::uint64_t received = 0;    ///< messages taken from the spool
  std::uint64_t valid = 0;       ///< parsed and valid
  std::uint64_t invalid = 0;     ///< not JSON, or failed validation
  std::uint64_t duplicates = 0;  ///< dropped by a pipeline's dedup
  std::uint64_t unrouted = 0;    ///< matched no pipeline
  std::uint64_t downloads = 0;   ///< objects fetched and verified (or inline content used)
  std::uint64_t download_failures = 0;
  std::uint64_t decode_failures = 0;     ///< objects that gave no record (dead-lettered)
  std::uint64_t decode_part_errors = 0;  ///< errors in objects that gave records (a bad message of several)
  std::uint64_t records = 0;             ///< handed to sinks
  std::uint64_t dead_letters = 0;        ///< new dead letters: messages (per stage) and records sinks gave up on
  std::uint64_t backfilled = 0;          ///< notifications fetched from the replay service and spooled
  /// Global Cache pipelines: items stored and republished pointing at the copy; items
  /// republished uncached ("cache": false or declined); of those, declined by this cache
  /// (each also announced by a WIS2 Monitoring Event).
  std::uint64_t gc_cached = 0, gc_uncached = 0, gc_declined = 0;
  std::map<std::string, std::uint64_t> records_per_table;
  /// Per sink: what its engine delivered, gave up on (rejected, out_of_retries) and holds.
  std::map<std::string, SinkEngineStats> sinks;
  std::size_t spool_stored = 0;
  std::size_t in_progress = 0;  ///< spool entries taken and not yet finished
};

/// The counters as one JSON object, with the names of the members above (what the C API's
/// wis2mon_monitor_stats_json and Python's Monitor.stats() give).
WIS2MON_API std::string to_json(const MonitorStats& s);

/// Dead letters as a JSON array (what the C API's wis2mon_monitor_dead_letters_json and
/// Python's Monitor.dead_letters() give): each {id, sink, table, record (the record's fields:
/// a message's topic, payload, source, received, pipeline), status, reason, attempts, failed_at}.
WIS2MON_API std::string to_json(const std::vector<DeadLetterStore::Entry>& dead_letters);

enum class MonitorState { configured, running, stopped };

/// Lifecycle: constructed (configured) -> start() -> running -> stop() -> stopped. A stopped
/// monitor cannot start again. Methods called in a state that does not allow them throw
/// Error(ErrorCode::state).
///
/// Threads: every method is safe to call from any thread unless it says otherwise. start(),
/// stop() and the add_* methods are serialised by the monitor (one at a time); a drain() in
/// progress returns false as soon as stop() begins. Callback sinks added
/// with add_callback_sink run only inside poll(), drain() and stop(), on the calling thread,
/// and one thread at a time.
class WIS2MON_API Monitor {
 public:
  /// Opens the spool, dedup store, dead letters and sinks, and checks every name (sinks a
  /// pipeline uses, filters, decoders). Does not connect. Throws Error on bad options.
  explicit Monitor(MonitorOptions options);
  explicit Monitor(const MonitorConfig& config) : Monitor(config.options) {}
  ~Monitor();  ///< stop()
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  /// Supplies the sinks of SinkSpecs whose type is `type`, for this monitor only (a
  /// SinkKind without a config table: the spec's settings other than the engine's are
  /// passed as they are). For a kind that config files may name, use register_sink_kind
  /// (sink.hpp) before reading them. Before start(), else Error(state).
  void add_sink_type(const std::string& type, std::function<std::shared_ptr<Sink>(const SinkSpec&)> make);

  /// A sink whose records are handed to `fn` on the thread that calls poll() (or drain() or
  /// stop()), never on an internal thread: the way to run code that must stay on one thread
  /// (a C caller's, Python's). `fn` answers per record like any sink (Delivered, Retry,
  /// Rejected); an exception counts as Retry for its batch and is rethrown from poll().
  /// A sink named `name` in the options (type `callback`) gets this function; with no such
  /// sink one is added and every pipeline writes to it. Before start(), else Error(state).
  void add_callback_sink(const std::string& name, std::function<std::vector<Delivery>(const std::vector<Record>&)> fn);

  /// Runs the callback sinks' waiting records on this thread, waiting up to `timeout` for
  /// the first batch. Returns the number of records handed to callbacks. Error(state) after
  /// stop().
  std::size_t poll(std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  /// Starts the pipeline thread, the sink healthchecks (the first round runs here, so an
  /// unhealthy sink is logged before traffic flows), the metrics endpoint and the broker
  /// connections. Calling it again while running does nothing; after stop(): Error(state).
  /// Throws Error(io) when the metrics port is taken (by another monitor, say).
  void start();
  /// Spools one message as if it had arrived from `source` (replay, Lambda events, tests).
  /// Allowed before start() (processed once started). Blocks while the spool is above its
  /// high-water mark. Error(state) after stop().
  void push(std::string_view topic, std::string_view payload, std::string_view source = "push");
  /// Fetches what the replay service kept for the window and spools each notification as
  /// arriving from "backfill" (processed like any message: dedup makes what the monitor
  /// already had harmless). Blocks until the last page is fetched, not until it is processed
  /// (drain() waits for that). Throws Error(invalid_argument) without a service URL or for a
  /// bad filter, Error(state) after stop(); a service that fails answers ok false with why.
  BackfillProgress backfill(const BackfillRequest& request);
  /// Waits until the spool is empty and every sink settled what it was given; false on
  /// timeout. Runs callback sinks meanwhile. Error(state) unless running.
  bool drain(std::chrono::milliseconds timeout);
  /// Disconnects from the brokers, finishes the entries in progress (waiting up to `grace`
  /// for downloads and sinks), flushes and closes the sinks. Entries not yet taken stay in
  /// the spool for the next run. Idempotent; any state.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(30));

  MonitorState state() const noexcept;
  MonitorStats stats() const;

  /// Dead letters, oldest first: records a sink gave up on (`sink` is its name) and messages
  /// a stage refused (`sink` is the stage: validate, download, decode, internal; table
  /// `messages`, the record holding topic, payload, source, received and pipeline; `reason`
  /// the errors). `sink` non-empty: only those. From the monitor's store and any sink's own.
  std::vector<DeadLetterStore::Entry> dead_letters(std::size_t limit = 1000, const std::string& sink = "") const;
  /// Tries dead letters again (running only, else Error(state)): a sink's records go to that
  /// sink and leave the store once Delivered; messages go back into the spool (and leave the
  /// store; one that fails again is a new dead letter). Returns how many were handed back.
  std::size_t retry_dead_letters(const std::string& sink = "", std::size_t limit = 1000);
  /// Deletes dead letters (all, or `sink`'s); returns how many.
  std::size_t purge_dead_letters(const std::string& sink = "");

  /// One line: messages, valid, invalid, duplicates, downloads, records, spool size, brokers.
  std::string status_line() const;
  MetricsRegistry& metrics() noexcept;
  /// The metrics in Prometheus text format, gauges (spool, brokers, sinks) brought up to date:
  /// what /metrics serves.
  std::string metrics_text();
  /// What /health serves: {"status", "brokers_connected", "brokers", "spool", "messages",
  /// "broker_states": {name: {"connected", "reason"}}, "sinks": {name: {"healthy", "reason"}}};
  /// `ok` false (HTTP 503) when stopping, when no broker is connected, or when a sink failed
  /// its latest healthcheck.
  struct Health {
    bool ok = true;
    std::string json;
  };
  Health health() const;
  /// The port /metrics listens on (after start()), 0 when there is no endpoint.
  int metrics_port() const noexcept;
  /// Waits until every broker is connected and subscribed; false on timeout.
  bool wait_connected(std::chrono::milliseconds timeout);
  /// Per-broker state, in MonitorOptions::brokers order.
  std::vector<BrokerStats> broker_stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wis2mon
