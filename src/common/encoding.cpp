#include "common/encoding.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <cstring>

namespace wis2mon::detail {
namespace {

// 1 for the RFC 4648 base64 alphabet; a table because this runs over every inline value.
constexpr auto kB64 = [] {
  std::array<unsigned char, 256> t{};
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = 1;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = 1;
  for (int c = '0'; c <= '9'; ++c) t[c] = 1;
  t['+'] = t['/'] = 1;
  return t;
}();

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
  unsigned char ok = 1;
  for (std::size_t i = 0; i < t.size() - pad; ++i) ok &= kB64[static_cast<unsigned char>(t[i])];
  if (!ok) return std::nullopt;
  return t.size() / 4 * 3 - pad;
}

bool base64_decode_into(std::string_view t, std::string& out) {
  const auto size = base64_decoded_size(t);
  if (!size) return false;
  out.resize(t.size() / 4 * 3);
  // EVP_DecodeBlock writes whole 3-byte groups, padding included; trim to the real size.
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(t.data()), static_cast<int>(t.size()));
  if (n < 0) return false;
  out.resize(*size);
  return true;
}

std::optional<std::string> base64_decode(std::string_view t) {
  std::string out;
  if (!base64_decode_into(t, out)) return std::nullopt;
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
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

std::string hex_encode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    (out += kHex[c >> 4]) += kHex[c & 15];
  }
  return out;
}

std::size_t utf8_length(std::string_view t) noexcept {
  std::size_t n = 0;
  for (unsigned char c : t) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace wis2mon::detail

namespace wis2mon::detail {
namespace {

// Length of the well-formed UTF-8 sequence starting at s[i], 0 if it is malformed, or -1 if
// it is a valid prefix cut off by the end of the text.
int utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  int n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // <= U+10FFFF
  } else {
    return 0;
  }
  for (int k = 1; k < n; ++k) {
    if (i + static_cast<std::size_t>(k) >= s.size()) return -1;
    const auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
  }
  return n;
}

}  // namespace

bool is_valid_utf8(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size();) {
    const int n = utf8_sequence_length(text, i);
    if (n <= 0) return false;
    i += static_cast<std::size_t>(n);
  }
  return true;
}

std::string to_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  for (; i < text.size();) {
    const int n = utf8_sequence_length(text, i);
    if (n == -1) return std::string(text.substr(0, i));  // truncated last character
    if (n == 0) break;
    i += static_cast<std::size_t>(n);
  }
  if (i == text.size()) return std::string(text);
  std::string out;
  out.reserve(text.size() * 2);
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x80) {
      out += c;
    } else {
      out += static_cast<char>(0xC0 | (b >> 6));
      out += static_cast<char>(0x80 | (b & 0x3F));
    }
  }
  return out;
}

std::string uuid_text(const unsigned char (&bytes)[16], unsigned version) {
  unsigned char b[16];
  std::memcpy(b, bytes, 16);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | ((version & 0x0f) << 4));
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // variant 10
  char out[37];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

}  // namespace wis2mon::detail
