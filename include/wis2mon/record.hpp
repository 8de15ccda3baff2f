// Record: what decoders produce and sinks consume. A table name and ordered, typed fields.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "wis2mon/export.hpp"
#include "wis2mon/time.hpp"

namespace wis2mon {

/// A field value: null, bool, int64, double, string or time.
using FieldValue = std::variant<std::monostate, bool, std::int64_t, double, std::string, Timestamp>;

enum class FieldType { null, boolean, integer, real, string, time };

/// The type held by a value.
WIS2MON_API FieldType type_of(const FieldValue& v) noexcept;
WIS2MON_API const char* to_string(FieldType t) noexcept;

struct Field {
  std::string name;
  FieldValue value;
};

class WIS2MON_API Record {
 public:
  explicit Record(std::string table) : table_(std::move(table)) {}

  const std::string& table() const noexcept { return table_; }
  const std::vector<Field>& fields() const noexcept { return fields_; }

  /// Sets a field: replaces the value if the name exists, else appends (order is kept).
  Record& set(std::string_view name, FieldValue value);
  /// Appends a field without looking for an existing one of that name (for decoders that
  /// build records with known, distinct names; use set() otherwise).
  Record& add(std::string_view name, FieldValue value) {
    fields_.push_back({std::string(name), std::move(value)});
    return *this;
  }
  void reserve(std::size_t fields) { fields_.reserve(fields); }
  /// The value of a field, or nullptr.
  const FieldValue* get(std::string_view name) const noexcept;

  /// JSON object of the fields in order: {"name": value, ...}. Times are RFC 3339 UTC
  /// strings; non-finite doubles are null. With include_table: {"table": ..., "fields": {...}}.
  std::string to_json(bool include_table = false) const;

  friend bool operator==(const Record& a, const Record& b);

 private:
  std::string table_;
  std::vector<Field> fields_;
};

}  // namespace wis2mon
