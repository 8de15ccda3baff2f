// CAP (Common Alerting Protocol) 1.2 and 1.1 alerts, parsed from memory with libxml2.
//
// Hardened: no network, no DTD loading, no external entities (an entity loader that refuses
// everything is installed for our parses), any DOCTYPE is refused, entities are never
// expanded, and input size and element depth are limited. Elements are matched by namespace,
// not prefix. Problems are reported as errors (the alert is not valid CAP) or warnings
// (valid, but worth a look); decode_cap never throws for bad input.
//
// Threads: decode_cap may be called from several threads at once.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wis2mon/export.hpp"
#include "wis2mon/notification.hpp"
#include "wis2mon/record.hpp"
#include "wis2mon/time.hpp"

namespace wis2mon {

struct CapOptions {
  std::size_t max_input_bytes = 2u * 1024u * 1024u;  ///< larger documents are refused
  int max_depth = 32;                                ///< deeper element nesting is refused
  /// strict: CAP 1.2 to the letter, so a date-time without its zone offset
  /// ("2025-11-23T10:00:00") is an error. lenient (the default): real CAP 1.1 feeds send
  /// them; it is a warning and the time is read as UTC.
  ValidationMode mode = ValidationMode::lenient;
};

/// A valueName/value pair (eventCode, parameter, geocode).
struct CapValue {
  std::string value_name;
  std::string value;
};

struct CapCircle {
  double lat = 0, lon = 0, radius_km = 0;
};

struct CapArea {
  std::string area_desc;
  std::vector<std::vector<std::array<double, 2>>> polygons;  ///< each a closed ring of [lat, lon]
  std::vector<CapCircle> circles;
  std::vector<CapValue> geocodes;
  std::optional<double> altitude, ceiling;  ///< feet, as written
};

struct CapInfo {
  std::string language = "en-US";  ///< the CAP default when <language> is absent
  std::vector<std::string> category;
  std::string event;
  std::vector<std::string> response_type;
  std::string urgency, severity, certainty;
  std::optional<std::string> audience;
  std::vector<CapValue> event_codes;
  std::optional<std::string> effective, onset, expires;  ///< as written
  std::optional<std::string> sender_name, headline, description, instruction, web, contact;
  std::vector<CapValue> parameters;
  std::vector<CapArea> areas;
};

struct CapAlert {
  std::string identifier, sender;
  std::string sent;                   ///< as written, e.g. "2003-06-17T14:57:00-07:00"
  std::optional<Timestamp> sent_utc;  ///< sent as an instant (null when not a valid date-time)
  std::string status, msg_type, scope;
  std::optional<std::string> source, restriction, addresses, note;
  std::vector<std::string> codes;
  std::vector<std::string> references;  ///< "sender,identifier,sent" triplets
  std::optional<std::string> incidents;
  std::vector<CapInfo> infos;
};

struct WIS2MON_API CapResult {
  CapAlert alert;
  std::string cap_version;  ///< "1.2", "1.1" or "1.0"; "" when no CAP alert was found
  bool is_signed = false;   ///< an XML-DSig <Signature> is present (it is not verified)
  /// 1-based position of this alert among the alerts of its document when it is wrapped (an
  /// EDXL-DE distribution, a feed); 0 when the alert is the document's root element.
  int position = 0;
  /// The <alert> element holds nothing: an error, and no records.
  bool empty = false;
  /// Each with its place (an XPath such as alert/info[1]/area[2]/polygon; "" for the document
  /// as a whole), its rule (cap.required, cap.enum, ...: docs/decoders.md) and its message.
  std::vector<ValidationIssue> errors;
  std::vector<ValidationIssue> warnings;

  bool valid() const noexcept { return errors.empty(); }

  /// The alert as one JSON object (identifier, sender, sent, sent_utc, status, msg_type,
  /// scope, references, infos[...]) with "valid", "errors" and "warnings" added.
  std::string to_json() const;

  /// Flat records: one `cap_alerts` row per alert x info (one row when there is no info),
  /// then one `cap_areas` row per area. Empty when no alert was found.
  std::vector<Record> to_records() const;
};

/// The schemas of CapResult::to_records(), with their key, time and tag hints.
WIS2MON_API const RecordSchemaPtr& cap_alerts_schema();
WIS2MON_API const RecordSchemaPtr& cap_areas_schema();

/// Every alert of one XML document: the document itself when it is an alert, or each alert
/// embedded in an envelope (EDXL-DE's contentObject/xmlContent/embeddedXMLContent, or any
/// other container), in document order.
struct WIS2MON_API CapDocument {
  std::vector<CapResult> alerts;          ///< one per alert found; position 1, 2, ... when wrapped
  std::string container;                  ///< the root element's name when the alerts are wrapped
  std::vector<ValidationIssue> errors;    ///< the document as a whole: not XML, no alert, refused
  std::vector<ValidationIssue> warnings;  ///< the document as a whole (external loads refused)

  /// No document error and every alert valid.
  bool valid() const noexcept;
  /// Every alert's records (CapResult::to_records), in document order.
  std::vector<Record> to_records() const;
  /// {"container", "valid", "errors", "warnings", "alerts": [CapResult::to_json() objects]}
  std::string to_json() const;
};

/// Parses one XML document from memory and decodes every CAP alert in it.
WIS2MON_API CapDocument decode_cap_document(std::string_view xml, const CapOptions& options = {});

/// Parses one CAP document from memory and gives its first alert. A document error (not
/// XML, no alert) is in the result's errors. When the document wraps several alerts, a
/// warning says how many were not decoded: use decode_cap_document for them.
WIS2MON_API CapResult decode_cap(std::string_view xml, const CapOptions& options = {});

}  // namespace wis2mon
