// The Sensor Centre for Global Caches' bookkeeping (WIS2 Guide 3.3.3.1). Open watches live in
// memory (bounded by the highest delay threshold); every change is written behind to SQLite
// in one transaction per flush, and closed watches stay there for the duplicate window.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include "common/sqlite.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/notification.hpp"
#include "wis2mon/sensor.hpp"
#include "wis2mon/topic.hpp"
#include "wis2mon/wme.hpp"

namespace fs = std::filesystem;

namespace wis2mon {
namespace {

// Guide 3.3.3.1: the log's timestamp of a cache that never republished the item.
constexpr std::int64_t kNever = 9999999999999;
constexpr std::int64_t kHourMs = 3600 * 1000;

std::int64_t to_ms(Timestamp t) {
  return t.seconds * 1000 + t.nanos / 1000000;
}
Timestamp from_ms(std::int64_t ms) {
  const std::int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  return Timestamp{s, static_cast<std::int32_t>((ms - s * 1000) * 1000000)};
}
std::int64_t hour_of(std::int64_t ms) {
  return ms - ((ms % kHourMs) + kHourMs) % kHourMs;
}

enum Kind : int { kCached = 1, kOverride = 2, kLinkFailed = 3 };

struct Seen {
  std::int64_t at = 0;
  int kind = kCached;
};

// Strings many watches share (centre-ids, topics, cache names) are kept once: a watch holds
// pointers into Impl::strings, a node-based set whose elements never move.
using Name = const std::string*;

struct Watch {
  Name centre_id = nullptr, topic = nullptr;
  std::string message;      // until written to the state file
  std::uint64_t links = 0;  // hash of the links array (the override comparison)
  std::int64_t opened = 0;
  std::vector<std::pair<Name, Seen>> seen;  // per Global Cache
  bool closed = false;
  bool stored = false;        // its row is in the state file
  bool dirty = false;         // listed in Impl::dirty
  std::vector<Name> unsaved;  // caches whose entry is not in the state file yet

  Seen* find(Name cache) {
    for (auto& [name, s] : seen)
      if (name == cache) return &s;
    return nullptr;
  }
};

// Two links arrays are "identical" (Guide 3.3.3.1, cache override) when every link has the
// same href, rel, type and length, in order; compared by a 64-bit hash of those.
std::uint64_t links_signature(const Notification& n) {
  std::string s;
  for (const auto& l : n.links()) {
    s.append(l.href).push_back('\x1f');
    s.append(l.rel).push_back('\x1f');
    s.append(l.type).push_back('\x1f');
    s.append(l.length ? std::to_string(*l.length) : "").push_back('\x1e');
  }
  return std::hash<std::string>{}(s);
}

bool has_update_link(const Notification& n) {
  return std::any_of(n.links().begin(), n.links().end(), [](const Link& l) { return l.rel == "update"; });
}

std::string threshold_label(std::chrono::seconds t) {
  return std::to_string(t.count()) + "s";
}

std::string hour_file_name(std::int64_t hour_ms) {
  const std::string t = format_rfc3339(from_ms(hour_ms), 0);  // 2026-11-30T06:00:00Z
  return "scgc-" + t.substr(0, 4) + t.substr(5, 2) + t.substr(8, 2) + "T" + t.substr(11, 2) + ".jsonl";
}

}  // namespace

struct ScgcTracker::Impl {
  ScgcOptions o;
  MetricsRegistry* metrics;
  std::chrono::seconds highest{0};
  std::unique_ptr<detail::SqliteDatabase> db;
  mutable std::mutex mu;
  std::unordered_map<std::string, Watch> watches;          // open, and closed but not yet flushed
  std::deque<std::pair<std::int64_t, std::string>> order;  // (opened, data_id), oldest first
  std::set<std::string> strings;                           // see Name
  std::set<std::string> caches;
  std::set<std::string> new_caches;  // not yet in the state file
  std::optional<std::int64_t> last_hour_done;
  std::optional<std::int64_t> saved_hour;                    // last_hour_done as the state file has it
  std::int64_t latest = 0;                                   // the latest time given, in ms
  std::map<std::int64_t, std::vector<std::string>> pending;  // hour -> log lines not yet on disk
  std::vector<std::string> dirty;                            // watches changed since the last flush

