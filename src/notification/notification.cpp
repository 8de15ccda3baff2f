// The read-only Notification model and the validation report.
#include "wis2mon/notification.hpp"

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

const RecordSchemaPtr& notifications_schema() {
  static const RecordSchemaPtr schema = std::make_shared<const RecordSchema>(
      "notifications",
      std::vector<std::string>{"id", "data_id", "metadata_id", "pubtime", "datetime", "topic", "centre_id", "valid",
                               "errors", "href", "size", "source", "received_at"},
      SchemaHints{{"data_id"}, "pubtime", {"centre_id", "topic"}, {{"centre_id", "pubtime"}, {"pubtime"}}});
  return schema;
}

}  // namespace wis2mon
