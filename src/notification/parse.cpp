// Notification::parse: RapidJSON DOM -> Notification + ValidationReport, in one pass over
// each object's members. Every rule of WNM 1.x is checked here; docs/validation.md lists
// the rule names. Nothing in here throws on bad input.
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "wis2mon/notification.hpp"

namespace wis2mon {
namespace {

using rapidjson::Value;
constexpr std::size_t kMaxMessageBytes = 8192;  // REQ message_size
constexpr std::size_t kMaxContentBytes = 4096;  // REQ content
constexpr int kStrictFractionDigits = 6;        // beyond microseconds is a lenient deviation

std::string_view sv(const Value& v) { return {v.GetString(), v.GetStringLength()}; }
std::string str(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

const char* json_type_name(const Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType: return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType: return "boolean";
    case rapidjson::kObjectType: return "object";
    case rapidjson::kArrayType: return "array";
    case rapidjson::kStringType: return "string";
    case rapidjson::kNumberType: return "number";
  }
  return "unknown";
}

// Integral JSON number that fits in int64 (5 and 5.0 both count, as in JSON Schema).
std::optional<std::int64_t> as_integer(const Value& v) {
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsDouble()) {
    const double d = v.GetDouble();
    if (std::floor(d) == d && std::fabs(d) < 9007199254740992.0) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

// Nesting depth of a value, iteratively: hostile input must not exhaust our stack.
int depth_of(const Value& root, int limit) {
  std::vector<std::pair<const Value*, int>> stack{{&root, 1}};
  int max_depth = 0;
  while (!stack.empty()) {
    auto [v, d] = stack.back();
    stack.pop_back();
    if (d > max_depth) max_depth = d;
    if (max_depth > limit) return max_depth;
    if (v->IsObject())
      for (const auto& m : v->GetObject()) stack.push_back({&m.value, d + 1});
    else if (v->IsArray())
      for (const auto& e : v->GetArray()) stack.push_back({&e, d + 1});
  }
  return max_depth;
}

// The size of the message in compact form: what it would be on the wire. Counts every byte
// except whitespace outside strings; a pretty-printed file is not penalised.
std::size_t compact_size(std::string_view s) {
  std::size_t n = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      ++n;
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      ++n;
      in_string = true;
    } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      ++n;
    }
  }
  return n;
}

bool is_update_rel(std::string_view rel) { return rel == "update" || rel == rel_update_uri; }
bool is_deletion_rel(std::string_view rel) { return rel == "deletion" || rel == rel_deletion_uri; }

bool allowed_scheme(std::string_view href) {
  const auto colon = href.find(':');
  if (colon == std::string_view::npos) return false;
  std::string scheme(href.substr(0, colon));
  for (auto& c : scheme) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return (scheme == "http" || scheme == "https" || scheme == "ftp" || scheme == "sftp") &&
         href.substr(colon + 1, 2) == "//";
}

}  // namespace

// Friend of Notification: fills the private fields while validating.
struct NotificationBuilder {
  Notification& n;
  ValidationReport& report;
  const ParseOptions& options;

  bool strict() const { return options.mode == ValidationMode::strict; }
  void error(std::string path, const char* rule, std::string message) {
    report.add_error(std::move(path), rule, std::move(message));
  }
  // Something real traffic does that the standard does not allow: a warning when lenient.
  void deviation(std::string path, const char* rule, std::string message) {
    if (strict()) report.add_error(std::move(path), rule, std::move(message));
    else report.add_warning(std::move(path), rule, std::move(message));
  }
  void wrong_type(const std::string& path, const Value& v, const char* expected) {
    error(path, "type", std::string("expected ") + expected + ", got " + json_type_name(v));
  }
  void missing(const std::string& path) {
    error(path, "required", "required member '" + path.substr(path.rfind('/') + 1) + "' is missing");
  }

  // A string member: copies it into out; reports a type error otherwise.
  bool take_string(const Value& v, const std::string& path, std::string& out) {
    if (!v.IsString()) {
      wrong_type(path, v, "string");
      return false;
    }
    out.assign(v.GetString(), v.GetStringLength());
    return true;
  }

