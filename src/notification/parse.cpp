// Notification::parse: RapidJSON in-situ DOM -> Notification + ValidationReport, in one pass
// over each object's members. Every rule of WNM 1.x is checked here; docs/validation.md
// lists the rule names. Nothing in here throws on bad input.
//
// Speed: the input is copied once into a buffer the Notification owns and parsed in situ,
// so every string of the model is a view into that buffer (no allocation per field); JSON
// pointers and messages are only built when there is something to report.
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/compat.hpp"
#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "common/text.hpp"
#include "notification/relations.hpp"
#include "wis2mon/notification.hpp"

namespace wis2mon {
namespace {

using rapidjson::Value;
constexpr std::size_t kMaxMessageBytes = 8192;  // REQ message_size
constexpr std::size_t kMaxContentBytes = 4096;  // REQ content

// What the views of a Notification point into: one block holding the message (parsed in
// situ: strings unescaped in place, then a NUL) followed by the compact JSON of the extra
// members, back to back. Views into the block never move. Re-serialising a part of the
// message rarely takes more bytes than the message did, but numbers can grow ("1e21" comes
// back as "1000000000000000000000.0", at most ~6 times longer): when the area overflows,
// parsing is redone once with an area of kWorstCaseGrowth times the message.
constexpr std::size_t kWorstCaseGrowth = 7;
struct ExtrasArea {
  char* end;
  char* next;
  bool overflow = false;
};

std::string_view sv(const Value& v) {
  return {v.GetString(), v.GetStringLength()};
}
std::string quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}

const char* json_type_name(const Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "boolean";
    case rapidjson::kObjectType:
      return "object";
    case rapidjson::kArrayType:
      return "array";
    case rapidjson::kStringType:
      return "string";
    case rapidjson::kNumberType:
      return "number";
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

// Nesting depth of a value, iteratively: hostile input must not exhaust our stack.
int depth_of(const Value& root, int limit) {
  if (!root.IsObject() && !root.IsArray()) return 1;
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
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      ++n;
      in_string = true;
    } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      ++n;
    }
  }
  return n;
}

using detail::is_deletion_rel;
using detail::is_update_rel;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char c = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
    if (c != b[i]) return false;
  }
  return true;
}

bool allowed_scheme(std::string_view href) {
  const auto colon = href.find(':');
  if (colon == std::string_view::npos || href.substr(colon + 1, 2) != "//") return false;
  const auto scheme = href.substr(0, colon);
  return iequals(scheme, "http") || iequals(scheme, "https") || iequals(scheme, "ftp") || iequals(scheme, "sftp");
}

// RapidJSON output stream writing into the extras area of the storage block. It never
// writes past the end (a full area would be a bug; the output is then cut, not overrun).
struct AreaOutput {
  using Ch = char;
  ExtrasArea& area;
  void Put(char c) {
    if (area.next < area.end)
      *area.next++ = c;
    else
      area.overflow = true;
  }
  void Flush() {}
};

// Pure ASCII and free of NUL bytes, in one pass of eight bytes at a time.
struct ByteScan {
  bool ascii = true;
  bool has_nul = false;
};
ByteScan scan_bytes(std::string_view s) {
  constexpr std::uint64_t kLow = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
  std::uint64_t any = 0, zero = 0;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    any |= w;
    zero |= (w - kLow) & ~w & kHigh;  // a byte of w is zero
  }
  for (; i < s.size(); ++i) {
    any |= static_cast<unsigned char>(s[i]);
    zero |= s[i] == '\0' ? kHigh : 0;
  }
  return {(any & kHigh) == 0, zero != 0};
}

std::string link_path(rapidjson::SizeType i, std::string_view member = {}) {
  std::string p = "/links/" + std::to_string(i);
  if (!member.empty()) (p += '/') += member;
  return p;
}

}  // namespace

