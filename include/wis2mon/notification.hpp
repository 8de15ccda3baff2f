// WIS2 Notification Messages (WNM 1.x): a typed, read-only model and its validation.
//
//   auto parsed = wis2mon::Notification::parse(bytes);            // never throws
//   if (!parsed.valid()) for (auto& e : parsed.report.errors()) log(e.path, e.rule, e.message);
//   const wis2mon::Notification& n = parsed.notification;          // filled as far as possible
//
// Thread safety: parse() is reentrant; a Notification is immutable and may be shared.
// Strings are views into one buffer the Notification owns (shared by its copies), so they
// stay valid for as long as any copy of the Notification lives.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wis2mon/export.hpp"
#include "wis2mon/record.hpp"
#include "wis2mon/time.hpp"

namespace wis2mon {

/// strict: the WNM standard to the letter. lenient (the default): also accepts what real
/// WIS2 traffic sends (hex integrity values, nanosecond fractions, `version: "v04"`, both
/// canonical and update links, content.size counted in characters) and reports each of
/// those as a warning.
enum class ValidationMode { lenient, strict };

/// One finding. `path` is a JSON pointer (RFC 6901) into the message ("" = the whole
/// message); `rule` is a stable name such as "id.uuid" (see docs/validation.md).
struct ValidationIssue {
  std::string path;
  std::string rule;
  std::string message;
};

/// Errors make a message invalid; warnings do not.
class WIS2MON_API ValidationReport {
 public:
  bool valid() const noexcept { return errors_.empty(); }
  const std::vector<ValidationIssue>& errors() const noexcept { return errors_; }
  const std::vector<ValidationIssue>& warnings() const noexcept { return warnings_; }
  /// True when an error or (with include_warnings) a warning carries this rule name.
  bool has(std::string_view rule, bool include_warnings = true) const noexcept;

  void add_error(std::string path, std::string rule, std::string message);
  void add_warning(std::string path, std::string rule, std::string message);

 private:
  std::vector<ValidationIssue> errors_;
  std::vector<ValidationIssue> warnings_;
};

/// A GeoJSON position: longitude, latitude and an optional height.
struct Position {
  double lon = 0;
  double lat = 0;
  std::optional<double> height;
};

struct Geometry {
  enum class Type { none, point, polygon };
  Type type = Type::none;                    ///< none: `"geometry": null` (or missing/invalid)
  Position point;                            ///< for Type::point
  std::vector<std::vector<Position>> rings;  ///< for Type::polygon: outer ring first
};

struct Link {
  std::string_view href;
  std::string_view rel;
  std::string_view type;
  std::string_view title;
  std::optional<std::int64_t> length;
};

struct Integrity {
  std::string_view method;  ///< sha256, sha384, sha512, sha3-256, sha3-384 or sha3-512
  std::string_view value;   ///< as written: base64 (standard) or hex (seen in real traffic)
};

struct Content {
  std::string_view encoding;  ///< utf-8, base64 or gzip
  std::string_view value;     ///< as written (still encoded; JSON escapes resolved)
  std::optional<std::int64_t> size;
};

/// A member the model has no field for, kept as compact JSON text (e.g. "_comment",
/// "wigos_station_identifier"). The standard allows extra members.
struct ExtraMember {
  std::string_view name;
  std::string_view json;
};

/// What the WNM says a notification is about.
enum class Operation { unknown, new_data, update, deletion };

/// "new", "update", "deletion" or "unknown".
WIS2MON_API const char* to_string(Operation op) noexcept;

class Notification;

/// Options for Notification::parse.
struct ParseOptions {
  ValidationMode mode = ValidationMode::lenient;
  /// Decode inline content and check its size and digest against the message.
  bool verify_inline_content = true;
  /// The MQTT topic the message arrived on, if known. Used for rules that depend on it
  /// (a metadata deletion must carry metadata_id).
  std::string_view topic;
  /// Inputs larger than this are refused without parsing (the standard allows 8192 bytes).
  std::size_t max_input_bytes = 1 << 20;
  /// Extra members nested deeper than this are refused (keeps hostile input cheap).
  int max_depth = 64;
  /// A pubtime further ahead of `now` than this is a warning (rule pubtime.future, both
  /// modes: the standard sets no bound); 0: no check. See kDefaultMaxPubtimeSkew.
  std::chrono::seconds max_pubtime_skew{600};
  /// The clock pubtime is compared with (the monitor passes the arrival time); default: now.
  std::optional<Timestamp> now;
};

struct ParsedNotification;

class WIS2MON_API Notification {
 public:
  /// Parses and validates one message. Never throws on bad input and never reads out of
  /// bounds: invalid JSON or UTF-8, wrong types, huge numbers and deep nesting all end up
  /// in the report.
  static ParsedNotification parse(std::string_view bytes, const ParseOptions& options = {});

  std::string_view id() const noexcept { return id_; }
  const std::vector<std::string_view>& conforms_to() const noexcept { return conforms_to_; }
  /// The deprecated `version` member ("v04" in old traffic), empty when absent.
  std::string_view version() const noexcept { return version_; }
  std::string_view type() const noexcept { return type_; }
  const Geometry& geometry() const noexcept { return geometry_; }

