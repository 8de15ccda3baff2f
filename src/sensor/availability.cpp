// Station availability and findings. The reports received are rows of an SQLite state file
// (one per station and expected slot, the first arrival kept), so that the figures survive a
// restart and memory does not grow with the stations; an hour's figures are computed from it
// once the hour's grace has passed. Writes are batched: one transaction per advance().
#include "wis2mon/availability.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>

#include "common/csv.hpp"
#include "common/digest.hpp"
#include "common/file.hpp"
#include "common/sqlite.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/wme.hpp"

namespace fs = std::filesystem;

namespace wis2mon {
namespace {

constexpr int kDay = 1440;  // minutes

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return std::string(s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1));
}

std::vector<int> every(int interval, int offset = 0) {
  std::vector<int> out;
  for (int m = offset % interval; m < kDay; m += interval) out.push_back(m);
  return out;
}

// "10m", "1h", "90s" (whole minutes) -> minutes; 0 when not a duration.
int duration_minutes(std::string_view s) {
  if (s.size() < 2) return 0;
  const char unit = s.back();
  int n = 0;
  for (char c : s.substr(0, s.size() - 1)) {
    if (c < '0' || c > '9' || n > 100000) return 0;
    n = n * 10 + (c - '0');
  }
  return unit == 'm' ? n : unit == 'h' ? n * 60 : 0;
}

std::string hhmm(int minute) {
  char b[24];
  std::snprintf(b, sizeof b, "%02d:%02d", minute / 60, minute % 60);
  return b;
}

std::int64_t to_ms(Timestamp t) {
  return t.seconds * 1000 + t.nanos / 1000000;
}

std::string iso(std::int64_t seconds) {
  return format_rfc3339(Timestamp{seconds, 0}, 0);
}

double percentage(std::int64_t received, std::int64_t expected) {
  return expected > 0 ? std::round(1000.0 * static_cast<double>(received) / static_cast<double>(expected)) / 10.0 : 0;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

// The schedule slot (minutes since the epoch) an observation at `minute` counts for: the
// nearest, within half the interval around it; nullopt when none is that near.
std::optional<std::int64_t> slot_for(const StationSchedule& s, std::int64_t minute) {
  if (s.minutes.empty()) return std::nullopt;
  const std::int64_t day = minute - minute % kDay;
  std::optional<std::int64_t> best;
  std::int64_t best_gap = 0;
  for (std::int64_t d : {day - kDay, day, day + kDay})
    for (std::size_t i = 0; i < s.minutes.size(); ++i) {
      const std::int64_t slot = d + s.minutes[i];
      const std::int64_t gap = slot > minute ? slot - minute : minute - slot;
      // Half the distance to the neighbouring slots (30 min for an hourly station).
      const int next = s.minutes[(i + 1) % s.minutes.size()] + (i + 1 == s.minutes.size() ? kDay : 0);
      const int prev = i == 0 ? s.minutes.back() - kDay : s.minutes[i - 1];
      const std::int64_t reach = std::min(next - s.minutes[i], s.minutes[i] - prev) / 2;
      if (gap <= reach && (!best || gap < best_gap)) {
        best = slot;
        best_gap = gap;
      }
    }
  return best;
}

// A schedule learned from a station's own reports (minutes since the epoch, ascending, at
// least four): the most common gap between them, rounded to an interval dividing the day.
std::optional<StationSchedule> learn_schedule(const std::vector<std::int64_t>& times) {
  if (times.size() < 4) return std::nullopt;
  std::map<std::int64_t, int> gaps;
  for (std::size_t i = 1; i < times.size(); ++i) ++gaps[times[i] - times[i - 1]];
  std::int64_t gap = 0;
  int most = 0;
  for (const auto& [g, n] : gaps)
    if (n > most) gap = g, most = n;
  static const int kIntervals[] = {10, 15, 20, 30, 60, 120, 180, 360, 720, 1440};
  int interval = kIntervals[0];
  for (int i : kIntervals)
    if (std::abs(i - gap) < std::abs(interval - gap)) interval = i;
  StationSchedule s;
  s.minutes = every(interval, static_cast<int>(times.back() % interval));
  s.text = "at";
  for (int m : s.minutes) s.text += " " + hhmm(m);
  if (s.minutes.size() > 8) s.text = "every " + std::to_string(interval) + "m";
  return s;
}

}  // namespace

// ---- schedules and station lists ---------------------------------------------------------

StationSchedule parse_station_schedule(std::string_view text) {
  StationSchedule s;
  s.text = trim(text);
  const std::string t = lower(s.text);
  const auto bad = [&] {
    return Error(ErrorCode::invalid_argument,
                 "schedule '" + s.text +
                     "': expected hourly, N-hourly, synoptic, intermediate, every <10m|30m|1h...>, or at HH:MM ...");
  };
  if (t == "hourly") {
    s.minutes = every(60);
  } else if (t == "synoptic" || t == "main synoptic" || t == "main-synoptic") {
    s.minutes = every(360);
  } else if (t == "intermediate" || t == "intermediate synoptic") {
    s.minutes = every(180);
  } else if (t.size() > 7 && t.compare(t.size() - 7, 7, "-hourly") == 0) {
    const int h = duration_minutes(t.substr(0, t.size() - 7) + "h");
    if (h <= 0 || h > kDay || kDay % h) throw bad();
    s.minutes = every(h);
  } else if (t.rfind("every ", 0) == 0) {
    const int m = duration_minutes(trim(t.substr(6)));
    if (m <= 0 || m > kDay || kDay % m) throw bad();
    s.minutes = every(m);
  } else if (t.rfind("at ", 0) == 0) {
    std::istringstream in(t.substr(3));
    for (std::string word; in >> word;) {
      int h = 0, m = 0;
      char tail = 0;
      if (std::sscanf(word.c_str(), "%d:%d%c", &h, &m, &tail) != 2 || h < 0 || h > 23 || m < 0 || m > 59) throw bad();
      s.minutes.push_back(h * 60 + m);
    }
    if (s.minutes.empty()) throw bad();
    std::sort(s.minutes.begin(), s.minutes.end());
    s.minutes.erase(std::unique(s.minutes.begin(), s.minutes.end()), s.minutes.end());
  } else {
    throw bad();
  }
  return s;
}

