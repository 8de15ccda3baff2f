// A Global Cache pipeline (WIS2 Guide 2.7.4.2) with real parts: a data server on loopback
// (cpp-httplib, with a missing object), the monitor, an mqtt sink publishing to a real
// mosquitto, and a subscriber there reading what the cache republished.
#include <doctest/doctest.h>
#include <sys/xattr.h>

#include <httplib.h>
#include <rapidjson/document.h>
#include <cerrno>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "fault_server.hpp"
#include "mosquitto_server.hpp"
#include "support.hpp"
#include "wis2mon/cache.hpp"
#include "wis2mon/download.hpp"
#include "wis2mon/monitor.hpp"
#include "wis2mon/mqtt.hpp"

using namespace wis2mon;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* kCentre = "xx-test-global-cache";
const std::string kSynop = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop";

std::string sha512_b64(std::string_view data) {
  unsigned char d[64];
  detail::compute_digest("sha512", data.data(), data.size(), d);
  return detail::base64_encode({reinterpret_cast<char*>(d), 64});
}

struct Item {
  std::string id, data_id, pubtime, href, integrity, extra;
  long long length = -1;
  bool cache = true;
};

// A notification the way publishers write it (pretty enough, numbers with their own text).
std::string message(const Item& i) {
  std::string m = "{\"id\": \"" + i.id +
                  "\", \"conformsTo\": [\"http://wis.wmo.int/spec/wnm/1/conf/core\"],"
                  " \"type\": \"Feature\", \"geometry\": {\"type\": \"Point\", \"coordinates\": [8.50, 47.38, 1E2]},"
                  " \"properties\": {\"data_id\": \"" +
                  i.data_id + "\", \"pubtime\": \"" + i.pubtime + "\", \"datetime\": \"2026-11-30T06:00:00Z\"";
  if (!i.integrity.empty()) m += ", \"integrity\": {\"method\": \"sha512\", \"value\": \"" + i.integrity + "\"}";
  if (!i.cache) m += ", \"cache\": false";
  m += i.extra + "}, \"links\": [{\"href\": \"" + i.href + "\", \"rel\": \"canonical\", \"type\": \"application/bufr\"";
  if (i.length >= 0) m += ", \"length\": " + std::to_string(i.length);
  return m + "}]}";
}

rapidjson::Document parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

struct Inbox {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> got;  // topic, payload
  std::size_t size() {
    std::lock_guard lock(mu);
    return got.size();
  }
};

}  // namespace

