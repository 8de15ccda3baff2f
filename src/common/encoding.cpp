#include "common/encoding.hpp"

#include <openssl/evp.h>

namespace wis2mon::detail {
namespace {

bool is_b64_char(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '+' || c == '/';
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::size_t> base64_decoded_size(std::string_view t) noexcept {
  if (t.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  if (!t.empty() && t.back() == '=') ++pad;
  if (t.size() >= 2 && t[t.size() - 2] == '=') ++pad;
  for (std::size_t i = 0; i < t.size() - pad; ++i)
    if (!is_b64_char(static_cast<unsigned char>(t[i]))) return std::nullopt;
  return t.size() / 4 * 3 - pad;
}

std::optional<std::string> base64_decode(std::string_view t) {
  const auto size = base64_decoded_size(t);
  if (!size) return std::nullopt;
  std::string out(t.size() / 4 * 3, '\0');
  // EVP_DecodeBlock writes whole 3-byte groups, padding included; trim to the real size.
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(t.data()),
                                static_cast<int>(t.size()));
  if (n < 0) return std::nullopt;
  out.resize(*size);
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n < 0 ? 0 : n));
  return out;
}

bool is_hex(std::string_view t) noexcept {
  if (t.size() % 2 != 0) return false;
  for (char c : t)
    if (hex_value(c) < 0) return false;
  return true;
}

std::optional<std::string> hex_decode(std::string_view t) {
  if (!is_hex(t)) return std::nullopt;
  std::string out(t.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>(hex_value(t[2 * i]) * 16 + hex_value(t[2 * i + 1]));
  return out;
}

std::size_t utf8_length(std::string_view t) noexcept {
  std::size_t n = 0;
  for (unsigned char c : t) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace wis2mon::detail
