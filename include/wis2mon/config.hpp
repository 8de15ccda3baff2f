// Configuration tables: every key a component accepts is declared once (name, type, default,
// description). The same table validates user input, prints help and docs, and dumps the
// effective configuration.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "wis2mon/export.hpp"

namespace wis2mon {

enum class ConfigType {
  string,
  integer,   ///< decimal, may be negative
  real,      ///< decimal number
  boolean,   ///< true/false, yes/no, on/off, 1/0
  duration,  ///< "250ms", "5s", "2m", "1h", "7d", or a bare number of seconds ("2.5")
  choice,    ///< one of ConfigKey::choices
  list,      ///< comma-separated strings
};
WIS2MON_API const char* to_string(ConfigType t) noexcept;

struct ConfigKey {
  ConfigKey(std::string name_, ConfigType type_, std::string default_, std::string description_, bool required_ = false,
            std::vector<std::string> choices_ = {})
      : name(std::move(name_)),
        type(type_),
        default_value(std::move(default_)),
        description(std::move(description_)),
        required(required_),
        choices(std::move(choices_)) {}
  std::string name;
  ConfigType type = ConfigType::string;
  std::string default_value;  ///< as the user would write it; "" and !required: unset
  std::string description;
  bool required = false;
  std::vector<std::string> choices;  ///< for ConfigType::choice
  /// For integer and duration keys: the smallest and largest value allowed (a duration's in
  /// milliseconds). Checked by validate(), so a config check refuses what a run would.
  std::optional<std::int64_t> min, max;
};

class ConfigValues;

/// The keys of one component, e.g. the "sqlite" sink.
class WIS2MON_API ConfigTable {
 public:
  ConfigTable(std::string component, std::vector<ConfigKey> keys);
  const std::string& component() const noexcept { return component_; }
  const std::vector<ConfigKey>& keys() const noexcept { return keys_; }
  const ConfigKey* find(std::string_view name) const noexcept;

  /// Checks user values against the table: unknown keys (with a "did you mean"), values that
  /// do not parse as their type, missing required keys. Throws Error(invalid_argument) naming
  /// every problem. Defaults fill the keys the user left out.
  ConfigValues validate(const std::map<std::string, std::string>& user) const;
  /// Help text: one line per key with its type, default and description.
  std::string help() const;
  /// The keys as a Markdown table (key, type, default, description): the docs' option tables.
  std::string markdown() const;

 private:
  std::string component_;
  std::vector<ConfigKey> keys_;
};

/// Validated values of one table; typed getters (a key not in the table is a programming
/// error: Error(internal)).
class WIS2MON_API ConfigValues {
 public:
  ConfigValues() = default;
  bool has(std::string_view name) const;  ///< set by the user or by a default
  const std::string& text(std::string_view name) const;
  std::int64_t integer(std::string_view name) const;
  double real(std::string_view name) const;
  bool boolean(std::string_view name) const;
  std::int64_t duration_ms(std::string_view name) const;
  std::vector<std::string> list(std::string_view name) const;
  /// The effective configuration, "key = value" lines in table order.
  std::string dump() const;
  const std::map<std::string, std::string, std::less<>>& values() const noexcept { return values_; }

 private:
  friend class ConfigTable;
  std::vector<std::string> order_;  // table order, for dump()
  std::map<std::string, std::string, std::less<>> values_;
};

namespace detail {
// Text <-> value conversions of the config types (the text is known to be valid).
WIS2MON_API std::int64_t config_integer(const std::string& text);
WIS2MON_API double config_real(const std::string& text);
WIS2MON_API bool config_boolean(const std::string& text);
WIS2MON_API std::int64_t config_duration_ms(const std::string& text);
WIS2MON_API std::vector<std::string> config_list(const std::string& text);
WIS2MON_API std::string config_duration_text(std::int64_t ms);  ///< "250ms", "10s", "2m", "1h", "7d"
WIS2MON_API std::string config_real_text(double v);
WIS2MON_API std::string config_list_text(const std::vector<std::string>& items);
}  // namespace detail

/// Limits and flags of one bound key.
struct ConfigLimits {
  std::optional<std::int64_t> min, max;  ///< integers; durations in milliseconds
  bool required = false;

