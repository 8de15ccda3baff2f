#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "common/time_text.hpp"
#include "wis2mon/error.hpp"
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

namespace {
RecordSchemaPtr schema_or_empty(RecordSchemaPtr schema) {
  return schema ? std::move(schema) : std::make_shared<RecordSchema>(std::string(), std::vector<std::string>{});
}
}  // namespace

Record::Record(std::string table)
    : block_(std::make_shared<detail::ValueBlock>(
          detail::ValueBlock{std::make_shared<RecordSchema>(std::move(table), std::vector<std::string>{}), {}})),
      owns_schema_(true) {}

Record::Record(RecordSchemaPtr schema)
    : block_(std::make_shared<detail::ValueBlock>(detail::ValueBlock{schema_or_empty(std::move(schema)), {}})) {
  block_->values.resize(block_->schema->size());
  data_ = block_->values.data();
  size_ = block_->values.size();
}

Record::Record(RecordSchemaPtr schema, std::vector<FieldValue> values) {
  schema = schema_or_empty(std::move(schema));
  if (values.size() != schema->size())
    throw std::invalid_argument("Record: " + std::to_string(values.size()) + " values for a schema of " +
                                std::to_string(schema->size()) + " fields");
  block_ = std::make_shared<detail::ValueBlock>(detail::ValueBlock{std::move(schema), std::move(values)});
  data_ = block_->values.data();
  size_ = block_->values.size();
}

Record::Record(const Record& other) : owns_schema_(other.owns_schema_) {
  if (!other.block_) return;  // moved-from
  block_ = std::make_shared<detail::ValueBlock>(
      detail::ValueBlock{other.block_->schema, std::vector<FieldValue>(other.data_, other.data_ + other.size_)});
  data_ = block_->values.data();
  size_ = other.size_;
}

Record::Record(Record&& other) noexcept
    : block_(std::move(other.block_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      owns_schema_(other.owns_schema_) {}

Record& Record::operator=(const Record& other) {
  if (this != &other) *this = Record(other);
  return *this;
}

Record& Record::operator=(Record&& other) noexcept {
  if (this != &other) {
    block_ = std::move(other.block_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    owns_schema_ = other.owns_schema_;
  }
  return *this;
}

// The values die with the block: alone in it, this record takes them along; in a batch
// block, they go when the batch's last record does.
Record::~Record() = default;

// Before its schema or value count changes, a record needs a block holding exactly its own
// values: a slice of a batch block (this record's alone) moves into a block of its own.
void Record::own_block() {
  if (block_.use_count() == 1 && block_->values.data() == data_ && block_->values.size() == size_) return;
  auto own = std::make_shared<detail::ValueBlock>();
  own->schema = block_->schema;
  own->values.reserve(size_ + 1);
  for (std::size_t i = 0; i < size_; ++i) own->values.push_back(std::move(data_[i]));
  block_ = std::move(own);
  data_ = block_->values.data();
}

// Appending a name changes the schema: edit it in place when only this record holds it,
// otherwise take a private copy first (records sharing the old schema keep theirs).
RecordSchema& Record::own_schema() {
  own_block();
  if (!owns_schema_ || block_->schema.use_count() != 1) {
    block_->schema = std::make_shared<RecordSchema>(*block_->schema);
    owns_schema_ = true;
  }
  return const_cast<RecordSchema&>(*block_->schema);
}

Record& Record::set(std::string_view name, FieldValue value) {
  if (const auto i = block_->schema->index_of(name)) {
    data_[*i] = std::move(value);
    return *this;
  }
  return add(name, std::move(value));
}

Record& Record::add(std::string_view name, FieldValue value) {
  own_schema().names_.emplace_back(name);  // the block is this record's own from here
  auto& values = block_->values;
  values.push_back(std::move(value));
  data_ = values.data();
  size_ = values.size();
  return *this;
}

const FieldValue* Record::get(std::string_view name) const noexcept {
  const auto i = block_->schema->index_of(name);
  return i ? &data_[*i] : nullptr;
}

RecordBatch::RecordBatch(RecordSchemaPtr schema, std::size_t rows)
    : schema_(schema_or_empty(std::move(schema))), rows_(std::max<std::size_t>(rows, 1)) {}

// Rows are slices of a block reserved for `rows` rows; each row is made null as it is handed
// out, so it is still in cache when it is filled. A full block is left to the records pointing
// into it and a new one started: a block never reallocates under its records.
FieldValue* RecordBatch::next_row() {
  if (row_) return row_;
  const std::size_t n = schema_->size();
  if (!block_ || block_->values.size() + n > block_->values.capacity()) {
    block_ = std::make_shared<detail::ValueBlock>(detail::ValueBlock{schema_, {}});
    block_->values.reserve(rows_ * std::max<std::size_t>(n, 1));
  }
  auto& values = block_->values;
  values.resize(values.size() + n);
  row_ = values.data() + values.size() - n;
  return row_;
}

void RecordBatch::finish_row(std::vector<Record>& out) {
  const std::size_t n = schema_->size();
  FieldValue* row = next_row();
  out.push_back(Record(block_, n ? row : nullptr, n));
  row_ = nullptr;
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
    write_value(w, data_[i]);
  }
  if (include_table) w.EndObject();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

Record Record::from_json(const std::string& table, std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) throw Error(ErrorCode::parse, "record JSON: not a JSON object");
  Record r(table);
  const rapidjson::Value& object = doc;
  for (const auto& m : object.GetObject()) {
    const std::string_view name(m.name.GetString(), m.name.GetStringLength());
    const auto& v = m.value;
    if (v.IsString()) {
      std::string text(v.GetString(), v.GetStringLength());
      // Only the exact text to_json writes for a time: other strings stay strings.
      std::optional<Timestamp> t;
      if (text.size() >= 20 && text.size() < detail::rfc3339_buffer_size && text.back() == 'Z') {
        t = parse_rfc3339(text);
        char canonical[detail::rfc3339_buffer_size];
        if (t && std::string_view(canonical, detail::format_rfc3339_into(*t, canonical)) != text) t.reset();
      }
      if (t)
        r.add(name, *t);
      else
        r.add(name, std::move(text));
    } else if (v.IsBool()) {
      r.add(name, v.GetBool());
    } else if (v.IsInt64()) {
      r.add(name, v.GetInt64());
    } else if (v.IsNumber()) {
      r.add(name, v.GetDouble());
    } else {
      r.add(name, FieldValue());
    }
  }
  return r;
}

bool operator==(const Record& a, const Record& b) {
  if (a.size_ != b.size_) return false;
  for (std::size_t i = 0; i < a.size_; ++i)
    if (a.data_[i] != b.data_[i]) return false;
  const auto& sa = a.block_->schema;
  const auto& sb = b.block_->schema;
  return sa == sb || (sa->table() == sb->table() && sa->names() == sb->names());
}

}  // namespace wis2mon
