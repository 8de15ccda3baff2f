// The read-only Notification model and the validation report.
#include "wis2mon/notification.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>

#include "common/encoding.hpp"
#include "notification/relations.hpp"

namespace wis2mon {

bool ValidationReport::has(std::string_view rule, bool include_warnings) const noexcept {
  for (const auto& e : errors_)
    if (e.rule == rule) return true;
  if (include_warnings)
    for (const auto& w : warnings_)
      if (w.rule == rule) return true;
  return false;
}

void ValidationReport::add_error(std::string path, std::string rule, std::string message) {
  errors_.push_back({std::move(path), std::move(rule), std::move(message)});
}

void ValidationReport::add_warning(std::string path, std::string rule, std::string message) {
  warnings_.push_back({std::move(path), std::move(rule), std::move(message)});
}

std::optional<std::string_view> Notification::extra_property(std::string_view name) const noexcept {
  for (const auto& p : extra_properties_)
    if (p.name == name) return p.json;
  return std::nullopt;
}

const char* to_string(Operation op) noexcept {
  switch (op) {
    case Operation::new_data:
      return "new";
    case Operation::update:
      return "update";
    case Operation::deletion:
      return "deletion";
    case Operation::unknown:
      break;
  }
  return "unknown";
}

using detail::is_deletion_rel;
using detail::is_update_rel;

Operation Notification::operation() const noexcept {
  for (const auto& l : links_)
    if (is_deletion_rel(l.rel)) return Operation::deletion;
  for (const auto& l : links_)
    if (is_update_rel(l.rel)) return Operation::update;
  for (const auto& l : links_)
    if (l.rel == "canonical") return Operation::new_data;
  return Operation::unknown;
}

const Link* Notification::data_link() const noexcept {
  for (const auto& l : links_)
    if (l.rel == "canonical") return &l;
  for (const auto& l : links_)
    if (is_update_rel(l.rel)) return &l;
  return nullptr;
}

std::string to_json(const ValidationReport& report, std::string_view first_key, std::string_view first_value) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  const auto str = [&w](std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); };
  const auto issues = [&](const std::vector<ValidationIssue>& list) {
    w.StartArray();
    for (const auto& i : list) {
      w.StartObject();
      w.Key("path");
      str(i.path);
      w.Key("rule");
      str(i.rule);
      w.Key("message");
      str(i.message);
      w.EndObject();
    }
    w.EndArray();
  };
  w.StartObject();
  if (!first_key.empty()) {
    str(first_key);
    // The value may be what failed validation (a topic with a 0xFF byte): the JSON stays valid.
    str(detail::is_valid_utf8(first_value) ? std::string(first_value) : detail::to_valid_utf8(first_value));
  }
  w.Key("valid");
  w.Bool(report.valid());
  w.Key("errors");
  issues(report.errors());
  w.Key("warnings");
  issues(report.warnings());
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

namespace {
FieldValue text_value(std::string_view s) {
  return s.empty() ? FieldValue() : FieldValue(std::string(s));
}
FieldValue time_value(const std::optional<Timestamp>& t) {
  return t ? FieldValue(*t) : FieldValue();
}
}  // namespace

const std::vector<NotificationField>& notification_fields() {
  static const std::vector<NotificationField> fields = {
      {"id", [](const Notification& n) { return text_value(n.id()); }},
      {"data_id", [](const Notification& n) { return text_value(n.data_id()); }},
      {"metadata_id", [](const Notification& n) { return text_value(n.metadata_id()); }},
      {"pubtime", [](const Notification& n) { return time_value(n.pubtime()); }},
      {"datetime", [](const Notification& n) { return time_value(n.datetime()); }},
      {"start_datetime", [](const Notification& n) { return time_value(n.start_datetime()); }},
      {"end_datetime", [](const Notification& n) { return time_value(n.end_datetime()); }},
      {"producer", [](const Notification& n) { return text_value(n.producer()); }},
      {"global_cache", [](const Notification& n) { return text_value(n.global_cache()); }},
      {"data_url",
       [](const Notification& n) { return n.data_link() ? text_value(n.data_link()->href) : FieldValue(); }},
      {"integrity_method",
       [](const Notification& n) { return n.integrity() ? text_value(n.integrity()->method) : FieldValue(); }},
      {"integrity_value",
       [](const Notification& n) { return n.integrity() ? text_value(n.integrity()->value) : FieldValue(); }},
      {"content_encoding",
       [](const Notification& n) { return n.content() ? text_value(n.content()->encoding) : FieldValue(); }},
      {"operation",
       [](const Notification& n) {
         return n.operation() == Operation::unknown ? FieldValue() : FieldValue(std::string(to_string(n.operation())));
       }},
  };
  return fields;
}

const NotificationField* find_notification_field(std::string_view name) {
  for (const auto& f : notification_fields())
    if (name == f.name) return &f;
  return nullptr;
}

std::optional<std::string> field_text(const FieldValue& v) {
  switch (type_of(v)) {
    case FieldType::null:
      return std::nullopt;
    case FieldType::boolean:
      return std::string(std::get<bool>(v) ? "true" : "false");
    case FieldType::integer:
      return std::to_string(std::get<std::int64_t>(v));
    case FieldType::real: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", std::get<double>(v));
      return std::string(buf);
    }
    case FieldType::string:
      return std::get<std::string>(v);
    case FieldType::time:
      return format_rfc3339(std::get<Timestamp>(v));
  }
  return std::nullopt;
}

const RecordSchemaPtr& notifications_schema() {
  static const RecordSchemaPtr schema = std::make_shared<const RecordSchema>(
      "notifications",
      std::vector<std::string>{"id", "data_id", "metadata_id", "pubtime", "datetime", "topic", "centre_id", "valid",
                               "errors", "href", "size", "source", "received_at"},
      SchemaHints{{"data_id"}, "pubtime", {"centre_id", "topic"}, {{"centre_id", "pubtime"}, {"pubtime"}}, "valid"});
  return schema;
}

}  // namespace wis2mon