  static ConfigLimits at_least(std::int64_t v) {
    ConfigLimits l;
    l.min = v;
    return l;
  }
  static ConfigLimits between(std::int64_t low, std::int64_t high) {
    ConfigLimits l;
    l.min = low;
    l.max = high;
    return l;
  }
  static ConfigLimits needed() {
    ConfigLimits l;
    l.required = true;
    return l;
  }
};

/// A configuration table bound to the members of an options struct T: each key names the
/// member it sets, its type comes from the member's type, and its default is the member's
/// value in a default-constructed T, so the struct is the one source of defaults. The same
/// binding parses config files, the C API's option JSON and Python keywords, dumps the
/// effective configuration and writes the docs' tables.
///
///   static const auto b = ConfigBinding<DownloadOptions>("download")
///       .add("max_in_flight", &DownloadOptions::max_in_flight, "transfers at once", {1})
///       .add("connect_timeout", &DownloadOptions::connect_timeout, "connect timeout");
///   DownloadOptions o;
///   b.apply(b.table().validate(user), o);
template <class T>
class ConfigBinding {
 public:
  using Getter = std::function<std::string(const T&)>;
  using Setter = std::function<void(T&, const std::string& text)>;

  explicit ConfigBinding(std::string component) : component_(std::move(component)) {}

  /// A key bound to `member`; its type follows the member's: std::string and paths (string),
  /// bool (boolean), integers (integer), double (real), std::chrono durations (duration),
  /// std::vector<std::string> (list).
  template <class M>
  ConfigBinding& add(const std::string& name, M T::*member, std::string description, ConfigLimits limits = {}) {
    return add_ref<M>(
        name, [member](const T& t) -> const M& { return t.*member; }, [member](T& t) -> M& { return t.*member; },
        std::move(description), limits);
  }
  /// A key bound to a member of a member (e.g. &MonitorOptions::sources, &SourcePolicy::...).
  template <class N, class M>
  ConfigBinding& add(const std::string& name, N T::*outer, M N::*member, std::string description,
                     ConfigLimits limits = {}) {
    return add_ref<M>(
        name, [outer, member](const T& t) -> const M& { return (t.*outer).*member; },
        [outer, member](T& t) -> M& { return (t.*outer).*member; }, std::move(description), limits);
  }
  /// A choice key: each spelling maps to one value of the member.
  template <class E>
  ConfigBinding& choice(const std::string& name, E T::*member, std::vector<std::pair<std::string, E>> choices,
                        std::string description) {
    std::vector<std::string> names;
    for (const auto& c : choices) names.push_back(c.first);
    return bind(
        ConfigKey(name, ConfigType::choice, "", std::move(description), false, std::move(names)),
        [member, choices](const T& t) {
          for (const auto& c : choices)
            if (c.second == t.*member) return c.first;
          return std::string();
        },
        [member, choices](T& t, const std::string& text) {
          for (const auto& c : choices)
            if (c.first == text) t.*member = c.second;
        });
  }
  /// Every key of `inner`, bound through the member `outer`: a section that is a nested
  /// struct's keys (plus its own).
  template <class N>
  ConfigBinding& include(N T::*outer, const ConfigBinding<N>& inner) {
    for (const auto& e : inner.entries_) {
      Entry wrapped{e.key, [outer, get = e.get](const T& t) { return get(t.*outer); },
                    [outer, set = e.set](T& t, const std::string& s) { set(t.*outer, s); }};
      if (!wrapped.key.required) wrapped.key.default_value = wrapped.get(T{});
      entries_.push_back(std::move(wrapped));
    }
    table_ = std::make_shared<const ConfigTable>(component_, keys());
    return *this;
  }
  /// Any key, with its own conversions (for a member that is not one of the plain types).
  ConfigBinding& bind(ConfigKey key, Getter get, Setter set) {
    if (key.default_value.empty()) key.default_value = get(T{});
    entries_.push_back({std::move(key), std::move(get), std::move(set)});
    table_ = std::make_shared<const ConfigTable>(component_, keys());
    return *this;
  }