std::int64_t expected_reports(const StationSchedule& schedule, Timestamp from, Timestamp to) {
  std::int64_t n = 0;
  const std::int64_t first = (from.seconds + 59) / 60, end = (to.seconds + 59) / 60;
  if (end <= first || schedule.minutes.empty()) return 0;
  const std::int64_t days = (end - first) / kDay;  // whole days, then the rest minute by minute
  n += days * static_cast<std::int64_t>(schedule.minutes.size());
  for (std::int64_t m = first + days * kDay; m < end; ++m)
    n += std::binary_search(schedule.minutes.begin(), schedule.minutes.end(), static_cast<int>(m % kDay)) ? 1 : 0;
  return n;
}

std::vector<StationInfo> parse_station_list(std::string_view csv, const StationSchedule& default_schedule,
                                            const std::string& origin) {
  const auto rows = detail::parse_csv(csv);
  if (rows.empty()) throw Error(ErrorCode::invalid_argument, origin + ": empty (a header line is expected)");
  // Column names as this project's format, synop2bufr's station lists and OSCAR/Surface's
  // exports have them.
  const auto column = [&](std::initializer_list<const char*> names) -> int {
    for (std::size_t i = 0; i < rows[0].size(); ++i)
      for (const char* n : names)
        if (lower(trim(rows[0][i])) == n) return static_cast<int>(i);
    return -1;
  };
  const int c_id = column(
      {"wigos_station_identifier", "wigos_id", "wigos station identifier(s)", "wigos station identifier", "wigosid"});
  const int c_name = column({"name", "station_name", "station"});
  const int c_country = column({"country", "territory_name", "territory", "country_code"});
  const int c_lat = column({"latitude", "lat"});
  const int c_lon = column({"longitude", "lon", "long"});
  const int c_schedule = column({"schedule"});
  if (c_id < 0)
    throw Error(ErrorCode::invalid_argument,
                origin + ": no WIGOS id column (wigos_station_identifier, or OSCAR's WIGOS Station Identifier(s))");
  std::vector<StationInfo> out;
  std::vector<std::string> problems;
  std::set<std::string> seen;
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    const auto cell = [&](int c) { return c >= 0 && static_cast<std::size_t>(c) < row.size() ? trim(row[c]) : ""; };
    const std::string where = origin + ", row " + std::to_string(r + 1);
    const auto number = [&](int c, const char* what, double limit) -> std::optional<double> {
      const std::string v = cell(c);
      if (v.empty()) return std::nullopt;
      char* end = nullptr;
      const double d = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end || std::fabs(d) > limit) {
        problems.push_back(where + ": " + what + " '" + v + "' is not a number within +-" + std::to_string(int(limit)));
        return std::nullopt;
      }
      return d;
    };
    StationInfo base;
    base.name = cell(c_name);
    base.country = cell(c_country);
    base.latitude = number(c_lat, "latitude", 90);
    base.longitude = number(c_lon, "longitude", 180);
    base.schedule = default_schedule;
    if (const std::string sc = cell(c_schedule); !sc.empty()) try {
        base.schedule = parse_station_schedule(sc);
      } catch (const Error& e) {
        problems.push_back(where + ": " + e.what());
      }
    // OSCAR lists a station's several WIGOS ids in one cell, separated by commas or spaces.
    std::string ids = cell(c_id);
    std::replace_if(
        ids.begin(), ids.end(), [](char c) { return c == ',' || c == ';' || c == '\n'; }, ' ');
    std::istringstream in(ids);
    bool any = false;
    for (std::string id; in >> id;) {
      any = true;
      int parts = 1;
      for (char c : id) parts += c == '-';
      if (parts != 4) {
        problems.push_back(where + ": '" + id + "' is not a WIGOS station identifier (series-issuer-issue-local)");
        continue;
      }
      if (!seen.insert(id).second) continue;  // listed twice: the first wins
      StationInfo s = base;
      s.wigos_id = id;
      out.push_back(std::move(s));
    }
    if (!any) problems.push_back(where + ": no WIGOS station identifier");
  }
  if (!problems.empty()) {
    std::string all;
    for (std::size_t i = 0; i < problems.size() && i < 20; ++i) all += (i ? "\n  " : "\n  ") + problems[i];
    if (problems.size() > 20) all += "\n  ... " + std::to_string(problems.size() - 20) + " more";
    throw Error(ErrorCode::invalid_argument, origin + ": " + std::to_string(problems.size()) + " problem(s):" + all);
  }
  return out;
}

std::vector<StationInfo> load_station_list(const fs::path& csv, const StationSchedule& default_schedule) {
  return parse_station_list(detail::read_file(csv), default_schedule, csv.string());
}

// ---- schemas ------------------------------------------------------------------------------

const RecordSchemaPtr& availability_schema() {
  static const RecordSchemaPtr schema = std::make_shared<const RecordSchema>(
      "availability",
      std::vector<std::string>{"period_start",
                               "period",
                               "kind",
                               "unit",
                               "wigos_station_identifier",
                               "centre_id",
                               "country",
                               "name",
                               "latitude",
                               "longitude",
                               "schedule",
                               "expected",
                               "received",
                               "late",
                               "percentage",
                               "messages",
                               "latency_data_to_pubtime_s",
                               "latency_pubtime_to_receipt_s",
                               "last_seen",
                               "report_by"},
      SchemaHints{{"period_start", "period", "kind", "unit"}, "period_start", {"kind", "unit"}, {{"unit"}}});
  return schema;
}