  void touch(const std::string& data_id, Watch& w) {
    if (!w.dirty) dirty.push_back(data_id);
    w.dirty = true;
  }
  void set_seen(const std::string& data_id, Watch& w, Name cache, Seen s) {
    if (Seen* had = w.find(cache))
      *had = s;
    else
      w.seen.emplace_back(cache, s);
    w.unsaved.push_back(cache);
    touch(data_id, w);
  }
  Name intern(std::string_view text) { return &*strings.emplace(text).first; }

  Impl(ScgcOptions options, MetricsRegistry* m) : o(std::move(options)), metrics(m) {
    if (o.centre_id.empty()) throw Error(ErrorCode::invalid_argument, "ScgcTracker: centre_id is required");
    if (o.delay_thresholds.empty())
      throw Error(ErrorCode::invalid_argument, "ScgcTracker: at least one delay threshold is required");
    for (const auto t : o.delay_thresholds) {
      if (t.count() <= 0) throw Error(ErrorCode::invalid_argument, "ScgcTracker: thresholds are positive");
      highest = std::max(highest, t);
    }
    caches.insert(o.global_caches.begin(), o.global_caches.end());
    new_caches = caches;
    if (!o.log_dir.empty()) fs::create_directories(o.log_dir);
    db = std::make_unique<detail::SqliteDatabase>(o.state.empty() ? fs::path(":memory:") : o.state);
    db->exec(
        "CREATE TABLE IF NOT EXISTS scgc_watch (data_id TEXT PRIMARY KEY, centre_id TEXT, topic TEXT, message TEXT,"
        " links TEXT, opened INTEGER, closed INTEGER);"
        "CREATE INDEX IF NOT EXISTS scgc_watch_closed ON scgc_watch (closed, opened);"
        "CREATE TABLE IF NOT EXISTS scgc_seen (data_id TEXT, cache TEXT, at INTEGER, kind INTEGER,"
        " PRIMARY KEY (data_id, cache));"
        "CREATE TABLE IF NOT EXISTS scgc_cache (cache TEXT PRIMARY KEY);"
        "CREATE TABLE IF NOT EXISTS scgc_meta (key TEXT PRIMARY KEY, value INTEGER);");
    load();
  }

  void load() {
    detail::SqliteStatement w(
        db->handle(),
        "SELECT data_id, centre_id, topic, message, links, opened FROM scgc_watch WHERE closed = 0 "
        "ORDER BY opened");
    while (w.step()) {
      Watch x;
      x.centre_id = intern(w.column_text(1));
      x.topic = intern(w.column_text(2));
      // x.message stays in the file (read back when the watch closes).
      x.links = static_cast<std::uint64_t>(w.column_int64(4));
      x.opened = w.column_int64(5);
      x.stored = true;
      order.emplace_back(x.opened, w.column_text(0));
      watches.emplace(w.column_text(0), std::move(x));
    }
    detail::SqliteStatement s(
        db->handle(),
        "SELECT s.data_id, s.cache, s.at, s.kind FROM scgc_seen s JOIN scgc_watch w USING (data_id)"
        " WHERE w.closed = 0");
    while (s.step())
      if (auto it = watches.find(s.column_text(0)); it != watches.end())
        it->second.seen.emplace_back(intern(s.column_text(1)),
                                     Seen{s.column_int64(2), static_cast<int>(s.column_int64(3))});
    detail::SqliteStatement c(db->handle(), "SELECT cache FROM scgc_cache");
    while (c.step()) caches.insert(c.column_text(0));
    detail::SqliteStatement m(db->handle(), "SELECT value FROM scgc_meta WHERE key = 'last_hour_done'");
    if (m.step()) last_hour_done = m.column_int64(0);
    saved_hour = last_hour_done;
  }

