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

}  // namespace wis2mon::detail