const RecordSchemaPtr& findings_schema() {
  static const RecordSchemaPtr schema = std::make_shared<const RecordSchema>(
      "findings",
      std::vector<std::string>{"rule", "subject", "centre_id", "severity", "state", "raised_at", "cleared_at", "title",
                               "description", "event_id", "report_by"},
      SchemaHints{{"rule", "subject", "centre_id", "raised_at"}, "raised_at", {"rule"}, {{"state"}}});
  return schema;
}

// ---- the tracker --------------------------------------------------------------------------

namespace {

struct Station {
  StationInfo info;
  bool listed = false;
  bool learned = false;              // schedule learned from its reports
  std::string centre;                // of its latest report
  std::int64_t last_seen_ms = 0;     // arrival of its latest report
  std::vector<std::int64_t> recent;  // minutes of its latest reports (learning), ascending
  bool dirty = false;
  bool has_schedule() const { return !info.schedule.minutes.empty(); }
};

struct CentreHour {
  std::int64_t messages = 0;
  bool dirty = false;                          // messages not yet in the state file
  std::vector<double> to_pubtime, to_receipt;  // seconds, up to kSamples each
};
constexpr std::size_t kSamples = 4096;

// A finding's state: consecutive bad and good hours, and whether it is raised.
struct Finding {
  int bad = 0, good = 0;
  bool raised = false;
  std::int64_t raised_at = 0;  // seconds
  std::string centre;          // the centre it was about when raised (a station's may change)
  bool dirty = false;
};

struct Missing {
  double cumulative = 0, at_close = 0;
  bool known = false;
};

struct RuleText {
  const char* severity;
  const char* title;
};
const std::map<std::string, RuleText>& rules() {
  static const std::map<std::string, RuleText> r{
      {"silent_station", {"WARNING", "Station silent"}},
      // The Global Cache alert No_data_from_centre's summary (refdata alerts/gc.yml).
      {"silent_centre", {"WARNING", "No data is received from that centre over the last 6 hours."}},
      {"cache_missing", {"WARNING", "Global Cache missing data"}},
      {"broker_missing", {"WARNING", "Global Broker not delivering messages"}},
  };
  return r;
}

}  // namespace

struct AvailabilityTracker::Impl {
  AvailabilityOptions o;
  MetricsRegistry* metrics = nullptr;
  mutable std::mutex mu;
  std::unique_ptr<detail::SqliteDatabase> db;
  bool in_transaction = false;
  std::map<std::string, Station, std::less<>> stations;                           // by WIGOS id
  std::map<std::pair<std::string, std::int64_t>, CentreHour> centre_hours;        // (centre, hour start s)
  std::set<std::string> centres;                                                  // every centre seen
  std::map<std::tuple<std::string, std::string, std::string>, Finding> findings;  // rule, subject, centre
  std::map<std::tuple<std::string, std::string, std::string>, Missing> missing;   // rule, subject, centre
  std::set<std::pair<std::int64_t, std::string>> late;  // (closed hour, station) with new late reports
  std::int64_t closed_until = 0;                        // hours before this (seconds) are closed
  std::int64_t day_closed_until = 0;

  void begin() {
    if (!in_transaction) {
      db->exec("BEGIN");
      in_transaction = true;
    }
  }
  void commit() {
    if (in_transaction) {
      db->exec("COMMIT");
      in_transaction = false;
    }
  }

  std::int64_t close_time(std::int64_t hour) const { return hour + 3600 + o.grace.count(); }

  void open_state() {
    db = std::make_unique<detail::SqliteDatabase>(o.state.empty() ? fs::path(":memory:") : o.state);
    db->exec(
        "CREATE TABLE IF NOT EXISTS av_obs (station TEXT NOT NULL, slot INTEGER NOT NULL, received_ms INTEGER NOT NULL,"
        " PRIMARY KEY (station, slot)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS av_station (station TEXT PRIMARY KEY, centre TEXT, last_seen_ms INTEGER,"
        " recent TEXT, learned TEXT);"
        "CREATE TABLE IF NOT EXISTS av_centre_hour (centre TEXT NOT NULL, hour INTEGER NOT NULL, messages INTEGER,"
        " PRIMARY KEY (centre, hour));"
        "CREATE TABLE IF NOT EXISTS av_figures (period TEXT NOT NULL, start INTEGER NOT NULL, kind TEXT NOT NULL,"
        " unit TEXT NOT NULL, expected INTEGER, received INTEGER, late INTEGER, messages INTEGER,"
        " PRIMARY KEY (period, start, kind, unit));"
        "CREATE TABLE IF NOT EXISTS av_finding (rule TEXT NOT NULL, subject TEXT NOT NULL, centre TEXT NOT NULL,"
        " bad INTEGER, good INTEGER, raised INTEGER, raised_at INTEGER, about TEXT,"
        " PRIMARY KEY (rule, subject, centre));"
        "CREATE TABLE IF NOT EXISTS av_missing (rule TEXT NOT NULL, subject TEXT NOT NULL, centre TEXT NOT NULL,"
        " at_close REAL, PRIMARY KEY (rule, subject, centre));"
        "CREATE TABLE IF NOT EXISTS av_mark (name TEXT PRIMARY KEY, value INTEGER);");
    {
      detail::SqliteStatement q(db->handle(), "SELECT name, value FROM av_mark");
      while (q.step()) (q.column_text(0) == "closed_until" ? closed_until : day_closed_until) = q.column_int64(1);
    }
    {
      detail::SqliteStatement q(db->handle(), "SELECT station, centre, last_seen_ms, recent, learned FROM av_station");
      while (q.step()) {
        Station& s = stations[q.column_text(0)];
        s.info.wigos_id = q.column_text(0);
        s.centre = q.column_text(1);
        s.last_seen_ms = q.column_int64(2);
        std::istringstream in(q.column_text(3));
        for (std::int64_t m; in >> m;) s.recent.push_back(m);
        if (const std::string l = q.column_text(4); !l.empty() && !s.listed) {
          s.info.schedule = parse_station_schedule(l);
          s.learned = true;
        }
        if (!s.centre.empty()) centres.insert(s.centre);
      }
    }
    {
      detail::SqliteStatement q(db->handle(), "SELECT centre, hour, messages FROM av_centre_hour");
      while (q.step()) {
        centre_hours[{q.column_text(0), q.column_int64(1)}].messages = q.column_int64(2);
        centres.insert(q.column_text(0));
      }
    }
    {
      detail::SqliteStatement q(db->handle(),
                                "SELECT rule, subject, centre, bad, good, raised, raised_at, about FROM av_finding");
      while (q.step()) {
        Finding& f = findings[{q.column_text(0), q.column_text(1), q.column_text(2)}];
        f.bad = static_cast<int>(q.column_int64(3));
        f.good = static_cast<int>(q.column_int64(4));
        f.raised = q.column_int64(5) != 0;
        f.raised_at = q.column_int64(6);
        f.centre = q.column_text(7);
      }
    }
    {
      detail::SqliteStatement q(db->handle(), "SELECT rule, subject, centre, at_close FROM av_missing");
      while (q.step()) {
        Missing& m = missing[{q.column_text(0), q.column_text(1), q.column_text(2)}];
        m.at_close = static_cast<double>(q.column_int64(3));
        m.cumulative = m.at_close;
        m.known = true;
      }
    }
  }

