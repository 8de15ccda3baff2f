// The Monitor: wiring. Spool -> parse/validate -> route -> per pipeline dedup, fetch, decode
// (a registered Decoder), enrich -> sink engines (registered sink kinds). Each spool entry's
// work holds a ticket of the CompletionLedger (monitor/completion_ledger.hpp), which removes
// the entry once every piece of that work is settled; the health of the sinks is watched by
// monitor/health_watch.hpp. docs/architecture.md walks through the threads and the data flow.
#include "wis2mon/monitor.hpp"
#include "common/thread_name.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "common/file.hpp"
#include "common/json_text.hpp"
#include "common/text.hpp"
#include "dashboard/api.hpp"
#include "dashboard/control_api.hpp"
#include "dashboard/dashboard_state.hpp"
#include "monitor/completion_ledger.hpp"
#include "monitor/health_watch.hpp"
#include "monitor/metrics_server.hpp"
#include "monitor/polled_sink.hpp"
#include "monitor/replay_service.hpp"
#include "objstore/uploader.hpp"
#include "wis2mon/cache.hpp"
#include "wis2mon/download.hpp"
#include "wis2mon/enrich.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/object_store.hpp"
#include "wis2mon/spool.hpp"
#include "wis2mon/topic.hpp"

namespace wis2mon {
namespace {

// Names this monitor in the claims of a shared dedup store, the same across its restarts (host
// and spool file), so that it takes back its claims for the entries its spool gives it again.
std::string dedup_owner(const MonitorOptions& o) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::error_code ec;
  const std::string spool =
      o.spool.empty() ? "memory-" + std::to_string(getpid()) : std::filesystem::absolute(o.spool, ec).string();
  return std::string(host) + ":" + spool;
}

using Clock = std::chrono::steady_clock;

void default_log(std::string_view line) {
  const std::string stamp = format_rfc3339(Timestamp::now(), 0);
  std::fprintf(stderr, "%s wis2mon: %.*s\n", stamp.c_str(), static_cast<int>(line.size()), line.data());
}

FieldValue text_or_null(std::string_view s) {
  return s.empty() ? FieldValue() : FieldValue(std::string(s));
}

std::string first_errors(const ValidationReport& report, std::size_t max = 5) {
  std::string out;
  for (std::size_t i = 0; i < report.errors().size() && i < max; ++i) {
    const auto& e = report.errors()[i];
    out += (i ? "; " : "") + e.rule + (e.path.empty() ? "" : " at " + e.path) + ": " + e.message;
  }
  if (report.errors().size() > max) out += "; ...";
  return out;
}

// The metric series of one centre, looked up once.
struct CentreSeries {
  MetricSeries* received;
  MetricSeries* valid;
  MetricSeries* invalid;
  MetricSeries* invalid_topic;
  MetricSeries* no_metadata;
  MetricSeries* duplicate;
  MetricSeries* last;
};

// The first `hex_digits` hex digits of the SHA-256 of `text` (the project's digest helper).
std::string sha256_hex(std::string_view text, std::size_t hex_digits) {
  unsigned char d[32];
  detail::compute_digest("sha256", text.data(), text.size(), d);
  return detail::hex_encode({reinterpret_cast<const char*>(d), std::min(sizeof d, hex_digits / 2)});
}

// Dedup key of a message's bytes (an invalid message has no id to trust).
std::string raw_key(std::string_view topic, std::string_view payload) {
  std::string text(topic);
  text += '\0';
  text += payload;
  return "raw:" + sha256_hex(text, 32);
}

std::string join_filters(const std::vector<std::string>& filters, const char* separator) {
  std::string out;
  for (const auto& f : filters) out += (out.empty() ? "" : separator) + f;
  return out.empty() ? "(none)" : out;
}

// 127.0.0.0/8, ::1, localhost: only this machine reaches it.
bool is_loopback_host(const std::string& host) {
  return host.rfind("127.", 0) == 0 || host == "::1" || host == "[::1]" || host == "localhost";
}

// "wis2mon-" and 12 hex digits (20 characters: MQTT 3.1.1 asks for at most 23).
std::string stable_client_id(const std::filesystem::path& spool, const std::string& url) {
  std::error_code ec;
  const auto absolute = std::filesystem::absolute(spool, ec);
  return "wis2mon-" + sha256_hex((ec ? spool : absolute).string() + "|" + url, 12);
}

}  // namespace

struct Monitor::Impl {
  // One pipeline, compiled.
  struct Pipeline {
    PipelineOptions o;
    std::shared_ptr<const Decoder> decoder;  // nullptr: decoder none
    std::optional<Deduplicator> dedup;
    std::optional<Enricher> enricher;
    std::vector<SinkEngine*> sinks;
    std::unique_ptr<ScgcTracker> scgc;  // a Sensor Centre for Global Caches
    // store_url: the objects kept under store_dir go up to object storage, then away.
    std::unique_ptr<detail::DirectoryUploader> store_uploader;
    // Global Cache: items per centre in the current minute (global_cache_max_items_per_minute).
    std::mutex gc_rate_mu;
    std::map<std::string, std::pair<std::int64_t, std::uint64_t>> gc_rate;
    bool fetch() const { return o.fetch || decoder != nullptr; }
    std::vector<std::string> configured_filters;  // o.filters as configured (the control API changes o.filters)
  };
  using Ticket = detail::CompletionLedger::Ticket;
  using State = MonitorState;

  MonitorOptions opt;
  std::function<void(std::string_view)> log;
  MetricsRegistry metrics;
  std::unique_ptr<Spool> spool;
  std::shared_ptr<DeadLetterStore> dead;
  std::shared_ptr<DedupStore> dedup_store;
  // Before everything that holds tickets (pipelines' downloads, sink engines): destroyed last.
  detail::CompletionLedger ledger;
  std::vector<std::unique_ptr<Pipeline>> pipelines;
  Router router;
  std::vector<std::size_t> route_to_pipeline;
  // This monitor's own sink kinds (add_sink_type, add_callback_sink), looked up before the
  // process-wide registry.
  std::map<std::string, std::function<std::shared_ptr<Sink>(const SinkSpec&)>> local_sink_kinds;
  std::map<std::string, std::unique_ptr<SinkEngine>> engines;
  // Records a sink gave up on after its retries go back to it once it is healthy again.
  struct Redrive {
    std::shared_ptr<DeadLetterStore> store;   // the dead letters this sink's engine writes
    std::size_t chunk = 1000;                 // records re-driven at once (the engine's batch)
    std::atomic<std::size_t> outstanding{0};  // re-driven records not yet settled
    std::atomic<bool> failed{false};          // one of them failed again
    std::atomic<Clock::rep> next{0};          // not before (steady clock ticks); the engine's thread resets it
  };
  std::map<std::string, Redrive> redrives;
  std::vector<std::shared_ptr<DeadLetterStore>> dead_letter_stores() const;
  std::unique_ptr<detail::HealthWatch> health_watch;
  std::shared_ptr<detail::PolledCallbacks> polled = std::make_shared<detail::PolledCallbacks>();
  bool has_polled = false;
  std::unique_ptr<Downloader> downloader;
  SourceSelector selector;
  std::vector<std::unique_ptr<MqttSubscriber>> subscribers;
  std::unique_ptr<detail::MetricsServer> server;
  std::unordered_map<std::string, CentreSeries> centres;
  // What the dashboard shows beyond the counters (fed by the pipeline thread).
  detail::DashboardState dashboard;

  // ---- gaps in a broker's stream, fetched from the replay service --------------------------
  struct BrokerSeen {
    std::string name;
    const MqttSubscriber* subscriber = nullptr;  // its subscriptions now (the control API's too)
    std::atomic<std::int64_t> last{0};           // wall-clock second of its latest message (0: none yet)
    std::int64_t saved = 0;                      // the value last written to the spool's file
    std::string mark() const { return "last_message:" + name; }
  };
  std::vector<std::unique_ptr<BrokerSeen>> seen;
  Clock::time_point marks_saved;
  std::string spool_error;  // the spool's flush_error last logged
  struct Gap {
    BrokerSeen* broker = nullptr;
    std::int64_t connected = 0;  // when the connection without the session came
    BackfillRequest request;
  };
  std::mutex gap_mu;
  std::condition_variable gap_cv;
  std::deque<Gap> gaps;
  std::atomic<bool> stop_backfill{false};
  std::thread backfiller;
  std::mutex replay_mu;
  std::unique_ptr<Downloader> replay_http;  // made when first needed; closed by stop()
  std::atomic<std::uint64_t> backfilled{0};

  // Global Cache pipelines: their stores' expiry, in its own thread (ingest never waits on it).
  std::thread expirer;
  std::mutex expiry_mu;
  std::condition_variable expiry_cv;
  bool stop_expiry = false;

  void run_expiry() {
    std::unique_lock lock(expiry_mu);
    while (!stop_expiry) {
      lock.unlock();
      for (const auto& p : pipelines) {
        if (p->o.global_cache.empty()) continue;
        try {
          const auto gone = expire_cache_objects(p->o.global_cache_store, p->o.global_cache_retention);
          if (gone > 0) log("global cache " + p->o.name + ": " + std::to_string(gone) + " expired objects deleted");
        } catch (const std::exception& ex) {
          log("global cache " + p->o.name + ": expiry: " + ex.what());
        }
      }
      lock.lock();
      expiry_cv.wait_for(lock, std::chrono::minutes(1), [this] { return stop_expiry; });
    }
  }

  std::thread worker;
  std::mutex lifecycle_mu;  // start(), stop(), add_sink_type(), add_callback_sink()
  std::mutex service_mu;    // one thread at a time runs callback sinks
  std::atomic<State> state{State::configured};
  std::atomic<bool> stopping{false};
  std::atomic<bool> serving{false};  // the endpoint's handlers may read engines and subscribers
  // A Sensor Centre for Global Brokers, and the Global Broker each broker (by name) reaches.
  std::unique_ptr<ScgbTracker> scgb;
  std::map<std::string, std::string, std::less<>> global_broker_of;
  // Station availability and findings, and the sinks of their rows and events.
  std::unique_ptr<AvailabilityTracker> availability;
  std::vector<SinkEngine*> availability_sinks, availability_event_sinks;

  Timestamp now() const { return opt.clock ? opt.clock() : Timestamp::now(); }

  // Stats (pipeline thread writes; anyone reads).
  std::atomic<std::uint64_t> received{0}, valid{0}, invalid{0}, duplicates{0}, unrouted{0}, downloads{0},
      download_failures{0}, decode_failures{0}, decode_part_errors{0}, records{0}, dead_letters{0}, gc_cached{0},
      gc_uncached{0}, gc_declined{0};
  mutable std::mutex table_mu;
  std::map<std::string, std::uint64_t> per_table;

  explicit Impl(MonitorOptions o)
      : opt(std::move(o)),
        log(opt.log ? opt.log : default_log),
        ledger([this](std::string_view line) { log(line); }),
        selector(opt.sources) {}

  void require(bool allowed, const char* what) const {
    if (allowed) return;
    const State s = state;
    throw Error(ErrorCode::state, std::string("monitor: ") + what +
                                      (s == State::stopped   ? " after stop()"
                                       : s == State::running ? " after start()"
                                                             : " before start()"));
  }

  CentreSeries& centre(std::string_view id) {
    auto it = centres.find(std::string(id));
    if (it != centres.end()) return it->second;
    const Labels l{{"centre_id", std::string(id)}};
    CentreSeries s{&metrics.counter("wmo_wis2_gb_messages_received_total", l),
                   &metrics.counter("wis2mon_messages_valid_total", l),
                   &metrics.counter("wmo_wis2_gb_messages_invalid_format_total", l),
                   &metrics.counter("wmo_wis2_gb_messages_invalid_topic_total", l),
                   &metrics.counter("wmo_wis2_gb_messages_no_metadata_total", l),
                   &metrics.counter("wis2mon_messages_duplicate_total", l),
                   &metrics.gauge("wmo_wis2_gb_last_message_timestamp_seconds", l)};
    return centres.emplace(std::string(id), s).first->second;
  }

  // ---- completion: entries the ledger completed are removed from the spool ---------------

