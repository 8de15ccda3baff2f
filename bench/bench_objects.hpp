// The objects the download benchmark serves and checks: object n is the SHA-512 of the
// decimal n, repeated to the size (bench/data_server.py makes the same bytes).
#pragma once

#include <cstdint>
#include <string>

#include "common/digest.hpp"

namespace bench {

inline std::string object_bytes(std::uint64_t n, std::size_t size) {
  const std::string decimal = std::to_string(n);
  unsigned char seed[64];
  wis2mon::detail::compute_digest("sha512", decimal.data(), decimal.size(), seed);
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>(seed[i % 64]);
  return s;
}

}  // namespace bench