  void load_stations() {
    if (o.stations.empty()) return;
    for (auto& info : load_station_list(o.stations, parse_station_schedule(o.default_schedule))) {
      Station& s = stations[info.wigos_id];
      s.info = std::move(info);
      s.listed = true;
      s.learned = false;
    }
  }

  void save_mark(const char* name, std::int64_t value) {
    detail::SqliteStatement q(db->handle(), "INSERT OR REPLACE INTO av_mark (name, value) VALUES (?1, ?2)");
    q.bind(1, name).bind(2, value);
    q.step();
  }

  // ---- inputs ----

  void on_message(std::string_view centre_id, std::optional<Timestamp> datetime, std::optional<Timestamp> pubtime,
                  Timestamp received) {
    if (centre_id.empty()) return;
    std::lock_guard lock(mu);
    const std::int64_t hour = received.seconds - received.seconds % 3600;
    CentreHour& c = centre_hours[{std::string(centre_id), hour}];
    ++c.messages;
    c.dirty = true;
    centres.emplace(centre_id);
    if (pubtime) {
      if (datetime && c.to_pubtime.size() < kSamples)
        c.to_pubtime.push_back(static_cast<double>(to_ms(*pubtime) - to_ms(*datetime)) / 1000.0);
      if (c.to_receipt.size() < kSamples)
        c.to_receipt.push_back(static_cast<double>(to_ms(received) - to_ms(*pubtime)) / 1000.0);
    }
  }

  void on_observation(std::string_view wigos_id, std::string_view centre_id, Timestamp observed, Timestamp received) {
    if (wigos_id.empty()) return;
    std::lock_guard lock(mu);
    auto it = stations.find(wigos_id);
    if (it == stations.end()) {
      if (!o.stations.empty()) return;  // a list given: only its stations count
      it = stations.emplace(std::string(wigos_id), Station{}).first;
      it->second.info.wigos_id = std::string(wigos_id);
    }
    Station& s = it->second;
    const std::int64_t minute = observed.seconds / 60;
    s.centre = std::string(centre_id);
    if (!s.centre.empty()) centres.insert(s.centre);
    s.last_seen_ms = std::max(s.last_seen_ms, to_ms(received));
    s.dirty = true;
    if (!s.listed && !s.learned) {  // learning: its distinct report times, the latest eight
      if (std::find(s.recent.begin(), s.recent.end(), minute) == s.recent.end()) {
        s.recent.insert(std::upper_bound(s.recent.begin(), s.recent.end(), minute), minute);
        if (s.recent.size() > 8) s.recent.erase(s.recent.begin());
      }
      if (auto learned = learn_schedule(s.recent)) {
        s.info.schedule = std::move(*learned);
        s.learned = true;
      } else {
        return;
      }
    }
    const auto slot = slot_for(s.info.schedule, minute);
    if (!slot) return;  // between its slots: not one it is expected to send
    const std::int64_t hour = *slot * 60 - (*slot * 60) % 3600;
    if (hour < closed_until - 48 * 3600) return;  // older than the figures kept: nothing to update
    begin();
    detail::SqliteStatement q(db->handle(),
                              "INSERT OR IGNORE INTO av_obs (station, slot, received_ms) VALUES (?1, ?2, ?3)");
    q.bind(1, wigos_id).bind(2, *slot).bind(3, to_ms(received));
    q.step();
    if (db->changes() > 0 && hour < closed_until) late.insert({hour, s.info.wigos_id});
  }

  void note_missing(std::string_view rule, std::string_view subject, std::string_view centre, double cumulative) {
    std::lock_guard lock(mu);
    Missing& m = missing[{std::string(rule), std::string(subject), std::string(centre)}];
    if (!m.known) {  // first seen: everything counted so far is this hour's
      m.known = true;
      m.at_close = 0;
    }
    if (cumulative < m.cumulative) m.at_close = 0;  // the counter restarted (a new process)
    m.cumulative = cumulative;
  }

  // ---- output rows ----

