// Record: what decoders produce and sinks consume. A table name and ordered, typed fields.
//
// The table name and field names live in a RecordSchema that many records share (every
// surface_obs record a decoder makes points at one schema), so a record carries only its
// values, and a sink can prepare one statement per schema instead of comparing names per row.
//
// The values of the records a RecordBatch makes (a decoder's thousands of rows from one
// message) live in one shared allocation: one allocation per message instead of one per row,
// which also spares the allocator thousands of same-sized chunks to hand back at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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

/// What a record's producer says about its table, so that sinks need not know it: the
/// fields that identify a row, the time the record is about, the fields that label a series.
/// Sinks take them from the schema (a sink's own configuration overrides them).
struct SchemaHints {
  std::vector<std::string> key;                   ///< unique key (SQL upsert); empty: append only
  std::string time_field;                         ///< the record's time (retention, time series)
  std::vector<std::string> tags;                  ///< series labels (InfluxDB tags)
  std::vector<std::vector<std::string>> indexes;  ///< lookups worth an index (SQL)
  /// A boolean field saying the record is trustworthy: a record where it is false never
  /// replaces a stored record of the same key where it is true (SQL upsert). "" = none.
  std::string valid_field = {};
};

/// A table name, its ordered field names and its hints. Immutable once shared.
class WIS2MON_API RecordSchema {
 public:
  RecordSchema(std::string table, std::vector<std::string> names, SchemaHints hints = {})
      : table_(std::move(table)), names_(std::move(names)), hints_(std::move(hints)) {}

  const std::string& table() const noexcept { return table_; }
  const std::vector<std::string>& names() const noexcept { return names_; }
  const SchemaHints& hints() const noexcept { return hints_; }
  std::size_t size() const noexcept { return names_.size(); }
  /// Position of a field name, or nullopt.
  std::optional<std::size_t> index_of(std::string_view name) const noexcept;

 private:
  friend class Record;
  std::string table_;
  std::vector<std::string> names_;
  SchemaHints hints_;
};

using RecordSchemaPtr = std::shared_ptr<const RecordSchema>;

namespace detail {
// The schema and the values of one record, or of every record of a RecordBatch block. A
// record holds one reference (one atomic count per record, not one for the schema and one for
// the values).
struct ValueBlock {
  RecordSchemaPtr schema;
  std::vector<FieldValue> values;
};
}  // namespace detail

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
  /// A copy has storage of its own, even when the original's values live in a batch block.
  Record(const Record& other);
  Record(Record&& other) noexcept;
  Record& operator=(const Record& other);
  Record& operator=(Record&& other) noexcept;
  ~Record();

  const std::string& table() const noexcept { return block_->schema->table(); }
  const RecordSchemaPtr& schema() const noexcept { return block_->schema; }
  std::size_t size() const noexcept { return size_; }
  const std::string& name(std::size_t i) const { return block_->schema->names()[i]; }
  const FieldValue& value(std::size_t i) const { return data_[i]; }
  FieldValue& value(std::size_t i) { return data_[i]; }

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
  /// The record of to_json() (without the table wrapper) back, e.g. from a dead letter: a
  /// string in the exact form to_json gives times (RFC 3339 UTC) becomes a time again.
  /// Throws Error(parse) when `json` is not an object.
  static Record from_json(const std::string& table, std::string_view json);

  /// Same table, same names in the same order, equal values (schemas need not be shared).
  friend WIS2MON_API bool operator==(const Record& a, const Record& b);
  friend bool operator!=(const Record& a, const Record& b) { return !(a == b); }

 private:
  friend class RecordBatch;
  Record(std::shared_ptr<detail::ValueBlock> block, FieldValue* data, std::size_t size)
      : block_(std::move(block)), data_(data), size_(size) {}
  void own_block();
  RecordSchema& own_schema();

  // The schema, and the values data_[0 .. size_), which are this record's alone: in a block
  // of its own, or a slice of a batch block whose other slices belong to other records.
  // Null only in a moved-from record.
  std::shared_ptr<detail::ValueBlock> block_;
  FieldValue* data_ = nullptr;
  std::size_t size_ = 0;
  bool owns_schema_ = false;  // schema_ was made by this record (copy-on-write when shared)
};

/// Makes many records of one schema whose values share one allocation: fill each row that
/// next_row() hands out (its values start null), then finish_row(). Each record still owns
/// its values (value(i) = ... changes only that record); copying one gives the copy storage
/// of its own; the block goes when its last record does. A record kept alone keeps its whole
/// block's memory: copy it to keep just its values.
class WIS2MON_API RecordBatch {
 public:
  /// Room for `rows` records in the first block (more rows start another block).
  RecordBatch(RecordSchemaPtr schema, std::size_t rows);

  const RecordSchemaPtr& schema() const noexcept { return schema_; }

  /// The values of the next row, one per schema field, all null. Valid until finish_row();
  /// calling it again before that gives the same row.
  FieldValue* next_row();
  /// Makes the row from next_row() a record, appended to out.
  void finish_row(std::vector<Record>& out);

 private:
  RecordSchemaPtr schema_;
  std::size_t rows_;
  std::shared_ptr<detail::ValueBlock> block_;
  FieldValue* row_ = nullptr;  // the row next_row() handed out, until finish_row()
};

}  // namespace wis2mon
