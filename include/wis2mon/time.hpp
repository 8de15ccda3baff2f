// UTC timestamps and RFC 3339 parsing/formatting.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wis2mon/export.hpp"

namespace wis2mon {

/// A point in time: seconds since 1970-01-01T00:00:00Z plus nanoseconds (0..999999999).
struct Timestamp {
  std::int64_t seconds = 0;
  std::int32_t nanos = 0;

  friend bool operator==(const Timestamp& a, const Timestamp& b) {
    return a.seconds == b.seconds && a.nanos == b.nanos;
  }
  friend bool operator!=(const Timestamp& a, const Timestamp& b) { return !(a == b); }
  friend bool operator<(const Timestamp& a, const Timestamp& b) {
    return a.seconds < b.seconds || (a.seconds == b.seconds && a.nanos < b.nanos);
  }
  friend bool operator<=(const Timestamp& a, const Timestamp& b) { return !(b < a); }
  friend bool operator>(const Timestamp& a, const Timestamp& b) { return b < a; }
  friend bool operator>=(const Timestamp& a, const Timestamp& b) { return !(a < b); }

  /// The current wall-clock time.
  WIS2MON_API static Timestamp now() noexcept;
};

/// What parse_rfc3339 saw besides the instant itself.
struct Rfc3339Details {
  int offset_minutes = 0;   ///< the written UTC offset (0 for "Z")
  bool utc = false;         ///< written as "Z" or "+00:00"/"-00:00"
  int fraction_digits = 0;  ///< digits after the decimal point of the seconds
};

/// Parses an RFC 3339 date-time ("2024-05-29T08:41:00Z", "...:00.123+02:00").
/// Returns nullopt for anything that is not one (including impossible dates such as
/// February 30). Fractions beyond nanoseconds are truncated. A leap second (:60) is
/// accepted and folded into the next second.
WIS2MON_API std::optional<Timestamp> parse_rfc3339(std::string_view text, Rfc3339Details* details = nullptr) noexcept;

/// The instant of a UTC calendar date and time of day, or nullopt when it does not exist
/// (month 13, February 30, hour 24, second 60).
WIS2MON_API std::optional<Timestamp> timestamp_from_utc(std::int64_t year, std::int64_t month, std::int64_t day,
                                                        std::int64_t hour, std::int64_t minute,
                                                        std::int64_t second) noexcept;

/// Formats as RFC 3339 UTC with a "Z" suffix. fraction_digits: 0..9, or -1 for "as many as
/// needed" (none when nanos is 0, else 3, 6 or 9).
WIS2MON_API std::string format_rfc3339(Timestamp t, int fraction_digits = -1);

}  // namespace wis2mon