  Record base_row(std::int64_t start, const char* period, const char* kind, const std::string& unit) const {
    Record r(availability_schema());
    r.set("period_start", iso(start));
    r.set("period", std::string(period));
    r.set("kind", std::string(kind));
    r.set("unit", unit);
    r.set("report_by", o.centre_id);
    return r;
  }

  static void put_figures(Record& r, std::int64_t expected, std::int64_t received, std::int64_t late_count) {
    r.set("expected", expected);
    r.set("received", received);
    r.set("late", late_count);
    if (expected > 0) r.set("percentage", percentage(received, expected));
  }

  Record station_row(std::int64_t start, const char* period, const Station& s, std::int64_t expected,
                     std::int64_t received, std::int64_t late_count) const {
    Record r = base_row(start, period, "station", s.info.wigos_id);
    r.set("wigos_station_identifier", s.info.wigos_id);
    if (!s.centre.empty()) r.set("centre_id", s.centre);
    if (!s.info.country.empty()) r.set("country", s.info.country);
    if (!s.info.name.empty()) r.set("name", s.info.name);
    if (s.info.latitude) r.set("latitude", *s.info.latitude);
    if (s.info.longitude) r.set("longitude", *s.info.longitude);
    r.set("schedule", (s.learned ? "learned: " : "") + s.info.schedule.text);
    if (s.last_seen_ms > 0) r.set("last_seen", format_rfc3339(Timestamp{s.last_seen_ms / 1000, 0}, 0));
    put_figures(r, expected, received, late_count);
    return r;
  }

  Labels station_labels(const Station& s) const {
    const auto coord = [](const std::optional<double>& v) {
      if (!v) return std::string();
      char b[32];
      std::snprintf(b, sizeof b, "%.4f", *v);
      return std::string(b);
    };
    return {{"centre_id", s.centre}, {"country", s.info.country},          {"report_by", o.centre_id},
            {"id", s.info.wigos_id}, {"latitude", coord(s.info.latitude)}, {"longitude", coord(s.info.longitude)}};
  }

  struct Figures {
    std::int64_t expected = 0, received = 0, late = 0;
    void add(const Figures& f) {
      expected += f.expected;
      received += f.received;
      late += f.late;
    }
  };

  // One station's figures for the hour: expected slots, reports before the close, after it.
  std::map<std::string, Figures> hour_figures(std::int64_t hour) {
    std::map<std::string, Figures> out;
    detail::SqliteStatement q(db->handle(),
                              "SELECT station, SUM(received_ms < ?3), SUM(received_ms >= ?3) FROM av_obs"
                              " WHERE slot >= ?1 AND slot < ?2 GROUP BY station");
    q.bind(1, hour / 60).bind(2, hour / 60 + 60).bind(3, close_time(hour) * 1000);
    while (q.step()) out[q.column_text(0)] = Figures{0, q.column_int64(1), q.column_int64(2)};
    for (auto& [id, s] : stations)
      if (s.has_schedule())
        out[id].expected = expected_reports(s.info.schedule, Timestamp{hour, 0}, Timestamp{hour + 3600, 0});
    return out;
  }

