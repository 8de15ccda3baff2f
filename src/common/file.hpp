// Reading a whole file into memory, with the library's error conventions.
#pragma once

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "wis2mon/error.hpp"

namespace wis2mon::detail {

/// The bytes of a file. Throws Error(io) when it cannot be opened or read.
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::io, "cannot open " + path.string() + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(ErrorCode::io, "cannot read " + path.string());
  return std::move(ss).str();
}

}  // namespace wis2mon::detail
