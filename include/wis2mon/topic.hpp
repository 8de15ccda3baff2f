// WIS2 topics: parsing, validation against the WIS2 Topic Hierarchy (WTH), MQTT filter
// matching and a Router that matches one topic against thousands of filters.
//
//   origin/a/wis2/ca-eccc-msc/data/core/weather/surface-based-observations/synop
//   1      2 3    4           5    6    7       8...
//   channel/version/system/centre-id/notification-type/data-policy/discipline/sub-topic
//
// Thread safety: all const member functions may be called from several threads at once.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wis2mon/export.hpp"
#include "wis2mon/notification.hpp"  // ValidationMode, ValidationReport

namespace wis2mon {

/// A topic split into its levels. Accessors return "" for levels the topic does not have.
class WIS2MON_API Topic {
 public:
  explicit Topic(std::string_view topic);

  const std::vector<std::string>& levels() const noexcept { return levels_; }
  std::size_t depth() const noexcept { return levels_.size(); }
  std::string_view channel() const noexcept { return level(1); }
  std::string_view version() const noexcept { return level(2); }
  std::string_view system() const noexcept { return level(3); }
  std::string_view centre_id() const noexcept { return level(4); }
  std::string_view notification_type() const noexcept { return level(5); }
  std::string_view data_policy() const noexcept { return level(6); }
  std::string_view discipline() const noexcept { return level(7); }
  /// Levels 8 and deeper joined with '/', e.g. "surface-based-observations/synop".
  std::string sub_topic() const;
  /// Level n, counted from 1 as the WTH does; "" when absent.
  std::string_view level(std::size_t n) const noexcept {
    return n >= 1 && n <= levels_.size() ? std::string_view(levels_[n - 1]) : std::string_view();
  }

 private:
  std::vector<std::string> levels_;
};

/// The tables of the WIS2 Topic Hierarchy. The fixed levels 1-6 and the seven disciplines
/// are built in; the centre-id list and the sub-discipline tree come from the official
/// tables, loaded from a folder of CSVs or the published bundle zip.
class WIS2MON_API TopicHierarchy {
 public:
  /// Only the built-in levels: no centre list, no sub-discipline tree.
  TopicHierarchy();
  ~TopicHierarchy();
  TopicHierarchy(TopicHierarchy&&) noexcept;
  TopicHierarchy& operator=(TopicHierarchy&&) noexcept;

  /// Loads the tables from `path`: a folder holding the WTH CSV tree (centre-id.csv and
  /// earth-system-discipline/…/index.csv), a folder holding a flat
  /// earth-system-discipline.csv, or the bundle zip. Throws Error when nothing usable is there.
  static TopicHierarchy load(const std::filesystem::path& path);

  /// Where `wis2mon topics sync` stores the bundle: $WIS2MON_TOPIC_HIERARCHY if set, else
  /// $XDG_CACHE_HOME/wis2mon/wth-bundle.zip (or ~/.cache/…).
  static std::filesystem::path default_location();

  bool has_centres() const noexcept;
  bool has_sub_topics() const noexcept;
  std::size_t centre_count() const noexcept;
  std::size_t sub_topic_count() const noexcept;

  /// Membership in the centre-id table (a "-test" suffix is looked up without it).
  bool is_known_centre(std::string_view centre_id) const noexcept;

  enum class PathStatus { known, experimental, unknown, beyond_leaf };
  /// Status of "discipline/level8/…" in the sub-discipline tree (known when no tree loaded).
  PathStatus sub_topic_status(const std::vector<std::string>& levels_from_discipline) const;

 private:
  struct Tables;
  std::unique_ptr<Tables> tables_;
};

/// The seven earth-system disciplines of the WMO Unified Data Policy.
WIS2MON_API const std::vector<std::string>& earth_system_disciplines();

/// True when centre_id has the WTH form `tld-name` (lowercase letters, digits, hyphens),
/// optionally with a "-test" suffix.
WIS2MON_API bool is_valid_centre_id_form(std::string_view centre_id) noexcept;

struct TopicValidationOptions {
  /// strict: levels must be lowercase and table membership failures are errors; lenient
  /// (the default): uppercase levels (old GTS topics) and unknown centres or sub-topics are
  /// warnings.
  ValidationMode mode = ValidationMode::lenient;
  /// Tables to check membership against; nullptr checks form and the built-in levels only.
  const TopicHierarchy* hierarchy = nullptr;
};

/// Validates a topic a notification is published on. Paths in the report are "/N" where
/// N is the 1-based level ("" for the whole topic).
WIS2MON_API ValidationReport validate_topic(std::string_view topic, const TopicValidationOptions& options = {});

/// True when `filter` is a valid MQTT subscription filter ('+' and '#' as whole levels, '#'
/// last, optional "$share/<group>/" prefix). On false, `why` (if given) says what is wrong.
WIS2MON_API bool is_valid_filter(std::string_view filter, std::string* why = nullptr);

/// MQTT matching of one topic against one filter ("$share/<group>/" is ignored, as a broker
/// does; wildcards at the first level do not match topics starting with '$').
WIS2MON_API bool topic_matches(std::string_view filter, std::string_view topic) noexcept;

/// Compiles many filters into a trie and returns, for a topic, every filter that matches.
/// Matching costs O(levels × branching at wildcards), independent of the number of filters.
class WIS2MON_API Router {
 public:
  using FilterId = std::size_t;

  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  /// Adds a filter and returns its id (ids count up from 0). Throws Error(invalid_argument)
  /// for an invalid filter. Adding the same filter twice gives two ids.
  FilterId add(std::string_view filter);
  /// Ids of every filter matching `topic`, ascending, each once; appended to `out` after
  /// clearing it (reuse `out` to avoid allocations).
  void match(std::string_view topic, std::vector<FilterId>& out) const;
  std::vector<FilterId> match(std::string_view topic) const;

  std::size_t size() const noexcept;
  const std::string& filter(FilterId id) const;

 private:
  struct Trie;
  std::unique_ptr<Trie> trie_;
};

}  // namespace wis2mon
