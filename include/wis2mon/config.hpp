// Configuration tables: every key a component accepts is declared once (name, type, default,
// description). The same table validates user input, prints help and docs, and dumps the
// effective configuration.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "wis2mon/export.hpp"

namespace wis2mon {

enum class ConfigType {
  string,
  integer,   ///< decimal, may be negative
  real,      ///< decimal number
  boolean,   ///< true/false, yes/no, on/off, 1/0
  duration,  ///< milliseconds: "250ms", "5s", "2m", "1h", "7d", or a bare number of ms
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

}  // namespace wis2mon