  std::string to_json(const Value& v, const std::string& path) {
    if (depth_of(v, options.max_depth) > options.max_depth) {
      error(path, "json.depth", "nested deeper than " + std::to_string(options.max_depth) + " levels");
      return "null";
    }
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    return {buf.GetString(), buf.GetSize()};
  }

  void run(const Value& root) {
    const Value *id = nullptr, *conforms = nullptr, *version = nullptr, *type = nullptr,
                *geometry = nullptr, *properties = nullptr, *links = nullptr;
    for (const auto& m : root.GetObject()) {
      const auto name = sv(m.name);
      if (name == "id") id = &m.value;
      else if (name == "conformsTo") conforms = &m.value;
      else if (name == "version") version = &m.value;
      else if (name == "type") type = &m.value;
      else if (name == "geometry") geometry = &m.value;
      else if (name == "properties") properties = &m.value;
      else if (name == "links") links = &m.value;
      else n.extra_members_.push_back({str(m.name), to_json(m.value, "/" + str(m.name))});
    }

    if (!id) missing("/id");
    else if (take_string(*id, "/id", n.id_) && !is_uuid(n.id_))
      error("/id", "id.uuid", "id '" + n.id_ + "' is not a UUID (RFC 4122)");

    check_conformance(conforms, version);

    if (!type) missing("/type");
    else if (take_string(*type, "/type", n.type_) && n.type_ != "Feature")
      error("/type", "type.feature", "type must be 'Feature', got '" + n.type_ + "'");

    if (!geometry) missing("/geometry");
    else check_geometry(*geometry);

    if (!properties) missing("/properties");
    else if (!properties->IsObject()) wrong_type("/properties", *properties, "object");
    else check_properties(*properties);

    if (!links) missing("/links");
    else if (!links->IsArray()) wrong_type("/links", *links, "array");
    else check_links(*links);

    check_deletion_metadata();
  }

  void check_conformance(const Value* conforms, const Value* version) {
    if (conforms && version)
      error("/version", "conformance.both",
            "a message declares either conformsTo or the deprecated version, never both");
    if (conforms) {
      bool has_core = false;
      if (!conforms->IsArray()) {
        wrong_type("/conformsTo", *conforms, "array");
        return;
      }
      for (const auto& c : conforms->GetArray()) {
        if (!c.IsString()) continue;
        n.conforms_to_.push_back(str(c));
        has_core = has_core || sv(c) == wnm_core_conformance;
      }
      if (!has_core)
        error("/conformsTo", "conformsTo.core",
              "conformsTo must contain '" + std::string(wnm_core_conformance) + "'");
    } else if (version) {
      if (!take_string(*version, "/version", n.version_)) return;
      if (n.version_ != "v04")
        error("/version", "version.value", "version must be 'v04', got '" + n.version_ + "'");
      else
        deviation("/version", "version.deprecated",
                  "'version: v04' is deprecated; WNM 1.x declares conformsTo");
    } else {
      missing("/conformsTo");
    }
  }

  // Reads a GeoJSON position; reports problems under path.
  bool position(const Value& v, const std::string& path, Position& out) {
    if (!v.IsArray() || v.Size() < 2 || v.Size() > 3) {
      error(path, "geometry.coordinates", "a position is an array of 2 or 3 numbers");
      return false;
    }
    for (const auto& c : v.GetArray())
      if (!c.IsNumber()) {
        error(path, "geometry.coordinates", "a position holds numbers only");
        return false;
      }
    out.lon = v[0].GetDouble();
    out.lat = v[1].GetDouble();
    if (v.Size() == 3) out.height = v[2].GetDouble();
    bool ok = true;
    if (out.lon < -180 || out.lon > 180) {
      error(path + "/0", "geometry.range", "longitude " + std::to_string(out.lon) + " is outside [-180, 180]");
      ok = false;
    }
    if (out.lat < -90 || out.lat > 90) {
      error(path + "/1", "geometry.range", "latitude " + std::to_string(out.lat) + " is outside [-90, 90]");
      ok = false;
    }
    return ok;
  }