  void flush_completed() {
    auto ids = ledger.take_completed();
    ids.insert(ids.end(), not_removed.begin(), not_removed.end());
    if (ids.empty()) return;
    try {
      spool->done(ids);
      if (!not_removed.empty()) log("spool: " + std::to_string(not_removed.size()) + " finished entries removed now");
      not_removed.clear();
    } catch (const std::exception& e) {
      // A full disk: tried again on every turn of the loop, so the entries are not stuck
      // until a restart once the disk has room again.
      if (not_removed.empty()) log(std::string("spool: cannot remove finished entries (will retry): ") + e.what());
      not_removed = std::move(ids);
    }
  }
  std::vector<std::int64_t> not_removed;  // finished entries whose removal failed

  // ---- sinks that gave up -----------------------------------------------------------------

  // Every give-up is logged with its reason and counted (summary, metrics).
  void gave_up(const SinkGiveUp& g) {
    std::string line = "sink '" + g.sink + "': " + std::to_string(g.records) + " record" + (g.records == 1 ? "" : "s") +
                       " to the dead letters after " + std::to_string(g.attempts) + " attempt" +
                       (g.attempts == 1 ? "" : "s") + ": " + g.reason;
    if (g.new_dead_letters < g.records)
      line += " (" + std::to_string(g.records - g.new_dead_letters) + " already there)";
    log(line);
    dead_letters += g.new_dead_letters;
    metrics.counter("wis2mon_dead_letters_total", {{"stage", "sink"}, {"sink", g.sink}})
        .inc(static_cast<double>(g.new_dead_letters));
  }

  // Out-of-retries dead letters of a healthy sink are submitted to it again, a chunk at a
  // time; the next chunk goes at once when the last was all delivered, else after an interval.
  void redrive_dead_letters() {
    if (!health_watch) return;
    const auto interval = opt.health_interval.count() > 0 ? std::chrono::milliseconds(opt.health_interval)
                                                          : std::chrono::milliseconds(30000);
    const auto now = Clock::now();
    std::map<std::string, SinkHealth> health;
    for (auto& [name, r] : redrives) {
      if (!r.store || r.outstanding > 0 || now.time_since_epoch().count() < r.next) continue;
      if (health.empty()) health = health_watch->latest();
      const auto h = health.find(name);
      r.next = (now + interval).time_since_epoch().count();
      if (h == health.end() || !h->second.ok) continue;
      std::vector<DeadLetterStore::Entry> entries;
      try {
        entries = r.store->entries(r.chunk, name, DeliveryStatus::retry);
      } catch (const std::exception& e) {
        log("dead letters of sink '" + name + "': " + e.what());
        continue;
      }
      if (entries.empty()) continue;
      log("sink '" + name + "' is healthy: " + std::to_string(entries.size()) + " of its dead letters go to it again");
      r.failed = false;
      r.outstanding = entries.size();
      for (const auto& e : entries) {
        bool queued = false;
        try {
          queued = engines.at(name)->submit(Record::from_json(e.record_table, e.record_json),
                                            static_cast<std::uint64_t>(e.id));
        } catch (const std::exception& ex) {
          log("dead letter " + std::to_string(e.id) + ": " + ex.what());
        }
        if (!queued) {
          r.failed = true;
          --r.outstanding;
        }
      }
    }
  }

  // A re-driven record (its tag is its dead letter's id) settled.
  void redriven(const std::string& sink, DeliveryStatus status, std::uint64_t id) {
    auto& r = redrives.at(sink);
    if (status == DeliveryStatus::delivered) {
      try {
        r.store->remove({static_cast<std::int64_t>(id)});
      } catch (const std::exception& e) {
        log("dead letters of sink '" + sink + "': " + e.what());
      }
    } else {
      r.failed = true;
    }
    if (--r.outstanding == 0 && !r.failed) r.next = 0;  // all delivered: the next chunk now
  }

  // ---- dead letters -----------------------------------------------------------------------

  void dead_letter_message(const SpoolEntry& e, const std::string& stage, const std::string& reason,
                           const std::string& pipeline = "") {
    ++dead_letters;
    metrics.counter("wis2mon_dead_letters_total", {{"stage", stage}}).inc();
    if (!dead) return;
    Record r("messages");
    r.add("source", e.source).add("topic", e.topic).add("payload", e.payload).add("received", e.received);
    r.add("pipeline", pipeline);
    // One dead letter per message and stage: the same bytes on the same topic are the same
    // message, whenever and from whichever broker they arrive (a broker redelivers a message
    // whose acknowledgement a crash cut off, after the spool had kept it).
    std::string identity = e.topic;
    identity.append(1, '\0').append(e.payload).append(1, '\0').append(pipeline);
    try {
      dead->add(stage, r, DeliveryStatus::rejected, reason, e.attempts + 1, identity);
    } catch (const std::exception& ex) {
      log(std::string("dead letters: ") + ex.what());
    }
  }

  // ---- records out ------------------------------------------------------------------------

  // Each record at each sink holds a share of the entry's ticket until it is settled; a
  // record dropped by a full queue (drop policy) releases its share at once.
  void submit_records(Pipeline& p, std::vector<Record>& out, const Ticket& ticket) {
    if (p.enricher) p.enricher->apply(out);
    {
      std::lock_guard lock(table_mu);
      for (const auto& r : out) ++per_table[r.table()];
    }
    records += out.size();
    for (std::size_t s = 0; s < p.sinks.size(); ++s)
      for (auto& r : out) {
        if (s + 1 == p.sinks.size())
          p.sinks[s]->submit(std::move(r), ticket.share());
        else
          p.sinks[s]->submit(r, ticket.share());
      }
  }

  // The notifications record: the notification's own fields from the shared field table,
  // then where and how the message came.
  Record notification_record(const SpoolEntry& e, const Notification& n, const ValidationReport& report,
                             std::string_view centre_id) {
    static const NotificationField* const from_message[] = {
        find_notification_field("id"), find_notification_field("data_id"), find_notification_field("metadata_id"),
        find_notification_field("pubtime"), find_notification_field("datetime")};
    static const NotificationField* const data_url = find_notification_field("data_url");
    Record r(notifications_schema());
    std::size_t i = 0;
    const auto put = [&](FieldValue v) { r.value(i++) = std::move(v); };
    for (const auto* f : from_message) put(f->value(n));
    // An invalid message without a data_id still gets an identity, its bytes' hash, so that a
    // repeat (an entry processed again after a crash, the broker's at-least-once redelivery)
    // replaces its row instead of adding one: the key column would otherwise be NULL.
    const auto& data_id = r.value(1);
    const bool no_data_id = std::holds_alternative<std::monostate>(data_id) ||
                            (std::holds_alternative<std::string>(data_id) && std::get<std::string>(data_id).empty());
    if (no_data_id && !report.valid()) r.value(1) = raw_key(e.topic, e.payload);
    put(e.topic);
    put(text_or_null(centre_id));
    put(report.valid());
    put(text_or_null(first_errors(report)));
    put(data_url->value(n));
    put(static_cast<std::int64_t>(e.payload.size()));
    put(text_or_null(e.source));
    put(e.received);
    return r;
  }

  // ---- the Global Cache (WIS2 Guide 2.7.4.2) -----------------------------------------------

  // Guide 2.7.4.1: a cache "may decide not to cache data ... too large, or if a WIS2 Node
  // publishes an excessive number of small files"; it then behaves as though cache were false.
  std::optional<CacheDeclinedItem> declined(Pipeline& p, const SpoolEntry& e, const Notification& n,
                                            std::string_view centre_id) {
    const Link* link = n.data_link();
    CacheDeclinedItem d;
    if (const auto limit = p.o.global_cache_max_object_bytes;
        limit > 0 && link && link->length && *link->length > 0 && static_cast<std::uint64_t>(*link->length) > limit) {
      d.reason = CacheDeclineReason::too_large;
      d.announced = static_cast<std::uint64_t>(*link->length);
      d.limit = limit;
    } else if (const auto per_minute = p.o.global_cache_max_items_per_minute; per_minute > 0) {
      const std::int64_t minute = Timestamp::now().seconds / 60;
      std::lock_guard lock(p.gc_rate_mu);
      auto& [at, count] = p.gc_rate[std::string(centre_id)];
      if (at != minute) at = minute, count = 0;
      if (++count <= per_minute) return std::nullopt;
      d.reason = CacheDeclineReason::too_many_items;
      d.announced = count;
      d.limit = per_minute;
    } else {
      return std::nullopt;
    }
    d.cache_centre_id = p.o.global_cache;
    d.centre_id = std::string(centre_id);
    d.topic = e.topic;
    d.data_id = std::string(n.data_id());
    d.pubtime = std::string(n.pubtime_text());
    if (link) d.href = std::string(link->href);
    return d;
  }

  Record cache_record(const SpoolEntry& e, const Notification& n, std::string message, bool cached) {
    Record r(cache_messages_schema());
    r.set("topic", cache_topic_for(e.topic));
    r.set("message", std::move(message));
    r.set("data_id", std::string(n.data_id()));
    r.set("pubtime", std::string(n.pubtime_text()));
    r.set("cached", cached);
    return r;
  }

  std::string cache_id(const Pipeline& p, const Notification& n) {
    return cache_message_id(p.o.global_cache, n.data_id(), n.pubtime_text());
  }

  // Not cached: republished with a new id and nothing else changed. A declined item also
  // gives its WIS2 Monitoring Event, through the same sinks (so it is as durable as the
  // republication: both records settle the entry together).
  void republish_uncached(Pipeline& p, const SpoolEntry& e, const Notification& n, const Ticket& ticket,
                          const std::optional<CacheDeclinedItem>& decline) {
    ++gc_uncached;
    std::vector<Record> out{cache_record(e, n, rewrite_for_cache(e.payload, {cache_id(p, n), {}, {}}), false)};
    if (decline) {
      ++gc_declined;
      Record event = cache_record(e, n, cache_declined_event(*decline, Timestamp::now()), false);
      event.set("topic", cache_monitor_topic(decline->centre_id));
      out.push_back(std::move(event));
      log("global cache: declined " + decline->data_id + " from " + decline->centre_id + " (" +
          (decline->reason == CacheDeclineReason::too_large ? "too large" : "too many items") + ")");
    }
    submit_records(p, out, ticket);
  }

  // Downloaded and verified: into the store (readers never see half an object), then the
  // message pointing at the copy.
  void cache_object(Pipeline& p, std::size_t index, const SpoolEntry& e, const Notification& n,
                    std::string_view centre_id, const std::string& data, bool inline_data, const Ticket& ticket) {
    const std::string_view item = n.data_id().empty() ? n.id() : n.data_id();
    std::string path;
    try {
      // The data server answers with the link's media type (attached before the object appears).
      const Link* link = n.data_link();
      const std::filesystem::path stored =
          store_cache_object(p.o.global_cache_store, item, data,
                             link ? std::string_view(link->type) : std::string_view(), p.o.store_fsync);
      path = stored.lexically_relative(p.o.global_cache_store).generic_string();
    } catch (const std::exception& ex) {  // disk full, permissions: not cached, not remembered
      ++download_failures;
      ticket.fail(index);
      dead_letter_message(e, "download", std::string("storage_error: ") + ex.what(), p.o.name);
      return;
    }
    std::string base = p.o.global_cache_base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    // Downloads over HTTP are counted by the downloader (wmo_wis2_gc_downloaded_total and its
    // kin, per centre); content taken from the message is counted here (Guide 2.7.4.2:
    // "download ... or extract the data from the message content").
    const Labels labels{{"centre_id", std::string(centre_id)}, {"report_by", p.o.global_cache}};
    if (inline_data) {
      metrics.counter("wmo_wis2_gc_downloaded_total", labels).inc();
      metrics.gauge("wmo_wis2_gc_last_download_timestamp_seconds", labels)
          .set(static_cast<double>(Timestamp::now().seconds));
    }
    if (Topic(e.topic).notification_type() == "metadata")
      metrics.gauge("wmo_wis2_gc_last_metadata_timestamp_seconds", labels)
          .set(static_cast<double>(Timestamp::now().seconds));
    ++gc_cached;
    std::vector<Record> out{
        cache_record(e, n, rewrite_for_cache(e.payload, {cache_id(p, n), base + "/" + path, p.o.global_cache}), true)};
    submit_records(p, out, ticket);
  }

  // ---- the Sensor Centre for Global Caches (WIS2 Guide 3.3.3.1) ----------------------------

