// wis2mon::Error: the one exception type the library throws.
//
// Setup and I/O failures (a file that cannot be read, a database that cannot be opened, a
// configuration that makes no sense) throw wis2mon::Error. Expected per-message outcomes
// (an invalid notification, a duplicate) are never exceptions: they come back as data.
#pragma once

#include <stdexcept>
#include <string>

#include "wis2mon/export.hpp"

namespace wis2mon {

/// What kind of failure an Error reports. Values are stable; new ones are appended.
enum class ErrorCode {
  invalid_argument = 1,  ///< the caller passed something unusable (bad option, bad filter)
  io = 2,                ///< a file or directory could not be read or written
  parse = 3,             ///< a configuration or table file is malformed
  not_found = 4,         ///< a named file, table or entry does not exist
  network = 5,           ///< a network transfer failed
  database = 6,          ///< SQLite reported an error
  unsupported = 7,       ///< the request needs a feature this build does not have
  internal = 8,          ///< a bug: please report it
  // 9 and 10 are the C API's out-of-memory and out-of-range; the numbers match its codes.
  state = 11,    ///< not allowed now (e.g. push() after stop(), add_sink_type() after start())
  timeout = 12,  ///< a wait ended before the work did
};

/// Returns a short stable name for a code, e.g. "invalid_argument".
WIS2MON_API const char* to_string(ErrorCode code) noexcept;

class WIS2MON_API Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, bool retriable = false)
      : std::runtime_error(message), code_(code), retriable_(retriable) {}

  ErrorCode code() const noexcept { return code_; }
  /// True when trying the same operation again later may succeed (a busy database, a
  /// network hiccup); false when only a change of input or configuration can help.
  bool retriable() const noexcept { return retriable_; }

 private:
  ErrorCode code_;
  bool retriable_;
};

}  // namespace wis2mon
