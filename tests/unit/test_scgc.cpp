// The Sensor Centre for Global Caches' bookkeeping (WIS2 Guide 3.3.3.1) on a test clock:
// delays and thresholds, misses per cache and by all, cache overrides, link failures,
// duplicates and updates, the hourly log and its event, and watches kept across a restart.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "fault_server.hpp"
#include "support.hpp"
#include "wis2mon/monitor.hpp"
#include "wis2mon/sensor.hpp"
#include "wis2mon/wme.hpp"

using namespace wis2mon;
namespace fs = std::filesystem;

namespace {

const std::string kOrigin = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop";
const std::string kCacheTopic = "cache/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop";
const std::string kA = "xx-a-global-cache", kB = "xx-b-global-cache";

int serial = 0;

// A notification of item `name`; its link at `href`, with `rel`; global_cache when given.
std::string wnm(const std::string& name, const std::string& href, const std::string& global_cache = "",
                const std::string& rel = "canonical", bool cache = true) {
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", ++serial);
  std::string props = R"("data_id": "de-dwd/data/core/weather/surface-based-observations/synop/)" + name +
                      R"(", "pubtime": "2026-11-30T06:00:00Z", "datetime": "2026-11-30T06:00:00Z")";
  if (!global_cache.empty()) props += R"(, "global-cache": ")" + global_cache + "\"";
  if (!cache) props += R"(, "cache": false)";
  return R"({"id": ")" + std::string(id) +
         R"(", "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"], "type": "Feature", "geometry": null, )"
         R"("properties": {)" +
         props + R"(}, "links": [{"href": ")" + href + R"(", "rel": ")" + rel +
         R"(", "type": "application/bufr", "length": 100}]})";
}

std::string origin_href(const std::string& name) {
  return "https://de-dwd.example/" + name + ".bufr4";
}
std::string cache_href(const std::string& cache, const std::string& name) {
  return "https://" + cache + ".example/" + name + ".bufr4";
}

const Timestamp kT0 = *parse_rfc3339("2026-11-30T06:00:10Z");
Timestamp at(int seconds) {
  return Timestamp{kT0.seconds + seconds, 0};
}

Labels l(const std::string& cache = "") {
  Labels out;
  if (!cache.empty()) out.emplace_back("global_cache", cache);
  out.emplace_back("centre_id", "de-dwd");
  out.emplace_back("report_by", "xx-test-sensor-centre-global-cache");
  return out;
}
Labels lt(const std::string& cache, const char* threshold) {
  Labels out = l(cache);
  out.emplace_back("delay_threshold", threshold);
  return out;
}

ScgcOptions options(const fs::path& dir) {
  ScgcOptions o;
  o.centre_id = "xx-test-sensor-centre-global-cache";
  o.global_caches = {kA, kB};
  o.state = dir / "scgc.db";
  o.log_dir = dir / "logs";
  o.log_base_url = "https://sc.example.org/logs/";
  return o;
}

}  // namespace

