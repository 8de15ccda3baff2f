// Sensor Centres (WIS2 Guide, part III, 3.3): components that watch WIS2 from outside and
// report what they find as metrics and WIS2 Monitoring Events.
//
// ScgcTracker is the bookkeeping of a Sensor Centre for Global Caches (SCGC, Guide 3.3.3):
// origin notifications of core data open a watch per data_id; the Global Caches' copies are
// attributed by properties.global-cache and timed against it; a watch closes once the highest
// delay threshold has passed, counting what each cache missed; an hourly JSON-lines log says
// when each cache republished each item. Time is always given by the caller (a test clock in
// tests), so every figure is reproducible. The watches persist in an SQLite file.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wis2mon/export.hpp"
#include "wis2mon/metrics.hpp"
#include "wis2mon/time.hpp"

namespace wis2mon {

class Notification;

struct ScgcOptions {
  /// This Sensor Centre's centre-id, `{tld}-{centre-name}-sensor-centre-global-cache` by
  /// convention (Guide 3.3.3): the metrics' report_by label, the events' source and subject.
  std::string centre_id;
  /// wmo_wis2_scgc_messages_cached_delay_total's thresholds (Guide 3.3.3.1: 120, 300, 600 s);
  /// a watch closes at the highest.
  std::vector<std::chrono::seconds> delay_thresholds{std::chrono::seconds(120), std::chrono::seconds(300),
                                                     std::chrono::seconds(600)};
  /// A data_id seen again within this time without a rel=update link is a duplicate
  /// (Guide 3.3.3.1: "within a period of at least 3 hours").
  std::chrono::seconds duplicate_window{std::chrono::hours(3)};
  /// Global Caches expected to cache every item; caches are also learned from the
  /// properties.global-cache of the messages they send.
  std::vector<std::string> global_caches;
  /// The SQLite file holding the watches across restarts ("": in memory only).
  std::filesystem::path state;
  /// Where the hourly logs go ("": none are written).
  std::filesystem::path log_dir;
  /// The URL log_dir is served at: the hourly event links to base/<file>.
  std::string log_base_url;
  /// The hourly event's type. The Guide names int.wmo.wis.wme.event.item.download; the WME
  /// schema 1.0.0 allows only int.wmo.wis.wme.event (the default, as the reference example
  /// of an SCGC log event has it).
  std::string log_event_type = "int.wmo.wis.wme.event";
};

/// What on_origin did with a notification.
enum class ScgcOrigin {
  watched,    ///< a new watch (wmo_wis2_scgc_messages_published_total)
  updated,    ///< a rel=update of a watched data_id: the watch starts again
  duplicate,  ///< the data_id again within the window, without rel=update (..._duplicates_total)
  ignored,    ///< recommended data, "cache": false, metadata, not a notification
};

/// What on_cache did with a Global Cache's notification.
enum class ScgcCache {
  cached,          ///< timed: ..._cached_total, ..._cache_delay_seconds, ..._cached_delay_total
  cache_override,  ///< links identical to the origin's: the cache chose not to cache (..._cache_override_total)
  link_failed,     ///< the HEAD of its link did not answer 200: discarded, missed at close
  late,            ///< after the highest threshold (the watch counts it missed)
  repeated,        ///< this cache already sent this item
  unknown_item,    ///< no watch for this data_id
  ignored,         ///< no properties.global-cache, or not a notification
};

/// An hour's log, complete: every watch opened in [hour, hour + 1 h) has closed.
struct ScgcHourLog {
  Timestamp hour;              ///< its start
  std::filesystem::path file;  ///< log_dir/scgc-YYYYMMDDTHH.jsonl (empty without log_dir)
  std::size_t entries = 0;     ///< data_ids in it
  std::string topic;           ///< monitor/a/wis2/<centre_id>
  std::string event;           ///< the WIS2 Monitoring Event announcing it (valid WME)
};

class WIS2MON_API ScgcTracker {
 public:
  /// Opens (creating) the state file and loads the watches it holds. Throws Error on a bad
  /// option (no centre_id, no threshold) or an unusable file. metrics may be null.
  explicit ScgcTracker(ScgcOptions options, MetricsRegistry* metrics = nullptr);
  ~ScgcTracker();  ///< flush()
  ScgcTracker(const ScgcTracker&) = delete;
  ScgcTracker& operator=(const ScgcTracker&) = delete;

