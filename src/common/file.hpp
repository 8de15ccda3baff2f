// Whole-file reads and complete writes, with the library's error conventions.
#pragma once

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <unistd.h>

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

/// Writes all of `bytes` to a file descriptor (short writes and EINTR continue). Throws
/// Error(io, retriable) naming `path` when the system refuses (disk full, I/O error).
inline void write_all(int fd, std::string_view bytes, const std::filesystem::path& path) {
  while (!bytes.empty()) {
    const auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::io, "write " + path.string() + ": " + std::strerror(errno), true);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace wis2mon::detail