TEST_CASE("scgc: delays, thresholds, misses, overrides, duplicates and the hourly log, as the Guide counts them") {
  testing::TempDir dir;
  MetricsRegistry m;
  ScgcTracker sc(options(dir.path), &m);
  // Origin: A, B, C, D are watched; recommended, "cache": false and metadata are not.
  CHECK(sc.on_origin(kOrigin, wnm("A", origin_href("A")), at(0)) == ScgcOrigin::watched);
  CHECK(sc.on_origin(kOrigin, wnm("B", origin_href("B")), at(1)) == ScgcOrigin::watched);
  CHECK(sc.on_origin(kOrigin, wnm("C", origin_href("C")), at(2)) == ScgcOrigin::watched);
  CHECK(sc.on_origin(kOrigin, wnm("D", origin_href("D")), at(3)) == ScgcOrigin::watched);
  CHECK(sc.on_origin("origin/a/wis2/de-dwd/data/recommended/weather/x", wnm("R", origin_href("R")), at(4)) ==
        ScgcOrigin::ignored);
  CHECK(sc.on_origin(kOrigin, wnm("F", origin_href("F"), "", "canonical", false), at(5)) == ScgcOrigin::ignored);
  CHECK(sc.on_origin("origin/a/wis2/de-dwd/metadata", wnm("M", origin_href("M")), at(6)) == ScgcOrigin::ignored);
  // A again without rel=update: a duplicate, not a new watch.
  CHECK(sc.on_origin(kOrigin, wnm("A", origin_href("A")), at(100)) == ScgcOrigin::duplicate);
  CHECK(sc.open_watches() == 4);

  // Caches.
  CHECK(sc.on_cache(kCacheTopic, wnm("A", cache_href(kA, "A"), kA), true, at(60)) == ScgcCache::cached);
  CHECK(sc.on_cache(kCacheTopic, wnm("A", cache_href(kA, "A"), kA), true, at(70)) == ScgcCache::repeated);
  CHECK(sc.on_cache(kCacheTopic, wnm("B", cache_href(kA, "B"), kA), true, at(200)) == ScgcCache::cached);
  CHECK(sc.on_cache(kCacheTopic, wnm("A", cache_href(kB, "A"), kB), true, at(400)) == ScgcCache::cached);
  CHECK(sc.on_cache(kCacheTopic, wnm("B", cache_href(kB, "B"), kB), false, at(10)) == ScgcCache::link_failed);
  CHECK(sc.on_cache(kCacheTopic, wnm("D", origin_href("D"), kB), true, at(50)) == ScgcCache::cache_override);
  CHECK(sc.on_cache(kCacheTopic, wnm("Z", cache_href(kA, "Z"), kA), true, at(50)) == ScgcCache::unknown_item);
  CHECK(sc.on_cache(kCacheTopic, wnm("A", cache_href(kA, "A")), true, at(50)) == ScgcCache::ignored);
  // C from cache A only after the highest threshold: late, a miss.
  CHECK(sc.on_cache(kCacheTopic, wnm("C", cache_href(kA, "C"), kA), true, at(605)) == ScgcCache::late);

  CHECK(sc.advance(at(599)).empty());
  CHECK(m.value("wmo_wis2_scgc_messages_missed_total", l(kA)) == 0);  // nothing closed yet
  CHECK(sc.advance(at(610)).empty());
  CHECK(sc.open_watches() == 0);

  CHECK(m.value("wmo_wis2_scgc_messages_published_total", l()) == 4);
  CHECK(m.value("wmo_wis2_scgc_messages_duplicates_total", l()) == 1);
  CHECK(m.value("wmo_wis2_scgc_messages_cached_total", l(kA)) == 2);                 // A, B
  CHECK(m.value("wmo_wis2_scgc_messages_cached_total", l(kB)) == 1);                 // A
  CHECK(m.value("wmo_wis2_scgc_messages_cached_delay_total", lt(kA, "120s")) == 1);  // A at 60 s
  CHECK(m.value("wmo_wis2_scgc_messages_cached_delay_total", lt(kA, "300s")) == 2);  // and B at 199 s
  CHECK(m.value("wmo_wis2_scgc_messages_cached_delay_total", lt(kA, "600s")) == 2);
  CHECK(m.value("wmo_wis2_scgc_messages_cached_delay_total", lt(kB, "300s")) == 0);
  CHECK(m.value("wmo_wis2_scgc_messages_cached_delay_total", lt(kB, "600s")) == 1);  // A at 400 s
  CHECK(m.value("wmo_wis2_scgc_cache_delay_seconds", l(kA)) == 199);
  CHECK(m.value("wmo_wis2_scgc_cache_delay_seconds", l(kB)) == 400);
  CHECK(m.value("wmo_wis2_scgc_messages_cache_override_total", l(kB)) == 1);  // D
  CHECK(m.value("wmo_wis2_scgc_messages_missed_total", l(kA)) == 2);          // C (late), D
  CHECK(m.value("wmo_wis2_scgc_messages_missed_total", l(kB)) == 2);          // B (link), C
  CHECK(m.value("wmo_wis2_scgc_messages_missed_all_total", l()) == 2);        // C, and D (not cached)

  // After the watch closed, within 3 hours: a duplicate again; with rel=update, a new watch.
  CHECK(sc.on_origin(kOrigin, wnm("A", origin_href("A")), at(900)) == ScgcOrigin::duplicate);
  CHECK(sc.on_origin(kOrigin, wnm("A", origin_href("A2"), "", "update"), at(1000)) == ScgcOrigin::updated);
  CHECK(sc.open_watches() == 1);
  // Past the window: new data.
  CHECK(sc.on_origin(kOrigin, wnm("B", origin_href("B")), at(3 * 3600 + 10)) == ScgcOrigin::watched);

  // The hour 06:00 is complete at 07:10 (its last watch closes 600 s after 07:00).
  const auto logs = sc.advance(*parse_rfc3339("2026-11-30T07:10:00Z"));
  REQUIRE(logs.size() == 1);
  CHECK(format_rfc3339(logs[0].hour) == "2026-11-30T06:00:00Z");
  CHECK(logs[0].topic == "monitor/a/wis2/xx-test-sensor-centre-global-cache");
  CHECK(logs[0].file == dir.path / "logs" / "scgc-20261130T06.jsonl");
  CHECK(logs[0].entries == 5);  // A, B, C, D, and A's update (opened at 06:16:50)
  std::ifstream in(logs[0].file);
  std::map<std::string, rapidjson::Document> by_item;
  for (std::string line; std::getline(in, line);) {
    rapidjson::Document d;
    d.Parse(line.c_str());
    REQUIRE_FALSE(d.HasParseError());
    CHECK(std::string(d["centre_id"].GetString()) == "de-dwd");
    CHECK(std::string(d["topic"].GetString()) == kOrigin);
    CHECK(d["message"].IsObject());  // the origin's message as published
    const std::string id = d["data_id"].GetString();
    by_item.emplace(id.substr(id.rfind('/') + 1), std::move(d));  // A's first watch, not its update
  }
  const auto ms = [](int s) { return (kT0.seconds + s) * 1000LL; };
  const auto& a = by_item["A"];
  CHECK(a["global_caches"][kA.c_str()].GetInt64() == ms(60));
  CHECK(a["global_caches"][kB.c_str()].GetInt64() == ms(400));
  CHECK(a["origin_time"].GetInt64() == ms(0));
  const auto& c = by_item["C"];
  CHECK(c["global_caches"][kA.c_str()].GetInt64() == 9999999999999);  // late: never, as far as the log goes
  CHECK(c["global_caches"][kB.c_str()].GetInt64() == 9999999999999);
  const auto& b = by_item["B"];
  CHECK(b["global_caches"][kA.c_str()].GetInt64() == ms(200));
  CHECK(b["global_caches"][kB.c_str()].GetInt64() == 9999999999999);      // its link failed
  CHECK(by_item["D"]["global_caches"][kB.c_str()].GetInt64() == ms(50));  // override: it republished
  // The event announcing it: a valid WME linking the file.
  const auto report = validate_wme(logs[0].event, ValidationMode::strict);
  CHECK(report.valid());
  rapidjson::Document e;
  e.Parse(logs[0].event.c_str());
  CHECK(std::string(e["source"].GetString()) == "xx-test-sensor-centre-global-cache");
  CHECK(std::string(e["data"]["links"][0]["href"].GetString()) == "https://sc.example.org/logs/scgc-20261130T06.jsonl");
  CHECK(std::string(e["data"]["time"]["interval"][0].GetString()) == "2026-11-30T06:00:00Z");
  CHECK(std::string(e["data"]["time"]["interval"][1].GetString()) == "2026-11-30T07:00:00Z");
  // An hour with nothing in it still gets its (empty) log and event.
  const auto later = sc.advance(*parse_rfc3339("2026-11-30T08:10:00Z"));
  REQUIRE(later.size() == 1);
  CHECK(later[0].entries == 0);
  CHECK(fs::exists(later[0].file));
}

