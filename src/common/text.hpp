// ASCII text helpers shared by the layers (WIS2 identifiers are ASCII).
#pragma once

#include <string>
#include <string_view>

namespace wis2mon::detail {

/// Lowercases ASCII letters; other bytes are kept as they are.
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return out;
}

/// 8-4-4-4-12 hexadecimal digits (RFC 4122's text form; any version).
inline bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

}  // namespace wis2mon::detail