// Friend of Notification: fills the private fields while validating.
//
// Strict mode is the standard (WNM 1.x, Manual on WIS Vol II Appendix E, and its bundled
// schema), no stricter: where both allow something, strict allows it. What only the
// standard's text requires is an error too (UTC times, base64 digests, link schemes);
// docs/validation.md gives each rule's source.
struct NotificationBuilder {
  Notification& n;
  ValidationReport& report;
  const ParseOptions& options;
  ExtrasArea& extras;  // where extra members are serialised

  // The parse driver below is not a friend of Notification; it goes through these.
  static void set_size(Notification& to, std::size_t size) { to.size_bytes_ = size; }
  static void set_storage(Notification& to, std::shared_ptr<const void> storage) { to.storage_ = std::move(storage); }

  bool strict() const { return options.mode == ValidationMode::strict; }
  void error(std::string_view path, const char* rule, std::string message) {
    report.add_error(std::string(path), rule, std::move(message));
  }
  // Allowed by the standard but worth a word: a warning in both modes.
  void note(std::string_view path, const char* rule, std::string message) {
    report.add_warning(std::string(path), rule, std::move(message));
  }
  // Something real traffic does that the standard does not allow: a warning when lenient.
  void deviation(std::string_view path, const char* rule, std::string message) {
    if (strict())
      report.add_error(std::string(path), rule, std::move(message));
    else
      report.add_warning(std::string(path), rule, std::move(message));
  }
  void wrong_type(std::string_view path, const Value& v, const char* expected) {
    error(path, "type", std::string("expected ") + expected + ", got " + json_type_name(v));
  }
  void missing(std::string_view path) {
    error(path, "required", "required member '" + std::string(path.substr(path.rfind('/') + 1)) + "' is missing");
  }

  // A string member: views it into out; reports a type error otherwise.
  bool take_string(const Value& v, std::string_view path, std::string_view& out) {
    if (!v.IsString()) {
      wrong_type(path, v, "string");
      return false;
    }
    out = sv(v);
    return true;
  }

  // Serialises an extra member into the storage block and keeps a view of it.
  void keep_extra(const Value& name, const Value& v, std::vector<ExtraMember>& into, std::string_view parent) {
    if (depth_of(v, options.max_depth) > options.max_depth) {
      error(std::string(parent) + "/" + std::string(sv(name)), "json.depth",
            "nested deeper than " + std::to_string(options.max_depth) + " levels");
      into.push_back({sv(name), "null"});
      return;
    }
    char* start = extras.next;
    AreaOutput os{extras};
    rapidjson::Writer<AreaOutput> w(os);
    v.Accept(w);
    into.push_back({sv(name), std::string_view(start, static_cast<std::size_t>(extras.next - start))});
  }

  void run(const Value& root) {
    const Value *id = nullptr, *conforms = nullptr, *version = nullptr, *type = nullptr, *geometry = nullptr,
                *properties = nullptr, *links = nullptr;
    for (const auto& m : root.GetObject()) {
      const auto name = sv(m.name);
      if (name == "id")
        id = &m.value;
      else if (name == "conformsTo")
        conforms = &m.value;
      else if (name == "version")
        version = &m.value;
      else if (name == "type")
        type = &m.value;
      else if (name == "geometry")
        geometry = &m.value;
      else if (name == "properties")
        properties = &m.value;
      else if (name == "links")
        links = &m.value;
      else
        keep_extra(m.name, m.value, n.extra_members_, "");
    }

    if (!id)
      missing("/id");
    else if (take_string(*id, "/id", n.id_) && !detail::is_uuid(n.id_))
      error("/id", "id.uuid", "id " + quoted(n.id_) + " is not a UUID (RFC 4122)");

    check_conformance(conforms, version);

    if (!type)
      missing("/type");
    else if (take_string(*type, "/type", n.type_) && n.type_ != "Feature")
      error("/type", "type.feature", "type must be 'Feature', got " + quoted(n.type_));

    if (!geometry)
      missing("/geometry");
    else
      check_geometry(*geometry);

    if (!properties)
      missing("/properties");
    else if (!properties->IsObject())
      wrong_type("/properties", *properties, "object");
    else
      check_properties(*properties);

    if (!links)
      missing("/links");
    else if (!links->IsArray())
      wrong_type("/links", *links, "array");
    else
      check_links(*links);

    check_deletion_metadata();
  }

