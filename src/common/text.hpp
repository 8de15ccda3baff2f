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

/// A URL with its password masked, for logs, `config dump` and the dashboard:
/// mqtt://user:secret@host/x -> mqtt://user:********@host/x. A URL without one is returned as is.
inline std::string masked_url(std::string url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto host_end = url.find_first_of("/?#", scheme + 3);
  const auto at = url.rfind('@', host_end == std::string::npos ? std::string::npos : host_end);
  if (at == std::string::npos || at < scheme + 3) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.replace(colon + 1, at - colon - 1, "********");
}

}  // namespace wis2mon::detail
