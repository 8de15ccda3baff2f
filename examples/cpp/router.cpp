// Route topics to pipelines with MQTT filters.
#include <wis2mon/topic.hpp>

#include <iostream>

int main() {
  wis2mon::Router router;
  const auto all = router.add("#");
  const auto synop = router.add("+/a/wis2/+/data/core/weather/surface-based-observations/#");
  const auto cap = router.add("$share/monitors/+/a/wis2/+/data/core/weather/advisories-warnings/#");
  const char* topics[] = {"origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop",
                          "cache/a/wis2/fr-meteo-france/data/core/weather/advisories-warnings/fr",
                          "origin/a/wis2/jp-jma/metadata"};
  for (const char* t : topics) {
    std::cout << t << " ->";
    for (auto id : router.match(t)) std::cout << " [" << router.filter(id) << "]";
    std::cout << "\n";
  }
  const auto first = router.match(topics[0]);
  const auto second = router.match(topics[1]);
  const bool ok = first == std::vector<wis2mon::Router::FilterId>{all, synop} &&
                  second == std::vector<wis2mon::Router::FilterId>{all, cap} && router.match(topics[2]).size() == 1;
  return ok ? 0 : 1;
}
