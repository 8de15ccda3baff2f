// Message digests through OpenSSL EVP (never hand-rolled).
#pragma once

#include <cstddef>
#include <string_view>

namespace wis2mon::detail {

/// Digest length in bytes for a WNM integrity method name, or 0 when unknown.
std::size_t digest_size(std::string_view method) noexcept;

/// Computes the digest of data with a WNM method name into out (at least 64 bytes).
/// Returns the digest length, or 0 when the method is unknown or OpenSSL fails.
std::size_t compute_digest(std::string_view method, const void* data, std::size_t size, unsigned char* out) noexcept;

}  // namespace wis2mon::detail
