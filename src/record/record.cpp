#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>

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

Record& Record::set(std::string_view name, FieldValue value) {
  for (auto& f : fields_)
    if (f.name == name) {
      f.value = std::move(value);
      return *this;
    }
  fields_.push_back({std::string(name), std::move(value)});
  return *this;
}

const FieldValue* Record::get(std::string_view name) const noexcept {
  for (const auto& f : fields_)
    if (f.name == name) return &f.value;
  return nullptr;
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
      const auto s = format_rfc3339(std::get<Timestamp>(v));
      w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
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
    w.String(table_.data(), static_cast<rapidjson::SizeType>(table_.size()));
    w.Key("fields");
    w.StartObject();
  }
  for (const auto& f : fields_) {
    w.Key(f.name.data(), static_cast<rapidjson::SizeType>(f.name.size()));
    write_value(w, f.value);
  }
  if (include_table) w.EndObject();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

bool operator==(const Record& a, const Record& b) {
  if (a.table_ != b.table_ || a.fields_.size() != b.fields_.size()) return false;
  for (std::size_t i = 0; i < a.fields_.size(); ++i)
    if (a.fields_[i].name != b.fields_[i].name || a.fields_[i].value != b.fields_[i].value) return false;
  return true;
}

}  // namespace wis2mon
