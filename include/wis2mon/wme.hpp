// WIS2 Monitoring Events (WME): the CloudEvents 1.0 messages WIS2 centres publish on
// monitor/a/wis2/... to report what they see (schema 1.0.0, wis2-event-message-bundled.json;
// the event type code list of wmo-im/wis2-monitoring-events-codelists). Building them, and
// validating them as the schema and pywis-pubsub's WME test suite do (docs/validation.md).
//
//   wis2mon::WmeEvent e;
//   e.source = "xx-example-global-cache"; e.subject = "de-dwd"; e.time = Timestamp::now();
//   e.severity = "WARNING"; e.title = "Data not cached";
//   const std::string json = wis2mon::to_json(e);   // valid: validate_wme(json).valid()
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wis2mon/export.hpp"
#include "wis2mon/notification.hpp"  // ValidationMode, ValidationReport
#include "wis2mon/time.hpp"

namespace wis2mon {

/// data.links[] of an event.
struct WmeLink {
  std::string href;
  std::string rel;
  std::string type;
  std::string title;
  std::string channel;  ///< the topic the link is about
};

/// One event. Empty strings are left out of the JSON, except the required members.
struct WmeEvent {
  std::string id;  ///< empty: a random UUID (version 4)
  /// The WME schema 1.0.0 allows only this value; the code list has finer types.
  std::string type = "int.wmo.wis.wme.event";
  std::string source;   ///< the centre-id reporting
  std::string subject;  ///< the centre-id the event is about
  Timestamp time;       ///< when it happened (written to the second)
  std::string subtype;
  std::string severity = "INFO";  ///< DEBUG, INFO, WARNING, ERROR, CRITICAL
  /// data.time: an instant, or an interval [start, end] (written to the second).
  std::optional<Timestamp> timestamp;
  std::optional<std::pair<Timestamp, Timestamp>> interval;
  /// data.content, written when title is not empty.
  std::string title, description, channel;
  std::vector<WmeLink> links;
};

/// The event as one compact JSON object.
WIS2MON_API std::string to_json(const WmeEvent& event);

/// The WME `type` code list (int.wmo.wis.wme.event and its 13 finer types).
WIS2MON_API const std::vector<std::string>& wme_event_types();

/// True for a JSON object with a "specversion" member: a WME (or another CloudEvent) rather
/// than a notification. Cheap: it does not validate.
WIS2MON_API bool looks_like_wme(std::string_view json) noexcept;

/// Validates a WME. Errors: not a JSON object; CloudEvents' and the WME schema's required
/// members (id, source, specversion "1.0", type, subject, time, datacontenttype, dataschema,
/// data); time not RFC 3339; data.conformsTo without the core conformance class; data.severity
/// missing (pywis-pubsub's WME test suite requires it) or not one of the five; data.time,
/// data.ref, data.content (title required) and data.links (at least one, each with href) not
/// as the schema has them; a `type` outside the code list. strict: the schema's single type
/// `int.wmo.wis.wme.event` only; lenient: the code list's finer types are accepted with a
/// warning (wme.type.finer).
WIS2MON_API ValidationReport validate_wme(std::string_view json, ValidationMode mode = ValidationMode::lenient);

}  // namespace wis2mon