  // Origin messages open watches; a cache's message is timed once the HEAD of its link
  // answered (200 required), the entry held until then.
  void watch_for_scgc(Pipeline& p, const SpoolEntry& e, const Notification& n, const Ticket& ticket) {
    const std::string_view channel = Topic(e.topic).channel();
    if (channel == "origin") {
      p.scgc->on_origin(e.topic, e.payload, n, e.received);
      return;
    }
    if (channel != "cache" || n.global_cache().empty()) return;
    const Link* link = n.data_link();
    if (!link || link->href.empty()) {
      p.scgc->on_cache(e.topic, e.payload, n, false, e.received);
      return;
    }
    DownloadRequest req;
    req.urls = {std::string(link->href)};
    req.head_only = true;
    req.deadline = std::chrono::seconds(60);
    downloader->submit(std::move(req), [this, &p, e, ticket](DownloadResult r) {
      try {
        p.scgc->on_cache(e.topic, e.payload, r.status == DownloadStatus::ok && r.http_code == 200, e.received);
      } catch (const std::exception& ex) {
        ticket.fail_all();
        log("sensor centre " + p.o.name + ": " + ex.what());
      }
    });
  }

  // Closes due watches and publishes each completed hour's event (on the pipeline thread).
  void advance_scgc(Pipeline& p) {
    try {
      std::vector<Record> out;
      for (auto& hour : p.scgc->advance(now())) {
        Record r(monitor_events_schema());
        r.set("topic", std::move(hour.topic));
        r.set("message", std::move(hour.event));
        out.push_back(std::move(r));
        log("sensor centre " + p.o.name + ": hourly log " + hour.file.string() + ", " + std::to_string(hour.entries) +
            " items");
      }
      if (!out.empty()) submit_records(p, out, Ticket{});
    } catch (const std::exception& ex) {
      log("sensor centre " + p.o.name + ": " + ex.what());
    }
  }

  // GET /scgc/<pipeline>/ (the hourly logs there, a JSON list) and
  // /scgc/<pipeline>/scgc-YYYYMMDDTHH.jsonl (one log): the Guide's "stored, served"
  // (3.3.3.1). Only those names, only from the pipeline's scgc_log_dir.
  std::optional<detail::MetricsServer::Reply> serve_scgc_log(const std::string& path) const {
    if (path.rfind("/scgc/", 0) != 0) return std::nullopt;
    const auto slash = path.find('/', 6);
    if (slash == std::string::npos) return std::nullopt;
    const std::string name = path.substr(6, slash - 6), file = path.substr(slash + 1);
    const Pipeline* p = nullptr;
    for (const auto& q : pipelines)
      if (q->scgc && q->o.name == name && !q->o.scgc.log_dir.empty()) p = q.get();
    if (!p) return std::nullopt;
    const auto is_log_name = [](const std::string& f) {
      if (f.size() != 22 || f.rfind("scgc-", 0) != 0 || f.compare(16, 6, ".jsonl") != 0 || f[13] != 'T') return false;
      for (std::size_t i = 5; i < 16; ++i)
        if (i != 13 && (f[i] < '0' || f[i] > '9')) return false;
      return true;
    };
    if (file.empty()) {  // the list, oldest first
      std::vector<std::string> names;
      std::error_code ec;
      for (const auto& entry : std::filesystem::directory_iterator(p->o.scgc.log_dir, ec))
        if (is_log_name(entry.path().filename().string())) names.push_back(entry.path().filename().string());
      std::sort(names.begin(), names.end());
      std::string body = "[";
      for (std::size_t i = 0; i < names.size(); ++i) body += (i ? ",\"" : "\"") + names[i] + "\"";
      return detail::MetricsServer::Reply{200, body + "]\n", "application/json"};
    }
    if (!is_log_name(file)) return detail::MetricsServer::Reply{404, "not found\n", "text/plain"};
    try {
      return detail::MetricsServer::Reply{200, detail::read_file(p->o.scgc.log_dir / file), "application/x-ndjson"};
    } catch (const Error&) {
      return detail::MetricsServer::Reply{404, "not found\n", "text/plain"};
    }
  }

  // ---- the dashboard's JSON (GET /api/...; docs/dashboard.md) -------------------------------

  using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;
  static void put_text(JsonWriter& w, const char* key, std::string_view v) {
    w.Key(key);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  }
  static void put_count(JsonWriter& w, const char* key, std::uint64_t v) {
    w.Key(key);
    w.Uint64(v);
  }

  // [{name, url, connected, messages, bytes, connects, connection_losses, failed_attempts,
  //   sessions_lost, last_error, subscriptions}]
  void write_brokers(JsonWriter& w) const {
    w.StartArray();
    if (serving)
      for (const auto& sub : subscribers) {
        const auto b = sub->stats();
        w.StartObject();
        put_text(w, "name", sub->options().name);
        put_text(w, "url", detail::masked_url(sub->options().url));
        w.Key("connected");
        w.Bool(b.connected);
        put_count(w, "messages", b.messages);
        put_count(w, "bytes", b.bytes);
        put_count(w, "connects", b.connects);
        put_count(w, "connection_losses", b.connection_losses);
        put_count(w, "failed_attempts", b.failed_attempts);
        put_count(w, "sessions_lost", b.sessions_lost);
        put_text(w, "last_error", b.last_error);
        w.Key("subscriptions");
        w.StartArray();
        for (const auto& f : sub->subscriptions()) w.String(f.c_str());
        w.EndArray();
        w.EndObject();
      }
    w.EndArray();
  }

  // [{name, delivered, rejected, out_of_retries, retries, dropped, queued, healthy, reason}]
  void write_sinks(JsonWriter& w) const {
    const auto healths = health_watch ? health_watch->latest() : std::map<std::string, SinkHealth>{};
    w.StartArray();
    if (serving)
      for (const auto& [name, engine] : engines) {
        const auto st = engine->stats();
        w.StartObject();
        put_text(w, "name", name);
        put_count(w, "delivered", st.delivered);
        put_count(w, "rejected", st.rejected);
        put_count(w, "out_of_retries", st.out_of_retries);
        put_count(w, "retries", st.retries);
        put_count(w, "dropped", st.dropped);
        put_count(w, "queued", st.queued);
        const auto h = healths.find(name);
        w.Key("healthy");
        w.Bool(h == healths.end() || h->second.ok);
        put_text(w, "reason", h == healths.end() || h->second.ok ? std::string() : h->second.message);
        w.EndObject();
      }
    w.EndArray();
  }

  std::string brokers_json() const {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    w.Key("brokers");
    write_brokers(w);
    w.EndObject();
    return buf.GetString();
  }

  // {sinks: [...], spool: {stored, in_progress, high_water}, dead_letters: count}
  std::string sinks_json() const {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    w.Key("sinks");
    write_sinks(w);
    const auto sp = spool->stats();
    w.Key("spool");
    w.StartObject();
    put_count(w, "stored", sp.stored);
    put_count(w, "in_progress", ledger.open_entries());
    put_count(w, "high_water", opt.spool_high_water);
    w.EndObject();
    std::uint64_t dead_letter_count = 0;
    for (const auto& store : dead_letter_stores()) dead_letter_count += store->count();
    put_count(w, "dead_letters", dead_letter_count);
    w.EndObject();
    return buf.GetString();
  }

  // The run summary's counts, per centre, per broker and per sink.
  std::string summary_json(const MonitorStats& stats) const {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    w.Key("totals");
    const auto totals = to_json(stats);
    w.RawValue(totals.data(), totals.size(), rapidjson::kObjectType);
    w.Key("centres");
    const auto centre_counts = dashboard.centre_counts_json();
    w.RawValue(centre_counts.data(), centre_counts.size(), rapidjson::kArrayType);
    w.Key("brokers");
    write_brokers(w);
    w.Key("sinks");
    write_sinks(w);
    w.EndObject();
    return buf.GetString();
  }

  // {"roles": {scgb, scgc, availability}, "figures": {metric: [{labels, value}]}}: the Sensor
  // Centre roles' wmo_wis2_scg*_ and availability series as they stand.
  std::string sensor_centre_json() const {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    w.Key("roles");
    w.StartObject();
    w.Key("global_brokers");
    w.Bool(scgb != nullptr);
    w.Key("global_caches");
    w.Bool(std::any_of(pipelines.begin(), pipelines.end(), [](const auto& p) { return p->scgc != nullptr; }));
    w.Key("availability");
    w.Bool(availability != nullptr);
    w.EndObject();
    w.Key("figures");
    w.StartObject();
    for (const auto& info : metric_catalog()) {
      const std::string_view name = info.name;
      const bool role = name.rfind("wmo_wis2_scgb_", 0) == 0 || name.rfind("wmo_wis2_scgc_", 0) == 0 ||
                        name.rfind("wis2mon_scgb_", 0) == 0 || name.rfind("wmo_wis2_sobs_", 0) == 0;
      if (!role || info.type == MetricType::histogram) continue;
      const auto series = metrics.series_values(name);
      if (series.empty()) continue;
      w.Key(info.name.data(), static_cast<rapidjson::SizeType>(info.name.size()));
      w.StartArray();
      for (const auto& [labels, value] : series) {
        w.StartObject();
        w.Key("labels");
        w.StartObject();
        for (const auto& [k, v] : labels) put_text(w, k.c_str(), v);
        w.EndObject();
        w.Key("value");
        w.Double(value);
        w.EndObject();
      }
      w.EndArray();
    }
    w.EndObject();
    w.EndObject();
    return buf.GetString();
  }

  // ---- the control API (docs/dashboard.md#control-api) ---------------------------------------
  // What it changes is kept in the spool's file as marks, relative to the configuration, so
  // that a restart applies it again.

  std::mutex routes_mu;   // router, route_to_pipeline and the pipelines' filters
  std::mutex control_mu;  // one control change at a time
  std::map<std::string, std::vector<std::string>> configured_subscriptions;  // per broker name

  struct FilterChanges {
    std::vector<std::string> added, removed;
  };
  static std::string subscriptions_mark(const std::string& broker) { return "control:subscriptions:" + broker; }
  static std::string filters_mark(const std::string& pipeline) { return "control:filters:" + pipeline; }

  FilterChanges load_changes(const std::string& mark) const {
    FilterChanges c;
    const auto text = spool->mark(mark);
    if (!text) return c;
    rapidjson::Document doc;
    detail::parse_json_text(doc, *text);
    if (doc.HasParseError() || !doc.IsObject()) return c;
    for (auto [member, list] : {std::pair{"added", &c.added}, std::pair{"removed", &c.removed}})
      if (doc.HasMember(member) && doc[member].IsArray())
        for (const auto& f : doc[member].GetArray())
          if (f.IsString()) list->emplace_back(f.GetString(), f.GetStringLength());
    return c;
  }

  void save_changes(const std::string& mark, const FilterChanges& c) {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    for (auto [member, list] : {std::pair{"added", &c.added}, std::pair{"removed", &c.removed}}) {
      w.Key(member);
      w.StartArray();
      for (const auto& f : *list) w.String(f.c_str());
      w.EndArray();
    }
    w.EndObject();
    spool->set_mark(mark, buf.GetString());
  }

  static std::vector<std::string> with_changes(std::vector<std::string> list, const FilterChanges& c) {
    for (const auto& f : c.removed) list.erase(std::remove(list.begin(), list.end(), f), list.end());
    for (const auto& f : c.added)
      if (std::find(list.begin(), list.end(), f) == list.end()) list.push_back(f);
    return list;
  }

  // Records one change against the configured list: only what differs from it is kept.
  static void note_change(FilterChanges& c, const std::vector<std::string>& configured, const std::string& filter,
                          bool add) {
    auto& undo = add ? c.removed : c.added;
    auto& keep = add ? c.added : c.removed;
    undo.erase(std::remove(undo.begin(), undo.end(), filter), undo.end());
    const bool in_config = std::find(configured.begin(), configured.end(), filter) != configured.end();
    if (add != in_config && std::find(keep.begin(), keep.end(), filter) == keep.end()) keep.push_back(filter);
  }

  // Under routes_mu: the router made again from the pipelines' filters.
  void rebuild_routes() {
    Router fresh;
    std::vector<std::size_t> to;
    for (std::size_t i = 0; i < pipelines.size(); ++i)
      for (const auto& f : pipelines[i]->o.filters) {
        fresh.add(f);
        to.push_back(i);
      }
    router = std::move(fresh);
    route_to_pipeline = std::move(to);
  }