  void check_geometry(const Value& g) {
    if (g.IsNull()) return;
    if (!g.IsObject()) return wrong_type("/geometry", g, "object or null");
    const auto type = g.FindMember("type");
    const auto coords = g.FindMember("coordinates");
    if (type == g.MemberEnd()) return missing("/geometry/type");
    if (!type->value.IsString()) return wrong_type("/geometry/type", type->value, "string");
    const auto t = sv(type->value);
    if (t != "Point" && t != "Polygon")
      return error("/geometry/type", "geometry.type",
                   "geometry must be null, a Point or a Polygon, got '" + std::string(t) + "'");
    if (coords == g.MemberEnd()) return missing("/geometry/coordinates");
    const Value& c = coords->value;
    if (t == "Point") {
      if (position(c, "/geometry/coordinates", n.geometry_.point))
        n.geometry_.type = Geometry::Type::point;
      return;
    }
    if (!c.IsArray() || c.Empty())
      return error("/geometry/coordinates", "geometry.coordinates",
                   "a Polygon's coordinates are a non-empty array of linear rings");
    bool ok = true;
    for (rapidjson::SizeType r = 0; r < c.Size(); ++r) {
      const std::string rpath = "/geometry/coordinates/" + std::to_string(r);
      const Value& ring = c[r];
      if (!ring.IsArray() || ring.Size() < 4) {
        error(rpath, "geometry.polygon_ring", "a linear ring has at least 4 positions");
        ok = false;
        continue;
      }
      std::vector<Position> positions(ring.Size());
      for (rapidjson::SizeType i = 0; i < ring.Size(); ++i)
        ok = position(ring[i], rpath + "/" + std::to_string(i), positions[i]) && ok;
      const auto& first = positions.front();
      const auto& last = positions.back();
      if (ok && (first.lon != last.lon || first.lat != last.lat || first.height != last.height)) {
        error(rpath, "geometry.polygon_ring", "a linear ring must end where it starts (closed)");
        ok = false;
      }
      n.geometry_.rings.push_back(std::move(positions));
    }
    if (ok) n.geometry_.type = Geometry::Type::polygon;
    else n.geometry_.rings.clear();
  }

  std::optional<Timestamp> check_time(const Value& v, const std::string& path) {
    if (!v.IsString()) {
      wrong_type(path, v, "string");
      return std::nullopt;
    }
    Rfc3339Details d;
    auto t = parse_rfc3339(sv(v), &d);
    if (!t) {
      error(path, "time.rfc3339", "'" + str(v) + "' is not an RFC 3339 date-time");
      return std::nullopt;
    }
    if (!d.utc)
      error(path, "time.utc", "'" + str(v) + "' is not in UTC (use 'Z')");
    if (d.fraction_digits > kStrictFractionDigits)
      deviation(path, "time.precision",
                "'" + str(v) + "' has " + std::to_string(d.fraction_digits) +
                    " fractional digits; at most microseconds are expected");
    return t;
  }

