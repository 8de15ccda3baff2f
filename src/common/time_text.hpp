// RFC 3339 text written into a caller's buffer: the hot paths (sink rows, NDJSON lines)
// format a time per record and should not allocate for it.
#pragma once

#include <cstddef>

#include "wis2mon/time.hpp"

namespace wis2mon::detail {

/// Large enough for any Timestamp with nine fraction digits.
constexpr std::size_t rfc3339_buffer_size = 48;

/// Writes what format_rfc3339(t, fraction_digits) returns into out, which holds at least
/// rfc3339_buffer_size chars (no terminating NUL); returns the length.
std::size_t format_rfc3339_into(Timestamp t, char* out, int fraction_digits = -1) noexcept;

}  // namespace wis2mon::detail
