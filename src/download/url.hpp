// Small URL helpers for the download layer (parsing proper is libcurl's job).
#pragma once

#include <string>
#include <string_view>

namespace wis2mon::detail {

/// The host of an absolute URL ("gc.example" for "https://u:p@gc.example:8443/x"); "" if none.
inline std::string url_host(std::string_view url) {
  auto start = url.find("://");
  if (start == std::string_view::npos) return {};
  start += 3;
  const auto end = url.find_first_of("/?#", start);
  std::string_view authority = url.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (const auto colon = authority.rfind(':');
      colon != std::string_view::npos && authority.find(']') == std::string_view::npos)
    authority = authority.substr(0, colon);
  return std::string(authority);
}

}  // namespace wis2mon::detail
