// Station availability and findings on a test clock: stations reporting on schedule, late and
// silent; figures per station, country and centre; findings raised once and cleared once; the
// state kept across a restart; schedules and station lists as users write them.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "support.hpp"
#include "wis2mon/availability.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/wme.hpp"

using namespace wis2mon;
namespace fs = std::filesystem;

namespace {

const Timestamp kT0 = *parse_rfc3339("2026-11-30T06:00:00Z");
Timestamp at(int hour, int minute) {  // 2026-11-30 hour:minute (hour may pass 23)
  return Timestamp{kT0.seconds + (hour - 6) * 3600 + minute * 60, 0};
}

const std::string kA = "0-20000-0-00001", kB = "0-20000-0-00002", kC = "0-20000-0-00003", kE = "0-20000-0-00005";

std::string text(const Record& r, const char* field) {
  const auto* v = r.get(field);
  return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : "";
}
std::int64_t number(const Record& r, const char* field) {
  const auto* v = r.get(field);
  return v && std::holds_alternative<std::int64_t>(*v) ? std::get<std::int64_t>(*v) : -1;
}
double real(const Record& r, const char* field) {
  const auto* v = r.get(field);
  return v && std::holds_alternative<double>(*v) ? std::get<double>(*v) : -1;
}

// Everything the tracker gave, the latest row per key (as an upserting sink keeps them).
struct Collected {
  std::map<std::string, Record> rows;  // period_start|period|kind|unit
  std::vector<Record> findings;
  std::vector<std::string> events;
  void take(AvailabilityOutput out) {
    for (auto& r : out.rows) {
      if (r.table() == "findings") {
        findings.push_back(std::move(r));
        continue;
      }
      const std::string key =
          text(r, "period_start") + "|" + text(r, "period") + "|" + text(r, "kind") + "|" + text(r, "unit");
      rows.insert_or_assign(key, std::move(r));
    }
    for (auto& [topic, e] : out.events) {
      CHECK(topic == "monitor/a/wis2/xx-test-sensor-centre");
      const auto report = validate_wme(e, ValidationMode::strict);
      CHECK_MESSAGE(report.valid(), e);
      testing::record_wme(e);
      events.push_back(e);
    }
  }
  const Record& row(const std::string& start, const char* kind, const std::string& unit, const char* period = "hour") {
    const auto it = rows.find(start + "|" + period + "|" + kind + "|" + unit);
    REQUIRE_MESSAGE(it != rows.end(), start << " " << kind << " " << unit);
    return it->second;
  }
  std::vector<std::string> finding_log() const {  // "rule subject state raised_at [cleared_at]"
    std::vector<std::string> out;
    for (const auto& f : findings)
      out.push_back(text(f, "rule") + " " + text(f, "subject") + " " + text(f, "state") + " " + text(f, "raised_at") +
                    (text(f, "cleared_at").empty() ? "" : " " + text(f, "cleared_at")));
    return out;
  }
};

AvailabilityOptions options(const fs::path& dir) {
  AvailabilityOptions o;
  o.centre_id = "xx-test-sensor-centre";
  o.stations = dir / "stations.csv";
  o.state = dir / "availability.db";
  o.silent_centre_hours = 2;
  std::ofstream(o.stations) << "wigos_station_identifier,name,country,latitude,longitude,schedule\n"
                            << kA << ",Alpha,XA,52.2,14.1,hourly\n"
                            << kB << ",Bravo,XA,50.0,8.6,\n"  // the default schedule: hourly
                            << kC << ",Charlie,XB,-10.5,120.25,synoptic\n"
                            << kE << ",Echo,XB,0,0,hourly\n";
  return o;
}

}  // namespace

