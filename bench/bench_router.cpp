// Router match throughput with 5,000 filters, against the obvious baseline: testing every
// filter with topic_matches, in the same run.
//   bench_router [--filters N] [--seconds S]
#include <cstdio>
#include <cstring>
#include <random>

#include "bench_common.hpp"
#include "wis2mon/topic.hpp"

int main(int argc, char** argv) {
  std::size_t nfilters = 5000;
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--filters") && i + 1 < argc) nfilters = std::strtoul(argv[++i], nullptr, 10);
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atof(argv[++i]);
  }
  // A realistic mix: per-centre subscriptions, per-discipline ones, and a few wide ones.
  const std::vector<std::string> subs = {"surface-based-observations/synop",
                                         "surface-based-observations/temp",
                                         "advisories-warnings",
                                         "prediction/forecast/medium-range/deterministic/global",
                                         "space-based-observations",
                                         "aviation/metar"};
  const std::vector<std::string> disciplines = {"weather", "climate", "hydrology", "ocean", "cryosphere"};
  std::mt19937 rng(1);
  std::vector<std::string> centres;
  for (int i = 0; i < 400; ++i) centres.push_back("c" + std::to_string(i) + "-centre");
  std::vector<std::string> filters;
  filters.push_back("#");
  filters.push_back("+/a/wis2/+/data/core/weather/surface-based-observations/#");
  filters.push_back("+/a/wis2/+/data/core/weather/advisories-warnings/#");
  while (filters.size() < nfilters) {
    const auto& c = centres[rng() % centres.size()];
    const auto& d = disciplines[rng() % disciplines.size()];
    const auto& s = subs[rng() % subs.size()];
    switch (rng() % 4) {
      case 0:
        filters.push_back("origin/a/wis2/" + c + "/data/core/" + d + "/" + s);
        break;
      case 1:
        filters.push_back("+/a/wis2/" + c + "/data/+/" + d + "/#");
        break;
      case 2:
        filters.push_back("cache/a/wis2/+/data/core/" + d + "/" + s + "/#");
        break;
      default:
        filters.push_back("$share/g" + std::to_string(rng() % 10) + "/origin/a/wis2/" + c + "/#");
        break;
    }
  }
  std::vector<std::string> topics;
  for (int i = 0; i < 10000; ++i)
    topics.push_back(std::string(rng() % 2 ? "origin" : "cache") + "/a/wis2/" + centres[rng() % centres.size()] +
                     "/data/core/" + disciplines[rng() % disciplines.size()] + "/" + subs[rng() % subs.size()]);

  wis2mon::Router router;
  for (const auto& f : filters) router.add(f);
  std::vector<wis2mon::Router::FilterId> out;
  std::size_t matches = 0;
  const double trie_rate = bench::rate(
                               [&](std::size_t) {
                                 matches = 0;
                                 for (const auto& t : topics) {
                                   router.match(t, out);
                                   matches += out.size();
                                 }
                               },
                               seconds) *
                           static_cast<double>(topics.size());

  std::size_t linear_matches = 0;
  const std::size_t linear_topics = 500;  // the baseline is slow; fewer topics, same mix
  const double linear_rate = bench::rate(
                                 [&](std::size_t) {
                                   linear_matches = 0;
                                   for (std::size_t i = 0; i < linear_topics; ++i)
                                     for (const auto& f : filters)
                                       linear_matches += wis2mon::topic_matches(f, topics[i]);
                                 },
                                 seconds) *
                             static_cast<double>(linear_topics);

  // Same answers on the topics both saw.
  std::size_t check = 0;
  for (std::size_t i = 0; i < linear_topics; ++i) check += router.match(topics[i]).size();
  std::printf(
      "{\"filters\": %zu, \"topics\": %zu, \"avg_matches\": %.2f, \"router_matches_per_s\": %.0f, "
      "\"linear_scan_matches_per_s\": %.0f, \"agree\": %s}\n",
      filters.size(), topics.size(), static_cast<double>(matches) / static_cast<double>(topics.size()), trie_rate,
      linear_rate, check == linear_matches ? "true" : "false");
  return check == linear_matches ? 0 : 1;
}
