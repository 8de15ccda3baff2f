// The Global Cache's message rules (WIS2 Guide 2.7.4): topics taken and ignored, the topic of
// a republication, stable ids, and the rewrite that changes id, canonical href and
// properties.global-cache and nothing else.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <string>

#include "wis2mon/cache.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/notification.hpp"
#include "wis2mon/wme.hpp"

using namespace wis2mon;

namespace {

// A notification as publishers write it: pretty-printed, numbers of every form, the
// canonical link after another one, rel after href.
const std::string kMessage = R"({
  "id": "31e9d66a-cd83-4174-9429-b932f1abe1be",
  "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
  "type": "Feature",
  "geometry": {"type": "Point", "coordinates": [6.146255135536194, 46.2232966182274440, 1E2]},
  "properties": {
    "data_id": "ch-meteoswiss/data/core/weather/surface-based-observations/synop/x1",
    "pubtime": "2026-01-01T00:02:11.314854383Z",
    "datetime": "2026-01-01T00:00:00Z",
    "integrity": {"method": "sha512", "value": "A2KNxvks=="},
    "note": "caf\u00e9 \"quoted\"",
    "count": 12345678901234567890
  },
  "links": [
    {"href": "https://example.org/oapi/items/x1", "rel": "item", "type": "application/json"},
    {"href": "https://example.org/data/x1.bufr4", "type": "application/bufr", "rel": "canonical", "length": 465}
  ],
  "extra": [1, {"href": "https://keep.me", "rel": "canonical"}]
})";

rapidjson::Document parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

}  // namespace

TEST_CASE("cache: the topics a Global Cache takes, and where it republishes") {
  CHECK(cache_topic_rule("origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop") ==
        CacheTopicRule::take);
  CHECK(cache_topic_rule("cache/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop") ==
        CacheTopicRule::take);
  CHECK(cache_topic_rule("origin/a/wis2/de-dwd/metadata") == CacheTopicRule::take);
  CHECK(cache_topic_rule("origin/a/wis2/de-dwd/data/recommended/weather/x") == CacheTopicRule::ignore);
  CHECK(cache_topic_rule("cache/a/wis2/de-dwd/data/recommended/weather/x") == CacheTopicRule::ignore);
  CHECK(cache_topic_rule("monitor/a/wis2/de-dwd") == CacheTopicRule::ignore);
  CHECK(cache_topic_rule("origin/a/wis2") == CacheTopicRule::ignore);
  CHECK(cache_topic_for("origin/a/wis2/de-dwd/data/core/weather") == "cache/a/wis2/de-dwd/data/core/weather");
  CHECK(cache_topic_for("cache/a/wis2/de-dwd/metadata") == "cache/a/wis2/de-dwd/metadata");
  CHECK(cache_topic_for("monitor/a/wis2/de-dwd") == "");
}

TEST_CASE("cache: a republished id is a UUID, the same for a repeat, new for an update or another cache") {
  const auto id = cache_message_id("xx-test-global-cache", "ch/data/x1", "2026-01-01T00:02:11Z");
  CHECK(id.size() == 36);
  CHECK(id[14] == '8');  // version 8
  CHECK(std::string("89ab").find(id[19]) != std::string::npos);
  CHECK(id == cache_message_id("xx-test-global-cache", "ch/data/x1", "2026-01-01T00:02:11Z"));
  CHECK(id != cache_message_id("xx-test-global-cache", "ch/data/x1", "2026-01-01T00:02:12Z"));
  CHECK(id != cache_message_id("yy-test-global-cache", "ch/data/x1", "2026-01-01T00:02:11Z"));
  CHECK(id != cache_message_id("xx-test-global-cache", "ch/data/x2", "2026-01-01T00:02:11Z"));
  // The boundaries between the parts count: ("ab", "c") is not ("a", "bc").
  CHECK(cache_message_id("ab", "c", "t") != cache_message_id("a", "bc", "t"));
  // The id passes WNM validation.
  CHECK(parse(rewrite_for_cache(kMessage, {id, std::nullopt, std::nullopt}))["id"].GetString() == id);
}