  void check_conformance(const Value* conforms, const Value* version) {
    if (conforms && version)
      error("/version", "conformance.both",
            "a message declares either conformsTo or the deprecated version, never both");
    if (conforms) {
      if (!conforms->IsArray()) return wrong_type("/conformsTo", *conforms, "array");
      bool has_core = false;
      n.conforms_to_.reserve(conforms->Size());
      for (const auto& c : conforms->GetArray()) {
        if (!c.IsString()) continue;
        n.conforms_to_.push_back(sv(c));
        has_core = has_core || sv(c) == wnm_core_conformance;
      }
      if (!has_core) error("/conformsTo", "conformsTo.core", "conformsTo must contain " + quoted(wnm_core_conformance));
    } else if (version) {
      if (!take_string(*version, "/version", n.version_)) return;
      if (n.version_ != "v04")
        error("/version", "version.value", "version must be 'v04', got " + quoted(n.version_));
      else  // the schema allows it (a oneOf branch); Appendix E 1.6 deprecates it
        note("/version", "version.deprecated", "'version: v04' is deprecated; WNM 1.x declares conformsTo");
    } else {
      missing("/conformsTo");
    }
  }

  // Reads a GeoJSON position; `path` builds its JSON pointer, only when there is an error.
  template <typename PathFn>
  bool position(const Value& v, PathFn&& path, Position& out) {
    if (!v.IsArray() || v.Size() < 2) {
      error(path(), "geometry.coordinates", "a position is an array of 2 or 3 numbers");
      return false;
    }
    // RFC 7946 3.1.1: positions SHOULD NOT have more than three elements (not MUST NOT).
    if (v.Size() > 3)
      note(path(), "geometry.position_extra",
           "a position of " + std::to_string(v.Size()) + " numbers; the elements after the third are ignored");
    for (const auto& c : v.GetArray())
      if (!c.IsNumber()) {
        error(path(), "geometry.coordinates", "a position holds numbers only");
        return false;
      }
    out.lon = v[0].GetDouble();
    out.lat = v[1].GetDouble();
    if (v.Size() == 3) out.height = v[2].GetDouble();
    bool ok = true;
    if (out.lon < -180 || out.lon > 180) {
      error(path() + "/0", "geometry.range", "longitude " + std::to_string(out.lon) + " is outside [-180, 180]");
      ok = false;
    }
    if (out.lat < -90 || out.lat > 90) {
      error(path() + "/1", "geometry.range", "latitude " + std::to_string(out.lat) + " is outside [-90, 90]");
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
      return error("/geometry/type", "geometry.type", "geometry must be null, a Point or a Polygon, got " + quoted(t));
    if (coords == g.MemberEnd()) return missing("/geometry/coordinates");
    const Value& c = coords->value;
    if (t == "Point") {
      if (position(
              c, [] { return std::string("/geometry/coordinates"); }, n.geometry_.point))
        n.geometry_.type = Geometry::Type::point;
      return;
    }
    if (!c.IsArray())
      return error("/geometry/coordinates", "geometry.coordinates",
                   "a Polygon's coordinates are an array of linear rings");
    // The schema allows no ring at all; RFC 7946 3.1 lets a reader take it as null.
    if (c.Empty())
      return note("/geometry/coordinates", "geometry.empty", "a Polygon without rings; read as a null geometry");
    bool ok = true;
    for (rapidjson::SizeType r = 0; r < c.Size(); ++r) {
      const auto ring_path = [r] { return "/geometry/coordinates/" + std::to_string(r); };
      const Value& ring = c[r];
      if (!ring.IsArray() || ring.Size() < 4) {
        error(ring_path(), "geometry.polygon_ring", "a linear ring has at least 4 positions");
        ok = false;
        continue;
      }
      std::vector<Position> positions(ring.Size());
      for (rapidjson::SizeType i = 0; i < ring.Size(); ++i)
        ok = position(
                 ring[i], [&] { return ring_path() + "/" + std::to_string(i); }, positions[i]) &&
             ok;
      const auto& first = positions.front();
      const auto& last = positions.back();
      if (ok && (first.lon != last.lon || first.lat != last.lat || first.height != last.height)) {
        error(ring_path(), "geometry.polygon_ring", "a linear ring must end where it starts (closed)");
        ok = false;
      }
      n.geometry_.rings.push_back(std::move(positions));
    }
    if (ok)
      n.geometry_.type = Geometry::Type::polygon;
    else
      n.geometry_.rings.clear();
  }

  std::optional<Timestamp> check_time(const Value& v, std::string_view path) {
    if (!v.IsString()) {
      wrong_type(path, v, "string");
      return std::nullopt;
    }
    Rfc3339Details d;
    auto t = parse_rfc3339(sv(v), &d);
    if (!t) {
      error(path, "time.rfc3339", quoted(sv(v)) + " is not an RFC 3339 date-time");
      return std::nullopt;
    }
    // RFC 3339 allows any number of fractional digits (the standard's own example has 9).
    if (!d.utc) error(path, "time.utc", quoted(sv(v)) + " is not in UTC (use 'Z')");
    return t;
  }

  void check_properties(const Value& p) {
    const Value *pubtime = nullptr, *data_id = nullptr, *datetime = nullptr, *start = nullptr, *end = nullptr,
                *integrity = nullptr, *content = nullptr;
    const auto path_of = [](const Value& name) { return "/properties/" + std::string(sv(name)); };
    for (const auto& m : p.GetObject()) {
      const auto name = sv(m.name);
      if (name == "pubtime")
        pubtime = &m.value;
      else if (name == "data_id")
        data_id = &m.value;
      else if (name == "datetime")
        datetime = &m.value;
      else if (name == "start_datetime")
        start = &m.value;
      else if (name == "end_datetime")
        end = &m.value;
      else if (name == "integrity")
        integrity = &m.value;
      else if (name == "content")
        content = &m.value;
      else if (name == "metadata_id" || name == "producer" || name == "global-cache") {
        std::string_view& field = name == "metadata_id" ? n.metadata_id_
                                  : name == "producer"  ? n.producer_
                                                        : n.global_cache_;
        if (m.value.IsString())
          field = sv(m.value);
        else
          wrong_type(path_of(m.name), m.value, "string");
      } else if (name == "cache") {
        if (m.value.IsBool())
          n.cache_ = m.value.GetBool();
        else
          wrong_type(path_of(m.name), m.value, "boolean");
      } else {
        keep_extra(m.name, m.value, n.extra_properties_, "/properties");
      }
    }

    if (!pubtime)
      missing("/properties/pubtime");
    else if (take_string(*pubtime, "/properties/pubtime", n.pubtime_text_))
      n.pubtime_ = check_time(*pubtime, "/properties/pubtime");
    if (n.pubtime_ && options.max_pubtime_skew.count() > 0) {
      // A clock years ahead (2099, 9999) would otherwise make this copy the newest forever.
      const Timestamp now = options.now.value_or(Timestamp::now());
      const std::int64_t ahead = n.pubtime_->seconds - now.seconds;
      if (ahead > options.max_pubtime_skew.count())
        report.add_warning("/properties/pubtime", "pubtime.future",
                           "pubtime " + std::string(n.pubtime_text_) + " is " + std::to_string(ahead) +
                               " s ahead of this clock (more than " + std::to_string(options.max_pubtime_skew.count()) +
                               " s); it does not block later updates of the item");
    }

    if (!data_id)
      missing("/properties/data_id");
    else if (take_string(*data_id, "/properties/data_id", n.data_id_) && n.data_id_.empty())
      error("/properties/data_id", "data_id.empty", "data_id must not be empty");
    // Identifiers name things in paths, keys and database rows: a NUL or another control
    // character (valid in JSON as \u0000) is refused in both modes.
    const auto control_free = [&](std::string_view id, const char* path, const char* rule) {
      if (std::any_of(id.begin(), id.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
        error(path, rule, std::string(path + std::string_view(path).rfind('/') + 1) + " holds a control character");
    };
    control_free(n.data_id_, "/properties/data_id", "data_id.characters");
    control_free(n.metadata_id_, "/properties/metadata_id", "metadata_id.characters");

    // Temporal extent: datetime (string or null) xor start_datetime + end_datetime (the
    // schema's oneOf: both forms at once match both branches). datetime with half an extent
    // matches one branch: allowed, with a word.
    if (datetime && start && end)
      error("/properties/datetime", "temporal.exclusive",
            "give either datetime or start_datetime/end_datetime, not both");
    else if (datetime && (start || end))
      note(start ? "/properties/start_datetime" : "/properties/end_datetime", "temporal.exclusive",
           std::string(start ? "start_datetime" : "end_datetime") +
               " without its pair next to datetime; the temporal description is datetime");
    if (!datetime && !(start && end))
      error(start ? "/properties/end_datetime"
            : end ? "/properties/start_datetime"
                  : "/properties/datetime",
            "temporal.required", "datetime, or both start_datetime and end_datetime, are required");
    if (datetime && !datetime->IsNull()) n.datetime_ = check_time(*datetime, "/properties/datetime");
    if (start) n.start_datetime_ = check_time(*start, "/properties/start_datetime");
    if (end) n.end_datetime_ = check_time(*end, "/properties/end_datetime");
    // Neither the schema nor the text orders them: an extent that ends before it starts is
    // worth a word, not a rejection.
    if (n.start_datetime_ && n.end_datetime_ && *n.end_datetime_ < *n.start_datetime_)
      note("/properties/end_datetime", "temporal.order", "end_datetime is before start_datetime");

    std::size_t digest_len = 0;
    if (integrity) digest_len = check_integrity(*integrity);
    if (content) check_content(*content, digest_len);
  }

  // Returns the digest length when the integrity member is usable for verification.
  std::size_t check_integrity(const Value& v) {
    if (!v.IsObject()) {
      wrong_type("/properties/integrity", v, "object");
      return 0;
    }
    Integrity out;
    const auto method = v.FindMember("method");
    const auto value = v.FindMember("value");
    bool ok = true;
    if (method == v.MemberEnd())
      missing("/properties/integrity/method"), ok = false;
    else
      ok = take_string(method->value, "/properties/integrity/method", out.method) && ok;
    if (value == v.MemberEnd())
      missing("/properties/integrity/value"), ok = false;
    else
      ok = take_string(value->value, "/properties/integrity/value", out.value) && ok;
    std::size_t size = 0;
    if (ok) {
      size = detail::digest_size(out.method);
      if (size == 0) {
        error("/properties/integrity/method", "integrity.method",
              "method " + quoted(out.method) + " is not one of sha256, sha384, sha512, sha3-256, sha3-384, sha3-512");
      } else if (detail::base64_decoded_size(out.value) == size) {
        // the standard form
      } else if (detail::is_hex(out.value) && out.value.size() == 2 * size) {
        deviation("/properties/integrity/value", "integrity.hex",
                  "value is hex; the standard says base64 of the " + std::to_string(size) + "-byte digest");
      } else {
        deviation(
            "/properties/integrity/value", "integrity.value",
            "value is not the base64 of a " + std::to_string(size) + "-byte " + std::string(out.method) + " digest");
        size = 0;  // cannot be used to verify anything
      }
    }
    n.integrity_ = out;
    return size;
  }

  void check_content(const Value& v, std::size_t digest_len) {
    if (!v.IsObject()) return wrong_type("/properties/content", v, "object");
    Content out;
    bool ok = true;
    const auto enc = v.FindMember("encoding");
    const auto size = v.FindMember("size");
    const auto value = v.FindMember("value");
    if (enc == v.MemberEnd())
      missing("/properties/content/encoding"), ok = false;
    else if (take_string(enc->value, "/properties/content/encoding", out.encoding)) {
      if (out.encoding != "utf-8" && out.encoding != "base64" && out.encoding != "gzip") {
        error("/properties/content/encoding", "content.encoding",
              "encoding " + quoted(out.encoding) + " is not one of utf-8, base64, gzip");
        ok = false;
      }
    } else
      ok = false;
    if (size == v.MemberEnd())
      missing("/properties/content/size"), ok = false;
    else if (auto s = as_integer(size->value)) {
      out.size = *s;
      if (*s < 0) {
        error("/properties/content/size", "content.size_max", "size must not be negative");
        ok = false;
      } else if (*s > static_cast<std::int64_t>(kMaxContentBytes)) {
        // The schema caps size at 4096; Appendix E 1.15 makes it the unencoded size, "not
        // directly compared with the size limit" (gzip content can hold more).
        deviation("/properties/content/size", "content.size_max",
                  "size " + std::to_string(*s) + " is above the schema's maximum of 4096");
      }
    } else
      wrong_type("/properties/content/size", size->value, "integer"), ok = false;
    if (value == v.MemberEnd())
      missing("/properties/content/value"), ok = false;
    else
      ok = take_string(value->value, "/properties/content/value", out.value) && ok;

    if (out.value.size() > kMaxContentBytes) {
      const auto chars = detail::utf8_length(out.value);
      const std::string what = "value is " + std::to_string(out.value.size()) + " bytes";
      if (chars <= kMaxContentBytes)
        deviation("/properties/content/value", "content.value_length",
                  what + " (" + std::to_string(chars) + " characters); at most 4096 bytes are allowed");
      else
        error("/properties/content/value", "content.value_length", what + "; at most 4096 are allowed inline");
    }
    n.content_ = out;
    if (ok && options.verify_inline_content) verify_content(out, digest_len);
  }

  // Decodes inline content and checks it against content.size and the integrity digest.
  void verify_content(const Content& c, std::size_t digest_len) {
    thread_local std::string decoded;  // reused: no allocation per message once warmed up
    std::string_view data = c.value;
    if (c.encoding != "utf-8") {
      if (!detail::base64_decode_into(c.value, decoded))
        return error("/properties/content/value", "content.decode", "value is not valid base64");
      if (c.encoding == "gzip") {
        if (decoded.size() < 2 || static_cast<unsigned char>(decoded[0]) != 0x1f ||
            static_cast<unsigned char>(decoded[1]) != 0x8b)
          error("/properties/content/value", "content.decode", "gzip content does not start with the gzip magic bytes");
        return;  // size and digest apply to the uncompressed file: checked by the download layer
      }
      data = decoded;
    }
    const auto declared = static_cast<std::size_t>(*c.size);
    if (declared != data.size()) {
      const std::string what =
          "size is " + std::to_string(declared) + " but the content is " + std::to_string(data.size()) + " bytes";
      if (c.encoding == "utf-8" && declared == detail::utf8_length(data))
        deviation("/properties/content/size", "content.size_chars",
                  "size " + std::to_string(declared) + " counts characters; the value is " +
                      std::to_string(data.size()) + " bytes");
      else if (digest_len > 0)
        error("/properties/content/size", "content.size", what);
      else  // no usable digest to tell whether the size or the content is wrong
        deviation("/properties/content/size", "content.size", what + " (no verifiable integrity value)");
    }
    if (digest_len == 0 || !n.integrity_) return;
    unsigned char digest[64];
    const std::size_t len = detail::compute_digest(n.integrity_->method, data.data(), data.size(), digest);
    const std::string_view written = n.integrity_->value;
    bool match = len == digest_len;
    if (match && written.size() == 2 * digest_len) {  // hex
      for (std::size_t i = 0; i < len && match; ++i) {
        auto nibble = [](char ch) { return ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10; };
        match = static_cast<unsigned char>(nibble(written[2 * i]) * 16 + nibble(written[2 * i + 1])) == digest[i];
      }
    } else if (match) {  // base64: check_integrity made sure it decodes to digest_len bytes
      thread_local std::string expected;
      match = detail::base64_decode_into(written, expected) && expected.size() == len &&
              std::equal(digest, digest + len, reinterpret_cast<const unsigned char*>(expected.data()));
    }
    if (!match)
      error("/properties/integrity/value", "integrity.mismatch",
            "the " + std::string(n.integrity_->method) +
                " digest of the inline content does not match the integrity value");
  }

  void check_links(const Value& links) {
    if (links.Empty()) return error("/links", "links.empty", "links must hold at least one link");
    int canonical = 0, update = 0, deletion = 0;
    n.links_.reserve(links.Size());
    for (rapidjson::SizeType i = 0; i < links.Size(); ++i) {
      const Value& l = links[i];
      if (!l.IsObject()) {
        wrong_type(link_path(i), l, "object");
        continue;
      }
      Link link;
      bool has_href = false, has_rel = false, seen_href = false, seen_rel = false;
      for (const auto& m : l.GetObject()) {
        const auto name = sv(m.name);
        std::string_view* field = name == "href"    ? &link.href
                                  : name == "rel"   ? &link.rel
                                  : name == "type"  ? &link.type
                                  : name == "title" ? &link.title
                                                    : nullptr;
        if (field) {
          seen_href = seen_href || name == "href";
          seen_rel = seen_rel || name == "rel";
          const bool ok = m.value.IsString();
          if (ok)
            *field = sv(m.value);
          else
            wrong_type(link_path(i, name), m.value, "string");
          has_href = has_href || (ok && name == "href");
          has_rel = has_rel || (ok && name == "rel");
        } else if (name == "length") {
          const auto len = as_integer(m.value);
          if (!len || *len < 0)
            error(link_path(i, "length"), "links.length", "length must be a non-negative integer");
          else
            link.length = *len;
        }
      }
      if (!seen_href) missing(link_path(i, "href"));
      if (!seen_rel) missing(link_path(i, "rel"));
      if (has_href && !allowed_scheme(link.href))
        error(link_path(i, "href"), "links.scheme",
              "href " + quoted(link.href) + " is not an http, https, ftp or sftp URL");
      if (has_rel) {
        canonical += link.rel == "canonical";
        update += is_update_rel(link.rel);
        deletion += is_deletion_rel(link.rel);
      }
      n.links_.push_back(link);
    }
    // /req/core/links E, F, G: a new item has at least one canonical link, an update at least
    // one update link, a deletion at least one deletion link. More than one of a kind is
    // allowed; links of several kinds are too (nothing forbids it), and the message is then
    // read as the strongest: deletion, then update, then new (Notification::operation).
    const int kinds = (canonical > 0) + (update > 0) + (deletion > 0);
    if (kinds == 0)
      error("/links", "links.relation", "one link must have rel canonical, update or deletion");
    else if (kinds > 1)
      note("/links", "links.mixed_relations",
           "links of more than one operation (canonical " + std::to_string(canonical) + ", update " +
               std::to_string(update) + ", deletion " + std::to_string(deletion) + "); read as " +
               (deletion ? "a deletion" : "an update"));
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
      if (pos != std::string_view::npos)
        metadata = options.topic.substr(pos, options.topic.find('/', pos) - pos) == "metadata";
    } else {
      const std::string_view id = n.data_id_;
      metadata = id.rfind("metadata/", 0) == 0 || id.find("/metadata/") != std::string_view::npos;
    }
    // Neither the standard nor its schema requires it; a Global Discovery Catalogue cannot
    // tell which record to delete without it (the GDC tests count it as a failure).
    if (metadata)
      note("/properties/metadata_id", "metadata_id.deletion",
           "a metadata deletion without metadata_id; a Global Discovery Catalogue cannot tell which record it deletes");
  }
};

namespace {

// One parse into a block whose extras area holds `growth` times the message.
ParsedNotification parse_into_block(std::string_view bytes, const ParseOptions& options, bool ascii, std::size_t growth,
                                    bool& extras_overflow);

}  // namespace

ParsedNotification Notification::parse(std::string_view bytes, const ParseOptions& options) {
  if (bytes.size() > options.max_input_bytes) {
    ParsedNotification out;
    NotificationBuilder::set_size(out.notification, bytes.size());
    out.report.add_error("", "json.too_large",
                         "input is " + std::to_string(bytes.size()) + " bytes; not parsed (limit " +
                             std::to_string(options.max_input_bytes) + ")");
    return out;
  }
  const ByteScan scan = scan_bytes(bytes);
  if (scan.has_nul) {  // in-situ parsing would stop at it and ignore the rest
    ParsedNotification out;
    NotificationBuilder::set_size(out.notification, bytes.size());
    out.report.add_error("", "json.syntax", "NUL byte in the message");
    return out;
  }
  bool overflow = false;
  auto out = parse_into_block(bytes, options, scan.ascii, 1, overflow);
  if (overflow) out = parse_into_block(bytes, options, scan.ascii, kWorstCaseGrowth, overflow);
  return out;
}

namespace {

ParsedNotification parse_into_block(std::string_view bytes, const ParseOptions& options, bool ascii, std::size_t growth,
                                    bool& extras_overflow) {
  ParsedNotification out;
  NotificationBuilder::set_size(out.notification, bytes.size());
  auto& report = out.report;
  // One allocation for everything the model's views point into (see ExtrasArea), plus 16
  // bytes of padding: RapidJSON's SSE2 string scanner loads 16 aligned bytes at a time and
  // may read up to 15 bytes past the terminator.
  constexpr std::size_t kSimdPadding = 16;
  const std::size_t block_size = (growth + 1) * bytes.size() + 2;
  std::shared_ptr<char[]> block = detail::shared_buffer(block_size + kSimdPadding);
  std::memcpy(block.get(), bytes.data(), bytes.size());
  block[bytes.size()] = '\0';  // in-situ parsing reads up to the terminator
  std::memset(block.get() + block_size, 0, kSimdPadding);
  ExtrasArea extras{block.get() + block_size, block.get() + bytes.size() + 1};

  // The DOM nodes live in stack buffers for typical messages: no heap traffic for them.
  char value_buffer[16384];
  char stack_buffer[4096];
  rapidjson::MemoryPoolAllocator<> value_alloc(value_buffer, sizeof value_buffer);
  rapidjson::MemoryPoolAllocator<> stack_alloc(stack_buffer, sizeof stack_buffer);
  using PoolDocument =
      rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>, rapidjson::MemoryPoolAllocator<>>;
  PoolDocument doc(&value_alloc, sizeof stack_buffer, &stack_alloc);
  // Iterative parsing: deep nesting cannot overflow the stack. Encoding validation: invalid
  // UTF-8 is reported, never passed on; pure-ASCII input (most messages) cannot hold any, so
  // it skips RapidJSON's per-character check.
  constexpr unsigned kFlags = rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag;
  if (ascii)
    doc.ParseInsitu<kFlags>(block.get());
  else
    doc.ParseInsitu<kFlags | rapidjson::kParseValidateEncodingFlag>(block.get());
  if (doc.HasParseError()) {
    const auto code = doc.GetParseError();
    const bool encoding = code == rapidjson::kParseErrorStringInvalidEncoding;
    report.add_error(
        "", encoding ? "json.encoding" : "json.syntax",
        std::string(rapidjson::GetParseError_En(code)) + " at byte " + std::to_string(doc.GetErrorOffset()));
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
  NotificationBuilder{out.notification, report, options, extras}.run(doc);
  extras_overflow = extras.overflow;
  NotificationBuilder::set_storage(out.notification, std::move(block));
  return out;
}

}  // namespace

}  // namespace wis2mon
