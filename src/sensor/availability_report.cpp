// The availability report: the hour rows a sqlite sink stored, summed per period. Periods are
// built from hours (not from the stored day rows) so that any range and any period agree.
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <tuple>

#include "common/sqlite.hpp"
#include "wis2mon/availability.hpp"
#include "wis2mon/error.hpp"

namespace fs = std::filesystem;

namespace wis2mon {
namespace {

std::int64_t bucket_of(std::int64_t hour, const std::string& period) {
  if (period == "hour") return hour;
  const std::int64_t day = hour - ((hour % 86400) + 86400) % 86400;
  if (period == "day") return day;
  // 1970-01-01 was a Thursday: Monday is three days later in the week's count.
  const std::int64_t days = day / 86400;
  return (days - ((days + 3) % 7 + 7) % 7) * 86400;
}

std::int64_t bucket_end(std::int64_t start, const std::string& period) {
  return start + (period == "hour" ? 3600 : period == "day" ? 86400 : 7 * 86400);
}

std::string column_text(sqlite3_stmt* st, int col) {
  const auto* p = sqlite3_column_text(st, col);
  return p ? reinterpret_cast<const char*>(p) : "";
}

std::optional<double> column_real(sqlite3_stmt* st, int col) {
  if (sqlite3_column_type(st, col) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_double(st, col);
}

struct Sum {
  AvailabilityReportRow row;
  double to_pubtime = 0, to_receipt = 0;  // sums of the hours' medians
  int to_pubtime_n = 0, to_receipt_n = 0;
  std::int64_t latest_hour = -1;  // the latest hour the station was expected in
  bool latest_empty = false;      // and it brought nothing
};

}  // namespace

std::optional<Timestamp> parse_report_time(std::string_view text) {
  if (text.size() == 10) return parse_rfc3339(std::string(text) + "T00:00:00Z");
  return parse_rfc3339(text);
}

std::vector<AvailabilityReportRow> availability_report(const fs::path& db, const AvailabilityReportOptions& o) {
  if (o.period != "hour" && o.period != "day" && o.period != "week")
    throw Error(ErrorCode::invalid_argument, "period '" + o.period + "': hour, day or week");
  std::error_code ec;
  if (!fs::is_regular_file(db, ec)) throw Error(ErrorCode::not_found, db.string() + ": no such database");
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    const std::string m = h ? sqlite3_errmsg(h) : "cannot open";
    sqlite3_close(h);
    throw Error(ErrorCode::not_found, db.string() + ": " + m);
  }
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> conn(h, sqlite3_close);
  sqlite3_busy_timeout(h, 5000);
  sqlite3_stmt* raw = nullptr;
  const char* sql =
      "SELECT period_start, kind, unit, centre_id, country, name, expected, received, late, messages,"
      " latency_data_to_pubtime_s, latency_pubtime_to_receipt_s, last_seen FROM availability"
      " WHERE period = 'hour' AND kind IN ('station', 'centre')";
  if (sqlite3_prepare_v2(h, sql, -1, &raw, nullptr) != SQLITE_OK)
    throw Error(ErrorCode::not_found, db.string() +
                                          ": no availability rows (the monitor writes them with availability set and "
                                          "a sqlite sink in availability_sinks): " +
                                          sqlite3_errmsg(h));
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);

  std::map<std::tuple<std::int64_t, std::string, std::string>, Sum> sums;  // (bucket, kind, unit)
  std::int64_t first_hour = -1, last_hour = -1;
  for (int rc; (rc = sqlite3_step(raw)) == SQLITE_ROW;) {
    const auto start = parse_rfc3339(column_text(raw, 0));
    if (!start) continue;
    const std::int64_t hour = start->seconds;
    if ((o.from && hour < o.from->seconds) || (o.to && hour >= o.to->seconds)) continue;
    first_hour = first_hour < 0 ? hour : std::min(first_hour, hour);
    last_hour = std::max(last_hour, hour);
    const std::string kind = column_text(raw, 1), unit = column_text(raw, 2);
    Sum& s = sums[{bucket_of(hour, o.period), kind, unit}];
    AvailabilityReportRow& r = s.row;
    r.kind = kind;
    r.period_start = Timestamp{bucket_of(hour, o.period), 0};
    (kind == "station" ? r.wigos_station_identifier : r.centre_id) = unit;
    if (const auto c = column_text(raw, 3); !c.empty()) r.centre_id = c;
    if (const auto c = column_text(raw, 4); !c.empty()) r.country = c;
    if (const auto c = column_text(raw, 5); !c.empty()) r.name = c;
    const std::int64_t expected = sqlite3_column_int64(raw, 6), received = sqlite3_column_int64(raw, 7);
    r.expected += expected;
    r.received += received;
    r.late += sqlite3_column_int64(raw, 8);
    r.messages += sqlite3_column_int64(raw, 9);
    if (const auto v = column_real(raw, 10)) s.to_pubtime += *v, ++s.to_pubtime_n;
    if (const auto v = column_real(raw, 11)) s.to_receipt += *v, ++s.to_receipt_n;
    if (const auto seen = column_text(raw, 12); seen > r.last_seen) r.last_seen = seen;
    if (expected > 0 && hour > s.latest_hour) {
      s.latest_hour = hour;
      s.latest_empty = received == 0;
    }
  }