  /// The table: names, types, defaults (from T{}), limits and descriptions.
  const ConfigTable& table() const { return *table_; }
  /// Sets the members of every key `values` holds (validated values; defaults included).
  void apply(const ConfigValues& values, T& out) const {
    for (const auto& e : entries_)
      if (values.has(e.key.name)) e.set(out, values.text(e.key.name));
  }
  /// Validates `user` against the table, then sets the members of the keys given (the other
  /// members keep what `out` holds). Throws Error(invalid_argument) naming every problem.
  void apply_user(const std::map<std::string, std::string>& user, T& out) const {
    const auto values = table().validate(user);
    for (const auto& e : entries_)
      if (user.count(e.key.name)) e.set(out, values.text(e.key.name));
  }
  /// The members as text, key by key in table order (the effective configuration).
  std::vector<std::pair<std::string, std::string>> values(const T& t) const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& e : entries_) out.emplace_back(e.key.name, e.get(t));
    return out;
  }

 private:
  template <class U>
  friend class ConfigBinding;
  struct Entry {
    ConfigKey key;
    Getter get;
    Setter set;
  };

  std::vector<ConfigKey> keys() const {
    std::vector<ConfigKey> out;
    for (const auto& e : entries_) out.push_back(e.key);
    return out;
  }

  template <class M, class CRef, class Ref>
  ConfigBinding& add_ref(const std::string& name, CRef cref, Ref ref, std::string description, ConfigLimits limits) {
    ConfigType type = ConfigType::string;
    Getter get;
    Setter set;
    if constexpr (std::is_same_v<M, std::string> || std::is_same_v<M, std::filesystem::path>) {
      get = [cref](const T& t) { return std::string(cref(t)); };
      set = [ref](T& t, const std::string& s) { ref(t) = s; };
    } else if constexpr (std::is_same_v<M, bool>) {
      type = ConfigType::boolean;
      get = [cref](const T& t) { return std::string(cref(t) ? "true" : "false"); };
      set = [ref](T& t, const std::string& s) { ref(t) = detail::config_boolean(s); };
    } else if constexpr (std::is_integral_v<M>) {
      type = ConfigType::integer;
      if (!limits.min && std::is_unsigned_v<M>) limits.min = 0;
      get = [cref](const T& t) { return std::to_string(cref(t)); };
      set = [ref](T& t, const std::string& s) { ref(t) = static_cast<M>(detail::config_integer(s)); };
    } else if constexpr (std::is_floating_point_v<M>) {
      type = ConfigType::real;
      get = [cref](const T& t) { return detail::config_real_text(static_cast<double>(cref(t))); };
      set = [ref](T& t, const std::string& s) { ref(t) = static_cast<M>(detail::config_real(s)); };
    } else if constexpr (std::is_same_v<M, std::vector<std::string>>) {
      type = ConfigType::list;
      get = [cref](const T& t) { return detail::config_list_text(cref(t)); };
      set = [ref](T& t, const std::string& s) { ref(t) = detail::config_list(s); };
    } else {
      // A std::chrono::duration: the text is converted through milliseconds.
      type = ConfigType::duration;
      if (!limits.min) limits.min = 0;
      get = [cref](const T& t) {
        return detail::config_duration_text(
            static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(cref(t)).count()));
      };
      set = [ref](T& t, const std::string& s) {
        ref(t) = std::chrono::duration_cast<M>(std::chrono::milliseconds(detail::config_duration_ms(s)));
      };
    }
    ConfigKey key(name, type, "", std::move(description), limits.required);
    key.min = limits.min;
    key.max = limits.max;
    if (!limits.required) key.default_value = get(T{});
    entries_.push_back({std::move(key), std::move(get), std::move(set)});
    table_ = std::make_shared<const ConfigTable>(component_, keys());
    return *this;
  }

  std::string component_;
  std::vector<Entry> entries_;
  std::shared_ptr<const ConfigTable> table_ = std::make_shared<const ConfigTable>(component_, std::vector<ConfigKey>{});
};

}  // namespace wis2mon