TEST_CASE("availability: on schedule, late and silent stations; figures, findings once, a restart") {
  testing::TempDir dir;
  MetricsRegistry metrics;
  const auto o = options(dir.path);
  auto tracker = std::make_unique<AvailabilityTracker>(o, &metrics);
  CHECK(tracker->stations() == 4);
  Collected got;
  // What happens each minute of the test day, from 06:00 to 12:34.
  std::multimap<std::int64_t, std::function<void()>> plan;
  const auto obs = [&](const std::string& id, const std::string& centre, int hour, Timestamp received) {
    plan.emplace(received.seconds, [&, id, centre, hour, received] {
      tracker->on_observation(id, centre, at(hour, 0), received);
      tracker->on_message(centre, at(hour, 0), Timestamp{at(hour, 0).seconds + 60, 0}, received);
    });
  };
  for (int h = 6; h <= 11; ++h) {
    obs(kA, "xa-centre", h, at(h, 2));                       // on schedule
    obs(kB, "xa-centre", h, h == 6 ? at(7, 40) : at(h, 5));  // 06:00 arrives after 06's close (07:30)
    if (h >= 9) obs(kE, "xb-centre", h, at(h, 3));           // silent 06-08, reports from 09
  }
  obs(kE, "xb-centre", 8, at(9, 45));  // one late report for 08: it does not clear the finding
  // A centre sending other data (no station): a message at 06:05, silent 07-08, back from 09.
  for (int h : {6, 9, 10, 11})
    plan.emplace(at(h, 5).seconds, [&, h] { tracker->on_message("xc-centre", std::nullopt, std::nullopt, at(h, 5)); });
  // A Global Cache missing two items of xa-centre in the 06 hour, none after.
  plan.emplace(at(6, 10).seconds, [&] { tracker->note_missing("cache_missing", "xx-a-global-cache", "xa-centre", 2); });
  plan.emplace(at(8, 10).seconds, [&] { tracker->note_missing("cache_missing", "xx-a-global-cache", "xa-centre", 2); });

  for (auto t = at(6, 0).seconds; t <= at(12, 34).seconds; t += 60) {
    for (auto [it, end] = plan.equal_range(t); it != end; ++it) it->second();
    got.take(tracker->advance(Timestamp{t, 0}));
    if (t == at(8, 15).seconds) {  // a restart mid-day: figures, stations and findings kept
      tracker.reset();
      tracker = std::make_unique<AvailabilityTracker>(o, &metrics);
    }
  }

  // Hour 06: Alpha on time, Bravo late (its row updated with late 1 at 07:40), Charlie and Echo silent.
  const std::string h06 = "2026-11-30T06:00:00Z";
  CHECK(number(got.row(h06, "station", kA), "expected") == 1);
  CHECK(number(got.row(h06, "station", kA), "received") == 1);
  CHECK(real(got.row(h06, "station", kA), "percentage") == 100.0);
  CHECK(text(got.row(h06, "station", kA), "name") == "Alpha");
  CHECK(real(got.row(h06, "station", kA), "latitude") == 52.2);
  CHECK(number(got.row(h06, "station", kB), "received") == 0);
  CHECK(number(got.row(h06, "station", kB), "late") == 1);
  CHECK(real(got.row(h06, "station", kB), "percentage") == 0.0);
  CHECK(number(got.row(h06, "station", kC), "expected") == 1);  // synoptic: 06 is a main hour
  CHECK(number(got.row(h06, "station", kC), "received") == 0);
  CHECK(number(got.row(h06, "station", kE), "received") == 0);
  CHECK(number(got.row(h06, "country", "XA"), "expected") == 2);
  CHECK(number(got.row(h06, "country", "XA"), "received") == 1);
  CHECK(real(got.row(h06, "country", "XA"), "percentage") == 50.0);
  CHECK(number(got.row(h06, "country", "XA"), "late") == 1);
  CHECK(real(got.row(h06, "country", "XB"), "percentage") == 0.0);
  // Centres: messages by arrival hour, latency from the notifications' times.
  CHECK(number(got.row(h06, "centre", "xa-centre"), "messages") == 1);
  CHECK(number(got.row("2026-11-30T07:00:00Z", "centre", "xa-centre"), "messages") == 3);  // A, B, B's late 06
  CHECK(real(got.row(h06, "centre", "xa-centre"), "latency_data_to_pubtime_s") == 60.0);
  CHECK(real(got.row(h06, "centre", "xa-centre"), "latency_pubtime_to_receipt_s") == 60.0);
  // Charlie is not expected at 07-11 (synoptic): no row; Echo's late 08 report.
  CHECK(got.rows.count("2026-11-30T07:00:00Z|hour|station|" + kC) == 0);
  CHECK(number(got.row("2026-11-30T08:00:00Z", "station", kE), "late") == 1);
  CHECK(number(got.row("2026-11-30T08:00:00Z", "station", kE), "received") == 0);
  CHECK(number(got.row("2026-11-30T11:00:00Z", "station", kE), "received") == 1);

  // Findings, each raised once and cleared once, in order; Bravo's single late hour raises none.
  CHECK(got.finding_log() == std::vector<std::string>{
                                 "cache_missing xx-a-global-cache raised 2026-11-30T07:00:00Z",
                                 "silent_station " + kE + " raised 2026-11-30T09:00:00Z",
                                 "silent_centre xc-centre raised 2026-11-30T09:00:00Z",
                                 "cache_missing xx-a-global-cache cleared 2026-11-30T07:00:00Z 2026-11-30T09:00:00Z",
                                 "silent_station " + kE + " cleared 2026-11-30T09:00:00Z 2026-11-30T11:00:00Z",
                                 "silent_centre xc-centre cleared 2026-11-30T09:00:00Z 2026-11-30T11:00:00Z",
                             });
  CHECK(tracker->open_findings() == 0);
  // One event per finding change and one diagnostic event per closed hour (06-11).
  CHECK(got.events.size() == got.findings.size() + 6);
  CHECK(std::count_if(got.events.begin(), got.events.end(), [](const std::string& e) {
          return e.find("\"subtype\":\"availability\"") != std::string::npos;
        }) == 6);
  // Metrics: the hours Alpha was expected in, and received.
  const Labels la{{"centre_id", "xa-centre"}, {"country", "XA"},       {"report_by", o.centre_id}, {"id", kA},
                  {"latitude", "52.2000"},    {"longitude", "14.1000"}};
  CHECK(metrics.value("wmo_wis2_sobs_basecountbystation_total", la) == 6);
  CHECK(metrics.value("wmo_wis2_sobs_datacountbystation_total", la) == 6);
  CHECK(metrics.value("wmo_wis2_sobs_percentagebystation_total", la) == 100);
  CHECK(metrics.value("wmo_wis2_sobs_basecountbycountry_total",
                      {{"centre_id", ""}, {"country", "XB"}, {"report_by", o.centre_id}}) == 7);  // C 1, E 6

  // The day closes at 00:30 the next day: one row per station, country and centre.
  got.take(tracker->advance(at(24, 31)));
  const Record& day_a = got.row("2026-11-30T00:00:00Z", "station", kA, "day");
  CHECK(number(day_a, "expected") == 18);  // 06-23: the hours since the first start
  CHECK(number(day_a, "received") == 6);
  CHECK(number(got.row("2026-11-30T00:00:00Z", "centre", "xa-centre", "day"), "messages") == 12);
}