TEST_CASE("global cache: cached, updated, uncached, declined, ignored and failed items, as the Guide says") {
  if (testing::MosquittoServer::binary().empty()) {
    MESSAGE("mosquitto is not installed (Debian package mosquitto): skipped");
    return;
  }
  testing::TempDir dir;
  testing::MosquittoServer broker;  // the cache's own broker
  testing::FaultServer origin;      // the centres' data server
  testing::FaultServer never;       // links of items the cache must not fetch
  const std::string a1 = "BUFR first version of A 7777", a2 = "BUFR second version of A, longer 7777",
                    d = "BUFR item D 7777";
  origin.put("a1", a1);
  origin.put("a2", a2);
  origin.put("d", d);

  Inbox inbox;
  BrokerOptions so;
  so.url = broker.url();
  so.subscriptions = {"#"};
  MqttSubscriber reader(so, [&](const MqttMessage& m) {
    std::lock_guard lock(inbox.mu);
    inbox.got.emplace_back(std::string(m.topic), std::string(m.payload));
    return true;
  });
  reader.start();
  REQUIRE(reader.wait_subscribed(10s));

  MonitorOptions o;
  o.spool = dir.path / "spool.db";
  o.status_interval = 0ms;
  o.log = [](std::string_view) {};
  o.sinks = {{"out", "mqtt", {{"url", broker.url()}, {"payload_field", "message"}, {"batch_max_age", "50ms"}}}};
  PipelineOptions p;
  p.name = "gc";
  p.filters = {"origin/a/wis2/#", "cache/a/wis2/#"};
  p.global_cache = kCentre;
  p.global_cache_base_url = "https://gc.example.org/data/";
  p.global_cache_store = dir.path / "store";
  p.global_cache_max_object_bytes = 10000;
  p.sinks = {"out"};
  o.pipelines = {p};
  // An object from a run a day and more ago: the expiry thread deletes it (its first sweep
  // runs at start, then once a minute).
  const auto stale = store_object(p.global_cache_store, "de-dwd/data/core/weather/synop/OLD.bufr4", "old");
  fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::hours(25));
  Monitor monitor(o);
  monitor.start();

  const std::string id_a = "a1000000-0000-4000-8000-000000000001";
  const Item a{id_a,
               "de-dwd/data/core/weather/synop/A.bufr4",
               "2026-11-30T06:02:00Z",
               origin.url("/ok/a1"),
               sha512_b64(a1),
               ", \"note\": 1.50"};
  Item a_again = a;  // another Global Cache's copy of the same item
  a_again.id = "a1000000-0000-4000-8000-000000000002";
  a_again.href = "https://other-gc.example.org/A.bufr4";
  Item a_update = a;  // a newer pubtime: new data
  a_update.id = "a1000000-0000-4000-8000-000000000003";
  a_update.pubtime = "2026-11-30T06:09:00Z";
  a_update.href = origin.url("/ok/a2");
  a_update.integrity = sha512_b64(a2);
  const Item b{"b1000000-0000-4000-8000-000000000001",
               "de-dwd/data/core/weather/synop/B.bufr4",
               "2026-11-30T06:02:00Z",
               never.url("/ok/b"),
               "",
               "",
               10,
               false};
  const Item c{"c1000000-0000-4000-8000-000000000001",
               "de-dwd/data/recommended/x/C.bufr4",
               "2026-11-30T06:02:00Z",
               never.url("/ok/c"),
               sha512_b64(d),
               ""};
  Item d_bad{"d1000000-0000-4000-8000-000000000001",
             "de-dwd/data/core/weather/synop/D.bufr4",
             "2026-11-30T06:02:00Z",
             origin.url("/ok/d"),
             sha512_b64("something else"),
             ""};
  Item e_big{"e1000000-0000-4000-8000-000000000001",
             "de-dwd/data/core/weather/synop/E.bufr4",
             "2026-11-30T06:02:00Z",
             never.url("/ok/e"),
             "",
             "",
             20000};
  const Item f_missing{"f1000000-0000-4000-8000-000000000001",
                       "de-dwd/data/core/weather/synop/F.bufr4",
                       "2026-11-30T06:02:00Z",
                       origin.url("/ok/missing"),
                       "",
                       ""};

  monitor.push(kSynop, message(a));
  monitor.push(kSynop, message(b));
  monitor.push("origin/a/wis2/de-dwd/data/recommended/weather/x", message(c));
  monitor.push(kSynop, message(d_bad));
  monitor.push(kSynop, message(e_big));
  monitor.push(kSynop, message(f_missing));
  REQUIRE(monitor.drain(30s));
  monitor.push("cache/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop", message(a_again));
  REQUIRE(monitor.drain(30s));
  monitor.push(kSynop, message(a_update));
  REQUIRE(monitor.drain(30s));

  const auto until = std::chrono::steady_clock::now() + 20s;
  while (inbox.size() < 5 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  std::this_thread::sleep_for(500ms);  // nothing more comes
  std::lock_guard lock(inbox.mu);
  // A, B, E, A's update and E's monitoring event; not C (recommended), D (integrity), F (404),
  // A again.
  REQUIRE(inbox.got.size() == 5);
  const std::string cache_topic = "cache/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop";
  std::vector<std::string> events;
  for (const auto& [topic, payload] : inbox.got) {
    if (topic == "monitor/a/wis2/de-dwd")
      events.push_back(payload);
    else
      CHECK(topic == cache_topic);
  }
  // E declined: a WIS2 Monitoring Event to its centre, from this cache (Guide 2.7.4.1).
  REQUIRE(events.size() == 1);
  const auto event = parse(events[0]);
  CHECK(std::string(event["type"].GetString()) == "int.wmo.wis.wme.event");
  CHECK(std::string(event["source"].GetString()) == kCentre);
  CHECK(std::string(event["subject"].GetString()) == "de-dwd");
  CHECK(std::string(event["data"]["subtype"].GetString()) == "gc-declined");
  CHECK(std::string(event["data"]["links"][0]["href"].GetString()) == e_big.href);
  CHECK(std::string(event["data"]["content"]["title"].GetString()).find("20000 bytes") != std::string::npos);
  CHECK(std::string(event["data"]["content"]["description"].GetString()).find(e_big.data_id) != std::string::npos);
  const auto stats = monitor.stats();
  CHECK(stats.gc_cached == 2);    // A and its update
  CHECK(stats.gc_uncached == 2);  // B (cache false) and E (declined)
  CHECK(stats.gc_declined == 1);

  // A: cached. New id (stable: from the cache's centre-id, data_id and pubtime), the href on
  // the cache's server, properties.global-cache; nothing else changed.
  // Uncached items go out at once, cached ones once downloaded: find each by data_id and pubtime.
  const auto find = [&](const Item& i) {
    for (const auto& g : inbox.got) {
      const auto doc = parse(g.second);
      if (!doc.HasMember("properties")) continue;  // the monitoring event
      if (doc["properties"]["data_id"].GetString() == i.data_id &&
          doc["properties"]["pubtime"].GetString() == i.pubtime)
        return g.second;
    }
    FAIL("no republication of " << i.data_id << " " << i.pubtime);
    return std::string();
  };
  const std::string m0 = find(a);
  auto got = parse(m0);
  CHECK(std::string(got["id"].GetString()) == cache_message_id(kCentre, a.data_id, a.pubtime));
  const std::string path = storage_path_for(a.data_id);
  CHECK(std::string(got["links"][0]["href"].GetString()) == "https://gc.example.org/data/" + path);
  CHECK(std::string(got["properties"]["global-cache"].GetString()) == kCentre);
  CHECK(m0.find("1E2") != std::string::npos);
  CHECK(m0.find("1.50") != std::string::npos);
  auto want = parse(message(a));
  got["id"].CopyFrom(want["id"], got.GetAllocator());
  got["links"][0]["href"].CopyFrom(want["links"][0]["href"], got.GetAllocator());
  got["properties"].RemoveMember("global-cache");
  CHECK(got == want);
  // B: cache false: only the id changed, nothing was downloaded for it.
  auto b_got = parse(find(b));
  CHECK(std::string(b_got["id"].GetString()) == cache_message_id(kCentre, b.data_id, b.pubtime));
  auto b_want = parse(message(b));
  b_got["id"].CopyFrom(b_want["id"], b_got.GetAllocator());
  CHECK(b_got == b_want);
  // E: announced larger than the cache takes: declined, republished uncached.
  auto e_got = parse(find(e_big));
  CHECK(std::string(e_got["links"][0]["href"].GetString()) == e_big.href);
  CHECK_FALSE(e_got["properties"].HasMember("global-cache"));
  // A's update: cached again, the object replaced.
  auto u_got = parse(find(a_update));
  CHECK(std::string(u_got["id"].GetString()) == cache_message_id(kCentre, a.data_id, a_update.pubtime));
  CHECK(std::string(u_got["links"][0]["href"].GetString()) == "https://gc.example.org/data/" + path);
  CHECK(testing::read_file(dir.path / "store" / path) == a2);
  // Nothing fetched for B, C and E. (The origin's count is not checked: a slow machine's
  // download timeouts add retries.)
  CHECK(never.requests() == 0);
  CHECK_FALSE(fs::exists(stale));
  // The Guide's metrics (downloads over HTTP are counted by the downloader, per centre; retries
  // after a timeout on a slow machine add to the counts, so lower bounds).
  const Labels labels{{"centre_id", "de-dwd"}, {"report_by", kCentre}};  // gc.csv's labels
  CHECK(monitor.metrics().value("wmo_wis2_gc_downloaded_total", labels) >= 2);
  CHECK(monitor.metrics().value("wmo_wis2_gc_downloaded_errors_total", labels) >= 2);
  CHECK(monitor.metrics().value("wmo_wis2_gc_integrity_failed_total", labels) >= 1);
  CHECK(monitor.metrics().value("wmo_wis2_gc_last_download_timestamp_seconds", labels) > 1.7e9);
  monitor.stop();
}

