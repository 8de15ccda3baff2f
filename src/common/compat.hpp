// What GCC 10's libstdc++ and curl 7.74 lack, for the portable wheels, which are built in a
// Debian 11 root (scripts/build-wheels.sh) so that they run on glibc 2.31 and Amazon Linux 2023.
// Each fallback gives the same results as the standard facility it stands in for; with a newer
// toolchain (the main build) the standard facility is used directly.
#pragma once

#include <curl/curl.h>

#include <cerrno>
#include <charconv>
#include <clocale>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <locale.h>

namespace wis2mon::detail {

// unordered_map::find with a string_view: heterogeneous lookup is GCC 11+; before, a key is made.
template <class Map>
auto find_key(Map& map, std::string_view key) {
#if defined(__cpp_lib_generic_unordered_lookup)
  return map.find(key);
#else
  return map.find(typename Map::key_type(key));
#endif
}

// make_shared_for_overwrite<char[]> (GCC 12+): an uninitialised buffer.
inline std::shared_ptr<char[]> shared_buffer(std::size_t size) {
#if defined(__cpp_lib_smart_ptr_for_overwrite)
  return std::make_shared_for_overwrite<char[]>(size);
#else
  return std::shared_ptr<char[]>(new char[size]);
#endif
}

// The C library's number formatting and parsing follow LC_NUMERIC, which an embedding program
// may have set; <charconv> never does, so the fallbacks run in the "C" locale. The fallbacks
// are compiled everywhere so that the unit tests check them against <charconv>.
inline locale_t c_numeric_locale() {
  static const locale_t c = newlocale(LC_NUMERIC_MASK, "C", static_cast<locale_t>(nullptr));
  return c;
}

// The shortest "%g" text that reads back as the same double (std::to_chars picks between fixed
// and exponent forms by length, so the texts may differ; the values never do).
inline std::to_chars_result fallback_double_to_chars(char* first, char* last, double v) {
  const locale_t previous = uselocale(c_numeric_locale());
  char text[32];
  int n = 0;
  for (int precision = 1; precision <= 17; ++precision) {
    n = std::snprintf(text, sizeof text, "%.*g", precision, v);
    if (strtod_l(text, nullptr, c_numeric_locale()) == v || v != v) break;
  }
  uselocale(previous);
  if (n < 0 || n > last - first) return {last, std::errc::value_too_large};
  std::char_traits<char>::copy(first, text, static_cast<std::size_t>(n));
  return {first + n, std::errc()};
}

// std::from_chars(double) in its general format: no leading space or '+', no hexadecimal.
inline std::from_chars_result fallback_double_from_chars(const char* first, const char* last, double& out) {
  const char* p = first;
  if (p != last && *p == '-') ++p;
  if (p == last || *p == '+' || *p == ' ' || (*p >= '\t' && *p <= '\r')) return {first, std::errc::invalid_argument};
  // from_chars reads "0x10" as 0 followed by text; strtod would read it as hexadecimal.
  if (*p == '0' && p + 1 != last && (p[1] == 'x' || p[1] == 'X')) {
    out = p == first ? 0.0 : -0.0;
    return {p + 1, std::errc()};
  }
  const std::string text(first, last);  // strtod needs a terminator
  char* end = nullptr;
  errno = 0;
  const double v = strtod_l(text.c_str(), &end, c_numeric_locale());
  if (end == text.c_str()) return {first, std::errc::invalid_argument};
  // ERANGE also flags subnormal results, which from_chars returns as values.
  if (errno == ERANGE && (v == 0 || v == HUGE_VAL || v == -HUGE_VAL))
    return {first + (end - text.c_str()), std::errc::result_out_of_range};
  out = v;
  return {first + (end - text.c_str()), std::errc()};
}

inline std::to_chars_result double_to_chars(char* first, char* last, double v) {
#if defined(__cpp_lib_to_chars)
  return std::to_chars(first, last, v);
#else
  return fallback_double_to_chars(first, last, v);
#endif
}

inline std::from_chars_result double_from_chars(const char* first, const char* last, double& out) {
#if defined(__cpp_lib_to_chars)
  return std::from_chars(first, last, out);
#else
  return fallback_double_from_chars(first, last, out);
#endif
}

// CURLOPT_PROTOCOLS_STR and CURLOPT_REDIR_PROTOCOLS_STR are curl 7.85+; before, a bit mask.
inline long curl_protocol_mask(std::string_view names) {
  long mask = 0;
  while (!names.empty()) {
    const auto comma = names.find(',');
    const auto name = names.substr(0, comma);
    if (name == "http") mask |= CURLPROTO_HTTP;
    if (name == "https") mask |= CURLPROTO_HTTPS;
    if (name == "ftp") mask |= CURLPROTO_FTP;
    if (name == "ftps") mask |= CURLPROTO_FTPS;
    if (name == "sftp") mask |= CURLPROTO_SFTP;
    names = comma == std::string_view::npos ? std::string_view() : names.substr(comma + 1);
  }
  return mask;
}
inline void curl_allow_protocols(CURL* curl, const std::string& names) {
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, names.c_str());
#else
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS, curl_protocol_mask(names));
#endif
}
inline void curl_allow_redirect_protocols(CURL* curl, const std::string& names) {
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, names.c_str());
#else
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS, curl_protocol_mask(names));
#endif
}

}  // namespace wis2mon::detail
