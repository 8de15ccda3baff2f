#include "common/digest.hpp"

#include "common/encoding.hpp"

#include <openssl/evp.h>

#include <cstring>
#include <memory>

namespace wis2mon::detail {
namespace {

struct Method {
  std::string_view wnm_name;
  const char* openssl_name;
  std::size_t size;
};
constexpr Method kMethods[] = {
    {"sha256", "SHA2-256", 32},   {"sha384", "SHA2-384", 48},   {"sha512", "SHA2-512", 64},
    {"sha3-256", "SHA3-256", 32}, {"sha3-384", "SHA3-384", 48}, {"sha3-512", "SHA3-512", 64},
};

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
struct MdFree {
  void operator()(EVP_MD* md) const noexcept { EVP_MD_free(md); }
};
using MdPtr = std::unique_ptr<EVP_MD, MdFree>;

// Fetching an EVP_MD is costly in OpenSSL 3, so each one is fetched once per process.
const EVP_MD* fetched(std::size_t index) {
  static const MdPtr cache[] = {
      MdPtr(EVP_MD_fetch(nullptr, kMethods[0].openssl_name, nullptr)),
      MdPtr(EVP_MD_fetch(nullptr, kMethods[1].openssl_name, nullptr)),
      MdPtr(EVP_MD_fetch(nullptr, kMethods[2].openssl_name, nullptr)),
      MdPtr(EVP_MD_fetch(nullptr, kMethods[3].openssl_name, nullptr)),
      MdPtr(EVP_MD_fetch(nullptr, kMethods[4].openssl_name, nullptr)),
      MdPtr(EVP_MD_fetch(nullptr, kMethods[5].openssl_name, nullptr)),
  };
  return cache[index].get();
}

int init_digest(EVP_MD_CTX* ctx, const EVP_MD* md) {
  return EVP_DigestInit_ex2(ctx, md, nullptr);
}
#else
// OpenSSL 1.1 (Debian 11, where the portable wheels are built) has no fetching: its built-in
// digests, in kMethods' order.
const EVP_MD* fetched(std::size_t index) {
  static const EVP_MD* const table[] = {EVP_sha256(),   EVP_sha384(),   EVP_sha512(),
                                        EVP_sha3_256(), EVP_sha3_384(), EVP_sha3_512()};
  return table[index];
}

int init_digest(EVP_MD_CTX* ctx, const EVP_MD* md) {
  return EVP_DigestInit_ex(ctx, md, nullptr);
}
#endif

int method_index(std::string_view method) noexcept {
  for (std::size_t i = 0; i < std::size(kMethods); ++i)
    if (kMethods[i].wnm_name == method) return static_cast<int>(i);
  return -1;
}

}  // namespace

std::size_t digest_size(std::string_view method) noexcept {
  const int i = method_index(method);
  return i < 0 ? 0 : kMethods[i].size;
}

std::optional<std::string> decode_digest_value(std::string_view method, std::string_view value, bool accept_hex) {
  const std::size_t size = digest_size(method);
  if (size == 0) return std::nullopt;
  if (base64_decoded_size(value) == size) return base64_decode(value);
  if (accept_hex && value.size() == 2 * size) return hex_decode(value);
  return std::nullopt;
}

std::size_t compute_digest(std::string_view method, const void* data, std::size_t size, unsigned char* out) noexcept {
  const int i = method_index(method);
  if (i < 0) return 0;
  const EVP_MD* md = fetched(static_cast<std::size_t>(i));
  // One context per thread, reused: creating one per digest costs more than hashing a
  // typical inline BUFR message.
  struct CtxFree {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  unsigned int len = 0;
  if (md == nullptr || !ctx || init_digest(ctx.get(), md) != 1 || EVP_DigestUpdate(ctx.get(), data, size) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out, &len) != 1)
    return 0;
  return len;
}

StreamingDigest::StreamingDigest(std::string_view method) {
  const int i = method_index(method);
  if (i < 0) return;
  const EVP_MD* md = fetched(static_cast<std::size_t>(i));
  std::unique_ptr<EVP_MD_CTX, Free> c(EVP_MD_CTX_new());
  if (md != nullptr && c && init_digest(c.get(), md) == 1) ctx_ = std::move(c);
}

void StreamingDigest::update(const void* data, std::size_t size) noexcept {
  if (ctx_) EVP_DigestUpdate(ctx_.get(), data, size);
}

std::string StreamingDigest::finish() {
  if (!ctx_) return {};
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), out, &len) != 1) len = 0;
  ctx_.reset();
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string name_based_uuid(std::string_view name) {
  unsigned char d[64];
  compute_digest("sha256", name.data(), name.size(), d);
  unsigned char first[16];
  std::memcpy(first, d, 16);
  return uuid_text(first, 8);
}

}  // namespace wis2mon::detail
