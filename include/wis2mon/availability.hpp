// Station availability and findings (issue #19, the "scobs" part of the Sensor Centres and
// the success-rate analytic this library grew from): how many reports each station was
// expected to send in a period, how many arrived, per station, per country and per centre;
// the latency per centre; and findings (a silent station, a silent centre, a Global Cache
// missing data, a Global Broker behind) raised once and cleared once, each announced by a
// WIS2 Monitoring Event. Time always comes from the caller (the monitor's clock).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wis2mon/export.hpp"
#include "wis2mon/metrics.hpp"
#include "wis2mon/record.hpp"
#include "wis2mon/time.hpp"

namespace wis2mon {

/// When a station is expected to report: minutes of the UTC day.
struct StationSchedule {
  std::vector<int> minutes;  ///< sorted, each in [0, 1440)
  std::string text;          ///< as written ("hourly", "synoptic", ...)
};

/// Reads a schedule: `hourly`, `3-hourly`, `6-hourly` (any `N-hourly` dividing 24),
/// `synoptic` (main synoptic hours 00, 06, 12, 18 UTC), `intermediate` (every 3 hours),
/// `every 10m` (a duration dividing a day: 10m, 30m, 1h), or `at 00:00 06:00 12:00 18:00`.
/// Throws Error(invalid_argument) for anything else.
WIS2MON_API StationSchedule parse_station_schedule(std::string_view text);

/// Reports a schedule expects in [from, to) (whole minutes).
WIS2MON_API std::int64_t expected_reports(const StationSchedule& schedule, Timestamp from, Timestamp to);

struct StationInfo {
  std::string wigos_id;  ///< WIGOS station identifier, e.g. 0-20000-0-10393
  std::string name, country;
  std::optional<double> latitude, longitude;
  StationSchedule schedule;
};

/// Reads a station list (CSV with a header; docs/sensor-centre.md#station-lists). Columns by
/// name, case-insensitive: the WIGOS id (`wigos_station_identifier`, `wigos_id`, or OSCAR/
/// Surface's `WIGOS Station Identifier(s)`, whose several ids each become a station), the
/// name (`name`, `station_name`, `Station`), the country (`country`, `territory_name`,
/// `Territory`), `latitude`, `longitude`, and `schedule` (optional; `default_schedule` when
/// absent or empty). Throws Error(invalid_argument) naming the file and line of each problem.
WIS2MON_API std::vector<StationInfo> parse_station_list(std::string_view csv, const StationSchedule& default_schedule,
                                                        const std::string& origin = "station list");
WIS2MON_API std::vector<StationInfo> load_station_list(const std::filesystem::path& csv,
                                                       const StationSchedule& default_schedule);

struct AvailabilityOptions {
  /// This centre's id: the report_by label and the events' source. Empty: off.
  std::string centre_id;
  /// The station list; empty: each station's schedule is learned from its own reports (the
  /// most common interval between its last reports, once it has sent four).
  std::filesystem::path stations;
  std::string default_schedule = "hourly";  ///< for listed stations without a schedule
  /// An hour is closed (its figures final) this long after it ends; a report for it arriving
  /// later counts as late, not received.
  std::chrono::seconds grace{std::chrono::minutes(30)};
  /// The SQLite file keeping the figures, the stations seen and the findings across restarts
  /// ("": in memory only).
  std::filesystem::path state;
  /// Findings: a station with no report in this many consecutive hours it was expected in.
  int silent_station_hours = 3;
  /// A centre with no message in this many consecutive hours (the Global Cache alert
  /// No_data_from_centre: "over the last 6 hours").
  int silent_centre_hours = 6;
  /// A Global Cache missing items, a Global Broker not delivering messages, in this many
  /// consecutive hours.
  int missing_hours = 1;
  /// A finding clears after this many consecutive good hours (so a single late message does
  /// not make it flap).
  int clear_after_hours = 2;
};

/// The schemas of the rows AvailabilityTracker gives: `availability` (one per station,
/// country and centre per hour and per day) and `findings` (one per finding, updated when it
/// clears).
WIS2MON_API const RecordSchemaPtr& availability_schema();
WIS2MON_API const RecordSchemaPtr& findings_schema();

/// What advance() produced: rows for the sinks, and WIS2 Monitoring Events (each a valid WME)
/// with their topic, monitor/a/wis2/<centre_id>.
struct AvailabilityOutput {
  std::vector<Record> rows;                                 ///< availability and findings rows
  std::vector<std::pair<std::string, std::string>> events;  ///< (topic, WME)
};

class WIS2MON_API AvailabilityTracker {
 public:
  /// Loads the station list and the state file. Throws Error on a bad option or file.
  explicit AvailabilityTracker(AvailabilityOptions options, MetricsRegistry* metrics = nullptr);
  ~AvailabilityTracker();
  AvailabilityTracker(const AvailabilityTracker&) = delete;
  AvailabilityTracker& operator=(const AvailabilityTracker&) = delete;