  void save_figures(const char* period, std::int64_t start, const char* kind, const std::string& unit, const Figures& f,
                    std::int64_t messages) {
    detail::SqliteStatement q(db->handle(),
                              "INSERT OR REPLACE INTO av_figures (period, start, kind, unit, expected, received, late,"
                              " messages) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    q.bind(1, period).bind(2, start).bind(3, kind).bind(4, unit).bind(5, f.expected).bind(6, f.received);
    q.bind(7, f.late).bind(8, messages);
    q.step();
  }

  // Rows of one hour for `only` stations (all when null), with their countries and centres.
  void hour_rows(std::int64_t hour, const std::set<std::string>* only, bool closing, AvailabilityOutput& out,
                 std::vector<std::pair<std::string, Figures>>* station_figures) {
    const auto figures = hour_figures(hour);
    std::map<std::string, Figures> by_country, by_centre;
    std::set<std::string> countries, centres_touched;
    if (only)
      for (const auto& id : *only)
        if (auto it = stations.find(id); it != stations.end()) {
          countries.insert(it->second.info.country);
          centres_touched.insert(it->second.centre);
        }
    for (const auto& [id, f] : figures) {
      const auto it = stations.find(id);
      if (it == stations.end() || (f.expected == 0 && f.received + f.late == 0)) continue;
      const Station& s = it->second;
      if (!s.info.country.empty()) by_country[s.info.country].add(f);
      if (!s.centre.empty()) by_centre[s.centre].add(f);
      if (only && !only->count(id)) continue;
      out.rows.push_back(station_row(hour, "hour", s, f.expected, f.received, f.late));
      save_figures("hour", hour, "station", id, f, 0);
      if (station_figures) station_figures->emplace_back(id, f);
      if (closing && metrics) {
        const Labels l = station_labels(s);
        metrics->counter("wmo_wis2_sobs_basecountbystation_total", l).inc(static_cast<double>(f.expected));
        metrics->counter("wmo_wis2_sobs_datacountbystation_total", l).inc(static_cast<double>(f.received));
        if (f.expected > 0)
          metrics->gauge("wmo_wis2_sobs_percentagebystation_total", l).set(percentage(f.received, f.expected));
      }
    }
    for (const auto& [country, f] : by_country) {
      if (only && !countries.count(country)) continue;
      Record r = base_row(hour, "hour", "country", country);
      r.set("country", country);
      put_figures(r, f.expected, f.received, f.late);
      out.rows.push_back(std::move(r));
      save_figures("hour", hour, "country", country, f, 0);
      if (closing && metrics) {
        const Labels l{{"centre_id", ""}, {"country", country}, {"report_by", o.centre_id}};
        metrics->counter("wmo_wis2_sobs_basecountbycountry_total", l).inc(static_cast<double>(f.expected));
        metrics->counter("wmo_wis2_sobs_datacountbycountry_total", l).inc(static_cast<double>(f.received));
        if (f.expected > 0)
          metrics->gauge("wmo_wis2_sobs_percentagebycountry_total", l).set(percentage(f.received, f.expected));
      }
    }
    // Centres: every centre known (a silent one has a row with 0 messages).
    for (const auto& centre : centres) {
      if (only && !centres_touched.count(centre)) continue;
      Record r = base_row(hour, "hour", "centre", centre);
      r.set("centre_id", centre);
      const Figures f = by_centre.count(centre) ? by_centre[centre] : Figures{};
      put_figures(r, f.expected, f.received, f.late);
      std::int64_t messages = 0;
      if (const auto c = centre_hours.find({centre, hour}); c != centre_hours.end()) {
        messages = c->second.messages;
        if (!c->second.to_pubtime.empty()) r.set("latency_data_to_pubtime_s", median(c->second.to_pubtime));
        if (!c->second.to_receipt.empty()) r.set("latency_pubtime_to_receipt_s", median(c->second.to_receipt));
      }
      r.set("messages", messages);
      out.rows.push_back(std::move(r));
      save_figures("hour", hour, "centre", centre, f, messages);
      if (closing && metrics && f.expected + messages > 0) {
        if (const auto c = centre_hours.find({centre, hour}); c != centre_hours.end()) {
          if (!c->second.to_pubtime.empty())
            metrics->gauge("wis2mon_centre_latency_seconds", {{"centre_id", centre}, {"stage", "data_to_pubtime"}})
                .set(median(c->second.to_pubtime));
          if (!c->second.to_receipt.empty())
            metrics->gauge("wis2mon_centre_latency_seconds", {{"centre_id", centre}, {"stage", "pubtime_to_receipt"}})
                .set(median(c->second.to_receipt));
        }
      }
    }
  }

  // ---- findings ----

  WmeEvent event_for(const std::string& rule, const std::string& subject, const std::string& centre, bool raised,
                     std::int64_t since, std::int64_t at, const std::string& description) {
    const auto& text = rules().at(rule);
    WmeEvent e;
    e.id = detail::name_based_uuid(o.centre_id + '\n' + rule + '\n' + subject + '\n' + centre + '\n' +
                                   std::to_string(since) + (raised ? "\nraised" : "\ncleared"));
    e.source = o.centre_id;
    e.subject = centre.empty() ? subject : centre;
    e.time = Timestamp{at, 0};
    e.subtype = "finding";
    e.severity = raised ? text.severity : "INFO";
    e.title = raised ? text.title : std::string("Cleared: ") + text.title;
    e.description = description;
    if (raised)
      e.timestamp = Timestamp{since, 0};
    else
      e.interval = std::make_pair(Timestamp{since, 0}, Timestamp{at, 0});
    return e;
  }

  // One hour's verdict for a finding: raises after `raise_after` bad hours in a row, clears
  // after clear_after_hours good ones. key_centre tells findings of one subject apart (a
  // cache's per centre); centre is the centre the finding is about.
  void verdict(const std::string& rule, const std::string& subject, const std::string& key_centre,
               const std::string& centre, bool bad, int raise_after, std::int64_t hour_end,
               const std::string& description, AvailabilityOutput& out) {
    Finding& f = findings[{rule, subject, key_centre}];
    f.dirty = true;
    if (bad) {
      ++f.bad;
      f.good = 0;
      if (!f.raised && f.bad >= raise_after) {
        f.raised = true;
        f.raised_at = hour_end;
        f.centre = centre;
        emit_finding(rule, subject, f, true, hour_end, description, out);
      }
    } else {
      ++f.good;
      f.bad = 0;
      if (f.raised && f.good >= o.clear_after_hours) {
        f.raised = false;
        emit_finding(rule, subject, f, false, hour_end, description, out);
      }
    }
  }

  void emit_finding(const std::string& rule, const std::string& subject, const Finding& f, bool raised, std::int64_t at,
                    const std::string& description, AvailabilityOutput& out) {
    const std::string& centre = f.centre;
    const WmeEvent e = event_for(rule, subject, centre, raised, f.raised_at, at, description);
    std::string event = to_json(e);
    const auto report = validate_wme(event, ValidationMode::strict);
    if (!report.valid())  // a bug: never send an invalid event
      throw Error(ErrorCode::internal,
                  "finding " + rule + " " + subject + ": invalid WME: " + report.errors().front().message);
    Record r(findings_schema());
    r.set("rule", rule);
    r.set("subject", subject);
    r.set("centre_id", centre);
    r.set("severity", std::string(rules().at(rule).severity));
    r.set("state", std::string(raised ? "raised" : "cleared"));
    r.set("raised_at", iso(f.raised_at));
    if (!raised) r.set("cleared_at", iso(at));
    r.set("title", std::string(rules().at(rule).title));
    r.set("description", description);
    r.set("event_id", e.id);
    r.set("report_by", o.centre_id);
    out.rows.push_back(std::move(r));
    out.events.emplace_back("monitor/a/wis2/" + o.centre_id, std::move(event));
  }

  void judge_hour(std::int64_t hour, const std::vector<std::pair<std::string, Figures>>& station_figures,
                  AvailabilityOutput& out) {
    const std::int64_t end = hour + 3600;
    for (const auto& [id, f] : station_figures) {
      if (f.expected == 0) continue;  // not expected this hour: no verdict
      const Station& s = stations.at(id);
      std::string d = "Station " + id;
      if (!s.info.name.empty()) d += " (" + s.info.name + (s.info.country.empty() ? "" : ", " + s.info.country) + ")";
      d += f.received == 0 ? " sent none of its expected reports in the last " +
                                 std::to_string(o.silent_station_hours) + " hour(s) it was expected in"
                           : " reports again";
      if (s.last_seen_ms > 0) d += "; last report received " + format_rfc3339(Timestamp{s.last_seen_ms / 1000, 0}, 0);
      verdict("silent_station", id, "", s.centre, f.received == 0, o.silent_station_hours, end, d + ".", out);
    }
    for (const auto& centre : centres) {
      const auto c = centre_hours.find({centre, hour});
      const bool silent = c == centre_hours.end() || c->second.messages == 0;
      verdict("silent_centre", centre, "", centre, silent, o.silent_centre_hours, end,
              silent ? "No message from " + centre + " in the last " + std::to_string(o.silent_centre_hours) + " hours."
                     : "Messages from " + centre + " arrive again.",
              out);
    }
    for (auto& [key, m] : missing) {
      const auto& [rule, subject, centre] = key;
      const double grew = m.cumulative - m.at_close;
      m.at_close = m.cumulative;
      const std::string what = rule == "cache_missing" ? " did not cache " : " did not deliver ";
      verdict(rule, subject, centre, centre, grew > 0, o.missing_hours, end,
              grew > 0 ? subject + what + std::to_string(static_cast<long long>(grew)) + " item(s) of " + centre +
                             " in the hour to " + iso(end) + "."
                       : subject + " is complete again for " + centre + ".",
              out);
      detail::SqliteStatement q(
          db->handle(), "INSERT OR REPLACE INTO av_missing (rule, subject, centre, at_close) VALUES (?1,?2,?3,?4)");
      q.bind(1, rule).bind(2, subject).bind(3, centre).bind(4, static_cast<std::int64_t>(m.at_close));
      q.step();
    }
  }

  // The diagnostic event of an hour: the availability figures (the success-rate event).
  void diagnostic_event(std::int64_t hour, const std::vector<std::pair<std::string, Figures>>& station_figures,
                        AvailabilityOutput& out) {
    Figures all;
    std::size_t silent = 0, expected_stations = 0;
    std::map<std::string, Figures> by_country;
    for (const auto& [id, f] : station_figures) {
      if (f.expected == 0) continue;
      ++expected_stations;
      all.add(f);
      if (f.received == 0) ++silent;
      if (const auto& c = stations.at(id).info.country; !c.empty()) by_country[c].add(f);
    }
    if (expected_stations == 0) return;
    WmeEvent e;
    e.id = detail::name_based_uuid(o.centre_id + "\navailability\n" + std::to_string(hour));
    e.source = o.centre_id;
    e.subject = o.centre_id;
    e.time = Timestamp{close_time(hour), 0};
    e.subtype = "availability";
    e.severity = "INFO";
    e.interval = std::make_pair(Timestamp{hour, 0}, Timestamp{hour + 3600, 0});
    char figures[160];
    std::snprintf(figures, sizeof figures, "%zu stations expected, %lld of %lld reports received (%.1f%%), %zu silent",
                  expected_stations, static_cast<long long>(all.received), static_cast<long long>(all.expected),
                  percentage(all.received, all.expected), silent);
    e.title = "Surface observation availability " + iso(hour) + "/PT1H: " + figures;
    std::vector<std::pair<double, std::string>> worst;
    for (const auto& [c, f] : by_country) worst.emplace_back(percentage(f.received, f.expected), c);
    std::sort(worst.begin(), worst.end());
    std::string d = std::string(figures) + ".";
    if (!worst.empty()) {
      d += " By country, worst first:";
      for (std::size_t i = 0; i < worst.size() && i < 20; ++i) {
        char b[64];
        std::snprintf(b, sizeof b, " %s %.1f%%%s", worst[i].second.c_str(), worst[i].first,
                      i + 1 < worst.size() && i + 1 < 20 ? "," : ".");
        d += b;
      }
    }
    e.description = d;
    out.events.emplace_back("monitor/a/wis2/" + o.centre_id, to_json(e));
  }

  // ---- closing ----

  void close_hour(std::int64_t hour, AvailabilityOutput& out) {
    std::vector<std::pair<std::string, Figures>> station_figures;
    hour_rows(hour, nullptr, true, out, &station_figures);
    judge_hour(hour, station_figures, out);
    diagnostic_event(hour, station_figures, out);
    closed_until = hour + 3600;
    save_mark("closed_until", closed_until);
  }

  void close_day(std::int64_t day, AvailabilityOutput& out) {
    detail::SqliteStatement q(
        db->handle(),
        "SELECT kind, unit, SUM(expected), SUM(received), SUM(late), SUM(messages) FROM av_figures"
        " WHERE period = 'hour' AND start >= ?1 AND start < ?2 GROUP BY kind, unit");
    q.bind(1, day).bind(2, day + 86400);
    while (q.step()) {
      const std::string kind = q.column_text(0), unit = q.column_text(1);
      const Figures f{q.column_int64(2), q.column_int64(3), q.column_int64(4)};
      if (kind == "station") {
        if (const auto it = stations.find(unit); it != stations.end())
          out.rows.push_back(station_row(day, "day", it->second, f.expected, f.received, f.late));
        continue;
      }
      Record r = base_row(day, "day", kind == "country" ? "country" : "centre", unit);
      r.set(kind == "country" ? "country" : "centre_id", unit);
      put_figures(r, f.expected, f.received, f.late);
      if (kind == "centre") r.set("messages", q.column_int64(5));
      out.rows.push_back(std::move(r));
    }
    day_closed_until = day + 86400;
    save_mark("day_closed_until", day_closed_until);
    // What no later hour needs: reports and figures older than two days.
    const std::int64_t keep = day - 86400;
    detail::SqliteStatement(db->handle(), "DELETE FROM av_obs WHERE slot < ?1").bind(1, keep / 60).step();
    detail::SqliteStatement(db->handle(), "DELETE FROM av_centre_hour WHERE hour < ?1").bind(1, keep).step();
    detail::SqliteStatement(db->handle(), "DELETE FROM av_figures WHERE start < ?1").bind(1, keep).step();
    for (auto it = centre_hours.begin(); it != centre_hours.end();)
      it = it->first.second < keep ? centre_hours.erase(it) : std::next(it);
  }

  void flush() {
    begin();
    detail::SqliteStatement st(db->handle(),
                               "INSERT OR REPLACE INTO av_station (station, centre, last_seen_ms, recent, learned)"
                               " VALUES (?1, ?2, ?3, ?4, ?5)");
    for (auto& [id, s] : stations) {
      if (!s.dirty) continue;
      std::string recent;
      for (auto m : s.recent) recent += std::to_string(m) + " ";
      st.bind(1, id)
          .bind(2, s.centre)
          .bind(3, s.last_seen_ms)
          .bind(4, recent)
          .bind(5, s.learned ? s.info.schedule.text : "");
      st.step();
      st.reset();
      s.dirty = false;
    }
    detail::SqliteStatement ch(db->handle(),
                               "INSERT OR REPLACE INTO av_centre_hour (centre, hour, messages) VALUES (?1, ?2, ?3)");
    for (auto& [key, c] : centre_hours) {
      if (!c.dirty) continue;
      ch.bind(1, key.first).bind(2, key.second).bind(3, c.messages);
      ch.step();
      ch.reset();
      c.dirty = false;
    }
    detail::SqliteStatement fi(db->handle(),
                               "INSERT OR REPLACE INTO av_finding (rule, subject, centre, bad, good, raised, raised_at,"
                               " about) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    for (auto& [key, f] : findings) {
      if (!f.dirty) continue;
      fi.bind(1, std::get<0>(key)).bind(2, std::get<1>(key)).bind(3, std::get<2>(key)).bind(4, f.bad).bind(5, f.good);
      fi.bind(6, f.raised ? 1 : 0).bind(7, f.raised_at).bind(8, f.centre);
      fi.step();
      fi.reset();
      f.dirty = false;
    }
    commit();
  }

  AvailabilityOutput advance(Timestamp now) {
    std::lock_guard lock(mu);
    AvailabilityOutput out;
    const std::int64_t current = now.seconds - now.seconds % 3600;
    if (closed_until == 0) {  // first start: the first hour judged is this one
      closed_until = current;
      day_closed_until = current - current % 86400;
      begin();
      save_mark("closed_until", closed_until);
      save_mark("day_closed_until", day_closed_until);
    }
    // After a long stop, at most two days are closed (the rest is gone from the state).
    closed_until = std::max(closed_until, current - 48 * 3600);
    try {
      begin();
      // Late reports for closed hours: their rows again, with the late count.
      std::map<std::int64_t, std::set<std::string>> late_by_hour;
      for (const auto& [hour, id] : late) late_by_hour[hour].insert(id);
      late.clear();
      for (const auto& [hour, ids] : late_by_hour) hour_rows(hour, &ids, false, out, nullptr);
      while (close_time(closed_until) <= now.seconds) {
        close_hour(closed_until, out);
        if (closed_until >= day_closed_until + 86400) close_day(day_closed_until, out);
      }
      flush();
    } catch (...) {
      if (in_transaction) {
        db->exec("ROLLBACK");
        in_transaction = false;
      }
      throw;
    }
    return out;
  }
};

AvailabilityTracker::AvailabilityTracker(AvailabilityOptions options, MetricsRegistry* metrics)
    : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  if (options.centre_id.empty()) throw Error(ErrorCode::invalid_argument, "availability: centre_id is required");
  if (options.silent_station_hours < 1 || options.silent_centre_hours < 1 || options.missing_hours < 1 ||
      options.clear_after_hours < 1)
    throw Error(ErrorCode::invalid_argument, "availability: finding hours are at least 1");
  parse_station_schedule(options.default_schedule);  // throws for a bad one
  m.o = std::move(options);
  m.metrics = metrics;
  m.open_state();
  m.load_stations();
}