TEST_CASE("global cache: the data server serves the store and nothing else; expiry removes old objects") {
  testing::TempDir dir;
  const auto store = dir.path / "store";
  const std::string data = "0123456789abcdefghij";
  const auto object = store_object(store, "de-dwd/data/core/weather/synop/A.bufr4", data);
  write_cache_content_type(object, "application/bufr");
  store_object(store, "de-dwd/data/core/weather/synop/untyped.bin", "x");
  fs::create_directories(dir.path / "outside");
  std::ofstream(dir.path / "outside" / "secret.txt") << "SECRET";
  fs::create_symlink(dir.path / "outside" / "secret.txt", store / "de-dwd" / "link.txt");
  std::ofstream(store / "de-dwd" / ".hidden.bufr4") << "hidden";
  CacheDataServer server({store, "127.0.0.1", 0});
  httplib::Client http("127.0.0.1", server.port());
  const std::string path = "/" + storage_path_for("de-dwd/data/core/weather/synop/A.bufr4");

  auto r = http.Get(path.c_str());
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == data);
  CHECK(r->get_header_value("Content-Type") == "application/bufr");
  CHECK(r->get_header_value("Content-Length") == "20");
  CHECK(r->get_header_value("Accept-Ranges") == "bytes");
  CHECK(r->get_header_value("Last-Modified").find("GMT") != std::string::npos);
  const auto etag = r->get_header_value("ETag");
  CHECK(etag.size() > 4);
  CHECK(http.Get("/de-dwd/data/core/weather/synop/untyped.bin")->get_header_value("Content-Type") ==
        "application/octet-stream");
  // HEAD: the headers, no body.
  auto head = http.Head(path.c_str());
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(head->body.empty());
  CHECK(head->get_header_value("Content-Length") == "20");
  // Ranges: one range served, several ignored (the whole object), past the end refused.
  auto part = http.Get(path.c_str(), {{"Range", "bytes=5-9"}});
  CHECK(part->status == 206);
  CHECK(part->body == "56789");
  CHECK(part->get_header_value("Content-Range") == "bytes 5-9/20");
  CHECK(http.Get(path.c_str(), {{"Range", "bytes=-3"}})->body == "hij");
  CHECK(http.Get(path.c_str(), {{"Range", "bytes=15-"}})->body == "fghij");
  CHECK(http.Get(path.c_str(), {{"Range", "bytes=0-1,4-5"}})->status == 200);
  auto beyond = http.Get(path.c_str(), {{"Range", "bytes=20-30"}});
  CHECK(beyond->status == 416);
  CHECK(beyond->get_header_value("Content-Range") == "bytes */20");
  // Revalidation.
  CHECK(http.Get(path.c_str(), {{"If-None-Match", etag}})->status == 304);
  // Nothing else: folders (no listing), hidden files, escapes, links out, other methods.
  for (const char* p :
       {"/", "/de-dwd", "/de-dwd/", "/de-dwd/.hidden.bufr4", "/de-dwd/link.txt", "/../outside/secret.txt",
        "/de-dwd/../../outside/secret.txt", "/%2e%2e/outside/secret.txt", "/nothing.bufr4"}) {
    CAPTURE(p);
    auto miss = http.Get(p);
    REQUIRE(miss);
    CHECK(miss->status == 404);
    CHECK(miss->body.find("SECRET") == std::string::npos);
  }
  CHECK(http.Post(path.c_str(), "x", "text/plain")->status == 405);

  // store_cache_object: the type travels with the object (an extended attribute where the
  // filesystem has them: no second file), and replaces an older object's type file.
  const auto typed =
      store_cache_object(store, "de-dwd/data/core/weather/synop/C.grib2", "GRIB 7777", "application/grib;edition=2");
  CHECK(http.Get("/de-dwd/data/core/weather/synop/C.grib2")->get_header_value("Content-Type") ==
        "application/grib;edition=2");
  write_cache_content_type(typed, "text/stale");
  store_cache_object(store, "de-dwd/data/core/weather/synop/C.grib2", "GRIB2 7777", "application/x-grib2");
  CHECK(http.Get("/de-dwd/data/core/weather/synop/C.grib2")->get_header_value("Content-Type") == "application/x-grib2");
  char probe[8];
  if (::getxattr(typed.c_str(), "user.wis2mon.content_type", probe, sizeof probe) >= 0 || errno == ERANGE)
    CHECK_FALSE(fs::exists(typed.parent_path() / ".C.grib2.type"));
  else
    MESSAGE("no user extended attributes on this filesystem: the type file was used");

  // Expiry: an object older than the retention goes (with its type file and emptied folders)
  // and the server answers 404; a fresh one stays.
  const auto old_time = fs::file_time_type::clock::now() - std::chrono::hours(25);
  fs::last_write_time(object, old_time);
  const auto fresh = store_object(store, "de-dwd/data/core/weather/synop/B.bufr4", "fresh");
  CHECK(expire_cache_objects(store, std::chrono::hours(24)) == 1);
  CHECK_FALSE(fs::exists(object));
  CHECK_FALSE(fs::exists(object.parent_path() / ".A.bufr4.type"));
  CHECK(fs::exists(fresh));
  CHECK(http.Get(path.c_str())->status == 404);
  fs::last_write_time(fresh, old_time);
  fs::last_write_time(store / "de-dwd" / "data" / "core" / "weather" / "synop" / "untyped.bin", old_time);
  fs::last_write_time(typed, old_time);
  CHECK(expire_cache_objects(store, std::chrono::hours(24)) == 3);
  CHECK_FALSE(fs::exists(store / "de-dwd" / "data"));      // emptied folders go too
  CHECK(fs::exists(dir.path / "outside" / "secret.txt"));  // a link's target is never touched
}