TEST_CASE("scgc: a restart mid-watch keeps the watches, what each cache sent, and the learned caches") {
  testing::TempDir dir;
  {
    MetricsRegistry m;
    ScgcTracker sc(options(dir.path), &m);
    CHECK(sc.on_origin(kOrigin, wnm("A", origin_href("A")), at(0)) == ScgcOrigin::watched);
    CHECK(sc.on_origin(kOrigin, wnm("B", origin_href("B")), at(1)) == ScgcOrigin::watched);
    CHECK(sc.on_cache(kCacheTopic, wnm("A", cache_href(kA, "A"), kA), true, at(30)) == ScgcCache::cached);
    CHECK(sc.on_cache(kCacheTopic, wnm("A", cache_href("xx-c-global-cache", "A"), "xx-c-global-cache"), true, at(31)) ==
          ScgcCache::cached);
  }  // stopped: flushed
  MetricsRegistry m;
  ScgcTracker sc(options(dir.path), &m);
  CHECK(sc.open_watches() == 2);
  CHECK(sc.global_caches().size() == 3);
  CHECK(sc.on_cache(kCacheTopic, wnm("A", cache_href(kA, "A"), kA), true, at(40)) == ScgcCache::repeated);
  CHECK(sc.on_cache(kCacheTopic, wnm("A", cache_href(kB, "A"), kB), true, at(50)) == ScgcCache::cached);
  CHECK(sc.on_origin(kOrigin, wnm("A", origin_href("A")), at(60)) == ScgcOrigin::duplicate);
  sc.advance(at(700));
  CHECK(m.value("wmo_wis2_scgc_messages_missed_total", l(kA)) == 1);  // B
  CHECK(m.value("wmo_wis2_scgc_messages_missed_total", l(kB)) == 1);  // B
  CHECK(m.value("wmo_wis2_scgc_messages_missed_total", l("xx-c-global-cache")) == 1);
  CHECK(m.value("wmo_wis2_scgc_messages_missed_all_total", l()) == 1);  // B only: A was cached before the restart
  // Closed watches stay in the file for the duplicate window, across a restart too.
  sc.flush();
  ScgcTracker again(options(dir.path), nullptr);
  CHECK(again.open_watches() == 0);
  CHECK(again.on_origin(kOrigin, wnm("B", origin_href("B")), at(800)) == ScgcOrigin::duplicate);
}

