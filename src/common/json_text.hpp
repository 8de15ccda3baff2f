// Parsing JSON text inside the library. The library is built with RAPIDJSON_SSE2, whose
// aligned 16-byte loads may read up to 15 bytes past the end of the input: text that does not
// come padded (configuration files, option strings from the C API) is copied into a buffer
// with 16 zero bytes after it first.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>

namespace wis2mon::detail {

inline void parse_json_text(rapidjson::Document& doc, std::string_view text) {
  std::string padded;
  padded.reserve(text.size() + 16);
  padded.assign(text);
  padded.append(16, '\0');
  doc.Parse(padded.data(), text.size());
}

}  // namespace wis2mon::detail