  void note_time(std::int64_t ms) {
    latest = std::max(latest, ms);
    // The first hour logged is the one the tracker first ran in.
    if (!last_hour_done) last_hour_done = hour_of(ms) - kHourMs;
  }

  Labels labels(const std::string& centre, const std::string& cache = {}) const {
    Labels l;
    if (!cache.empty()) l.emplace_back("global_cache", cache);
    l.emplace_back("centre_id", centre);
    l.emplace_back("report_by", o.centre_id);
    return l;
  }
  void count(const char* name, const Labels& l) {
    if (metrics) metrics->counter(name, l).inc();
  }

  // A closed watch still within the duplicate window: in memory until flushed, then in SQLite.
  std::optional<std::int64_t> closed_opened(const std::string& data_id) {
    if (auto it = watches.find(data_id); it != watches.end()) return it->second.opened;
    detail::SqliteStatement q(db->handle(), "SELECT opened FROM scgc_watch WHERE data_id = ?1");
    q.bind(1, data_id);
    if (q.step()) return q.column_int64(0);
    return std::nullopt;
  }

  // n: message parsed (its JSON well-formed), or null to parse it here.
  ScgcOrigin on_origin(std::string_view topic, std::string_view message, const Notification* n_in, Timestamp received) {
    const Topic t(topic);
    // Guide 3.3.3.1: recommended data is discarded (it is not cached); so are items the
    // origin marked "cache": false and the metadata topics.
    if (t.notification_type() != "data" || t.data_policy() != "core") return ScgcOrigin::ignored;
    std::optional<ParsedNotification> parsed;
    if (!n_in) {
      parsed = Notification::parse(message);
      if (!parsed->json_ok) return ScgcOrigin::ignored;
    }
    const Notification& n = n_in ? *n_in : parsed->notification;
    if (n.data_id().empty() || !n.cache()) return ScgcOrigin::ignored;
    const std::int64_t at = to_ms(received);
    std::lock_guard lock(mu);
    note_time(at);
    const std::string data_id(n.data_id());
    const std::string centre(t.centre_id());
    bool update = false;
    if (const auto before = closed_opened(data_id);
        before && at - *before < static_cast<std::int64_t>(o.duplicate_window.count()) * 1000) {
      if (!has_update_link(n)) {
        count("wmo_wis2_scgc_messages_duplicates_total", labels(centre));
        return ScgcOrigin::duplicate;
      }
      update = true;
    }
    Watch w;
    w.centre_id = intern(centre);
    w.topic = intern(topic);
    w.message = std::string(message);
    w.links = links_signature(n);
    w.opened = at;
    // An update replaces the watch row (its old copies go with it, see flush).
    const bool listed = watches.count(data_id) && watches[data_id].dirty;
    Watch& placed = watches[data_id] = std::move(w);
    placed.dirty = listed;
    touch(data_id, placed);
    order.emplace_back(at, data_id);
    count("wmo_wis2_scgc_messages_published_total", labels(centre));
    return update ? ScgcOrigin::updated : ScgcOrigin::watched;
  }

