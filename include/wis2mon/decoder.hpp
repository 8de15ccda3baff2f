// Decoders: what turns a data object (the bytes a notification links to) into records.
//
// A pipeline names its decoder (`decoder: bufr` in the config file); the name is looked up in
// one registry. The built-in decoders register the same way a user's does:
//
//   class MyDecoder : public wis2mon::Decoder { ... };
//   wis2mon::register_decoder(std::make_shared<MyDecoder>());   // before the config is read
//
// Every decoder answers with the same DecodeOutput: records plus issues of one type. The
// schemas it declares carry each table's key, time field and tag hints, which is all a sink
// needs to store them (nothing in the sinks knows a decoder's tables).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wis2mon/export.hpp"
#include "wis2mon/notification.hpp"
#include "wis2mon/record.hpp"

namespace wis2mon {

/// One problem a decoder met. `message_index` says which message of the object (BUFR holds
/// several), -1 when that does not apply.
struct DecodeIssue {
  std::string message;
  int message_index = -1;
};

/// What a decoder made of one object.
struct DecodeOutput {
  std::vector<Record> records;
  std::vector<DecodeIssue> errors;    ///< parts that could not be decoded
  std::vector<DecodeIssue> warnings;  ///< decoded, with a caveat
  /// No records: the object counts as undecodable (a dead letter with the first error).
  bool failed() const noexcept { return records.empty(); }
};

/// What the caller knows about the object being decoded.
struct DecodeContext {
  /// The monitor's validation mode: a decoder with a strict reading of its format (CAP's
  /// zone offsets) applies it; others ignore it.
  ValidationMode mode = ValidationMode::lenient;
};

/// A decoder. decode() is called on the monitor's pipeline thread, one object at a time per
/// monitor; one decoder object serves every monitor of the process, so decode() must be safe
/// to call from several threads at once (keep no mutable state, or guard it). Bad input is
/// answered with errors, never with an exception (an exception is treated as a bug: the
/// entry is dead-lettered with stage "internal").
class WIS2MON_API Decoder {
 public:
  virtual ~Decoder() = default;
  /// The name pipelines use (`decoder: NAME`): lower case, digits, '_' or '-'.
  virtual std::string name() const = 0;
  /// One line for `wis2mon config` help and the docs.
  virtual std::string description() const = 0;
  /// The schemas of the records it emits (tables, with their hints); a record may have
  /// fewer or more fields than declared (e.g. enrichment adds some), never another table.
  virtual std::vector<RecordSchemaPtr> schemas() const = 0;
  virtual DecodeOutput decode(std::string_view data) const = 0;
  /// What the monitor calls: decode() with the context; override it to use the context.
  virtual DecodeOutput decode_with(std::string_view data, const DecodeContext& context) const {
    (void)context;
    return decode(data);
  }
};

/// Adds a decoder to the process-wide registry; thread-safe. Throws Error(invalid_argument)
/// when the name is not a valid name or "none", or is taken (by a built-in too).
WIS2MON_API void register_decoder(std::shared_ptr<const Decoder> decoder);
/// The decoder of that name, or nullptr. Thread-safe.
WIS2MON_API std::shared_ptr<const Decoder> find_decoder(std::string_view name);
/// Every registered decoder, sorted by name (the built-ins "bufr" and "cap" included).
WIS2MON_API std::vector<std::shared_ptr<const Decoder>> registered_decoders();
/// The schemas the library's records may have: the monitor's `notifications`, then every
/// registered decoder's. Sinks take a table's key, time and tags from here when the record's
/// own schema carries no hints.
WIS2MON_API std::vector<RecordSchemaPtr> known_record_schemas();

}  // namespace wis2mon
