#include <doctest/doctest.h>

#include <random>

#include "wis2mon/error.hpp"
#include "wis2mon/topic.hpp"

using namespace wis2mon;

TEST_CASE("filter validity") {
  for (const char* ok : {"#", "+", "a/b", "a/+/c", "a/#", "+/+/#", "$share/group/a/+/#", "$share/g/#", "/a//b"})
    CHECK(is_valid_filter(ok));
  std::string why;
  for (const char* bad : {"", "a/#/b", "a/b#", "a+/b", "$share//a", "$share/g+/a", "$share/g", "$share/g/"}) {
    CHECK_FALSE(is_valid_filter(bad, &why));
    CHECK_FALSE(why.empty());
  }
}

TEST_CASE("MQTT filter matching") {
  const char* topic = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop";
  CHECK(topic_matches("#", topic));
  CHECK(topic_matches("origin/a/wis2/#", topic));
  CHECK(topic_matches("+/a/wis2/+/data/core/weather/surface-based-observations/#", topic));
  CHECK(topic_matches("origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop", topic));
  CHECK(topic_matches("$share/monitors/origin/a/wis2/+/data/#", topic));
  CHECK_FALSE(topic_matches("cache/a/wis2/#", topic));
  CHECK_FALSE(topic_matches("origin/a/wis2/+/data/core/weather", topic));
  CHECK_FALSE(topic_matches("origin/a/wis2/+/data/core/weather/+", topic));
  CHECK(topic_matches("sport/#", "sport"));  // '#' also matches the parent level
  CHECK(topic_matches("sport/+", "sport/"));
  CHECK_FALSE(topic_matches("sport/+", "sport"));
  CHECK(topic_matches("+/+", "/finance"));
  CHECK_FALSE(topic_matches("#", "$SYS/broker/load"));  // wildcards skip $-topics at level 1
  CHECK_FALSE(topic_matches("+/broker/load", "$SYS/broker/load"));
  CHECK(topic_matches("$SYS/#", "$SYS/broker/load"));
  CHECK_FALSE(topic_matches("a/b", "a/b/c"));
  CHECK_FALSE(topic_matches("a/b/c", "a/b"));
}

TEST_CASE("Router returns every matching filter") {
  Router r;
  const auto all = r.add("#");
  const auto synop = r.add("+/a/wis2/+/data/core/weather/surface-based-observations/#");
  const auto cap = r.add("+/a/wis2/+/data/core/weather/advisories-warnings/#");
  const auto dwd = r.add("$share/g/origin/a/wis2/de-dwd/#");
  const auto exact = r.add("origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop");
  const auto dup = r.add("#");
  CHECK(r.size() == 6);
  CHECK(r.filter(dwd) == "$share/g/origin/a/wis2/de-dwd/#");
  CHECK(r.match("origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop") ==
        std::vector<Router::FilterId>{all, synop, dwd, exact, dup});
  CHECK(r.match("cache/a/wis2/fr-meteo-france/data/core/weather/advisories-warnings/fr") ==
        std::vector<Router::FilterId>{all, cap, dup});
  CHECK(r.match("$SYS/x").empty());
  // Deeper than any real topic still matches (found by the topic fuzzer).
  std::string deep(300, '/');
  const auto deep_id = r.add(deep);
  CHECK(r.match(deep) == std::vector<Router::FilterId>{all, dup, deep_id});
  CHECK(topic_matches(deep, deep));
  CHECK_THROWS_AS(r.add("a/#/b"), Error);
  CHECK_THROWS_AS(r.filter(99), Error);
}

TEST_CASE("Router agrees with topic_matches on random filters and topics") {
  std::mt19937 rng(7);
  const std::vector<std::string> words = {"a", "b", "c", "origin", "wis2", ""};
  auto random_topic = [&] {
    std::string t;
    const int n = 1 + static_cast<int>(rng() % 5);
    for (int i = 0; i < n; ++i) t += (i ? "/" : "") + words[rng() % words.size()];
    return t;
  };
  Router r;
  std::vector<std::string> filters;
  for (int i = 0; i < 400; ++i) {
    std::string f;
    const int n = 1 + static_cast<int>(rng() % 5);
    for (int j = 0; j < n; ++j) {
      const auto k = rng() % 10;
      f += (j ? "/" : "") + (k == 0                 ? std::string("+")
                             : k == 1 && j == n - 1 ? std::string("#")
                                                    : words[rng() % words.size()]);
    }
    if (f.empty()) continue;  // "" is no filter
    filters.push_back(f);
    r.add(f);
  }
  std::vector<Router::FilterId> got;
  for (int i = 0; i < 2000; ++i) {
    const auto t = random_topic();
    r.match(t, got);
    std::vector<Router::FilterId> want;
    for (std::size_t id = 0; id < filters.size(); ++id)
      if (topic_matches(filters[id], t)) want.push_back(id);
    INFO("topic '", t, "'");
    CHECK(got == want);
  }
}