  ScgcCache on_cache(std::string_view message, const Notification* n_in, bool link_reachable, Timestamp received) {
    std::optional<ParsedNotification> parsed;
    if (!n_in) {
      parsed = Notification::parse(message);
      if (!parsed->json_ok) return ScgcCache::ignored;
    }
    const Notification& n = n_in ? *n_in : parsed->notification;
    if (n.data_id().empty() || n.global_cache().empty()) return ScgcCache::ignored;
    const std::int64_t at = to_ms(received);
    const std::string cache(n.global_cache());
    std::lock_guard lock(mu);
    note_time(at);
    if (caches.insert(cache).second) new_caches.insert(cache);
    const auto it = watches.find(std::string(n.data_id()));
    if (it == watches.end()) {
      return closed_opened(std::string(n.data_id())) ? ScgcCache::late : ScgcCache::unknown_item;
    }
    Watch& w = it->second;
    if (w.closed || at - w.opened >= static_cast<std::int64_t>(highest.count()) * 1000) return ScgcCache::late;
    const Name name = intern(cache);
    if (const Seen* had = w.find(name); had && had->kind != kLinkFailed) return ScgcCache::repeated;
    const std::string& data_id = it->first;
    if (!link_reachable) {
      set_seen(data_id, w, name, Seen{at, kLinkFailed});
      return ScgcCache::link_failed;
    }
    // Guide 3.3.3.1: identical links mean the cache decided not to cache the data.
    if (links_signature(n) == w.links) {
      set_seen(data_id, w, name, Seen{at, kOverride});
      count("wmo_wis2_scgc_messages_cache_override_total", labels(*w.centre_id, cache));
      return ScgcCache::cache_override;
    }
    set_seen(data_id, w, name, Seen{at, kCached});
    const double delay = static_cast<double>(at - w.opened) / 1000.0;
    if (metrics) {
      metrics->gauge("wmo_wis2_scgc_cache_delay_seconds", labels(*w.centre_id, cache)).set(delay);
      metrics->counter("wmo_wis2_scgc_messages_cached_total", labels(*w.centre_id, cache)).inc();
      // Cumulative, as "less than 120 s, less than 300 s, less than 600 s" reads.
      for (const auto t : o.delay_thresholds)
        if (delay < static_cast<double>(t.count())) {
          Labels l = labels(*w.centre_id, cache);
          l.emplace_back("delay_threshold", threshold_label(t));
          metrics->counter("wmo_wis2_scgc_messages_cached_delay_total", l).inc();
        }
    }
    return ScgcCache::cached;
  }

  // The watch's log line: the origin's message as published and each cache's time.
  std::string log_line(const std::string& data_id, Watch& w) {
    rapidjson::StringBuffer b;
    rapidjson::Writer<rapidjson::StringBuffer> out(b);
    out.StartObject();
    out.Key("centre_id");
    out.String(w.centre_id->c_str());
    out.Key("topic");
    out.String(w.topic->c_str());
    out.Key("data_id");
    out.String(data_id.c_str());
    out.Key("origin_time");
    out.Int64(w.opened);
    out.Key("message");
    std::string message = w.message;
    if (message.empty()) {
      detail::SqliteStatement q(db->handle(), "SELECT message FROM scgc_watch WHERE data_id = ?1");
      q.bind(1, data_id);
      if (q.step()) message = q.column_text(0);
    }
    if (message.empty()) message = "null";
    out.RawValue(message.data(), message.size(), rapidjson::kObjectType);
    out.Key("global_caches");
    out.StartObject();
    for (const auto& cache : caches) {
      const Seen* s = w.find(intern(cache));
      out.Key(cache.c_str());
      out.Int64(!s || s->kind == kLinkFailed ? kNever : s->at);
    }
    out.EndObject();
    out.EndObject();
    return {b.GetString(), b.GetSize()};
  }

  void close(const std::string& data_id, Watch& w) {
    w.closed = true;
    touch(data_id, w);
    bool any = false;
    for (const auto& cache : caches) {
      const Seen* s = w.find(intern(cache));
      const bool cached = s && s->kind == kCached;
      const bool chose_not = s && s->kind == kOverride;
      any = any || cached;
      // Guide 3.3.3.1: nothing after the highest threshold, or a link that was not valid.
      if (!cached && !chose_not) count("wmo_wis2_scgc_messages_missed_total", labels(*w.centre_id, cache));
    }
    if (!any) count("wmo_wis2_scgc_messages_missed_all_total", labels(*w.centre_id));
    if (!o.log_dir.empty()) pending[hour_of(w.opened)].push_back(log_line(data_id, w));
  }

  fs::path part_file(std::int64_t hour) const { return o.log_dir / ("." + hour_file_name(hour) + ".part"); }

  void write_pending() {
    for (auto& [hour, lines] : pending) {
      std::ofstream f(part_file(hour), std::ios::app | std::ios::binary);
      for (const auto& l : lines) f << l << '\n';
      f.flush();
      if (!f) throw Error(ErrorCode::io, "cannot write " + part_file(hour).string());
    }
    pending.clear();
  }