  // Listed stations: names and countries; those with no row at all, expected from the list.
  if (!o.stations.empty()) {
    const auto list = load_station_list(o.stations, parse_station_schedule(o.default_schedule));
    std::set<std::string> present;
    for (auto& [key, s] : sums)
      if (std::get<1>(key) == "station") present.insert(std::get<2>(key));
    const std::int64_t from = o.from ? o.from->seconds : first_hour;
    const std::int64_t to = o.to ? o.to->seconds : last_hour + 3600;
    for (const auto& st_info : list) {
      if (present.count(st_info.wigos_id)) {
        for (auto& [key, s] : sums)
          if (std::get<1>(key) == "station" && std::get<2>(key) == st_info.wigos_id) {
            if (s.row.name.empty()) s.row.name = st_info.name;
            if (s.row.country.empty()) s.row.country = st_info.country;
          }
        continue;
      }
      if (from < 0 || to <= from) continue;  // no range to speak of
      for (std::int64_t b = bucket_of(from - from % 3600, o.period); b < to; b = bucket_end(b, o.period)) {
        const std::int64_t expected = expected_reports(st_info.schedule, Timestamp{std::max(b, from), 0},
                                                       Timestamp{std::min(bucket_end(b, o.period), to), 0});
        if (expected == 0) continue;
        Sum& s = sums[{b, "station", st_info.wigos_id}];
        s.row.kind = "station";
        s.row.wigos_station_identifier = st_info.wigos_id;
        s.row.name = st_info.name;
        s.row.country = st_info.country;
        s.row.period_start = Timestamp{b, 0};
        s.row.expected = expected;
        s.latest_hour = b;
        s.latest_empty = true;
      }
    }
  }

  std::vector<AvailabilityReportRow> out;
  for (auto& [key, s] : sums) {
    AvailabilityReportRow r = std::move(s.row);
    if (r.expected > 0)
      r.percentage = std::round(1000.0 * static_cast<double>(r.received) / static_cast<double>(r.expected)) / 10.0;
    if (s.to_pubtime_n) r.latency_data_to_pubtime_s = s.to_pubtime / s.to_pubtime_n;
    if (s.to_receipt_n) r.latency_pubtime_to_receipt_s = s.to_receipt / s.to_receipt_n;
    // Silent: nothing in its latest expected hour, and nothing since (a late report is news).
    if (r.kind == "station" && s.latest_empty) {
      const auto seen = parse_rfc3339(r.last_seen);
      if (!seen)
        r.silent_since = "never";
      else if (seen->seconds < s.latest_hour + 3600)
        r.silent_since = r.last_seen;
    }
    out.push_back(std::move(r));
  }
  // Per period, worst first: the lowest percentage, then those with nothing expected.
  std::stable_sort(out.begin(), out.end(), [](const AvailabilityReportRow& a, const AvailabilityReportRow& b) {
    if (a.period_start.seconds != b.period_start.seconds) return a.period_start.seconds < b.period_start.seconds;
    const double pa = a.percentage.value_or(1e9), pb = b.percentage.value_or(1e9);
    if (pa != pb) return pa < pb;
    if (a.kind != b.kind) return a.kind > b.kind;  // stations before centres
    return (a.kind == "station" ? a.wigos_station_identifier : a.centre_id) <
           (b.kind == "station" ? b.wigos_station_identifier : b.centre_id);
  });
  return out;
}

}  // namespace wis2mon