  void check_properties(const Value& p) {
    const Value *pubtime = nullptr, *data_id = nullptr, *datetime = nullptr, *start = nullptr,
                *end = nullptr, *integrity = nullptr, *content = nullptr;
    for (const auto& m : p.GetObject()) {
      const auto name = sv(m.name);
      const std::string path = "/properties/" + std::string(name);
      if (name == "pubtime") pubtime = &m.value;
      else if (name == "data_id") data_id = &m.value;
      else if (name == "datetime") datetime = &m.value;
      else if (name == "start_datetime") start = &m.value;
      else if (name == "end_datetime") end = &m.value;
      else if (name == "integrity") integrity = &m.value;
      else if (name == "content") content = &m.value;
      else if (name == "metadata_id") take_string(m.value, path, n.metadata_id_);
      else if (name == "producer") take_string(m.value, path, n.producer_);
      else if (name == "global-cache") take_string(m.value, path, n.global_cache_);
      else if (name == "cache") {
        if (m.value.IsBool()) n.cache_ = m.value.GetBool();
        else wrong_type(path, m.value, "boolean");
      } else {
        n.extra_properties_.push_back({str(m.name), to_json(m.value, path)});
      }
    }

    if (!pubtime) missing("/properties/pubtime");
    else if (pubtime->IsString()) {
      n.pubtime_text_ = str(*pubtime);
      n.pubtime_ = check_time(*pubtime, "/properties/pubtime");
    } else wrong_type("/properties/pubtime", *pubtime, "string");

    if (!data_id) missing("/properties/data_id");
    else if (take_string(*data_id, "/properties/data_id", n.data_id_) && n.data_id_.empty())
      error("/properties/data_id", "data_id.empty", "data_id must not be empty");

    // Temporal extent: datetime (string or null) xor start_datetime + end_datetime.
    if (datetime && (start || end))
      error("/properties/datetime", "temporal.exclusive",
            "give either datetime or start_datetime/end_datetime, not both");
    if (!datetime && !(start && end))
      error(start ? "/properties/end_datetime" : end ? "/properties/start_datetime" : "/properties/datetime",
            "temporal.required", "datetime, or both start_datetime and end_datetime, are required");
    if (datetime && !datetime->IsNull()) n.datetime_ = check_time(*datetime, "/properties/datetime");
    if (start) n.start_datetime_ = check_time(*start, "/properties/start_datetime");
    if (end) n.end_datetime_ = check_time(*end, "/properties/end_datetime");
    if (n.start_datetime_ && n.end_datetime_ && *n.end_datetime_ < *n.start_datetime_)
      error("/properties/end_datetime", "temporal.order", "end_datetime is before start_datetime");

    std::size_t digest_len = 0;
    if (integrity) digest_len = check_integrity(*integrity);
    if (content) check_content(*content, digest_len);
  }

  // Returns the digest length when the integrity member is usable for verification.
  std::size_t check_integrity(const Value& v) {
    const std::string base = "/properties/integrity";
    if (!v.IsObject()) {
      wrong_type(base, v, "object");
      return 0;
    }
    Integrity out;
    const auto method = v.FindMember("method");
    const auto value = v.FindMember("value");
    bool ok = true;
    if (method == v.MemberEnd()) missing(base + "/method"), ok = false;
    else ok = take_string(method->value, base + "/method", out.method) && ok;
    if (value == v.MemberEnd()) missing(base + "/value"), ok = false;
    else ok = take_string(value->value, base + "/value", out.value) && ok;
    std::size_t size = 0;
    if (ok) {
      size = detail::digest_size(out.method);
      if (size == 0) {
        error(base + "/method", "integrity.method",
              "method '" + out.method + "' is not one of sha256, sha384, sha512, sha3-256, sha3-384, sha3-512");
      } else if (detail::base64_decoded_size(out.value) == size) {
        // the standard form
      } else if (detail::is_hex(out.value) && out.value.size() == 2 * size) {
        deviation(base + "/value", "integrity.hex",
                  "value is hex; the standard says base64 of the " + std::to_string(size) + "-byte digest");
      } else {
        deviation(base + "/value", "integrity.value",
                  "value is not the base64 of a " + std::to_string(size) + "-byte " + out.method + " digest");
        size = 0;  // cannot be used to verify anything
      }
    }
    n.integrity_ = std::move(out);
    return size;
  }

  void check_content(const Value& v, std::size_t digest_len) {
    const std::string base = "/properties/content";
    if (!v.IsObject()) return wrong_type(base, v, "object");
    Content out;
    bool ok = true;
    const auto enc = v.FindMember("encoding");
    const auto size = v.FindMember("size");
    const auto value = v.FindMember("value");
    if (enc == v.MemberEnd()) missing(base + "/encoding"), ok = false;
    else if (take_string(enc->value, base + "/encoding", out.encoding)) {
      if (out.encoding != "utf-8" && out.encoding != "base64" && out.encoding != "gzip") {
        error(base + "/encoding", "content.encoding",
              "encoding '" + out.encoding + "' is not one of utf-8, base64, gzip");
        ok = false;
      }
    } else ok = false;
    if (size == v.MemberEnd()) missing(base + "/size"), ok = false;
    else if (auto s = as_integer(size->value)) {
      out.size = *s;
      if (*s < 0 || *s > static_cast<std::int64_t>(kMaxContentBytes)) {
        error(base + "/size", "content.size_max", "size must be between 0 and 4096");
        ok = false;
      }
    } else wrong_type(base + "/size", size->value, "integer"), ok = false;
    if (value == v.MemberEnd()) missing(base + "/value"), ok = false;
    else ok = take_string(value->value, base + "/value", out.value) && ok;

    if (!out.value.empty() && out.value.size() > kMaxContentBytes) {
      if (detail::utf8_length(out.value) <= kMaxContentBytes)
        deviation(base + "/value", "content.value_length",
                  "value is " + std::to_string(out.value.size()) + " bytes (" +
                      std::to_string(detail::utf8_length(out.value)) + " characters); at most 4096 bytes are allowed");
      else
        error(base + "/value", "content.value_length",
              "value is " + std::to_string(out.value.size()) + " bytes; at most 4096 are allowed inline");
    }
    if (ok && options.verify_inline_content) verify_content(out, digest_len);
    n.content_ = std::move(out);
  }