AvailabilityTracker::~AvailabilityTracker() {
  try {
    std::lock_guard lock(impl_->mu);
    impl_->flush();
  } catch (...) {  // a destructor must not throw; the last second's reports are lost
  }
}

void AvailabilityTracker::on_message(std::string_view centre_id, std::optional<Timestamp> datetime,
                                     std::optional<Timestamp> pubtime, Timestamp received) {
  impl_->on_message(centre_id, datetime, pubtime, received);
}

void AvailabilityTracker::on_observation(std::string_view wigos_id, std::string_view centre_id, Timestamp observed,
                                         Timestamp received) {
  impl_->on_observation(wigos_id, centre_id, observed, received);
}

void AvailabilityTracker::note_missing(std::string_view rule, std::string_view subject, std::string_view centre_id,
                                       double cumulative) {
  if (!rules().count(std::string(rule)) || rule == "silent_station" || rule == "silent_centre")
    throw Error(ErrorCode::invalid_argument, "note_missing: rule is cache_missing or broker_missing");
  impl_->note_missing(rule, subject, centre_id, cumulative);
}

AvailabilityOutput AvailabilityTracker::advance(Timestamp now) {
  return impl_->advance(now);
}

std::size_t AvailabilityTracker::stations() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stations.size();
}

std::size_t AvailabilityTracker::open_findings() const {
  std::lock_guard lock(impl_->mu);
  return static_cast<std::size_t>(
      std::count_if(impl_->findings.begin(), impl_->findings.end(), [](const auto& f) { return f.second.raised; }));
}

}  // namespace wis2mon