TEST_CASE("scgc: options are checked") {
  ScgcOptions o;
  CHECK_THROWS(ScgcTracker(o));
  o.centre_id = "xx-sc";
  o.delay_thresholds.clear();
  CHECK_THROWS(ScgcTracker(o));
  o.delay_thresholds = {std::chrono::seconds(0)};
  CHECK_THROWS(ScgcTracker(o));
}

TEST_CASE("scgc: a Sensor Centre pipeline checks each cache's link with a HEAD and times its copy") {
  testing::TempDir dir;
  testing::FaultServer caches;  // both caches' data servers
  caches.put("A", "A data");
  caches.put("B", "B data");
  caches.put("C", "C data");  // the origin's own copy of C
  MonitorOptions o;
  o.spool = dir.path / "spool.db";
  o.status_interval = std::chrono::milliseconds(0);
  o.log = [](std::string_view) {};
  PipelineOptions p;
  p.name = "scgc";
  p.filters = {"origin/a/wis2/#", "cache/a/wis2/#"};
  p.dedup = DedupPolicy::message_id;  // ignored: every copy counts
  p.scgc = options(dir.path);
  p.scgc.delay_thresholds = {std::chrono::seconds(2), std::chrono::seconds(4)};
  o.pipelines = {p};
  Monitor monitor(o);
  monitor.start();
  monitor.push(kOrigin, wnm("A", origin_href("A")));
  monitor.push(kOrigin, wnm("B", origin_href("B")));
  monitor.push(kOrigin, wnm("C", caches.url("/ok/C")));
  monitor.push(kCacheTopic, wnm("A", caches.url("/ok/A"), kA));
  monitor.push(kCacheTopic, wnm("A", caches.url("/ok/A"), kB));
  monitor.push(kCacheTopic, wnm("B", caches.url("/ok/B"), kA));
  monitor.push(kCacheTopic, wnm("B", caches.url("/ok/gone"), kB));  // HEAD 404: discarded, a miss
  monitor.push(kCacheTopic, wnm("C", caches.url("/ok/C"), kA));     // the origin's link: an override
  REQUIRE(monitor.drain(std::chrono::seconds(20)));
  // The watches close 4 s after the origin messages; the pipeline advances every second.
  const auto& m = monitor.metrics();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (m.value("wmo_wis2_scgc_messages_missed_all_total", l()) < 1 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  monitor.stop();
  CHECK(caches.requests() >= 5);  // a HEAD per cache link
  CHECK(m.value("wmo_wis2_scgc_messages_published_total", l()) == 3);
  CHECK(m.value("wmo_wis2_scgc_messages_cached_total", l(kA)) == 2);
  CHECK(m.value("wmo_wis2_scgc_messages_cached_total", l(kB)) == 1);
  CHECK(m.value("wmo_wis2_scgc_messages_cache_override_total", l(kA)) == 1);
  CHECK(m.value("wmo_wis2_scgc_messages_missed_total", l(kA)) == 0);
  CHECK(m.value("wmo_wis2_scgc_messages_missed_total", l(kB)) == 2);    // B (404), C
  CHECK(m.value("wmo_wis2_scgc_messages_missed_all_total", l()) == 1);  // C
  CHECK(m.value("wmo_wis2_scgc_messages_duplicates_total", l()) == 0);
}