  // Decodes inline content and checks it against content.size and the integrity digest.
  void verify_content(const Content& c, std::size_t digest_len) {
    const std::string base = "/properties/content";
    std::string decoded;
    const std::string* data = &c.value;
    if (c.encoding != "utf-8") {
      auto bytes = detail::base64_decode(c.value);
      if (!bytes) return error(base + "/value", "content.decode", "value is not valid base64");
      if (c.encoding == "gzip") {
        if (bytes->size() < 2 || static_cast<unsigned char>((*bytes)[0]) != 0x1f ||
            static_cast<unsigned char>((*bytes)[1]) != 0x8b)
          error(base + "/value", "content.decode", "gzip content does not start with the gzip magic bytes");
        return;  // size and digest apply to the uncompressed file: checked by the download layer
      }
      decoded = std::move(*bytes);
      data = &decoded;
    }
    const auto declared = static_cast<std::size_t>(*c.size);
    if (declared != data->size()) {
      const std::string what =
          "size is " + std::to_string(declared) + " but the content is " + std::to_string(data->size()) + " bytes";
      if (c.encoding == "utf-8" && declared == detail::utf8_length(*data))
        deviation(base + "/size", "content.size_chars",
                  "size " + std::to_string(declared) + " counts characters; the value is " +
                      std::to_string(data->size()) + " bytes");
      else if (digest_len > 0)
        error(base + "/size", "content.size", what);
      else  // no usable digest to tell whether the size or the content is wrong
        deviation(base + "/size", "content.size", what + " (no verifiable integrity value)");
    }
    if (digest_len == 0 || !n.integrity_) return;
    unsigned char digest[64];
    const std::size_t len = detail::compute_digest(n.integrity_->method, data->data(), data->size(), digest);
    const std::string_view actual(reinterpret_cast<const char*>(digest), len);
    const auto& written = n.integrity_->value;
    const auto expected = written.size() == 2 * digest_len ? detail::hex_decode(written) : detail::base64_decode(written);
    if (len == 0 || !expected || *expected != actual)
      error("/properties/integrity/value", "integrity.mismatch",
            "the " + n.integrity_->method + " digest of the inline content does not match the integrity value");
  }

  void check_links(const Value& links) {
    if (links.Empty()) return error("/links", "links.empty", "links must hold at least one link");
    int canonical = 0, update = 0, deletion = 0;
    n.links_.reserve(links.Size());
    for (rapidjson::SizeType i = 0; i < links.Size(); ++i) {
      const std::string path = "/links/" + std::to_string(i);
      const Value& l = links[i];
      if (!l.IsObject()) {
        wrong_type(path, l, "object");
        continue;
      }
      Link link;
      bool has_href = false, has_rel = false;
      for (const auto& m : l.GetObject()) {
        const auto name = sv(m.name);
        if (name == "href") has_href = take_string(m.value, path + "/href", link.href);
        else if (name == "rel") has_rel = take_string(m.value, path + "/rel", link.rel);
        else if (name == "type") take_string(m.value, path + "/type", link.type);
        else if (name == "title") take_string(m.value, path + "/title", link.title);
        else if (name == "length") {
          const auto len = as_integer(m.value);
          if (!len || *len < 0) error(path + "/length", "links.length", "length must be a non-negative integer");
          else link.length = *len;
        }
      }
      if (!l.HasMember("href")) missing(path + "/href");
      if (!l.HasMember("rel")) missing(path + "/rel");
      if (has_href && !allowed_scheme(link.href))
        error(path + "/href", "links.scheme", "href '" + link.href + "' is not an http, https, ftp or sftp URL");
      if (has_rel) {
        canonical += link.rel == "canonical";
        update += is_update_rel(link.rel);
        deletion += is_deletion_rel(link.rel);
      }
      n.links_.push_back(std::move(link));
    }
    const int total = canonical + update + deletion;
    if (total == 0)
      error("/links", "links.relation", "one link must have rel canonical, update or deletion");
    else if (total > 1) {
      if (canonical == 1 && update == 1 && deletion == 0)
        deviation("/links", "links.canonical_update",
                  "both a canonical and an update link; the standard wants exactly one of them");
      else
        error("/links", "links.relation",
              "exactly one link may have rel canonical, update or deletion; found " + std::to_string(total));
    }
  }

