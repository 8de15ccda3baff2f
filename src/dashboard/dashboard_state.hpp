// What the dashboard shows beyond the run's counters: per-centre message rates over the last
// hour, the latest reasons for invalid messages, downloads per data server, the stations seen
// (position, latest values), the active CAP alerts with their areas and the Sensor Centre's
// findings. The pipeline thread feeds it; the HTTP endpoint's threads read it as JSON
// (docs/dashboard.md lists the endpoints and their members).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "wis2mon/record.hpp"
#include "wis2mon/time.hpp"

namespace wis2mon::detail {

class DashboardState {
 public:
  /// Minutes of per-centre history kept (the chart's hour).
  static constexpr int kMinutes = 60;
  /// Latest invalid messages kept.
  static constexpr std::size_t kInvalidKept = 100;

  /// `max_stations`, `max_alerts`: kept at most (the oldest dropped first), so a stream of
  /// made-up station ids cannot grow the process without bound.
  explicit DashboardState(std::size_t max_stations = 200000, std::size_t max_alerts = 20000);

  /// A message of `centre` taken at `at` (wall clock), valid or not.
  void on_message(std::string_view centre, bool valid, Timestamp at);
  /// A message every pipeline dropped as seen.
  void on_duplicate(std::string_view centre);
  void on_invalid(std::string_view centre, std::string_view topic, std::string reason, Timestamp at);
  /// A finished download from `url` (its host is the data server); `error` empty when ok.
  void on_download(std::string_view url, bool ok, std::uint64_t bytes, std::string_view error, Timestamp at);
  /// Records a pipeline produced: surface_obs rows update the stations, cap_alerts and
  /// cap_areas rows the active alerts (an Update or Cancel replaces what it references).
  void on_records(const std::vector<Record>& records, std::string_view centre, Timestamp at);
  /// Rows of the availability tracker: findings rows open and clear findings.
  void on_availability_rows(const std::vector<Record>& rows);

  /// {"minute_start": s, "minutes": 60, "centres": [{centre_id, received, valid, invalid,
  /// duplicates, last_message, per_minute: [60 counts, oldest first]}]}
  std::string centres_json(Timestamp now) const;
  /// [{centre_id, received, valid, invalid, duplicates, last_message}]: the counts alone.
  std::string centre_counts_json() const;
  /// {"invalid": [{at, centre_id, topic, reason}], newest first}
  std::string invalid_json() const;
  /// {"servers": [{server, downloads, failures, bytes, last_error, last_error_at, last_at}]}
  std::string downloads_json() const;
  /// {"stations": [{id, name, lat, lon, centre_id, observed_at, received_at, age_s, values{}}],
  ///  "without_position": n}
  std::string stations_json(Timestamp now) const;
  /// {"alerts": [{identifier, sender, sent, expires, event, severity, urgency, certainty,
  ///  headline, msg_type, areas: [{desc, polygons, circles}]}]}: those not expired or cancelled.
  std::string alerts_json(Timestamp now) const;
  /// {"findings": [{rule, subject, centre_id, severity, raised_at, title}]}: open ones.
  std::string findings_json() const;

  std::size_t station_count() const;
  std::size_t centre_count() const;

 private:
  struct Centre {
    std::uint64_t received = 0, valid = 0, invalid = 0, duplicates = 0;
    std::int64_t last = 0;
    std::int64_t minute[kMinutes] = {};  // the minute each bucket counts (epoch minutes)
    std::uint32_t count[kMinutes] = {};
  };
  struct Invalid {
    std::int64_t at;
    std::string centre, topic, reason;
  };
  struct Server {
    std::uint64_t downloads = 0, failures = 0, bytes = 0;
    std::string last_error;
    std::int64_t last_error_at = 0, last_at = 0;
  };
  struct Station {
    std::string name, centre;
    double lat = 0, lon = 0;
    bool placed = false;
    Timestamp observed, received;
    std::vector<std::pair<std::string, double>> values;
    std::uint64_t order = 0;  // insertion order, for dropping the oldest
    // The station as /api/stations writes it, but age_s: rendered at the first request after a
    // change (empty until then), so that a request renders only the stations that changed.
    mutable std::string json;
  };
  struct Area {
    std::string desc, polygons, circles;  // polygons and circles as the cap_areas JSON text
  };
  struct Alert {
    std::string identifier, sender, sent, expires, event, severity, urgency, certainty, headline, msg_type;
    std::int64_t expires_at = 0;  // 0: no expiry given
    std::vector<Area> areas;
    std::uint64_t order = 0;
  };
  struct Finding {
    std::string rule, subject, centre, severity, raised_at, title;
  };

  mutable std::mutex mu_;
  std::size_t max_stations_, max_alerts_;
  std::map<std::string, Centre, std::less<>> centres_;
  std::deque<Invalid> invalid_;
  std::map<std::string, Server, std::less<>> servers_;
  std::map<std::string, Station, std::less<>> stations_;
  std::map<std::string, Alert, std::less<>> alerts_;  // by identifier
  std::map<std::string, Finding> findings_;           // by rule|subject|centre
  std::uint64_t order_ = 0;

  Centre& centre(std::string_view id);
  void on_observation(const Record& r, std::string_view centre, Timestamp at);
  void on_alert(const Record& r);
  void on_area(const Record& r);
};

}  // namespace wis2mon::detail