  ScgcHourLog finish_hour(std::int64_t hour) {
    ScgcHourLog log;
    log.hour = from_ms(hour);
    log.topic = "monitor/a/wis2/" + o.centre_id;
    const std::string name = hour_file_name(hour);
    if (!o.log_dir.empty()) {
      log.file = o.log_dir / name;
      std::error_code ec;
      if (fs::exists(part_file(hour), ec))
        fs::rename(part_file(hour), log.file);
      else
        std::ofstream(log.file, std::ios::trunc);  // an hour without items: an empty log
      std::ifstream in(log.file, std::ios::binary);
      std::string line;
      while (std::getline(in, line)) log.entries += !line.empty();
    }
    WmeEvent e;
    e.type = o.log_event_type;
    e.source = o.centre_id;
    e.subject = o.centre_id;
    e.time = from_ms(latest);
    e.subtype = "scgc-log";
    e.severity = "INFO";
    e.interval = {{from_ms(hour), from_ms(hour + kHourMs)}};
    e.title = "Sensor Centre for Global Caches: hourly log, " + std::to_string(log.entries) + " data_ids";
    e.description =
        "One JSON object per data_id published on origin/a/wis2 in the hour: the origin message and, per Global "
        "Cache, when it republished the item (ms since 1970; 9999999999999: never). WIS2 Guide 3.3.3.1.";
    std::string base = o.log_base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    e.links.push_back({base.empty() ? name : base + "/" + name, "canonical", "application/x-ndjson", "", ""});
    log.event = to_json(e);
    return log;
  }

  std::vector<ScgcHourLog> advance(Timestamp now) {
    std::vector<ScgcHourLog> done;
    {
      std::lock_guard lock(mu);
      const std::int64_t at = to_ms(now);
      note_time(at);
      const std::int64_t reach = static_cast<std::int64_t>(highest.count()) * 1000;
      while (!order.empty() && order.front().first + reach <= at) {
        const auto [opened, data_id] = order.front();
        order.pop_front();
        const auto it = watches.find(data_id);
        // An update reopened it later (its own entry comes further back), or it is gone.
        if (it == watches.end() || it->second.closed || it->second.opened != opened) continue;
        close(data_id, it->second);
      }
      write_pending();
      // An hour is complete once every watch opened in it has closed.
      while (*last_hour_done + 2 * kHourMs + reach <= at) {
        done.push_back(finish_hour(*last_hour_done + kHourMs));
        *last_hour_done += kHourMs;
      }
    }
    flush();
    return done;
  }

