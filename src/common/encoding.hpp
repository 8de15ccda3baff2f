// Small text-encoding checks used by validation: base64 (decoding itself is OpenSSL's),
// hex, UTF-8 code point counting.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace wis2mon::detail {

/// Length of the data a canonical base64 text decodes to, or nullopt when the text is not
/// canonical base64 (RFC 4648 alphabet, '=' padding only at the end, length a multiple of 4).
std::optional<std::size_t> base64_decoded_size(std::string_view text) noexcept;

/// Decodes canonical base64 (check base64_decoded_size first); nullopt on failure.
std::optional<std::string> base64_decode(std::string_view text);

/// Decodes canonical base64 into out (resized to fit; reuse it to avoid allocations).
/// Returns false when the text is not canonical base64.
bool base64_decode_into(std::string_view text, std::string& out);

/// Encodes bytes as base64 with padding.
std::string base64_encode(std::string_view bytes);

/// A UUID's text form (RFC 9562) of 16 bytes, with the version nibble set to `version` and
/// the variant to 10: version 4 from random bytes, 8 from a hash.
std::string uuid_text(const unsigned char (&bytes)[16], unsigned version);

/// True when text is only hex digits (either case) and has an even length.
bool is_hex(std::string_view text) noexcept;

/// Decodes hex digits to bytes; nullopt unless is_hex(text).
std::optional<std::string> hex_decode(std::string_view text);
/// Lower-case hex digits of the bytes (two per byte).
std::string hex_encode(std::string_view bytes);

/// Number of code points in valid UTF-8 text (continuation bytes are not counted).
std::size_t utf8_length(std::string_view text) noexcept;

}  // namespace wis2mon::detail

namespace wis2mon::detail {

/// True when text is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
bool is_valid_utf8(std::string_view text) noexcept;

/// Makes text valid UTF-8: an incomplete sequence cut off at the end is dropped; if the rest
/// is still not UTF-8 the text is taken as ISO-8859-1 (what non-UTF-8 station names in BUFR
/// and old feeds turn out to be) and converted.
std::string to_valid_utf8(std::string_view text);

}  // namespace wis2mon::detail