  /// A notification received at `received` on an origin/a/wis2/... topic.
  ScgcOrigin on_origin(std::string_view topic, std::string_view message, Timestamp received);
  /// A notification received on a cache/a/wis2/... topic; link_reachable: whether the HEAD
  /// of its canonical (or update) link answered 200 (Guide 3.3.3.1).
  ScgcCache on_cache(std::string_view topic, std::string_view message, bool link_reachable, Timestamp received);
  /// The same for a message its caller already parsed (its JSON well-formed): parsed once.
  ScgcOrigin on_origin(std::string_view topic, std::string_view message, const Notification& parsed,
                       Timestamp received);
  ScgcCache on_cache(std::string_view topic, std::string_view message, const Notification& parsed, bool link_reachable,
                     Timestamp received);
  /// Closes the watches whose highest threshold has passed (each cache's misses, missed by
  /// all), writes the hours whose watches are all closed, and persists. Returns those hours'
  /// logs, each with the event to publish. The first hour logged is the one the tracker was
  /// first started in.
  std::vector<ScgcHourLog> advance(Timestamp now);
  /// Writes the changes since the last flush to the state file (advance does too).
  void flush();

  std::size_t open_watches() const;
  /// The caches known: configured and learned.
  std::vector<std::string> global_caches() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- Sensor Centre for Global Brokers (SCGB, Guide 3.3.2) --------------------------------

struct ScgbOptions {
  /// This Sensor Centre's centre-id (`{tld}-{centre-name}-sensor-centre-global-broker`): the
  /// metrics' report_by label.
  std::string centre_id;
  /// A message (by its id) seen on one Global Broker is expected on every other within this
  /// time; after it, each broker that did not deliver it counts it missing.
  std::chrono::seconds window{std::chrono::minutes(5)};
};

/// The SCGB's bookkeeping: per Global Broker (named by its centre-id) the Guide's metrics
/// (wmo_wis2_scgb_connected_flag, ..._messages_received_total and ..._last_message_timestamp_seconds
/// per subscription topic, as scgb.csv labels them), and the comparison the role exists for:
/// per origin centre, each message seen on any broker (the union) and, per broker, those it
/// did not deliver within the window (wis2mon_scgb_messages_union_total{centre_id},
/// wis2mon_scgb_messages_missing_total{global_broker, centre_id}). Time comes from the caller.
/// Thread-safe.
class WIS2MON_API ScgbTracker {
 public:
  ScgbTracker(ScgbOptions options, std::vector<std::string> global_brokers, MetricsRegistry* metrics);
  ~ScgbTracker();
  ScgbTracker(const ScgbTracker&) = delete;
  ScgbTracker& operator=(const ScgbTracker&) = delete;

  void on_connection(std::string_view global_broker, bool connected);
  /// A message from a Global Broker on an origin/, cache/ or monitor/a/wis2/... topic.
  /// Returns false when it has no id (not counted in the comparison).
  bool on_message(std::string_view global_broker, std::string_view topic, std::string_view message, Timestamp received);
  /// The same for a message already parsed: `id` is its "id" (empty: not counted).
  bool on_message_id(std::string_view global_broker, std::string_view topic, std::string_view id, Timestamp received);
  /// Closes the messages first seen more than the window ago; returns how many closed.
  std::size_t advance(Timestamp now);
  /// Messages still inside the window.
  std::size_t pending() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wis2mon