  /// A notification from `centre_id` (any topic): counted for the centre, and its latency
  /// (data time to pubtime, pubtime to receipt) when it has both times.
  void on_message(std::string_view centre_id, std::optional<Timestamp> datetime, std::optional<Timestamp> pubtime,
                  Timestamp received);
  /// A decoded surface observation.
  void on_observation(std::string_view wigos_id, std::string_view centre_id, Timestamp observed, Timestamp received);
  /// A cumulative count of things missing (rule "cache_missing" with subject the Global
  /// Cache, "broker_missing" with the Global Broker), per centre: an hour in which it grew
  /// is a bad hour for the subject.
  void note_missing(std::string_view rule, std::string_view subject, std::string_view centre_id, double cumulative);
  /// Closes the hours (and days) whose grace has passed: their rows, findings raised or
  /// cleared, the diagnostic event per hour; and the rows updated by late reports.
  AvailabilityOutput advance(Timestamp now);

  std::size_t stations() const;  ///< listed and seen
  std::size_t open_findings() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// What `wis2mon report availability` reads: the hour rows of an `availability` table.
struct AvailabilityReportOptions {
  std::string period = "day";         ///< hour, day or week (weeks start on Monday, UTC)
  std::optional<Timestamp> from, to;  ///< hours starting in [from, to); unset: all
  /// A station list: its stations with no row at all are reported too (expected from their
  /// schedule over the range, none received), and its names and countries fill the rows.
  std::filesystem::path stations;
  std::string default_schedule = "hourly";
};

/// A report range's bound: a date (2026-11-30, midnight UTC) or an RFC 3339 time.
WIS2MON_API std::optional<Timestamp> parse_report_time(std::string_view text);

struct AvailabilityReportRow {
  std::string kind;  ///< station or centre
  std::string wigos_station_identifier, centre_id, name, country;
  Timestamp period_start;
  std::int64_t expected = 0, received = 0, late = 0;
  std::int64_t messages = 0;         ///< centre rows: notifications received
  std::optional<double> percentage;  ///< received / expected in %, none when nothing was expected
  std::optional<double> latency_data_to_pubtime_s, latency_pubtime_to_receipt_s;  ///< centre rows
  std::string last_seen;     ///< a station's latest report (RFC 3339), "" when none
  std::string silent_since;  ///< a station whose latest expected hour brought nothing: last_seen, or "never"
};

/// Reads the availability rows of a SQLite database written by a sqlite sink (the monitor's
/// availability_sinks) and sums them per period: per station and per centre, worst first
/// within each period. Throws Error(not_found) when the file or its availability table is
/// missing, Error(invalid_argument) for a bad option.
WIS2MON_API std::vector<AvailabilityReportRow> availability_report(const std::filesystem::path& db,
                                                                   const AvailabilityReportOptions& options = {});

}  // namespace wis2mon
