// The dashboard's page, script, style and icon, compiled into the library from
// src/dashboard/www/ (cmake/EmbedFiles.cmake): the page works offline, from any install.
#pragma once

#include <cstddef>
#include <string_view>

namespace wis2mon::detail {

struct EmbeddedAsset {
  const char* path;  ///< "/index.html", "/dashboard.js", ...
  const char* data;
  std::size_t size;
  const char* type;  ///< its Content-Type
};

/// The asset served at `path`, or nullptr.
const EmbeddedAsset* find_embedded_asset(std::string_view path);

}  // namespace wis2mon::detail