  std::string_view data_id() const noexcept { return data_id_; }
  std::string_view metadata_id() const noexcept { return metadata_id_; }
  std::string_view producer() const noexcept { return producer_; }
  std::string_view global_cache() const noexcept { return global_cache_; }
  /// properties.pubtime as written, and parsed (nullopt when missing or malformed).
  std::string_view pubtime_text() const noexcept { return pubtime_text_; }
  const std::optional<Timestamp>& pubtime() const noexcept { return pubtime_; }
  const std::optional<Timestamp>& datetime() const noexcept { return datetime_; }
  const std::optional<Timestamp>& start_datetime() const noexcept { return start_datetime_; }
  const std::optional<Timestamp>& end_datetime() const noexcept { return end_datetime_; }
  const std::optional<Integrity>& integrity() const noexcept { return integrity_; }
  const std::optional<Content>& content() const noexcept { return content_; }
  /// properties.cache; true when absent, as the standard says.
  bool cache() const noexcept { return cache_; }
  const std::vector<Link>& links() const noexcept { return links_; }

  /// Top-level members beyond the standard ones.
  const std::vector<ExtraMember>& extra_members() const noexcept { return extra_members_; }
  /// Members of `properties` beyond the standard ones.
  const std::vector<ExtraMember>& extra_properties() const noexcept { return extra_properties_; }
  /// An extra property by name (compact JSON text), or nullopt.
  std::optional<std::string_view> extra_property(std::string_view name) const noexcept;

  /// Size of the message as received, in bytes.
  std::size_t size_bytes() const noexcept { return size_bytes_; }

  /// new_data (canonical link), update or deletion; unknown when no such link.
  Operation operation() const noexcept;
  /// The link to download from: the canonical link, else the update link; nullptr if none.
  const Link* data_link() const noexcept;

 private:
  friend struct NotificationBuilder;

  std::shared_ptr<const void> storage_;  // the buffer every view points into
  std::string_view id_, version_, type_;
  std::vector<std::string_view> conforms_to_;
  Geometry geometry_;
  std::string_view data_id_, metadata_id_, producer_, global_cache_, pubtime_text_;
  std::optional<Timestamp> pubtime_, datetime_, start_datetime_, end_datetime_;
  std::optional<Integrity> integrity_;
  std::optional<Content> content_;
  bool cache_ = true;
  std::vector<Link> links_;
  std::vector<ExtraMember> extra_members_, extra_properties_;
  std::size_t size_bytes_ = 0;
};

/// The result of Notification::parse: the model (as complete as the input allowed) and
/// the report. `json_ok` is false when the bytes were not a JSON object at all.
struct ParsedNotification {
  Notification notification;
  ValidationReport report;
  bool json_ok = false;

  bool valid() const noexcept { return report.valid(); }
};

/// A report as one JSON object: {"valid", "errors": [{"path", "rule", "message"}], "warnings"},
/// with `first_key`: `first_value` before them when a key is given (the CLI's "source" or
/// "topic"). What the CLI prints and the C API's report functions return.
WIS2MON_API std::string to_json(const ValidationReport& report, std::string_view first_key = {},
                                std::string_view first_value = {});

/// One flat field of a notification: its name and its value (null when the message has none;
/// times as Timestamps, pubtime included). The one projection that the monitor's
/// `notifications` records, the C API's wis2mon_notification_get and Python's Notification
/// properties read: id, data_id, metadata_id, pubtime, datetime, start_datetime,
/// end_datetime, producer, global_cache, data_url, integrity_method, integrity_value,
/// content_encoding, operation.
struct NotificationField {
  const char* name;
  FieldValue (*value)(const Notification&);
};
WIS2MON_API const std::vector<NotificationField>& notification_fields();
/// The field of that name, or nullptr.
WIS2MON_API const NotificationField* find_notification_field(std::string_view name);
/// A value as text, as the C API and Python hand fields out: strings as they are, times as
/// UTC RFC 3339, numbers in decimal, booleans true/false; nullopt for null.
WIS2MON_API std::optional<std::string> field_text(const FieldValue& value);

/// The schema of the monitor's `notifications` records, one per message: id, data_id,
/// metadata_id, pubtime, datetime, topic, centre_id, valid, errors, href, size, source,
/// received_at. Hints: key data_id, time pubtime, tags centre_id and topic.
WIS2MON_API const RecordSchemaPtr& notifications_schema();

/// Link relation names as the standard spells them; the short forms are accepted too.
inline constexpr std::string_view rel_update_uri = "http://def.wmo.int/def/rel/wnm/-/update";
inline constexpr std::string_view rel_deletion_uri = "http://def.wmo.int/def/rel/wnm/-/deletion";
/// The conformance class every WNM 1.x message declares.
inline constexpr std::string_view wnm_core_conformance = "http://wis.wmo.int/spec/wnm/1/conf/core";

}  // namespace wis2mon