TEST_CASE("global cache: more items from a centre in a minute than the limit are declined, each with its event") {
  testing::TempDir dir;
  testing::FaultServer origin;
  MonitorOptions o;
  o.spool = dir.path / "spool.db";
  o.status_interval = 0ms;
  o.log = [](std::string_view) {};
  o.sinks.clear();
  PipelineOptions p;
  p.name = "gc";
  p.filters = {"origin/a/wis2/#"};
  p.global_cache = kCentre;
  p.global_cache_base_url = "https://gc.example.org/data";
  p.global_cache_store = dir.path / "store";
  p.global_cache_max_items_per_minute = 3;
  o.pipelines = {p};
  Monitor monitor(o);
  std::vector<std::pair<std::string, std::string>> got;  // topic, message
  monitor.add_callback_sink("cb", [&](const std::vector<Record>& batch) {
    for (const auto& r : batch)
      got.emplace_back(std::get<std::string>(*r.get("topic")), std::get<std::string>(*r.get("message")));
    return std::vector<Delivery>(batch.size());
  });
  monitor.start();
  const auto minute = Timestamp::now().seconds / 60;
  for (int i = 0; i < 5; ++i) {
    const std::string name = "obj" + std::to_string(i);
    origin.put(name, "BUFR " + name + " 7777");
    monitor.push(kSynop, message({"a100000" + std::to_string(i) + "-0000-4000-8000-000000000001",
                                  "de-dwd/data/core/weather/synop/" + name + ".bufr4", "2026-11-30T06:02:00Z",
                                  origin.url("/ok/" + name), "", ""}));
  }
  REQUIRE(monitor.drain(30s));
  monitor.stop();
  if (Timestamp::now().seconds / 60 != minute) {  // a new minute began: the count restarted
    MESSAGE("the minute changed during the test: not checked");
    return;
  }
  const auto stats = monitor.stats();
  CHECK(stats.gc_cached == 3);
  CHECK(stats.gc_uncached == 2);
  CHECK(stats.gc_declined == 2);
  int events = 0, uncached = 0;
  for (const auto& [topic, payload] : got) {
    const auto doc = parse(payload);
    if (topic == "monitor/a/wis2/de-dwd") {
      ++events;
      CHECK(std::string(doc["data"]["content"]["title"].GetString()).find("items from de-dwd in a minute") !=
            std::string::npos);
    } else if (!doc["properties"].HasMember("global-cache")) {
      ++uncached;
      CHECK(std::string(doc["links"][0]["href"].GetString()).find(origin.url("/ok/obj")) == 0);
    }
  }
  CHECK(events == 2);
  CHECK(uncached == 2);
}