TEST_CASE("cache: the rewrite changes id, canonical href and global-cache, and nothing else") {
  const CacheRewrite c{"00000000-0000-8000-8000-000000000001", "https://gc.example.org/ch/x1.bufr4",
                       "xx-test-global-cache"};
  const auto out = rewrite_for_cache(kMessage, c);
  INFO(out);
  auto got = parse(out);
  auto want = parse(kMessage);
  CHECK(std::string(got["id"].GetString()) == c.id);
  CHECK(std::string(got["links"][1]["href"].GetString()) == *c.href);
  CHECK(std::string(got["properties"]["global-cache"].GetString()) == *c.global_cache);
  // Numbers keep their exact text (a DOM round trip would write 1E2 as 100.0).
  CHECK(out.find("46.2232966182274440") != std::string::npos);
  CHECK(out.find("1E2") != std::string::npos);
  CHECK(out.find("12345678901234567890") != std::string::npos);
  // Everything else is equal: put the three changes back and compare the whole documents.
  // (RapidJSON's operator= moves: copy instead.)
  got["id"].CopyFrom(want["id"], got.GetAllocator());
  got["links"][1]["href"].CopyFrom(want["links"][1]["href"], got.GetAllocator());
  got["properties"].RemoveMember("global-cache");
  CHECK(got == want);
  // Not the item link, not a canonical link outside "links".
  CHECK(std::string(parse(out)["links"][0]["href"].GetString()) == "https://example.org/oapi/items/x1");
  CHECK(std::string(parse(out)["extra"][1]["href"].GetString()) == "https://keep.me");
  // Member order is kept; global-cache comes last in properties.
  CHECK(out.find("\"data_id\"") < out.find("\"pubtime\""));
  CHECK(out.find("\"count\"") < out.find("\"global-cache\""));
  // A copy from another cache: its global-cache is replaced, not doubled.
  const auto again = rewrite_for_cache(out, {"00000000-0000-8000-8000-000000000002", std::nullopt, "yy-other"});
  CHECK(std::string(parse(again)["properties"]["global-cache"].GetString()) == "yy-other");
  CHECK(again.find("global-cache") == again.rfind("global-cache"));
  // cache: false: only the id changes.
  const auto uncached =
      rewrite_for_cache(kMessage, {"00000000-0000-8000-8000-000000000003", std::nullopt, std::nullopt});
  auto u = parse(uncached);
  CHECK_FALSE(u["properties"].HasMember("global-cache"));
  u["id"].CopyFrom(want["id"], u.GetAllocator());
  CHECK(u == want);
  // The result is a valid notification.
  const auto parsed = Notification::parse(out);
  CHECK(parsed.json_ok);
  CHECK(parsed.notification.global_cache() == "xx-test-global-cache");
  CHECK(parsed.notification.data_link()->href == *c.href);
  // An update: the update link is the one rewritten.
  std::string update = kMessage;
  update.replace(update.find("\"rel\": \"canonical\""), 18, "\"rel\": \"update\"");
  CHECK(std::string(parse(rewrite_for_cache(update, c))["links"][1]["href"].GetString()) == *c.href);
  CHECK_THROWS_AS(rewrite_for_cache("[1, 2]", c), Error);
  CHECK_THROWS_AS(rewrite_for_cache("{\"id\": ", c), Error);
}

TEST_CASE("cache: a declined item's monitoring event names the item, the centre and the reason") {
  CacheDeclinedItem item;
  item.cache_centre_id = "xx-test-global-cache";
  item.centre_id = "ch-meteoswiss";
  item.topic = "origin/a/wis2/ch-meteoswiss/data/core/weather/surface-based-observations/synop";
  item.data_id = "ch-meteoswiss/data/core/weather/surface-based-observations/synop/x1";
  item.pubtime = "2026-01-01T00:02:11Z";
  item.href = "https://example.org/data/x1.bufr4";
  item.announced = 200000000;
  item.limit = 104857600;
  const auto at = *parse_rfc3339("2026-11-30T12:00:00.250Z");
  const auto e = parse(cache_declined_event(item, at));
  // CloudEvents 1.0 with the WME members (the WME schema itself is checked by the CLI test).
  CHECK(std::string(e["specversion"].GetString()) == "1.0");
  CHECK(std::string(e["type"].GetString()) == "int.wmo.wis.wme.event");
  CHECK(std::string(e["source"].GetString()) == "xx-test-global-cache");
  CHECK(std::string(e["subject"].GetString()) == "ch-meteoswiss");
  CHECK(std::string(e["time"].GetString()) == "2026-11-30T12:00:00Z");
  CHECK(std::string(e["data"]["conformsTo"][0].GetString()) ==
        "http://wis.wmo.int/spec/wme/1/conf/monitoring-event-message-core");
  CHECK(std::string(e["data"]["severity"].GetString()) == "WARNING");
  CHECK(std::string(e["data"]["content"]["channel"].GetString()) == item.topic);
  const std::string title = e["data"]["content"]["title"].GetString();
  CHECK(title.find("200000000 bytes") != std::string::npos);
  CHECK(title.find("104857600") != std::string::npos);
  CHECK(std::string(e["data"]["links"][0]["href"].GetString()) == item.href);
  // Stable for the item, different from the republished message's id and another item's.
  const std::string id = e["id"].GetString();
  CHECK(id == parse(cache_declined_event(item, Timestamp::now()))["id"].GetString());
  CHECK(id != cache_message_id(item.cache_centre_id, item.data_id, item.pubtime));
  auto other = item;
  other.pubtime = "2026-01-01T00:03:00Z";
  CHECK(id != std::string(parse(cache_declined_event(other, at))["id"].GetString()));
  // Too many items: the count and the limit.
  other.reason = CacheDeclineReason::too_many_items;
  other.announced = 1201;
  other.limit = 1200;
  const std::string many = parse(cache_declined_event(other, at))["data"]["content"]["title"].GetString();
  CHECK(many.find("1201 items from ch-meteoswiss in a minute") != std::string::npos);
  CHECK(cache_monitor_topic("ch-meteoswiss") == "monitor/a/wis2/ch-meteoswiss");
  // Valid as the WME schema has it, in strict mode, both kinds.
  for (const auto& declined : {item, other}) {
    const auto report = validate_wme(cache_declined_event(declined, at), ValidationMode::strict);
    CHECK(report.valid());
    CHECK(report.warnings().empty());
  }
}