TEST_CASE("availability: without a station list, each station's schedule is learned from its reports") {
  testing::TempDir dir;
  AvailabilityOptions o;
  o.centre_id = "xx-test-sensor-centre";
  AvailabilityTracker tracker(o);
  Collected got;
  // Three-hourly reports from 00:00: learned after the fourth (09:00), expected from then on.
  std::map<std::int64_t, Timestamp> reports;  // received -> observed
  for (int h = 0; h <= 15; h += 3) reports[at(h, 1).seconds] = at(h, 0);
  reports[at(12, 31).seconds] = at(12, 30);  // between slots: counted for 12:00, once
  for (auto t = at(0, 0).seconds; t <= at(17, 0).seconds; t += 60) {
    if (const auto r = reports.find(t); r != reports.end())
      tracker.on_observation(kA, "xa-centre", r->second, Timestamp{t, 0});
    got.take(tracker.advance(Timestamp{t, 0}));
  }
  const Record& h09 = got.row("2026-11-30T09:00:00Z", "station", kA);
  CHECK(text(h09, "schedule") == "learned: at 00:00 03:00 06:00 09:00 12:00 15:00 18:00 21:00");
  CHECK(number(h09, "expected") == 1);
  CHECK(number(h09, "received") == 1);
  CHECK(number(got.row("2026-11-30T12:00:00Z", "station", kA), "received") == 1);
  CHECK(got.rows.count("2026-11-30T10:00:00Z|hour|station|" + kA) == 0);  // not expected at 10
  CHECK(got.rows.count("2026-11-30T06:00:00Z|hour|station|" + kA) == 0);  // still learning then
}