  void flush() {
    std::lock_guard lock(mu);
    // Nothing changed (a quiet second): no write at all. Old closed rows go with the next change.
    if (dirty.empty() && new_caches.empty() && last_hour_done == saved_hour) return;
    db->exec("BEGIN");
    try {
      detail::SqliteStatement put(db->handle(),
                                  "INSERT OR REPLACE INTO scgc_watch VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
      detail::SqliteStatement clear(db->handle(), "DELETE FROM scgc_seen WHERE data_id = ?1");
      // A closed watch keeps only what duplicate detection needs (its message went to the log).
      detail::SqliteStatement close_row(db->handle(),
                                        "UPDATE scgc_watch SET closed = 1, message = NULL WHERE data_id = ?1");
      detail::SqliteStatement seen(db->handle(), "INSERT OR REPLACE INTO scgc_seen VALUES (?1, ?2, ?3, ?4)");
      // Only what changed since the last flush: a new (or updated) watch's row once, each
      // cache's entry once, the closing as a flag.
      for (const auto& data_id : dirty) {
        const auto it = watches.find(data_id);
        if (it == watches.end() || !it->second.dirty) continue;
        Watch& w = it->second;
        if (!w.stored) {
          put.bind(1, data_id).bind(2, *w.centre_id).bind(3, *w.topic).bind(4, w.message);
          put.bind(5, static_cast<sqlite3_int64>(w.links));
          put.bind(6, static_cast<sqlite3_int64>(w.opened)).bind(7, static_cast<sqlite3_int64>(w.closed));
          put.step();
          put.reset();
          clear.bind(1, data_id).step();  // an update's earlier copies
          clear.reset();
          w.stored = true;
          // The message is read back for the log when the watch closes: memory holds only
          // what the bookkeeping needs.
          std::string().swap(w.message);
        } else if (w.closed) {
          close_row.bind(1, data_id).step();
          close_row.reset();
          clear.bind(1, data_id).step();  // what each cache sent is in the log now
          clear.reset();
          w.unsaved.clear();
        }
        for (const Name cache : w.unsaved) {
          const Seen& entry = *w.find(cache);
          seen.bind(1, data_id).bind(2, *cache).bind(3, static_cast<sqlite3_int64>(entry.at));
          seen.bind(4, static_cast<sqlite3_int64>(entry.kind)).step();
          seen.reset();
        }
        w.unsaved.clear();
        w.dirty = false;
        // Closed watches live on in the file only (for the duplicate window).
        if (w.closed) watches.erase(it);
      }
      dirty.clear();
      detail::SqliteStatement cache(db->handle(), "INSERT OR IGNORE INTO scgc_cache VALUES (?1)");
      for (const auto& c : new_caches) {
        cache.bind(1, c).step();
        cache.reset();
      }
      new_caches.clear();
      const std::int64_t gone = latest - static_cast<std::int64_t>(o.duplicate_window.count()) * 1000;
      detail::SqliteStatement purge(db->handle(), "DELETE FROM scgc_watch WHERE closed = 1 AND opened < ?1");
      purge.bind(1, static_cast<sqlite3_int64>(gone)).step();
      if (last_hour_done != saved_hour) {
        detail::SqliteStatement meta(db->handle(), "INSERT OR REPLACE INTO scgc_meta VALUES ('last_hour_done', ?1)");
        meta.bind(1, static_cast<sqlite3_int64>(*last_hour_done)).step();
        saved_hour = last_hour_done;
      }
      db->exec("COMMIT");
    } catch (...) {
      db->exec("ROLLBACK");
      throw;
    }
  }
};

ScgcTracker::ScgcTracker(ScgcOptions options, MetricsRegistry* metrics)
    : impl_(std::make_unique<Impl>(std::move(options), metrics)) {}

ScgcTracker::~ScgcTracker() {
  try {
    impl_->flush();
  } catch (...) {  // a destructor must not throw; the last second of changes is lost
  }
}

ScgcOrigin ScgcTracker::on_origin(std::string_view topic, std::string_view message, Timestamp received) {
  return impl_->on_origin(topic, message, nullptr, received);
}

ScgcOrigin ScgcTracker::on_origin(std::string_view topic, std::string_view message, const Notification& parsed,
                                  Timestamp received) {
  return impl_->on_origin(topic, message, &parsed, received);
}

ScgcCache ScgcTracker::on_cache(std::string_view, std::string_view message, bool link_reachable, Timestamp received) {
  return impl_->on_cache(message, nullptr, link_reachable, received);
}

ScgcCache ScgcTracker::on_cache(std::string_view, std::string_view, const Notification& parsed, bool link_reachable,
                                Timestamp received) {
  return impl_->on_cache({}, &parsed, link_reachable, received);
}

std::vector<ScgcHourLog> ScgcTracker::advance(Timestamp now) {
  return impl_->advance(now);
}

void ScgcTracker::flush() {
  impl_->flush();
}

std::size_t ScgcTracker::open_watches() const {
  std::lock_guard lock(impl_->mu);
  return static_cast<std::size_t>(
      std::count_if(impl_->watches.begin(), impl_->watches.end(), [](const auto& w) { return !w.second.closed; }));
}

std::vector<std::string> ScgcTracker::global_caches() const {
  std::lock_guard lock(impl_->mu);
  return {impl_->caches.begin(), impl_->caches.end()};
}

}  // namespace wis2mon