  // A deletion of discovery metadata must say which record (metadata_id). A message is about
  // metadata when its topic says so (level 5), or, without a topic, when its data_id has a
  // "metadata" path segment.
  void check_deletion_metadata() {
    if (n.operation() != Operation::deletion || !n.metadata_id_.empty()) return;
    bool metadata = false;
    if (!options.topic.empty()) {
      std::size_t pos = 0;
      for (int level = 1; level < 5 && pos != std::string_view::npos; ++level) {
        pos = options.topic.find('/', pos);
        if (pos != std::string_view::npos) ++pos;
      }
      if (pos != std::string_view::npos) metadata = options.topic.substr(pos, options.topic.find('/', pos) - pos) == "metadata";
    } else {
      const std::string_view id = n.data_id_;
      metadata = id.rfind("metadata/", 0) == 0 || id.find("/metadata/") != std::string_view::npos;
    }
    if (metadata)
      error("/properties/metadata_id", "metadata_id.deletion", "a metadata deletion must carry metadata_id");
  }
};

ParsedNotification Notification::parse(std::string_view bytes, const ParseOptions& options) {
  ParsedNotification out;
  out.notification.size_bytes_ = bytes.size();
  auto& report = out.report;
  if (bytes.size() > options.max_input_bytes) {
    report.add_error("", "json.too_large",
                     "input is " + std::to_string(bytes.size()) + " bytes; not parsed (limit " +
                         std::to_string(options.max_input_bytes) + ")");
    return out;
  }
  // The DOM lives in stack buffers for typical messages: no heap traffic per message.
  char value_buffer[16384];
  char stack_buffer[4096];
  rapidjson::MemoryPoolAllocator<> value_alloc(value_buffer, sizeof value_buffer);
  rapidjson::MemoryPoolAllocator<> stack_alloc(stack_buffer, sizeof stack_buffer);
  using PoolDocument = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                                                  rapidjson::MemoryPoolAllocator<>>;
  PoolDocument doc(&value_alloc, sizeof stack_buffer, &stack_alloc);
  // Iterative parsing: deep nesting cannot overflow the stack. Encoding validation: invalid
  // UTF-8 is reported, never passed on.
  constexpr unsigned kFlags = rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag;
  doc.Parse<kFlags>(bytes.data(), bytes.size());
  if (doc.HasParseError()) {
    const auto code = doc.GetParseError();
    const bool encoding = code == rapidjson::kParseErrorStringInvalidEncoding;
    report.add_error("", encoding ? "json.encoding" : "json.syntax",
                     std::string(rapidjson::GetParseError_En(code)) + " at byte " +
                         std::to_string(doc.GetErrorOffset()));
    return out;
  }
  if (!doc.IsObject()) {
    report.add_error("", "message.object", std::string("a notification is a JSON object, got ") + json_type_name(doc));
    return out;
  }
  out.json_ok = true;
  if (bytes.size() > kMaxMessageBytes) {
    const std::size_t compact = compact_size(bytes);
    if (compact > kMaxMessageBytes)
      report.add_error("", "message.size",
                       "message is " + std::to_string(compact) + " bytes; at most 8192 are allowed");
  }
  NotificationBuilder{out.notification, report, options}.run(doc);
  return out;
}

}  // namespace wis2mon