TEST_CASE("availability: schedules and station lists") {
  CHECK(parse_station_schedule("hourly").minutes.size() == 24);
  CHECK(parse_station_schedule("3-hourly").minutes == std::vector<int>{0, 180, 360, 540, 720, 900, 1080, 1260});
  CHECK(parse_station_schedule("Synoptic").minutes == std::vector<int>{0, 360, 720, 1080});
  CHECK(parse_station_schedule("intermediate").minutes.size() == 8);
  CHECK(parse_station_schedule("every 10m").minutes.size() == 144);
  CHECK(parse_station_schedule("at 12:00 00:00").minutes == std::vector<int>{0, 720});
  for (const char* bad : {"", "sometimes", "7-hourly", "every 7m", "at 25:00", "at noon"})
    CHECK_THROWS_AS(parse_station_schedule(bad), Error);

  const auto hourly = parse_station_schedule("hourly");
  // An OSCAR/Surface export: several WIGOS ids in one cell, other columns ignored.
  const auto oscar = parse_station_list(
      "Station,WIGOS Station Identifier(s),Station type,Latitude,Longitude,Territory\n"
      "Lindenberg,\"0-20000-0-10393, 0-276-0-10393\",Land (fixed),52.21,14.12,Germany\n"
      "Mace Head,0-20000-0-03963,Land (fixed),53.33,-9.9,Ireland\n",
      hourly);
  REQUIRE(oscar.size() == 3);
  CHECK(oscar[1].wigos_id == "0-276-0-10393");
  CHECK(oscar[1].name == "Lindenberg");
  CHECK(oscar[2].country == "Ireland");
  CHECK(*oscar[2].longitude == -9.9);
  CHECK(oscar[2].schedule.text == "hourly");
  // synop2bufr's station list columns.
  const auto synop = parse_station_list(
      "station_name,wigos_station_identifier,traditional_station_identifier,facility_type,latitude,longitude,"
      "elevation,barometer_height,territory_name,wmo_region\n"
      "OCNA SUGATAG,0-20000-0-15015,15015,landFixed,47.77,23.94,503,504,ROU,europe\n",
      hourly);
  REQUIRE(synop.size() == 1);
  CHECK(synop[0].country == "ROU");
  // Problems are all named, with their rows.
  try {
    parse_station_list("wigos_id,latitude,schedule\nnot-an-id,10,hourly\n0-1-2-3,95,hourly\n0-1-2-4,1,weekly\n", hourly,
                       "my.csv");
    FAIL("no error");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("my.csv: 3 problem(s)") != std::string::npos);
    CHECK(m.find("row 2: 'not-an-id' is not a WIGOS station identifier") != std::string::npos);
    CHECK(m.find("row 3: latitude '95'") != std::string::npos);
    CHECK(m.find("row 4: schedule 'weekly'") != std::string::npos);
  }
  CHECK_THROWS_AS(parse_station_list("name,country\nx,y\n", hourly), Error);
}
