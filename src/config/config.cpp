#include "wis2mon/config.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>

#include "common/text.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon {

const char* to_string(ConfigType t) noexcept {
  switch (t) {
    case ConfigType::string:
      return "string";
    case ConfigType::integer:
      return "integer";
    case ConfigType::real:
      return "number";
    case ConfigType::boolean:
      return "boolean";
    case ConfigType::duration:
      return "duration";
    case ConfigType::choice:
      return "choice";
    case ConfigType::list:
      return "list";
  }
  return "unknown";
}

namespace {

std::optional<std::int64_t> parse_integer(std::string_view s) {
  std::int64_t v = 0;
  const auto* end = s.data() + s.size();
  const auto r = std::from_chars(s.data(), end, v);
  if (s.empty() || r.ec != std::errc() || r.ptr != end) return std::nullopt;
  return v;
}

std::optional<double> parse_real(std::string_view s) {
  if (s.empty()) return std::nullopt;
  try {
    std::size_t used = 0;
    const double v = std::stod(std::string(s), &used);
    if (used != s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<bool> parse_boolean(std::string_view s) {
  const auto l = detail::ascii_lower(s);
  if (l == "true" || l == "yes" || l == "on" || l == "1") return true;
  if (l == "false" || l == "no" || l == "off" || l == "0") return false;
  return std::nullopt;
}

std::optional<std::int64_t> parse_duration_ms(std::string_view s) {
  std::size_t digits = 0;
  while (digits < s.size() && (std::isdigit(static_cast<unsigned char>(s[digits])) || s[digits] == '.')) ++digits;
  const auto number = parse_real(s.substr(0, digits));
  if (!number || *number < 0) return std::nullopt;
  const auto unit = s.substr(digits);
  double factor = 0;
  if (unit == "ms")
    factor = 1;
  else if (unit.empty() || unit == "s")  // a bare number is seconds, as in every API
    factor = 1e3;
  else if (unit == "m" || unit == "min")
    factor = 60e3;
  else if (unit == "h")
    factor = 3600e3;
  else if (unit == "d")
    factor = 86400e3;
  else
    return std::nullopt;
  const double ms = *number * factor;
  if (ms > 9.0e15) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(ms));
}

std::string duration_text(std::int64_t ms) {
  if (ms == 0) return "0";
  static const std::pair<std::int64_t, const char*> units[] = {
      {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
  for (const auto& [size, name] : units)
    if (ms % size == 0) return std::to_string(ms / size) + name;
  return std::to_string(ms) + "ms";
}

// Empty when the text is a valid value of the key's type, else what is wrong.
std::string check_value(const ConfigKey& key, const std::string& value) {
  switch (key.type) {
    case ConfigType::string:
    case ConfigType::list:
      return {};
    case ConfigType::integer: {
      const auto v = parse_integer(value);
      if (!v) return "is not an integer";
      if (key.min && *v < *key.min) return "is below the minimum " + std::to_string(*key.min);
      if (key.max && *v > *key.max) return "is above the maximum " + std::to_string(*key.max);
      return {};
    }
    case ConfigType::real:
      return parse_real(value) ? "" : "is not a number";
    case ConfigType::boolean:
      return parse_boolean(value) ? "" : "is not a boolean (true/false)";
    case ConfigType::duration: {
      const auto v = parse_duration_ms(value);
      if (!v) return "is not a duration (e.g. 500ms, 5s, 2m, 1h, 7d, or a number of seconds)";
      if (key.min && *v < *key.min) return "is shorter than " + duration_text(*key.min);
      if (key.max && *v > *key.max) return "is longer than " + duration_text(*key.max);
      return {};
    }
    case ConfigType::choice: {
      if (std::find(key.choices.begin(), key.choices.end(), value) != key.choices.end()) return {};
      std::string m = "is not one of";
      for (const auto& c : key.choices) m += " " + c;
      return m;
    }
  }
  return {};
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

ConfigTable::ConfigTable(std::string component, std::vector<ConfigKey> keys)
    : component_(std::move(component)), keys_(std::move(keys)) {
  for (const auto& k : keys_)
    if (!k.default_value.empty() && !check_value(k, k.default_value).empty())
      throw Error(ErrorCode::internal, component_ + "." + k.name + ": bad default '" + k.default_value + "'");
}

const ConfigKey* ConfigTable::find(std::string_view name) const noexcept {
  for (const auto& k : keys_)
    if (k.name == name) return &k;
  return nullptr;
}

ConfigValues ConfigTable::validate(const std::map<std::string, std::string>& user) const {
  std::vector<std::string> problems;
  for (const auto& [name, value] : user) {
    const auto* key = find(name);
    if (!key) {
      std::string m = "unknown key '" + name + "'";
      const ConfigKey* best = nullptr;
      std::size_t best_d = 3;
      for (const auto& k : keys_)
        if (const auto d = edit_distance(name, k.name); d < best_d) best = &k, best_d = d;
      if (best) m += " (did you mean '" + best->name + "'?)";
      problems.push_back(m);
    } else if (auto why = check_value(*key, value); !why.empty()) {
      problems.push_back(name + ": '" + value + "' " + why);
    }
  }
  ConfigValues out;
  for (const auto& k : keys_) {
    out.order_.push_back(k.name);
    if (const auto it = user.find(k.name); it != user.end())
      out.values_[k.name] = it->second;
    else if (!k.default_value.empty())
      out.values_[k.name] = k.default_value;
    else if (k.required)
      problems.push_back(k.name + ": required");
  }
  if (!problems.empty()) {
    std::string m = component_ + " configuration: ";
    for (std::size_t i = 0; i < problems.size(); ++i) m += (i ? "; " : "") + problems[i];
    throw Error(ErrorCode::invalid_argument, m);
  }
  return out;
}

std::string ConfigTable::help() const {
  std::string out;
  for (const auto& k : keys_) {
    out += "  " + k.name + " (" + to_string(k.type);
    if (k.type == ConfigType::choice) {
      out += ":";
      for (const auto& c : k.choices) out += " " + c;
    }
    out += k.required ? ", required" : k.default_value.empty() ? "" : ", default " + k.default_value;
    out += ")  " + k.description + "\n";
  }
  return out;
}

bool ConfigValues::has(std::string_view name) const {
  return values_.find(name) != values_.end();
}

const std::string& ConfigValues::text(std::string_view name) const {
  static const std::string empty;
  const auto it = values_.find(name);
  return it == values_.end() ? empty : it->second;
}

std::int64_t ConfigValues::integer(std::string_view name) const {
  return parse_integer(text(name)).value_or(0);
}

double ConfigValues::real(std::string_view name) const {
  return parse_real(text(name)).value_or(0);
}

bool ConfigValues::boolean(std::string_view name) const {
  return parse_boolean(text(name)).value_or(false);
}

std::int64_t ConfigValues::duration_ms(std::string_view name) const {
  return parse_duration_ms(text(name)).value_or(0);
}

std::vector<std::string> ConfigValues::list(std::string_view name) const {
  return detail::config_list(text(name));
}

std::string ConfigValues::dump() const {
  std::string out;
  for (const auto& name : order_)
    if (const auto it = values_.find(name); it != values_.end()) out += name + " = " + it->second + "\n";
  return out;
}

std::string ConfigTable::markdown() const {
  const auto cell = [](std::string s) {
    std::string out;
    for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
    return out;
  };
  std::string out = "| key | type | default | description |\n|---|---|---|---|\n";
  for (const auto& k : keys_) {
    std::string type = to_string(k.type);
    if (k.type == ConfigType::choice) {
      type += ":";
      for (std::size_t i = 0; i < k.choices.size(); ++i) type += (i ? ", " : " ") + k.choices[i];
    }
    std::string limits;
    const auto bound = [&](std::int64_t v) {
      return k.type == ConfigType::duration ? duration_text(v) : std::to_string(v);
    };
    if (k.min && k.max)
      limits = " (" + bound(*k.min) + " to " + bound(*k.max) + ")";
    else if (k.min && *k.min > 0)
      limits = " (at least " + bound(*k.min) + ")";
    else if (k.max)
      limits = " (at most " + bound(*k.max) + ")";
    const std::string def = k.required ? "required" : k.default_value.empty() ? "" : "`" + k.default_value + "`";
    out += "| `" + k.name + "` | " + cell(type) + limits + " | " + cell(def) + " | " + cell(k.description) + " |\n";
  }
  return out;
}

namespace detail {

std::int64_t config_integer(const std::string& text) {
  return parse_integer(text).value_or(0);
}

double config_real(const std::string& text) {
  return parse_real(text).value_or(0);
}

bool config_boolean(const std::string& text) {
  return parse_boolean(text).value_or(false);
}

std::int64_t config_duration_ms(const std::string& text) {
  return parse_duration_ms(text).value_or(0);
}

std::vector<std::string> config_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    const auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string config_duration_text(std::int64_t ms) {
  return duration_text(ms);
}

std::string config_real_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

std::string config_list_text(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
  return out;
}

}  // namespace detail

}  // namespace wis2mon
