// Message digests through OpenSSL EVP (never hand-rolled).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace wis2mon::detail {

/// Digest length in bytes for a WNM integrity method name, or 0 when unknown.
std::size_t digest_size(std::string_view method) noexcept;

/// The raw digest a WNM integrity value stands for: base64 of the method's digest length,
/// or (with accept_hex) hex of it. nullopt for an unknown method or any other value.
std::optional<std::string> decode_digest_value(std::string_view method, std::string_view value, bool accept_hex);

/// Computes the digest of data with a WNM method name into out (at least 64 bytes).
/// Returns the digest length, or 0 when the method is unknown or OpenSSL fails.
std::size_t compute_digest(std::string_view method, const void* data, std::size_t size, unsigned char* out) noexcept;

/// A name-based UUID (RFC 9562 version 8 from the SHA-256 of `name`): the same name always
/// gives the same id, so that an event or message made again after a crash keeps its id.
std::string name_based_uuid(std::string_view name);

}  // namespace wis2mon::detail

#include <openssl/evp.h>

#include <memory>
#include <string>

namespace wis2mon::detail {

/// A digest computed piece by piece (OpenSSL EVP), for data that arrives in chunks.
class StreamingDigest {
 public:
  /// An unknown method gives an object whose valid() is false.
  explicit StreamingDigest(std::string_view method);

  bool valid() const noexcept { return ctx_ != nullptr; }
  void update(const void* data, std::size_t size) noexcept;
  /// The raw digest; the object is spent (invalid) afterwards.
  std::string finish();

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

}  // namespace wis2mon::detail