  std::string control_subscriptions_json() const {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    w.Key("brokers");
    w.StartArray();
    for (const auto& sub : subscribers) {
      const auto& name = sub->options().name;
      w.StartObject();
      put_text(w, "name", name);
      for (auto [member, list] : {std::pair{"subscriptions", sub->subscriptions()},
                                  std::pair{"configured", configured_subscriptions.at(name)}}) {
        w.Key(member);
        w.StartArray();
        for (const auto& f : list) w.String(f.c_str());
        w.EndArray();
      }
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return buf.GetString();
  }

  std::string change_subscription(const std::string& broker, const std::string& filter, bool add) {
    std::lock_guard lock(control_mu);
    if (std::string why; !is_valid_filter(filter, &why)) return "invalid filter '" + filter + "': " + why;
    bool found = false;
    for (const auto& sub : subscribers) {
      const auto& name = sub->options().name;
      if (!broker.empty() && name != broker) continue;
      found = true;
      const auto error = add ? sub->add_subscription(filter) : sub->remove_subscription(filter);
      if (!error.empty()) return "broker " + name + ": " + error;
      auto changes = load_changes(subscriptions_mark(name));
      note_change(changes, configured_subscriptions.at(name), filter, add);
      save_changes(subscriptions_mark(name), changes);
    }
    if (!found) throw Error(ErrorCode::not_found, "no broker named '" + broker + "'");
    return "";
  }

  std::string control_pipelines_json() {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    std::lock_guard lock(routes_mu);
    w.StartObject();
    w.Key("pipelines");
    w.StartArray();
    for (const auto& p : pipelines) {
      w.StartObject();
      put_text(w, "name", p->o.name);
      for (auto [member, list] :
           {std::pair{"filters", &p->o.filters}, std::pair{"configured", &p->configured_filters}}) {
        w.Key(member);
        w.StartArray();
        for (const auto& f : *list) w.String(f.c_str());
        w.EndArray();
      }
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return buf.GetString();
  }

  std::string change_filter(const std::string& name, const std::string& filter, bool add) {
    std::lock_guard lock(control_mu);
    if (std::string why; !is_valid_filter(filter, &why)) return "invalid filter '" + filter + "': " + why;
    const auto it = std::find_if(pipelines.begin(), pipelines.end(), [&](const auto& p) { return p->o.name == name; });
    if (it == pipelines.end()) throw Error(ErrorCode::not_found, "no pipeline named '" + name + "'");
    Pipeline& p = **it;
    {
      std::lock_guard routes_lock(routes_mu);
      auto& filters = p.o.filters;
      const auto at = std::find(filters.begin(), filters.end(), filter);
      if (add && at == filters.end()) filters.push_back(filter);
      if (!add && at != filters.end()) filters.erase(at);
      rebuild_routes();
    }
    auto changes = load_changes(filters_mark(name));
    note_change(changes, p.configured_filters, filter, add);
    save_changes(filters_mark(name), changes);
    return "";
  }

  detail::ControlActions control_actions(Monitor& monitor) {
    detail::ControlActions a;
    a.subscriptions = [this] { return control_subscriptions_json(); };
    a.change_subscription = [this](const std::string& broker, const std::string& filter, bool add) {
      return change_subscription(broker, filter, add);
    };
    a.pipelines = [this] { return control_pipelines_json(); };
    a.change_filter = [this](const std::string& name, const std::string& filter, bool add) {
      return change_filter(name, filter, add);
    };
    a.retry_dead_letters = [&monitor](const std::string& sink, std::size_t limit) {
      return monitor.retry_dead_letters(sink, limit);
    };
    a.purge_dead_letters = [&monitor](const std::string& sink) { return monitor.purge_dead_letters(sink); };
    a.log = log;
    return a;
  }

  // The SCGB's second: each broker's connection state, and the messages whose window closed.
  void advance_scgb() {
    if (serving)  // the subscribers are all in place
      for (const auto& sub : subscribers)
        if (const auto gb = global_broker_of.find(sub->options().name); gb != global_broker_of.end())
          scgb->on_connection(gb->second, sub->stats().connected);
    scgb->advance(now());
  }

  // Station availability's second: the Sensor Centres' misses, then the hours due.
  void advance_availability() {
    try {
      for (const auto& [labels, value] : metrics.series_values("wmo_wis2_scgc_messages_missed_total"))
        availability->note_missing("cache_missing", label_of(labels, "global_cache"), label_of(labels, "centre_id"),
                                   value);
      for (const auto& [labels, value] : metrics.series_values("wis2mon_scgb_messages_missing_total"))
        availability->note_missing("broker_missing", label_of(labels, "global_broker"), label_of(labels, "centre_id"),
                                   value);
      auto out = availability->advance(now());
      dashboard.on_availability_rows(out.rows);
      for (auto& r : out.rows)
        for (auto* s : availability_sinks) s->submit(r, Ticket{}.share());
      for (auto& [topic, event] : out.events) {
        Record r(monitor_events_schema());
        r.set("topic", topic);
        r.set("message", event);
        for (auto* s : availability_event_sinks) s->submit(r, Ticket{}.share());
      }
      if (!out.rows.empty())
        log("availability: " + std::to_string(out.rows.size()) + " rows, " + std::to_string(out.events.size()) +
            " events");
    } catch (const std::exception& ex) {
      log(std::string("availability: ") + ex.what());
    }
  }

  static std::string label_of(const Labels& labels, std::string_view name) {
    for (const auto& [k, v] : labels)
      if (k == name) return v;
    return {};
  }

  // Data in hand (downloaded or inline): keep, decode, enrich, submit.
  void handle_data(Pipeline& p, std::size_t index, const SpoolEntry& e, const Notification& n,
                   const ValidationReport& report, std::string_view centre_id, const std::string& data,
                   bool inline_data, const Ticket& ticket) {
    if (!p.o.global_cache.empty()) return cache_object(p, index, e, n, centre_id, data, inline_data, ticket);
    if (!p.o.store_dir.empty()) {
      try {
        const auto kept =
            store_object(p.o.store_dir, n.data_id().empty() ? n.id() : n.data_id(), data, p.o.store_fsync);
        if (p.store_uploader) p.store_uploader->add(kept);
      } catch (const std::exception& ex) {
        log(std::string("store_dir: ") + ex.what());
      }
    }
    std::vector<Record> out;
    if (p.decoder) {
      DecodeContext context;
      context.mode = p.o.validation;
      auto decoded = p.decoder->decode_with(data, context);
      if (decoded.failed()) {
        ++decode_failures;
        dead_letter_message(
            e, "decode",
            decoded.errors.empty() ? "decoder " + p.decoder->name() + ": no records" : decoded.errors.front().message,
            p.o.name);
      } else if (!decoded.errors.empty()) {
        // Some parts gave records, others could not be decoded (a BUFR message of several, an
        // empty alert of an envelope): counted and logged, never dropped without a word.
        decode_part_errors += decoded.errors.size();
        log("decode: " + p.o.name + ": " + std::to_string(decoded.errors.size()) + " part(s) of " +
            (n.data_id().empty() ? std::string(n.id()) : std::string(n.data_id())) +
            " not decoded: " + decoded.errors.front().message);
      }
      out = std::move(decoded.records);
    } else {
      out.push_back(notification_record(e, n, report, centre_id));
    }
    if (availability)
      for (const auto& r : out) {
        if (r.table() != "surface_obs") continue;
        const auto* wsi = r.get("wigos_station_identifier");
        const auto* observed = r.get("observed_at");
        if (!wsi || !observed || !std::holds_alternative<std::string>(*wsi)) continue;
        std::optional<Timestamp> at;
        if (std::holds_alternative<Timestamp>(*observed)) at = std::get<Timestamp>(*observed);
        if (std::holds_alternative<std::string>(*observed)) at = parse_rfc3339(std::get<std::string>(*observed));
        if (at) availability->on_observation(std::get<std::string>(*wsi), centre_id, *at, e.received);
      }
    if (!out.empty()) {
      dashboard.on_records(out, centre_id, now());
      submit_records(p, out, ticket);
    }
  }

  // ---- one spool entry --------------------------------------------------------------------

  // The pipeline thread's work on one entry; `ticket` is its share of the entry's work.
  void process(const SpoolEntry& e, const Ticket& ticket) {
    ++received;
    const Topic topic(e.topic);
    std::string centre_id(topic.centre_id());
    ParseOptions po;
    po.topic = e.topic;
    po.max_pubtime_skew = opt.max_pubtime_skew;
    po.now = e.received;
    auto lenient = Notification::parse(e.payload, po);
    if (scgb)  // every broker's copy counts, before any dedup (Guide 3.3.2.1); by the parsed id
      if (const auto gb = global_broker_of.find(e.source); gb != global_broker_of.end())
        scgb->on_message_id(gb->second, e.topic, lenient.notification.id(), e.received);
    if (centre_id.empty()) {
      // No topic (a replayed file): a data_id starts with the centre id by convention.
      const auto id = lenient.notification.data_id();
      const auto cut = id.find('/');
      if (cut != std::string_view::npos && is_valid_centre_id_form(id.substr(0, cut))) centre_id = id.substr(0, cut);
    }
    auto& cs = centre(centre_id.empty() ? std::string_view("unknown") : std::string_view(centre_id));
    cs.received->inc();
    cs.last->set(static_cast<double>(Timestamp::now().seconds));
    std::optional<ParsedNotification> strict;
    // Replayed files may not say where a message was published: nothing to check then.
    ValidationReport topic_report;
    if (opt.validate_topics && !e.topic.empty()) topic_report = validate_topic(e.topic);
    const auto add_topic_errors = [&](ValidationReport& r) {
      for (const auto& err : topic_report.errors()) r.add_error("", err.rule, "topic: " + err.message);
    };
    if (!topic_report.valid()) cs.invalid_topic->inc();
    add_topic_errors(lenient.report);
    // What broke which rule, across the stream (the lenient reading: strict pipelines' extra
    // errors are warnings here).
    for (const auto* issues : {&lenient.report.errors(), &lenient.report.warnings()})
      for (const auto& issue : *issues)
        metrics
            .counter("wis2mon_validation_rule_total",
                     {{"rule", issue.rule}, {"severity", issues == &lenient.report.errors() ? "error" : "warning"}})
            .inc();
    const std::string_view dashboard_centre = centre_id.empty() ? std::string_view("unknown") : centre_id;
    dashboard.on_message(dashboard_centre, lenient.valid(), now());
    if (lenient.valid()) {
      ++valid;
      cs.valid->inc();
      if (lenient.notification.metadata_id().empty() && topic.notification_type() == "data") cs.no_metadata->inc();
    } else {
      ++invalid;
      cs.invalid->inc();
      auto reason = first_errors(lenient.report);
      dashboard.on_invalid(dashboard_centre, e.topic, reason, now());
      dead_letter_message(e, "validate", std::move(reason));
    }

    std::vector<Router::FilterId> ids;
    std::set<std::size_t> routes;
    {
      std::lock_guard routes_lock(routes_mu);  // the control API may change them
      router.match(e.topic, ids);
      for (auto id : ids) routes.insert(route_to_pipeline[id]);
    }
    if (routes.empty()) ++unrouted;

    // A duplicate is a message that brought nothing new: every pipeline it matched dropped
    // it as seen (a cache's copy of known data still makes a notifications record).
    std::size_t dropped_as_seen = 0, handled = 0;
    for (std::size_t index : routes) {
      Pipeline& p = *pipelines[index];
      const ParsedNotification* parsed = &lenient;
      if (p.o.validation == ValidationMode::strict) {
        if (!strict) {
          ParseOptions so = po;
          so.mode = ValidationMode::strict;
          strict = Notification::parse(e.payload, so);
          add_topic_errors(strict->report);
        }
        parsed = &*strict;
      }
      const Notification& n = parsed->notification;
      if (p.scgc) {
        ++handled;
        watch_for_scgc(p, e, n, ticket);
        continue;
      }
      // Guide 2.7.4.2: a Global Cache ignores recommended data (and any non-WIS2 topic).
      if (!p.o.global_cache.empty() && cache_topic_rule(e.topic) == CacheTopicRule::ignore) continue;
      const bool keep_invalid = !parsed->valid() && p.o.keep_invalid && !p.fetch();
      if (!parsed->valid() && !keep_invalid) continue;
      if (p.dedup) {
        // An invalid message has no trustworthy id: the same bytes on the same topic twice
        // (e.g. from two brokers) are the duplicate then.
        std::string key = keep_invalid ? raw_key(e.topic, e.payload) : Deduplicator::key(n, p.dedup->policy());
        // A copy of an item another entry is working on right now is a duplicate too.
        std::function<void()> record_key;
        if (keep_invalid)
          record_key = [store = dedup_store, key] { store->put(key, Timestamp::now(), Timestamp::now()); };
        else
          record_key = [&dedup = *p.dedup, n] { dedup.record(n); };
        // A store shared with other monitor processes (PostgreSQL) gives the item to one of
        // them; the claim is given back when this one's processing fails.
        // Given back only when taken: a duplicate costs the shared store no second round trip.
        bool duplicate = !ticket.claim(index, key, std::move(record_key));
        if (!duplicate) {
          try {
            duplicate = keep_invalid ? dedup_store->get(key, Timestamp::now()).has_value()
                                     : p.dedup->check(n) == DedupVerdict::duplicate;
            const Timestamp value = keep_invalid ? Timestamp{} : n.pubtime().value_or(Timestamp{});
            if (!duplicate && !key.empty()) {
              if (dedup_store->try_claim(key, value, Timestamp::now()))
                ticket.set_release(index, [store = dedup_store, key] { store->release_claim(key); });
              else
                duplicate = true;
            }
          } catch (const std::exception& ex) {
            log(std::string("dedup store: ") + ex.what());
          }
          // Seen before: the claim is given back unrecorded (nothing new was processed).
          if (duplicate) ticket.fail(index);
        }
        if (duplicate) {
          ++dropped_as_seen;
          continue;
        }
      }
      ++handled;
      if (!p.o.global_cache.empty()) {
        if (!n.cache()) {
          republish_uncached(p, e, n, ticket, std::nullopt);
          continue;
        }
        if (auto decline = declined(p, e, n, centre_id)) {
          republish_uncached(p, e, n, ticket, decline);
          continue;
        }
      }
      if (!p.fetch()) {
        std::vector<Record> out{notification_record(e, n, parsed->report, centre_id)};
        submit_records(p, out, ticket);
        continue;
      }
      fetch(p, index, e, n, parsed->report, centre_id, ticket);
    }
    if (dropped_as_seen > 0 && handled == 0) {
      ++duplicates;
      cs.duplicate->inc();
      dashboard.on_duplicate(dashboard_centre);
    } else if (availability && lenient.json_ok && !centre_id.empty() && topic.channel() != "cache" &&
               topic.channel() != "monitor") {
      const Notification& n = lenient.notification;
      availability->on_message(centre_id, n.datetime() ? n.datetime() : n.start_datetime(), n.pubtime(), e.received);
    }
  }

  void fetch(Pipeline& p, std::size_t index, const SpoolEntry& e, const Notification& n, const ValidationReport& report,
             const std::string& centre_id, const Ticket& ticket) {
    if (n.content()) {
      auto inline_data = decode_inline_content(n, opt.download.lenient_integrity, opt.download.max_object_bytes);
      if (inline_data.status == DownloadStatus::ok) {
        ++downloads;
        handle_data(p, index, e, n, report, centre_id, inline_data.data, true, ticket);
        return;
      }
      // Bad inline content: fall back to the link, as a Global Cache does.
    }
    const std::string key = selector.observe(n, e.topic);
    DownloadRequest req;
    req.urls = key.empty() ? std::vector<std::string>{} : selector.candidates(key);
    if (req.urls.empty()) {
      ++download_failures;
      ticket.fail(index);
      dead_letter_message(e, "download", "no data link to download from", p.o.name);
      return;
    }
    if (n.integrity())
      req.integrity = ExpectedDigest{std::string(n.integrity()->method), std::string(n.integrity()->value)};
    if (const Link* link = n.data_link(); link && link->length && *link->length >= 0)
      req.expected_size = static_cast<std::uint64_t>(*link->length);
    req.centre_id = centre_id;
    req.report_by = p.o.global_cache;
    req.deadline = std::chrono::minutes(10);
    // The callback holds a share of the entry's work until the download is handled.
    downloader->submit(std::move(req), [this, &p, index, e, n, report, centre_id, ticket](DownloadResult r) {
      dashboard.on_download(
          r.url, r.status == DownloadStatus::ok, r.data.size(),
          r.status == DownloadStatus::ok ? std::string() : std::string(to_string(r.status)) + ": " + r.error, now());
      if (r.status == DownloadStatus::ok) {
        ++downloads;
        // On the pipeline thread, inside the downloader's poll: what throws here must end as
        // this entry's dead letter, never as the process's end.
        try {
          handle_data(p, index, e, n, report, centre_id, r.data, false, ticket);
        } catch (const std::exception& ex) {
          ticket.fail(index);
          log("entry " + std::to_string(e.id) + ": " + ex.what());
          dead_letter_message(e, "internal", ex.what(), p.o.name);
        }
      } else {
        ++download_failures;
        ticket.fail(index);
        dead_letter_message(e, "download", std::string(to_string(r.status)) + ": " + r.error, p.o.name);
      }
    });
  }

  // ---- the pipeline thread ----------------------------------------------------------------

  void run() {
    auto last_status = Clock::now();
    auto last_advance = Clock::now();
    while (!stopping) {
      if (Clock::now() - last_advance >= std::chrono::seconds(1)) {
        last_advance = Clock::now();
        for (auto& p : pipelines)
          if (p->scgc) advance_scgc(*p);
        if (scgb) advance_scgb();
        if (availability) advance_availability();
      }
      const bool busy_downloads = downloader && downloader->pending() > 0;
      std::vector<SpoolEntry> batch;
      try {
        batch = spool->take(opt.batch, busy_downloads ? std::chrono::milliseconds(0) : std::chrono::milliseconds(50));
      } catch (const std::exception& ex) {
        log(std::string("spool: ") + ex.what());
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      for (const auto& e : batch) {
        const Ticket ticket = ledger.open(e.id);
        try {
          process(e, ticket);
        } catch (const std::exception& ex) {
          // A bug or a resource failure for this entry: keep it as a dead letter, go on. Its
          // claimed keys are freed unrecorded when the last share of its work is gone.
          ticket.fail_all();
          log("entry " + std::to_string(e.id) + ": " + ex.what());
          dead_letter_message(e, "internal", ex.what());
        }
      }
      if (downloader)
        downloader->poll(batch.empty() && busy_downloads ? std::chrono::milliseconds(20)
                                                         : std::chrono::milliseconds(0));
      flush_completed();
      redrive_dead_letters();
      if (Clock::now() - marks_saved >= std::chrono::seconds(1)) {
        save_marks();
        check_spool();
      }
      if (opt.status_interval.count() > 0 && Clock::now() - last_status >= opt.status_interval) {
        last_status = Clock::now();
        log(status());
      }
    }
  }

  std::string status() const {
    const auto s = spool->stats();
    std::string line = "messages " + std::to_string(received) + ", valid " + std::to_string(valid) + ", invalid " +
                       std::to_string(invalid) + ", duplicates " + std::to_string(duplicates) + ", downloads " +
                       std::to_string(downloads) + " (" + std::to_string(download_failures) + " failed), records " +
                       std::to_string(records) + ", dead letters " + std::to_string(dead_letters) + ", spool " +
                       std::to_string(s.stored);
    for (const auto& sub : subscribers) {
      const auto b = sub->stats();
      line += ", " + sub->options().name + (b.connected ? " up" : " down");
    }
    return line;
  }

  void update_gauges() {
    metrics.gauge("wis2mon_spool_entries").set(static_cast<double>(spool->stats().stored));
    if (downloader)
      metrics.gauge("wis2mon_download_buffered_bytes").set(static_cast<double>(downloader->memory().buffered_bytes));
    for (const auto& sub : subscribers) {
      const auto b = sub->stats();
      metrics.gauge("wmo_wis2_gb_connected_flag", {{"broker", sub->options().name}}).set(b.connected ? 1 : 0);
      metrics.gauge("wis2mon_broker_messages", {{"broker", sub->options().name}}).set(static_cast<double>(b.messages));
    }
    for (const auto& [name, engine] : engines) {
      const auto st = engine->stats();
      metrics.gauge("wis2mon_sink_delivered", {{"sink", name}}).set(static_cast<double>(st.delivered));
      metrics.gauge("wis2mon_sink_rejected", {{"sink", name}})
          .set(static_cast<double>(st.rejected + st.out_of_retries));
      metrics.gauge("wis2mon_sink_queued", {{"sink", name}}).set(static_cast<double>(st.queued));
    }
    if (health_watch)
      for (const auto& [name, h] : health_watch->latest())
        metrics.gauge("wis2mon_sink_healthy", {{"sink", name}}).set(h.ok ? 1 : 0);
  }

  // A sink of a spec: this monitor's own kinds first, then the process-wide registry.
  std::shared_ptr<Sink> make_sink_for(const SinkSpec& spec, SinkEngineOptions& engine_options) {
    std::map<std::string, std::string> own, engine;
    split_sink_settings(spec.settings, own, engine);
    engine_options = sink_engine_options(sink_config_table("engine").validate(engine));
    if (const auto it = local_sink_kinds.find(spec.type); it != local_sink_kinds.end()) {
      // Callbacks wait for the user's poll(): hand records over promptly unless told otherwise.
      if (spec.type.rfind("callback:", 0) == 0 && !engine.count("batch_max_age"))
        engine_options.batch_max_age = std::chrono::milliseconds(20);
      return it->second(spec);
    }
    if (spec.type == "callback")
      throw Error(ErrorCode::invalid_argument,
                  "sink '" + spec.name + "' is a callback sink: give it a function (add_callback_sink) before start()");
    return make_sink(spec.type, spec.name, sink_config_table(spec.type).validate(own));
  }

  Monitor::Health health() const {
    Monitor::Health h;
    std::size_t up = 0;
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    // Each broker and each sink: {"name": {"connected"|"healthy": bool, "reason": text}}.
    const auto entry = [&w](const std::string& name, const char* flag, bool ok, const std::string& reason) {
      w.Key(name.c_str());
      w.StartObject();
      w.Key(flag);
      w.Bool(ok);
      w.Key("reason");
      w.String(ok ? "" : reason.c_str());
      w.EndObject();
    };
    w.StartObject();
    w.Key("broker_states");
    w.StartObject();
    for (const auto& sub : subscribers) {
      const auto b = sub->stats();
      up += b.connected;
      entry(sub->options().name, "connected", b.connected, b.last_error.empty() ? "not connected" : b.last_error);
    }
    w.EndObject();
    bool sinks_ok = true;
    w.Key("sinks");
    w.StartObject();
    for (const auto& [name, s] : health_watch ? health_watch->latest() : std::map<std::string, SinkHealth>{}) {
      sinks_ok = sinks_ok && s.ok;
      entry(name, "healthy", s.ok, s.message);
    }
    w.EndObject();
    w.EndObject();
    h.ok = !stopping && (subscribers.empty() || up > 0) && sinks_ok;
    const std::string members(buf.GetString() + 1, buf.GetSize() - 2);  // "broker_states":{..},"sinks":{..}
    h.json = std::string("{\"status\":\"") + (h.ok ? "ok" : "degraded") +
             "\",\"brokers_connected\":" + std::to_string(up) + ",\"brokers\":" + std::to_string(subscribers.size()) +
             ",\"spool\":" + std::to_string(spool->stats().stored) +
             ",\"messages\":" + std::to_string(received.load()) + "," + members + "}";
    return h;
  }

  // Start's steps, under lifecycle_mu.
  void start_engines() {
    for (const auto& p : pipelines)
      if (p->o.sinks.empty() && !p->scgc)  // a Sensor Centre's figures are its metrics; events need a sink
        throw Error(ErrorCode::invalid_argument,
                    "pipeline '" + p->o.name + "': no sinks (name one, or add a callback sink)");
    for (const auto& spec : opt.sinks) {
      SinkEngineOptions eo;
      auto sink = make_sink_for(spec, eo);
      // A sink's own file wins over the monitor's.
      if (!eo.dead_letters)
        eo.dead_letters = eo.dead_letter_file.empty() ? dead : std::make_shared<DeadLetterStore>(eo.dead_letter_file);
      eo.on_give_up = [this](const SinkGiveUp& g) { gave_up(g); };
      const std::string name = spec.name;
      eo.on_settled = [this, name](const Record&, DeliveryStatus status, std::uint64_t tag) {
        if (tag != 0) redriven(name, status, tag);
      };
      redrives[name].store = eo.dead_letters;
      redrives[name].chunk = eo.batch_max_records;
      engines[spec.name] = std::make_unique<SinkEngine>(std::move(sink), std::move(eo));
    }
    for (auto& p : pipelines)
      for (const auto& s : p->o.sinks) p->sinks.push_back(engines.at(s).get());
    for (const auto& s : opt.availability_sinks) availability_sinks.push_back(engines.at(s).get());
    for (const auto& s : opt.availability_event_sinks) availability_event_sinks.push_back(engines.at(s).get());
    std::map<std::string, Sink*> watched;
    for (const auto& [name, engine] : engines) watched[name] = &engine->sink();
    health_watch = std::make_unique<detail::HealthWatch>(std::move(watched), opt.health_interval, log);
  }

  void start_brokers() {
    for (const auto& b : opt.brokers) {
      BrokerOptions bo = b;
      if (bo.subscriptions.empty()) bo.subscriptions = opt.subscriptions;
      // A persistent session needs the same client id after a restart: derive one from the
      // spool file (one monitor per spool) and the broker. A spool in memory survives no
      // restart: a random id then (set client_id for a session that outlives the process).
      if (bo.client_id.empty() && !opt.spool.empty() && opt.spool != ":memory:")
        bo.client_id = stable_client_id(opt.spool, bo.url);
      if (!bo.log) bo.log = log;
      const std::string name = bo.name.empty() ? parse_broker_url(bo.url).host : bo.name;
      configured_subscriptions[name] = bo.subscriptions;
      auto& gap_state = *seen.emplace_back(std::make_unique<BrokerSeen>());
      bo.on_connected = [this, &gap_state](bool session_present) { broker_connected(gap_state, session_present); };
      Spool* s = spool.get();
      auto sub = std::make_unique<MqttSubscriber>(bo, [this, s, &gap_state](const MqttMessage& msg) {
        // Backpressure: above the high-water mark the broker's messages wait (unacknowledged).
        if (!s->wait_for_room(std::chrono::seconds(1))) return false;
        const auto at = now();
        s->append(msg.broker, msg.topic, msg.payload, at);
        gap_state.last = at.seconds;
        return true;
      });
      gap_state.name = sub->options().name;  // before start(): no callback runs yet
      gap_state.subscriber = sub.get();
      // Subscriptions the control API changed in an earlier run (not connected yet: a removed
      // one is unsubscribed once the connection is up, for a session that still holds it).
      const auto changes = load_changes(subscriptions_mark(name));
      for (const auto& f : changes.added) sub->add_subscription(f);
      for (const auto& f : changes.removed) sub->remove_subscription(f);
      if (!changes.added.empty() || !changes.removed.empty())
        log("broker " + name +
            ": subscriptions as the control API left them: " + join_filters(sub->subscriptions(), ", "));
      log("broker " + sub->options().name + ": connecting to " + bo.url);
      sub->start();
      subscribers.push_back(std::move(sub));
    }
    if (!opt.brokers.empty() && !opt.replay_url.empty() && opt.backfill_after_gap)
      backfiller = std::thread([this] {
        detail::name_this_thread("wis2mon-backfill");
        backfill_gaps();
      });
  }

  // Each broker's latest arrival goes to the spool's file (about once a second, and at stop),
  // so that the gap after a restart without the broker's session is known.
  // The spool's flusher failing (its table's disk full): said when it starts and when it ends.
  void check_spool() {
    if (auto err = spool->stats().flush_error; err != spool_error) {
      log(err.empty() ? "spool: entries move into its table again"
                      : "spool: cannot move entries into its table (they stay in its journal): " + err);
      spool_error = std::move(err);
    }
  }

  void save_marks() {
    marks_saved = Clock::now();
    for (auto& b : seen) {
      const auto last = b->last.load();
      if (last == 0 || last == b->saved) continue;
      try {
        spool->set_mark(b->mark(), format_rfc3339(Timestamp{last, 0}));
        b->saved = last;
      } catch (const std::exception& e) {
        log("broker " + b->name + ": cannot save the time of its latest message: " + e.what());
      }
    }
  }

  // On paho's thread after a connection. Without its session the broker no longer holds what
  // it published since this monitor's latest message from it: fetch that window.
  void broker_connected(BrokerSeen& b, bool session_present) {
    if (session_present || stopping) return;
    std::int64_t last = b.last;
    if (last == 0) {
      try {
        if (const auto m = spool->mark(b.mark()))
          if (const auto t = parse_rfc3339(*m)) last = t->seconds;
      } catch (const std::exception&) {
        // A closed spool (stopping): nothing to do.
      }
    }
    if (last == 0) return;  // never heard from this broker: nothing was missed
    const std::string since = format_rfc3339(Timestamp{last, 0});
    if (opt.replay_url.empty() || !opt.backfill_after_gap) {
      log("broker " + b.name + ": the broker did not keep this client's session; what it published since " + since +
          " is missing here" +
          (opt.replay_url.empty() ? " (monitor.replay_url names a replay service to fetch it from)"
                                  : " (wis2mon backfill --since " + since + " fetches it)"));
      return;
    }
    Gap g{&b, Timestamp::now().seconds, {}};
    auto& r = g.request;
    // What the connection subscribes to now: the configured filters as the control API left
    // them. "$share/<group>/<filter>": the filter is what the broker carries.
    for (const auto& f : b.subscriber->subscriptions()) {
      const auto cut = f.rfind("$share/", 0) == 0 ? f.find('/', 7) : std::string::npos;
      r.filters.push_back(cut == std::string::npos ? f : f.substr(cut + 1));
    }
    r.until = Timestamp{g.connected + opt.backfill_margin.count(), 0};
    r.since = Timestamp{last - opt.backfill_margin.count(), 0};
    if (r.until.seconds - r.since.seconds > opt.backfill_max_window.count()) {
      r.since = Timestamp{r.until.seconds - opt.backfill_max_window.count(), 0};
      log("broker " + b.name + ": the gap since " + since +
          " is longer than monitor.backfill_max_window; only its last " +
          std::to_string(opt.backfill_max_window.count()) + " s are fetched");
    }
    {
      std::lock_guard lock(gap_mu);
      gaps.push_back(std::move(g));
    }
    gap_cv.notify_all();
  }

  Downloader& replay_downloader() {
    std::lock_guard lock(replay_mu);
    if (!replay_http) {
      auto d = opt.download;
      d.metrics = nullptr;
      d.max_retries = std::max(d.max_retries, 3);
      replay_http = std::make_unique<Downloader>(d);
    }
    return *replay_http;
  }

  // Monitor::backfill and the gap thread: pages from the service into the spool.
  BackfillProgress fetch_window(BackfillRequest r) {
    if (r.url.empty()) r.url = opt.replay_url;
    if (r.collection.empty()) r.collection = opt.replay_collection;
    return detail::fetch_replay_window(
        replay_downloader(), r,
        [this](const std::string& topic, std::string_view json) {
          while (!spool->wait_for_room(std::chrono::seconds(1)))
            if (stop_backfill) return false;
          spool->append("backfill", topic, json);
          ++backfilled;
          return true;
        },
        &stop_backfill);
  }

  // The gap thread: one window at a time, retried with a growing pause (the service may be
  // unreachable for the same reason the broker was).
  void backfill_gaps() {
    for (;;) {
      Gap g;
      {
        std::unique_lock lock(gap_mu);
        gap_cv.wait(lock, [this] { return stop_backfill || !gaps.empty(); });
        if (stop_backfill) return;
        g = std::move(gaps.front());
        gaps.pop_front();
      }
      const std::string window = format_rfc3339(g.request.since) + " .. " + format_rfc3339(g.request.until);
      auto pause = std::chrono::seconds(5);
      for (int attempt = 1;; ++attempt) {
        log("broker " + g.broker->name + ": backfilling " + window + " from " + opt.replay_url +
            (attempt > 1 ? " (attempt " + std::to_string(attempt) + ")" : ""));
        BackfillProgress p;
        try {
          p = fetch_window(g.request);
        } catch (const std::exception& e) {
          p.ok = false;
          p.error = e.what();
        }
        if (stop_backfill) return;
        if (p.ok) {
          // The gap is closed: a later one starts from this connection, not from before it.
          auto last = g.broker->last.load();
          while (last < g.connected && !g.broker->last.compare_exchange_weak(last, g.connected)) {
          }
          log("broker " + g.broker->name + ": backfill of " + window + " done: " + std::to_string(p.fed) +
              " notifications spooled from " + std::to_string(p.pages) + " pages" +
              (p.skipped ? " (" + std::to_string(p.skipped) + " outside its subscriptions)" : ""));
          break;
        }
        if (attempt == 5) {
          log("broker " + g.broker->name + ": backfill of " + window + " given up after 5 attempts: " + p.error +
              " (wis2mon backfill --since " + format_rfc3339(g.request.since) + " --until " +
              format_rfc3339(g.request.until) + " fetches it)");
          break;
        }
        log("broker " + g.broker->name + ": backfill failed: " + p.error + "; trying again in " +
            std::to_string(pause.count()) + " s");
        std::unique_lock lock(gap_mu);
        if (gap_cv.wait_for(lock, pause, [this] { return stop_backfill.load(); })) return;
        pause *= 2;
      }
    }
  }

  // Runs callback sinks on the calling thread (one thread at a time).
  std::size_t service_callbacks(std::chrono::milliseconds timeout) {
    std::lock_guard lock(service_mu);
    return polled->service(timeout);
  }
};

Monitor::Monitor(MonitorOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  auto& m = *impl_;
  if (m.opt.pipelines.empty()) throw Error(ErrorCode::invalid_argument, "monitor: no pipelines");
  std::set<std::string> sink_names;
  for (const auto& s : m.opt.sinks)
    if (!sink_names.insert(s.name).second)
      throw Error(ErrorCode::invalid_argument, "monitor: two sinks named '" + s.name + "'");
  for (const auto& b : m.opt.brokers) (void)parse_broker_url(b.url);

  m.metrics.declare("wis2mon_dead_letters_total", MetricType::counter,
                    "Dead letters: messages per stage (validate, download, decode, internal); records a sink gave up "
                    "on (stage sink, per sink)");
  // Series that exist from the start at 0: Prometheus' increase() cannot see the first event of
  // a series that appears with it (the shipped rule Wis2monDeadLetters would miss it).
  for (const char* stage : {"validate", "download", "decode", "internal"})
    m.metrics.counter("wis2mon_dead_letters_total", {{"stage", stage}});
  for (const auto& s : m.opt.sinks)
    m.metrics.counter("wis2mon_dead_letters_total", {{"stage", "sink"}, {"sink", s.name}});
  m.metrics.declare("wis2mon_spool_entries", MetricType::gauge, "Messages stored in the spool");
  m.metrics.declare("wis2mon_download_buffered_bytes", MetricType::gauge,
                    "Bytes of downloaded objects held in memory (download.max_buffered_bytes bounds it)");
  m.metrics.declare("wis2mon_broker_messages", MetricType::gauge, "Messages acknowledged, per broker");
  m.metrics.declare("wis2mon_sink_delivered", MetricType::gauge, "Records delivered, per sink");
  m.metrics.declare("wis2mon_sink_rejected", MetricType::gauge, "Records dead-lettered, per sink");
  m.metrics.declare("wis2mon_sink_queued", MetricType::gauge, "Records waiting, per sink");
  m.metrics.declare("wis2mon_sink_healthy", MetricType::gauge, "1 when the sink passed its latest healthcheck");

  SpoolOptions so;
  so.path = m.opt.spool.empty() ? std::filesystem::path(":memory:") : m.opt.spool;
  so.high_water = m.opt.spool_high_water;
  so.synchronous_full = m.opt.spool_synchronous_full;
  m.spool = std::make_unique<Spool>(so);
  m.dead = std::make_shared<DeadLetterStore>(m.opt.dead_letter_file());
  const std::string dedup_url = m.opt.dedup_store.string();
  if (m.opt.dedup_store.empty())
    m.dedup_store = std::make_shared<MemoryDedupStore>(m.opt.dedup_ttl);
  else if (dedup_url.rfind("postgresql://", 0) == 0 || dedup_url.rfind("postgres://", 0) == 0)
    m.dedup_store = std::make_shared<PostgresDedupStore>(dedup_url, m.opt.dedup_ttl, dedup_owner(m.opt));
  else
    m.dedup_store = std::make_shared<SqliteDedupStore>(m.opt.dedup_store, m.opt.dedup_ttl);

  bool any_fetch = false;
  for (const auto& po : m.opt.pipelines) {
    auto p = std::make_unique<Impl::Pipeline>();
    p->o = po;
    if (!po.global_cache.empty()) {  // a Global Cache: new or updated items, downloaded once
      if (po.global_cache_base_url.empty() || po.global_cache_store.empty())
        throw Error(ErrorCode::invalid_argument,
                    "pipeline '" + po.name + "': a Global Cache needs global_cache_base_url and global_cache_store");
      if (po.decoder != "none" && !po.decoder.empty())
        throw Error(ErrorCode::invalid_argument, "pipeline '" + po.name + "': a Global Cache pipeline has no decoder");
      if (po.global_cache_retention < std::chrono::hours(24))
        throw Error(ErrorCode::invalid_argument,
                    "pipeline '" + po.name + "': global_cache_retention is at least 24 h (WIS2 Guide 2.7.4.2)");
      p->o.dedup = DedupPolicy::data_id_pubtime;
      p->o.fetch = true;
    }
    if (!po.scgc.centre_id.empty()) {  // a Sensor Centre for Global Caches: every copy counts
      if (!po.global_cache.empty() || (po.decoder != "none" && !po.decoder.empty()) || po.fetch)
        throw Error(ErrorCode::invalid_argument,
                    "pipeline '" + po.name + "': a Sensor Centre pipeline neither caches, decodes nor fetches");
      p->o.dedup.reset();
      p->scgc = std::make_unique<ScgcTracker>(po.scgc, &m.metrics);
      any_fetch = true;  // the HEAD checks of the caches' links
    }
    for (const auto& s : po.sinks)
      if (!sink_names.count(s))
        throw Error(ErrorCode::invalid_argument, "pipeline '" + po.name + "': no sink named '" + s + "'");
    if (!po.store_url.empty()) {  // objects kept in object storage, staged locally first
      const auto location = S3Location::parse(po.store_url);
      if (!object_storage_supported())
        throw Error(ErrorCode::unsupported,
                    "pipeline '" + po.name + "': store_url needs a libcurl that signs S3 requests (7.87 or newer)");
      if (p->o.store_dir.empty()) p->o.store_dir = std::filesystem::path("wis2mon-staging") / ("store-" + po.name);
      S3ClientOptions s3;
      s3.endpoint = po.store_endpoint;
      p->store_uploader =
          std::make_unique<detail::DirectoryUploader>(p->o.store_dir, location, std::move(s3), "wis2mon-store-up");
    }
    if (po.decoder != "none" && !po.decoder.empty()) {
      p->decoder = find_decoder(po.decoder);
      if (!p->decoder)
        throw Error(ErrorCode::invalid_argument,
                    "pipeline '" + po.name + "': no decoder named '" + po.decoder + "' (register_decoder)");
    }
    if (p->o.dedup) p->dedup.emplace(*p->o.dedup, m.dedup_store, m.opt.max_pubtime_skew);
    if (p->dedup && !po.global_cache.empty()) p->dedup->set_newer_pubtime_is_update(true);
    if (!po.enrich.empty()) p->enricher.emplace(make_enricher(enrich_config_table().validate(po.enrich)));
    for (const auto& f : po.filters) {
      m.router.add(f);  // throws for an invalid filter
      m.route_to_pipeline.push_back(m.pipelines.size());
    }
    p->configured_filters = po.filters;
    // Filters the control API changed in an earlier run.
    const auto changes = m.load_changes(Impl::filters_mark(po.name));
    if (!changes.added.empty() || !changes.removed.empty()) {
      p->o.filters = Impl::with_changes(po.filters, changes);
      m.log("pipeline " + po.name + ": filters as the control API left them: " + join_filters(p->o.filters, ", "));
    }
    any_fetch = any_fetch || p->fetch();
    m.pipelines.push_back(std::move(p));
  }
  // The Sensor Centre roles count what arrives: behind a shared subscription each monitor
  // sees only its share of the stream, and their figures would be partial (docs/scale-out.md).
  const bool any_scgc =
      std::any_of(m.pipelines.begin(), m.pipelines.end(), [](const auto& p) { return p->scgc != nullptr; });
  if (!m.opt.scgb.centre_id.empty() || !m.opt.availability.centre_id.empty() || any_scgc) {
    const auto shared = [](const std::vector<std::string>& subs) {
      return std::any_of(subs.begin(), subs.end(), [](const auto& s) { return s.rfind("$share/", 0) == 0; });
    };
    bool any_shared = shared(m.opt.subscriptions);
    for (const auto& b : m.opt.brokers) any_shared = any_shared || shared(b.subscriptions);
    if (any_shared)
      m.log(
          "warning: the Sensor Centre roles see only this monitor's share of a $share/ subscription; run "
          "them in one monitor with plain subscriptions (docs/scale-out.md, \"Sensor Centre roles\")");
  }
  if (!m.opt.scgb.centre_id.empty()) {  // a Sensor Centre for Global Brokers
    std::vector<std::string> global_brokers;
    for (auto& b : m.opt.brokers) {
      if (b.name.empty()) b.name = b.global_broker;  // arrivals carry the name
      if (b.name.empty())
        throw Error(ErrorCode::invalid_argument,
                    "a Sensor Centre for Global Brokers needs each broker's name or global_broker (" + b.url + ")");
      const std::string& gb = b.global_broker.empty() ? b.name : b.global_broker;
      if (std::find(global_brokers.begin(), global_brokers.end(), gb) == global_brokers.end())
        global_brokers.push_back(gb);
      m.global_broker_of[b.name] = gb;
    }
    if (global_brokers.empty())
      throw Error(ErrorCode::invalid_argument, "a Sensor Centre for Global Brokers needs at least one broker");
    m.scgb = std::make_unique<ScgbTracker>(m.opt.scgb, std::move(global_brokers), &m.metrics);
  }
  if (!m.opt.availability.centre_id.empty()) {
    for (const auto* list : {&m.opt.availability_sinks, &m.opt.availability_event_sinks})
      for (const auto& s : *list)
        if (!sink_names.count(s)) throw Error(ErrorCode::invalid_argument, "availability: no sink named '" + s + "'");
    m.availability = std::make_unique<AvailabilityTracker>(m.opt.availability, &m.metrics);
  }
  m.rebuild_routes();  // with the control API's changes
  if (any_fetch) {
    auto d = m.opt.download;
    d.metrics = &m.metrics;
    m.downloader = std::make_unique<Downloader>(d);
  }
  const auto resumed = m.spool->stats().resumed;
  if (resumed > 0) m.log("spool: " + std::to_string(resumed) + " messages from the last run are processed first");
}

Monitor::~Monitor() {
  try {
    stop();
  } catch (...) {
    // Destructors do not throw; call stop() to see errors.
  }
}

void Monitor::add_sink_type(const std::string& type, std::function<std::shared_ptr<Sink>(const SinkSpec&)> make) {
  auto& m = *impl_;
  std::lock_guard lock(m.lifecycle_mu);
  m.require(m.state == Impl::State::configured, "add_sink_type()");
  if (type.empty() || !make)
    throw Error(ErrorCode::invalid_argument, "monitor: add_sink_type needs a type and a function");
  m.local_sink_kinds[type] = std::move(make);
}

void Monitor::add_callback_sink(const std::string& name,
                                std::function<std::vector<Delivery>(const std::vector<Record>&)> fn) {
  auto& m = *impl_;
  std::lock_guard lock(m.lifecycle_mu);
  m.require(m.state == Impl::State::configured, "add_callback_sink()");
  if (!fn) throw Error(ErrorCode::invalid_argument, "monitor: add_callback_sink needs a function");
  if (name.empty()) throw Error(ErrorCode::invalid_argument, "monitor: a callback sink needs a name");
  const std::string type = "callback:" + name;
  m.local_sink_kinds[type] = [fn = std::move(fn), hub = m.polled](const SinkSpec& spec) {
    return std::make_shared<detail::PolledSink>(spec.name, fn, hub);
  };
  auto spec = std::find_if(m.opt.sinks.begin(), m.opt.sinks.end(), [&](const SinkSpec& s) { return s.name == name; });
  if (spec != m.opt.sinks.end()) {
    if (spec->type != "callback")
      throw Error(ErrorCode::invalid_argument,
                  "monitor: sink '" + name + "' is a " + spec->type + " sink, not a callback sink (type: callback)");
    spec->type = type;
  } else {
    m.opt.sinks.push_back({name, type, {}});
    for (auto& p : m.pipelines) p->o.sinks.push_back(name);
  }
  m.has_polled = true;
}

std::size_t Monitor::poll(std::chrono::milliseconds timeout) {
  auto& m = *impl_;
  m.require(m.state != Impl::State::stopped, "poll()");
  if (!m.has_polled) {
    if (timeout.count() > 0) std::this_thread::sleep_for(timeout);
    return 0;
  }
  return m.service_callbacks(timeout);
}

void Monitor::start() {
  auto& m = *impl_;
  std::lock_guard lock(m.lifecycle_mu);
  if (m.state == Impl::State::running) return;
  m.require(m.state == Impl::State::configured, "start()");
  if (!m.opt.control_token.empty()) {
    if (m.opt.metrics_port == 0)
      m.log("control API: metrics.control_token is set but the endpoint is off (metrics.port 0): no control API");
    else if (!is_loopback_host(m.opt.metrics_host) && !m.opt.control_allow_remote)
      throw Error(ErrorCode::invalid_argument,
                  "the control API would listen on " + m.opt.metrics_host +
                      ", not on loopback: set metrics.control_allow_remote (with TLS in front) or metrics.host "
                      "127.0.0.1");
    else
      m.log("control API: on at /api/control/ (a bearer token is required)");
  }
  // The endpoint first: a port taken (by another monitor) fails start() before anything
  // connects. Its handlers read the subscribers and sinks only once the state is running.
  if (m.opt.metrics_port != 0) {
    m.server = std::make_unique<detail::MetricsServer>(
        m.opt.metrics_host, m.opt.metrics_port,
        [&m] {
          if (!m.serving) return std::string();
          m.update_gauges();
          return m.metrics.render_prometheus();
        },
        [&m] {
          detail::MetricsServer::Health h{false, "{\"status\":\"starting\"}"};
          if (!m.serving) return h;
          const auto health = m.health();
          return detail::MetricsServer::Health{health.ok, health.json};
        },
        [this, &m](const detail::MetricsServer::Request& r) -> std::optional<detail::MetricsServer::Reply> {
          if ((r.method == "GET" || r.method == "HEAD") && r.path.rfind("/scgc/", 0) == 0)
            return m.serve_scgc_log(r.path);
          if (!m.serving)  // JSON like every /api/ answer; a moment after start() it is served
            return detail::MetricsServer::Reply{503, "{\"status\":\"starting\"}", "application/json", "no-store"};
          if (auto control = detail::serve_control(m.opt.control_token, m.control_actions(*this), r)) return control;
          detail::DashboardSources sources;
          sources.state = &m.dashboard;
          sources.now = [&m] { return m.now(); };
          sources.summary = [this, &m] { return m.summary_json(stats()); };
          sources.brokers = [&m] { return m.brokers_json(); };
          sources.sinks = [&m] { return m.sinks_json(); };
          sources.sensor_centre = [&m] { return m.sensor_centre_json(); };
          sources.dead_letters = [this](std::size_t limit, const std::string& sink) {
            return "{\"dead_letters\":" + to_json(dead_letters(limit, sink)) + "}";
          };
          return detail::serve_dashboard(sources, r);
        });
  }
  try {
    m.start_engines();
  } catch (...) {
    m.server.reset();
    throw;
  }
  // Availability's hours start now (and those a stopped monitor left are closed).
  if (m.availability) m.advance_availability();
  m.worker = std::thread([&m] {
    detail::name_this_thread("wis2mon-pipeline");
    m.run();
  });
  if (std::any_of(m.pipelines.begin(), m.pipelines.end(), [](const auto& p) { return !p->o.global_cache.empty(); })) {
    {
      std::lock_guard expiry_lock(m.expiry_mu);
      m.stop_expiry = false;
    }
    m.expirer = std::thread([&m] {
      detail::name_this_thread("wis2mon-expiry");
      m.run_expiry();
    });
  }
  m.start_brokers();
  m.state = Impl::State::running;
  m.serving = true;
  if (m.server) m.log("metrics on http://" + m.opt.metrics_host + ":" + std::to_string(m.server->port()) + "/metrics");
}

void Monitor::push(std::string_view topic, std::string_view payload, std::string_view source) {
  auto& m = *impl_;
  m.require(m.state != Impl::State::stopped, "push()");
  while (!m.spool->wait_for_room(std::chrono::seconds(1)))
    m.require(m.state != Impl::State::stopped && !m.stopping, "push()");
  m.spool->append(source, topic, payload, m.now());
}

BackfillProgress Monitor::backfill(const BackfillRequest& request) {
  auto& m = *impl_;
  m.require(m.state != Impl::State::stopped, "backfill()");
  if (request.url.empty() && m.opt.replay_url.empty())
    throw Error(ErrorCode::invalid_argument, "backfill: no replay service (monitor.replay_url, or the request's url)");
  if (request.until < request.since) throw Error(ErrorCode::invalid_argument, "backfill: until is before since");
  for (const auto& f : request.filters)
    if (std::string why; !is_valid_filter(f, &why))
      throw Error(ErrorCode::invalid_argument, "backfill: topic filter " + f + ": " + why);
  return m.fetch_window(request);
}

bool Monitor::drain(std::chrono::milliseconds timeout) {
  auto& m = *impl_;
  m.require(m.state == Impl::State::running, "drain()");
  const auto until = Clock::now() + timeout;
  for (;;) {
    if (m.spool->stats().stored == 0 && m.ledger.open_entries() == 0) return true;
    if (Clock::now() >= until || m.stopping) return false;
    if (m.has_polled)
      m.service_callbacks(std::chrono::milliseconds(20));
    else
      m.ledger.wait_for_completion(std::chrono::milliseconds(20));
  }
}

void Monitor::stop(std::chrono::milliseconds grace) {
  auto& m = *impl_;
  std::lock_guard lock(m.lifecycle_mu);
  if (m.state == Impl::State::stopped) return;
  const bool was_running = m.state == Impl::State::running;
  m.state = Impl::State::stopped;
  m.spool->admit_all();  // what arrives while disconnecting is stored, never refused (see Spool)
  for (auto& sub : m.subscribers) sub->stop();
  m.stopping = true;
  m.stop_backfill = true;
  m.gap_cv.notify_all();
  {
    std::lock_guard replay(m.replay_mu);
    if (m.replay_http) m.replay_http->close();  // a page in flight ends now
  }
  if (m.backfiller.joinable()) m.backfiller.join();
  if (m.expirer.joinable()) {
    {
      std::lock_guard expiry_lock(m.expiry_mu);
      m.stop_expiry = true;
    }
    m.expiry_cv.notify_all();
    m.expirer.join();
  }
  m.spool->interrupt();
  if (m.worker.joinable()) m.worker.join();
  // Entries taken are finished: downloads are waited for (up to grace), sinks flushed.
  const auto until = Clock::now() + grace;
  while (m.downloader && m.downloader->pending() > 0 && Clock::now() < until)
    m.downloader->poll(std::chrono::milliseconds(50));
  if (m.downloader) {
    m.downloader->close();
    m.downloader->poll();
  }
  if (m.health_watch) m.health_watch->stop_checking();  // closing sinks are not unhealthy ones
  const auto close_engines = [&m] {
    for (auto& [name, engine] : m.engines) {
      try {
        engine->close();
      } catch (const std::exception& e) {
        m.log("sink " + name + ": " + e.what());
      }
    }
  };
  if (m.has_polled && !m.engines.empty()) {
    // Callback sinks flush through this thread: run their batches while the engines close.
    auto closing = std::async(std::launch::async, close_engines);
    while (closing.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
      try {
        m.service_callbacks(std::chrono::milliseconds(10));
      } catch (const std::exception& e) {
        m.log(std::string("callback sink: ") + e.what());
      } catch (...) {
        m.log("callback sink: an exception that is not a std::exception");
      }
    }
    closing.get();
  } else {
    close_engines();
  }
  // Kept objects still going up to object storage: a while to finish, the rest at the next start.
  for (auto& p : m.pipelines)
    if (p->store_uploader && !p->store_uploader->drain(std::max(grace, std::chrono::milliseconds(5000))))
      m.log("pipeline " + p->o.name + ": " + std::to_string(p->store_uploader->pending()) +
            " object(s) not uploaded yet (kept in " + p->o.store_dir.string() + "; they go at the next start)");
  m.flush_completed();
  m.save_marks();
  m.server.reset();
  m.health_watch.reset();
  m.spool->close();  // the spool's lock goes with the stop, not with the object
  if (was_running) m.log("stopped: " + m.status());
}

const RecordSchemaPtr& monitor_events_schema() {
  static const RecordSchemaPtr schema =
      std::make_shared<const RecordSchema>("monitor_events", std::vector<std::string>{"topic", "message"});
  return schema;
}

const RecordSchemaPtr& cache_messages_schema() {
  // Appended as they come (no key): each is one message to republish.
  static const RecordSchemaPtr schema = std::make_shared<const RecordSchema>(
      "cache_messages", std::vector<std::string>{"topic", "message", "data_id", "pubtime", "cached"});
  return schema;
}

std::string to_json(const std::vector<DeadLetterStore::Entry>& dead_letters) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  const auto str = [&](const char* key, const std::string& v) {
    w.Key(key);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  };
  w.StartArray();
  for (const auto& e : dead_letters) {
    w.StartObject();
    w.Key("id");
    w.Int64(e.id);
    str("sink", e.sink);
    str("table", e.record_table);
    w.Key("record");
    // The store keeps what Record::to_json wrote; anything else is passed on as text.
    rapidjson::Document doc;
    detail::parse_json_text(doc, e.record_json);
    if (!doc.HasParseError() && doc.IsObject())
      w.RawValue(e.record_json.data(), e.record_json.size(), rapidjson::kObjectType);
    else
      w.String(e.record_json.data(), static_cast<rapidjson::SizeType>(e.record_json.size()));
    str("status", to_string(e.status));
    str("reason", e.reason);
    w.Key("attempts");
    w.Int(e.attempts);
    str("failed_at", e.failed_at);
    w.EndObject();
  }
  w.EndArray();
  return {buf.GetString(), buf.GetSize()};
}

std::string to_json(const MonitorStats& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  const auto count = [&w](const char* key, std::uint64_t v) {
    w.Key(key);
    w.Uint64(v);
  };
  w.StartObject();
  count("received", s.received);
  count("valid", s.valid);
  count("invalid", s.invalid);
  count("duplicates", s.duplicates);
  count("unrouted", s.unrouted);
  count("downloads", s.downloads);
  count("download_failures", s.download_failures);
  count("decode_failures", s.decode_failures);
  count("decode_part_errors", s.decode_part_errors);
  count("records", s.records);
  count("dead_letters", s.dead_letters);
  count("backfilled", s.backfilled);
  count("gc_cached", s.gc_cached);
  count("gc_uncached", s.gc_uncached);
  count("gc_declined", s.gc_declined);
  count("spool_stored", s.spool_stored);
  count("in_progress", s.in_progress);
  w.Key("records_per_table");
  w.StartObject();
  for (const auto& [table, n] : s.records_per_table) count(table.c_str(), n);
  w.EndObject();
  w.Key("sinks");
  w.StartObject();
  for (const auto& [name, e] : s.sinks) {
    w.Key(name.c_str());
    w.StartObject();
    count("delivered", e.delivered);
    count("rejected", e.rejected);
    count("out_of_retries", e.out_of_retries);
    count("retries", e.retries);
    count("dropped", e.dropped);
    count("queued", e.queued);
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

std::vector<std::shared_ptr<DeadLetterStore>> Monitor::Impl::dead_letter_stores() const {
  std::vector<std::shared_ptr<DeadLetterStore>> out;
  if (dead) out.push_back(dead);
  for (const auto& [name, r] : redrives)
    if (r.store && std::find(out.begin(), out.end(), r.store) == out.end()) out.push_back(r.store);
  return out;
}

std::vector<DeadLetterStore::Entry> Monitor::dead_letters(std::size_t limit, const std::string& sink) const {
  std::vector<DeadLetterStore::Entry> out;
  for (const auto& store : impl_->dead_letter_stores()) {
    auto some = store->entries(limit, sink);
    out.insert(out.end(), std::make_move_iterator(some.begin()), std::make_move_iterator(some.end()));
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.failed_at < b.failed_at; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::size_t Monitor::retry_dead_letters(const std::string& sink, std::size_t limit) {
  auto& m = *impl_;
  m.require(m.state == Impl::State::running, "retry_dead_letters()");
  std::size_t handed = 0;
  for (const auto& store : m.dead_letter_stores())
    for (const auto& e : store->entries(limit, sink)) {
      if (e.record_table == "messages" && !m.engines.count(e.sink)) {  // a stage's: into the spool again
        const Record r = Record::from_json(e.record_table, e.record_json);
        const auto text = [&](const char* field) {
          const auto* v = r.get(field);
          return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : std::string();
        };
        // Out of the store first: the message may fail again at once, and its new dead letter
        // (the same fingerprint, so not added) must not be taken for this one and deleted.
        store->remove({e.id});
        try {
          m.spool->append("dlq", text("topic"), text("payload"), m.now());
        } catch (...) {
          store->add(e.sink, r, e.status, e.reason, e.attempts);  // not handed over: kept
          throw;
        }
        ++handed;
      } else if (const auto engine = m.engines.find(e.sink); engine != m.engines.end()) {
        auto& r = m.redrives.at(e.sink);
        ++r.outstanding;
        if (engine->second->submit(Record::from_json(e.record_table, e.record_json), static_cast<std::uint64_t>(e.id)))
          ++handed;
        else
          --r.outstanding;
      }
    }
  return handed;
}

std::size_t Monitor::purge_dead_letters(const std::string& sink) {
  std::size_t n = 0;
  for (const auto& store : impl_->dead_letter_stores()) n += store->purge(sink);
  return n;
}

MonitorStats Monitor::stats() const {
  const auto& m = *impl_;
  MonitorStats s;
  s.received = m.received;
  s.valid = m.valid;
  s.invalid = m.invalid;
  s.duplicates = m.duplicates;
  s.unrouted = m.unrouted;
  s.downloads = m.downloads;
  s.download_failures = m.download_failures;
  s.decode_failures = m.decode_failures;
  s.decode_part_errors = m.decode_part_errors;
  s.records = m.records;
  s.dead_letters = m.dead_letters;
  s.backfilled = m.backfilled;
  s.gc_cached = m.gc_cached;
  s.gc_uncached = m.gc_uncached;
  s.gc_declined = m.gc_declined;
  {
    std::lock_guard lock(m.table_mu);
    s.records_per_table = m.per_table;
  }
  s.spool_stored = m.spool->stats().stored;
  s.in_progress = m.ledger.open_entries();
  for (const auto& [name, engine] : m.engines) s.sinks[name] = engine->stats();
  return s;
}

std::string Monitor::status_line() const {
  return impl_->status();
}

MetricsRegistry& Monitor::metrics() noexcept {
  return impl_->metrics;
}

std::string Monitor::metrics_text() {
  impl_->update_gauges();
  return impl_->metrics.render_prometheus();
}

MonitorState Monitor::state() const noexcept {
  return impl_->state;
}

Monitor::Health Monitor::health() const {
  return impl_->health();
}

int Monitor::metrics_port() const noexcept {
  return impl_->server ? impl_->server->port() : 0;
}

bool Monitor::wait_connected(std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  for (auto& sub : impl_->subscribers) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0 || !sub->wait_subscribed(left)) return false;
  }
  return true;
}

std::vector<BrokerStats> Monitor::broker_stats() const {
  std::vector<BrokerStats> out;
  for (const auto& sub : impl_->subscribers) out.push_back(sub->stats());
  return out;
}

}  // namespace wis2mon
