// MQTT subscription filters: validation and single-filter matching (MQTT 3.1.1 §4.7,
// MQTT 5 §4.8.2 for shared subscriptions).
#include "topic/filter.hpp"

#include "wis2mon/topic.hpp"

namespace wis2mon {

namespace detail {
std::string_view strip_share(std::string_view filter) noexcept {
  constexpr std::string_view kShare = "$share/";
  if (filter.substr(0, kShare.size()) != kShare) return filter;
  const auto slash = filter.find('/', kShare.size());
  return slash == std::string_view::npos ? std::string_view() : filter.substr(slash + 1);
}
}  // namespace detail

bool is_valid_filter(std::string_view filter, std::string* why) {
  auto fail = [&](const char* msg) {
    if (why) *why = msg;
    return false;
  };
  if (filter.empty()) return fail("the filter is empty");
  if (filter.size() > 65535) return fail("the filter is longer than 65535 bytes");
  if (filter.find('\0') != std::string_view::npos) return fail("the filter holds a NUL character");
  if (filter.substr(0, 7) == "$share/") {
    const auto slash = filter.find('/', 7);
    const auto group = filter.substr(7, slash == std::string_view::npos ? std::string_view::npos : slash - 7);
    if (group.empty() || group.find_first_of("+#") != std::string_view::npos)
      return fail("a shared subscription needs a group name without wildcards: $share/<group>/<filter>");
    filter = detail::strip_share(filter);
    if (filter.empty()) return fail("a shared subscription needs a filter after $share/<group>/");
  }
  std::size_t start = 0;
  while (true) {
    const auto slash = filter.find('/', start);
    const auto level = filter.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (level.find_first_of("+#") != std::string_view::npos && level.size() != 1)
      return fail("'+' and '#' must stand alone in a level");
    if (level == "#" && slash != std::string_view::npos) return fail("'#' must be the last level");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

bool topic_matches(std::string_view filter, std::string_view topic) noexcept {
  filter = detail::strip_share(filter);
  if (filter.empty()) return false;
  const bool dollar = !topic.empty() && topic.front() == '$';
  std::size_t f = 0, t = 0;
  bool first = true;
  while (true) {
    const auto fs = filter.find('/', f);
    const auto flevel = filter.substr(f, fs == std::string_view::npos ? std::string_view::npos : fs - f);
    if (flevel == "#") return !(first && dollar);
    if (t == std::string_view::npos) return false;  // topic ran out before the filter did
    const auto ts = topic.find('/', t);
    const auto tlevel = topic.substr(t, ts == std::string_view::npos ? std::string_view::npos : ts - t);
    if (flevel == "+") {
      if (first && dollar) return false;
    } else if (flevel != tlevel) {
      return false;
    }
    first = false;
    t = ts == std::string_view::npos ? std::string_view::npos : ts + 1;
    if (fs == std::string_view::npos) return t == std::string_view::npos;
    f = fs + 1;
    // "a/#" also matches "a": the filter's next level is '#' and the topic has ended.
    if (t == std::string_view::npos) return filter.substr(f) == "#";
  }
}

}  // namespace wis2mon
