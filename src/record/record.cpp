#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <stdexcept>

#include "common/time_text.hpp"
#include "wis2mon/record.hpp"

namespace wis2mon {

FieldType type_of(const FieldValue& v) noexcept {
  return static_cast<FieldType>(v.index());
}

const char* to_string(FieldType t) noexcept {
  switch (t) {
    case FieldType::null:
      return "null";
    case FieldType::boolean:
      return "boolean";
    case FieldType::integer:
      return "integer";
    case FieldType::real:
      return "real";
    case FieldType::string:
      return "string";
    case FieldType::time:
      return "time";
  }
  return "unknown";
}

std::optional<std::size_t> RecordSchema::index_of(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return i;
  return std::nullopt;
}

Record::Record(std::string table)
    : schema_(std::make_shared<RecordSchema>(std::move(table), std::vector<std::string>{})), owns_schema_(true) {}

Record::Record(RecordSchemaPtr schema) : schema_(std::move(schema)) {
  if (!schema_) schema_ = std::make_shared<RecordSchema>(std::string(), std::vector<std::string>{});
  values_.resize(schema_->size());
}

Record::Record(RecordSchemaPtr schema, std::vector<FieldValue> values)
    : schema_(std::move(schema)), values_(std::move(values)) {
  if (!schema_) schema_ = std::make_shared<RecordSchema>(std::string(), std::vector<std::string>{});
  if (values_.size() != schema_->size())
    throw std::invalid_argument("Record: " + std::to_string(values_.size()) + " values for a schema of " +
                                std::to_string(schema_->size()) + " fields");
}

// Appending a name changes the schema: edit it in place when only this record holds it,
// otherwise take a private copy first (records sharing the old schema keep theirs).
RecordSchema& Record::own_schema() {
  if (!owns_schema_ || schema_.use_count() != 1) {
    schema_ = std::make_shared<RecordSchema>(*schema_);
    owns_schema_ = true;
  }
  return const_cast<RecordSchema&>(*schema_);
}

Record& Record::set(std::string_view name, FieldValue value) {
  if (const auto i = schema_->index_of(name)) {
    values_[*i] = std::move(value);
    return *this;
  }
  return add(name, std::move(value));
}

Record& Record::add(std::string_view name, FieldValue value) {
  own_schema().names_.emplace_back(name);
  values_.push_back(std::move(value));
  return *this;
}

const FieldValue* Record::get(std::string_view name) const noexcept {
  const auto i = schema_->index_of(name);
  return i ? &values_[*i] : nullptr;
}

namespace {
template <typename Writer>
void write_value(Writer& w, const FieldValue& v) {
  switch (type_of(v)) {
    case FieldType::null:
      w.Null();
      break;
    case FieldType::boolean:
      w.Bool(std::get<bool>(v));
      break;
    case FieldType::integer:
      w.Int64(std::get<std::int64_t>(v));
      break;
    case FieldType::real: {
      const double d = std::get<double>(v);
      if (std::isfinite(d))
        w.Double(d);
      else
        w.Null();
      break;
    }
    case FieldType::string: {
      const auto& s = std::get<std::string>(v);
      w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      break;
    }
    case FieldType::time: {
      char text[detail::rfc3339_buffer_size];
      const auto n = detail::format_rfc3339_into(std::get<Timestamp>(v), text);
      w.String(text, static_cast<rapidjson::SizeType>(n));
      break;
    }
  }
}
}  // namespace

std::string Record::to_json(bool include_table) const {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  if (include_table) {
    w.Key("table");
    w.String(table().data(), static_cast<rapidjson::SizeType>(table().size()));
    w.Key("fields");
    w.StartObject();
  }
  for (std::size_t i = 0; i < size(); ++i) {
    const auto& n = name(i);
    w.Key(n.data(), static_cast<rapidjson::SizeType>(n.size()));
    write_value(w, values_[i]);
  }
  if (include_table) w.EndObject();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

bool operator==(const Record& a, const Record& b) {
  if (a.values_ != b.values_) return false;
  return a.schema_ == b.schema_ || (a.table() == b.table() && a.schema_->names() == b.schema_->names());
}

}  // namespace wis2mon
