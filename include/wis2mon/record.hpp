// Record: what decoders produce and sinks consume. A table name and ordered, typed fields.
//
// The table name and field names live in a RecordSchema that many records share (every
// surface_obs record a decoder makes points at one schema), so a record carries only its
// values, and a sink can prepare one statement per schema instead of comparing names per row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
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

/// A table name and its ordered field names. Immutable once shared.
class WIS2MON_API RecordSchema {
 public:
  RecordSchema(std::string table, std::vector<std::string> names)
      : table_(std::move(table)), names_(std::move(names)) {}

  const std::string& table() const noexcept { return table_; }
  const std::vector<std::string>& names() const noexcept { return names_; }
  std::size_t size() const noexcept { return names_.size(); }
  /// Position of a field name, or nullopt.
  std::optional<std::size_t> index_of(std::string_view name) const noexcept;

 private:
  friend class Record;
  std::string table_;
  std::vector<std::string> names_;
};

using RecordSchemaPtr = std::shared_ptr<const RecordSchema>;

/// One field seen through a record: its name (from the schema) and its value.
struct FieldRef {
  const std::string& name;
  const FieldValue& value;
};

class WIS2MON_API Record {
 public:
  /// An empty record with a schema of its own; fields are added with set() or add().
  explicit Record(std::string table);
  /// A record of a shared schema with every value null; fill it with value(i) = ...
  explicit Record(RecordSchemaPtr schema);
  /// A record of a shared schema with its values, one per schema field in order (a decoder
  /// building many records fills a vector once instead of assigning over nulls).
  /// Throws std::invalid_argument when the counts differ.
  Record(RecordSchemaPtr schema, std::vector<FieldValue> values);

  const std::string& table() const noexcept { return schema_->table(); }
  const RecordSchemaPtr& schema() const noexcept { return schema_; }
  std::size_t size() const noexcept { return values_.size(); }
  const std::string& name(std::size_t i) const { return schema_->names()[i]; }
  const FieldValue& value(std::size_t i) const { return values_[i]; }
  FieldValue& value(std::size_t i) { return values_[i]; }
  const std::vector<FieldValue>& values() const noexcept { return values_; }

  /// Sets a field: replaces the value if the name exists, else appends (order is kept).
  Record& set(std::string_view name, FieldValue value);
  /// Appends a field without looking for an existing one of that name (use set() unless
  /// the names are known to be distinct).
  Record& add(std::string_view name, FieldValue value);
  /// The value of a field, or nullptr.
  const FieldValue* get(std::string_view name) const noexcept;

  /// The fields in order, as (name, value) pairs: for (const auto& f : r.fields()) ...
  class Fields {
   public:
    class iterator {
     public:
      using iterator_category = std::forward_iterator_tag;
      using value_type = FieldRef;
      using difference_type = std::ptrdiff_t;
      using pointer = void;
      using reference = FieldRef;
      iterator(const Record* r, std::size_t i) : r_(r), i_(i) {}
      FieldRef operator*() const { return {r_->name(i_), r_->value(i_)}; }
      iterator& operator++() {
        ++i_;
        return *this;
      }
      iterator operator++(int) {
        auto old = *this;
        ++i_;
        return old;
      }
      bool operator==(const iterator& o) const { return i_ == o.i_; }
      bool operator!=(const iterator& o) const { return i_ != o.i_; }

     private:
      const Record* r_;
      std::size_t i_;
    };
    explicit Fields(const Record* r) : r_(r) {}
    iterator begin() const { return {r_, 0}; }
    iterator end() const { return {r_, r_->size()}; }
    std::size_t size() const noexcept { return r_->size(); }
    bool empty() const noexcept { return r_->size() == 0; }
    FieldRef operator[](std::size_t i) const { return {r_->name(i), r_->value(i)}; }

   private:
    const Record* r_;
  };
  Fields fields() const noexcept { return Fields(this); }

  /// JSON object of the fields in order: {"name": value, ...}. Times are RFC 3339 UTC
  /// strings; non-finite doubles are null. With include_table: {"table": ..., "fields": {...}}.
  std::string to_json(bool include_table = false) const;

  /// Same table, same names in the same order, equal values (schemas need not be shared).
  friend WIS2MON_API bool operator==(const Record& a, const Record& b);
  friend bool operator!=(const Record& a, const Record& b) { return !(a == b); }

 private:
  RecordSchema& own_schema();

  std::shared_ptr<const RecordSchema> schema_;
  std::vector<FieldValue> values_;
  bool owns_schema_ = false;  // schema_ was made by this record (copy-on-write when shared)
};

}  // namespace wis2mon
