// Topic levels and their validation against the WIS2 Topic Hierarchy.
#include <algorithm>

#include "common/encoding.hpp"
#include "common/text.hpp"
#include "wis2mon/topic.hpp"

namespace wis2mon {
namespace {

bool has_upper(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

std::string in_quotes(std::string_view s) {
  return "'" + std::string(s) + "'";
}

}  // namespace

Topic::Topic(std::string_view topic) {
  std::size_t start = 0;
  while (true) {
    const auto slash = topic.find('/', start);
    levels_.emplace_back(topic.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
}

std::string Topic::sub_topic() const {
  std::string out;
  for (std::size_t i = 7; i < levels_.size(); ++i) {
    if (!out.empty()) out += '/';
    out += levels_[i];
  }
  return out;
}

const std::vector<std::string>& earth_system_disciplines() {
  static const std::vector<std::string> kDisciplines = {
      "weather", "climate", "hydrology", "atmospheric-composition", "cryosphere", "ocean", "space-weather"};
  return kDisciplines;
}

bool is_valid_centre_id_form(std::string_view id) noexcept {
  // tld-name: a lowercase top-level part, a hyphen, then lowercase letters, digits and
  // single hyphens ("ca-eccc-msc", "int-eumetsat", "de-dwd-test").
  const auto dash = id.find('-');
  if (dash == std::string_view::npos || dash < 2 || dash + 1 >= id.size()) return false;
  for (std::size_t i = 0; i < dash; ++i)
    if (id[i] < 'a' || id[i] > 'z') return false;
  char prev = '-';
  for (std::size_t i = dash + 1; i < id.size(); ++i) {
    const char c = id[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && prev != '-');
    if (!ok) return false;
    prev = c;
  }
  return prev != '-';
}

ValidationReport validate_topic(std::string_view topic, const TopicValidationOptions& options) {
  ValidationReport r;
  const bool strict = options.mode == ValidationMode::strict;
  auto deviation = [&](std::string path, const char* rule, std::string msg) {
    if (strict)
      r.add_error(std::move(path), rule, std::move(msg));
    else
      r.add_warning(std::move(path), rule, std::move(msg));
  };
  if (topic.empty()) {
    r.add_error("", "topic.empty", "the topic is empty");
    return r;
  }
  // MQTT topics are UTF-8 strings (MQTT 3.1.1 section 1.5.3, MQTT 5 section 1.5.4).
  if (!detail::is_valid_utf8(topic)) {
    r.add_error("", "topic.utf8", "the topic is not valid UTF-8");
    return r;
  }
  for (unsigned char c : topic)
    if (c < 0x21 || c == 0x7f) {
      r.add_error("", "topic.characters", "the topic holds whitespace or control characters");
      return r;
    }
  if (topic.find_first_of("+#") != std::string_view::npos) {
    r.add_error("", "topic.wildcard", "a publication topic has no '+' or '#' wildcards");
    return r;
  }
  const Topic t(topic);
  for (std::size_t i = 1; i <= t.depth(); ++i)
    if (t.level(i).empty()) {
      r.add_error("/" + std::to_string(i), "topic.level_empty", "level " + std::to_string(i) + " is empty");
      return r;
    }
  if (has_upper(topic)) deviation("", "topic.case", "topic levels are lowercase in the WIS2 Topic Hierarchy");

  // Work on the lowercased levels so that a lenient check of "ORIGIN/A/WIS2/…" goes on.
  std::vector<std::string> lv;
  lv.reserve(t.depth());
  for (const auto& l : t.levels()) lv.push_back(detail::ascii_lower(l));
  auto level = [&](std::size_t n) -> std::string_view { return n <= lv.size() ? std::string_view(lv[n - 1]) : ""; };

  // Every name of the WIS2 Topic Hierarchy's tables is lowercase letters, digits and hyphens:
  // a dot, an underscore or any other character is never a topic level (a Global Cache URL
  // path such as ".../synop/WIGOS_0-20000-0-63708_20260811T100000.bufr4" is not a topic).
  // Upper case is the lenient-mode warning above (GTS transitions), so it is checked lowercased.
  for (std::size_t i = 0; i < lv.size(); ++i) {
    const auto bad = lv[i].find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-");
    if (bad == std::string::npos) continue;
    const auto n = std::to_string(i + 1);
    r.add_error("/" + n, "topic.level_characters",
                "level " + n + " " + in_quotes(t.level(i + 1)) + " holds " +
                    (static_cast<unsigned char>(lv[i][bad]) < 0x80 ? in_quotes(std::string(1, lv[i][bad]))
                                                                   : std::string("a non-ASCII character")) +
                    ": topic levels are lowercase letters, digits and hyphens");
    return r;
  }

  if (lv.size() < 5) {
    r.add_error("", "topic.depth", "a WIS2 topic has at least 5 levels (channel/version/system/centre-id/type)");
  }
  if (level(1) != "origin" && level(1) != "cache")
    r.add_error("/1", "topic.channel", "channel " + in_quotes(t.level(1)) + " is not 'origin' or 'cache'");
  if (lv.size() >= 2 && level(2) != "a")
    r.add_error("/2", "topic.version", "version " + in_quotes(t.level(2)) + " is not 'a'");
  if (lv.size() >= 3 && level(3) != "wis2")
    r.add_error("/3", "topic.system", "system " + in_quotes(t.level(3)) + " is not 'wis2'");
  if (lv.size() >= 4) {
    const auto centre = level(4);
    if (!is_valid_centre_id_form(centre))
      r.add_error("/4", "topic.centre_id", "centre-id " + in_quotes(t.level(4)) + " does not have the form tld-name");
    else if (options.hierarchy && options.hierarchy->has_centres() && !options.hierarchy->is_known_centre(centre))
      deviation("/4", "topic.centre_id_unknown",
                "centre-id " + in_quotes(t.level(4)) + " is not in the centre-id table");
  }
  if (lv.size() < 5) return r;

  const auto type = level(5);
  if (type == "metadata") {
    if (lv.size() != 5) r.add_error("/6", "topic.depth", "metadata notifications are published at level 5 exactly");
    return r;
  }
  if (type != "data") {
    r.add_error("/5", "topic.notification_type",
                "notification-type " + in_quotes(t.level(5)) + " is not 'data' or 'metadata'");
    return r;
  }
  if (lv.size() >= 6 && level(6) != "core" && level(6) != "recommended")
    r.add_error("/6", "topic.data_policy", "data-policy " + in_quotes(t.level(6)) + " is not 'core' or 'recommended'");
  if (lv.size() >= 7) {
    const auto& d = earth_system_disciplines();
    if (std::find(d.begin(), d.end(), level(7)) == d.end()) {
      r.add_error("/7", "topic.discipline",
                  "discipline " + in_quotes(t.level(7)) + " is not an earth-system discipline");
      return r;
    }
  }
  if (lv.size() < 8) {
    r.add_error("", "topic.depth", "data notifications are published at level 8 or deeper");
    return r;
  }
  if (options.hierarchy && options.hierarchy->has_sub_topics()) {
    const std::vector<std::string> path(lv.begin() + 6, lv.end());
    switch (options.hierarchy->sub_topic_status(path)) {
      case TopicHierarchy::PathStatus::known:
      case TopicHierarchy::PathStatus::experimental:
        break;
      case TopicHierarchy::PathStatus::unknown:
        deviation("/8", "topic.sub_topic", "sub-topic " + in_quotes(t.sub_topic()) + " is not in the topic hierarchy");
        break;
      case TopicHierarchy::PathStatus::beyond_leaf:
        deviation("/" + std::to_string(lv.size()), "topic.sub_topic",
                  "sub-topic " + in_quotes(t.sub_topic()) + " goes deeper than the topic hierarchy defines");
        break;
    }
  }
  return r;
}

}  // namespace wis2mon
