// Inline content: decode (utf-8, base64, gzip = base64 of gzip data) and verify, no network.
#include <zlib.h>

#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "wis2mon/download.hpp"

namespace wis2mon {
namespace {

// Inflates gzip data, refusing to produce more than max_bytes.
std::optional<std::string> gunzip(std::string_view in, std::uint64_t max_bytes, bool& too_large) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return std::nullopt;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > max_bytes) {
      too_large = true;
      break;
    }
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) break;  // truncated input
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END || too_large) return std::nullopt;
  return out;
}

bool digest_matches(std::string_view method, std::string_view value, std::string_view data, bool lenient) {
  const auto expected = detail::decode_digest_value(method, value, lenient);
  if (!expected) return false;
  unsigned char digest[64];
  const std::size_t len = detail::compute_digest(method, data.data(), data.size(), digest);
  return len == expected->size() && *expected == std::string_view(reinterpret_cast<char*>(digest), len);
}

}  // namespace

InlineContentResult decode_inline_content(const Notification& n, bool lenient, std::uint64_t max_bytes) {
  InlineContentResult out;
  const auto& c = n.content();
  if (!c || !c->size) {
    out.error = "the notification carries no inline content";
    return out;
  }
  std::string encoded_bytes;  // what the value decodes to before decompression
  if (c->encoding == "utf-8") {
    out.data.assign(c->value);
  } else if (c->encoding == "base64" || c->encoding == "gzip") {
    auto raw = detail::base64_decode(c->value);
    if (!raw) {
      out.error = "content value is not valid base64";
      return out;
    }
    if (c->encoding == "base64") {
      out.data = std::move(*raw);
    } else {
      bool too_large = false;
      auto inflated = gunzip(*raw, max_bytes, too_large);
      if (!inflated) {
        out.status = too_large ? DownloadStatus::too_large : DownloadStatus::invalid_notification;
        out.error = too_large ? "gzip content inflates beyond the size limit" : "content is not valid gzip data";
        return out;
      }
      encoded_bytes = std::move(*raw);
      out.data = std::move(*inflated);
    }
  } else {
    out.error = "unknown content encoding '" + std::string(c->encoding) + "'";
    return out;
  }
  if (out.data.size() > max_bytes) {
    out.status = DownloadStatus::too_large;
    out.error = "inline content is over the size limit";
    out.data.clear();
    return out;
  }
  // content.size counts the file's bytes; for gzip either the file or the compressed bytes
  // are seen in practice, and lenient mode accepts a character count for utf-8 text.
  const auto size = static_cast<std::uint64_t>(*c->size);
  const bool size_ok = size == out.data.size() || (!encoded_bytes.empty() && size == encoded_bytes.size()) ||
                       (lenient && c->encoding == "utf-8" && size == detail::utf8_length(out.data));
  if (!size_ok) {
    out.status = DownloadStatus::size_mismatch;
    out.error =
        "content.size is " + std::to_string(size) + " but the content is " + std::to_string(out.data.size()) + " bytes";
    out.data.clear();
    return out;
  }
  if (const auto& in = n.integrity()) {
    const bool ok = digest_matches(in->method, in->value, out.data, lenient) ||
                    (!encoded_bytes.empty() && digest_matches(in->method, in->value, encoded_bytes, lenient));
    if (!ok) {
      out.status = DownloadStatus::integrity_failed;
      out.error = "the " + std::string(in->method) + " digest of the inline content does not match";
      out.data.clear();
      return out;
    }
  }
  out.status = DownloadStatus::ok;
  return out;
}

}  // namespace wis2mon
