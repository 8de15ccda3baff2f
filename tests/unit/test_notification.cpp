// Every WNM rule: a message that passes it and one that fails it. The failing messages are
// the project's own valid message with one edit (JSON pointer), so each failure is caused
// by that edit alone.
#include <doctest/doctest.h>

#include "common/encoding.hpp"
#include "support.hpp"
#include "wis2mon/notification.hpp"

using namespace wis2mon;
using testing::mutate;
using testing::valid_message;
using Edits = std::vector<std::pair<std::string, std::optional<std::string>>>;

namespace {

ParsedNotification parse(const std::string& json, ValidationMode mode = ValidationMode::lenient) {
  ParseOptions o;
  o.mode = mode;
  return Notification::parse(json, o);
}

// The edit makes the message fail `rule` with an error at `path` in both modes.
void fails(const Edits& edits, const std::string& rule, const std::string& path) {
  const auto json = mutate(valid_message(), edits);
  for (auto mode : {ValidationMode::lenient, ValidationMode::strict}) {
    const auto p = parse(json, mode);
    INFO("rule ", rule, " mode ", mode == ValidationMode::strict ? "strict" : "lenient", " json ", json);
    CHECK_FALSE(p.valid());
    bool found = false;
    for (const auto& e : p.report.errors()) found = found || (e.rule == rule && e.path == path);
    CHECK(found);
  }
}

// The edit is a real-traffic deviation: a warning in lenient mode, an error in strict mode.
void deviates(const Edits& edits, const std::string& rule) {
  const auto json = mutate(valid_message(), edits);
  INFO("rule ", rule, " json ", json);
  const auto lenient = parse(json, ValidationMode::lenient);
  CHECK(lenient.valid());
  CHECK(lenient.report.has(rule));
  const auto strict = parse(json, ValidationMode::strict);
  CHECK_FALSE(strict.valid());
  CHECK(strict.report.has(rule, false));
}

// Allowed by the standard and its schema, worth a word: valid with a warning in both modes
// (strict is the standard, no stricter).
void notes(const Edits& edits, const std::string& rule, const std::string& path) {
  const auto json = mutate(valid_message(), edits);
  for (auto mode : {ValidationMode::lenient, ValidationMode::strict}) {
    const auto p = parse(json, mode);
    INFO("rule ", rule, " mode ", mode == ValidationMode::strict ? "strict" : "lenient", " json ", json);
    for (const auto& e : p.report.errors()) INFO(e.path, " ", e.rule, " ", e.message);
    CHECK(p.valid());
    bool found = false;
    for (const auto& w : p.report.warnings()) found = found || (w.rule == rule && w.path == path);
    CHECK(found);
  }
}

void passes(const Edits& edits) {
  const auto json = mutate(valid_message(), edits);
  for (auto mode : {ValidationMode::lenient, ValidationMode::strict}) {
    const auto p = parse(json, mode);
    INFO("json ", json);
    for (const auto& e : p.report.errors()) INFO(e.path, " ", e.rule, " ", e.message);
    CHECK(p.valid());
    CHECK(p.report.warnings().empty());
  }
}

}  // namespace

TEST_CASE("the project's valid message is valid in both modes, with no warnings") {
  passes({});
  const auto p = parse(valid_message());
  const auto& n = p.notification;
  CHECK(p.json_ok);
  CHECK(n.id() == "6f1c2c43-9a8e-4b8f-bb52-0c3b1c4d2e01");
  CHECK(n.conforms_to() == std::vector<std::string_view>{"http://wis.wmo.int/spec/wnm/1/conf/core"});
  CHECK(n.type() == "Feature");
  CHECK(n.geometry().type == Geometry::Type::point);
  CHECK(n.geometry().point.lon == 8.5);
  CHECK(n.geometry().point.lat == 47.25);
  CHECK(n.data_id().rfind("ch-meteoswiss/data/core/", 0) == 0);
  CHECK(n.metadata_id() == "urn:wmo:md:ch-meteoswiss:synop");
  CHECK(n.pubtime_text() == "2026-01-01T00:02:11Z");
  CHECK(n.pubtime()->seconds == 1767225731);
  CHECK(n.datetime()->seconds == 1767225600);
  CHECK(n.integrity()->method == "sha512");
  CHECK(n.content()->encoding == "base64");
  CHECK(n.content()->size == 188);
  CHECK(n.cache());
  REQUIRE(n.links().size() == 1);
  CHECK(n.links()[0].rel == "canonical");
  CHECK(n.links()[0].length == 188);
  CHECK(n.operation() == Operation::new_data);
  CHECK(n.data_link() == &n.links()[0]);
  CHECK(n.size_bytes() == valid_message().size());
}

TEST_CASE("JSON-level failures give a report, never an exception") {
  CHECK(parse("").report.has("json.syntax"));
  CHECK(parse("{\"id\": ").report.has("json.syntax"));
  CHECK(parse("{} trailing").report.has("json.syntax"));
  CHECK(parse("{\"id\": \"\xff\xfe\"}").report.has("json.encoding"));
  CHECK(parse("[1,2,3]").report.has("message.object"));
  CHECK(parse("\"text\"").report.has("message.object"));
  CHECK(parse("{\"x\": 1e999999}").report.has("json.syntax"));
  CHECK_FALSE(parse("[1,2,3]").json_ok);
  // 200,000 levels of nesting: iterative parsing, no stack overflow.
  std::string deep(200000, '[');
  deep += std::string(200000, ']');
  CHECK(parse(deep).report.has("message.object"));
  const std::string deep_member = mutate(valid_message(), {{"/_deep", "1"}})
                                      .insert(1, "\"_nest\":" + std::string(100, '[') + std::string(100, ']') + ",");
  CHECK(parse(deep_member).report.has("json.depth"));
  ParseOptions small;
  small.max_input_bytes = 100;
  CHECK(Notification::parse(valid_message(), small).report.has("json.too_large"));
}

TEST_CASE("required members") {
  for (const char* member :
       {"/id", "/type", "/geometry", "/properties", "/links", "/properties/pubtime", "/properties/data_id"})
    fails({{member, std::nullopt}}, "required", member);
  fails({{"/conformsTo", std::nullopt}}, "required", "/conformsTo");
  fails({{"/properties/integrity/method", std::nullopt}}, "required", "/properties/integrity/method");
  fails({{"/properties/integrity/value", std::nullopt}}, "required", "/properties/integrity/value");
  fails({{"/properties/content/size", std::nullopt}}, "required", "/properties/content/size");
  fails({{"/properties/content/encoding", std::nullopt}}, "required", "/properties/content/encoding");
  fails({{"/properties/content/value", std::nullopt}}, "required", "/properties/content/value");
  fails({{"/links/0/href", std::nullopt}}, "required", "/links/0/href");
  fails({{"/links/0/rel", std::nullopt}}, "required", "/links/0/rel");
  // Optional members may go.
  passes({{"/properties/metadata_id", std::nullopt}});
  passes({{"/properties/integrity", std::nullopt}, {"/properties/content", std::nullopt}});
}

TEST_CASE("member types") {
  fails({{"/id", "42"}}, "type", "/id");
  fails({{"/properties", "[]"}}, "type", "/properties");
  fails({{"/links", "{}"}}, "type", "/links");
  fails({{"/links/0", "\"https://x.org\""}}, "type", "/links/0");
  fails({{"/properties/cache", "\"false\""}}, "type", "/properties/cache");
  fails({{"/properties/pubtime", "1700000000"}}, "type", "/properties/pubtime");
  fails({{"/properties/metadata_id", "{}"}}, "type", "/properties/metadata_id");
  fails({{"/properties/content/size", "\"188\""}}, "type", "/properties/content/size");
  fails({{"/properties/integrity", "\"sha512\""}}, "type", "/properties/integrity");
  passes({{"/properties/cache", "false"}});
  CHECK_FALSE(parse(mutate(valid_message(), {{"/properties/cache", "false"}})).notification.cache());
}

TEST_CASE("id is a UUID") {
  fails({{"/id", "\"this is not a UUID\""}}, "id.uuid", "/id");
  fails({{"/id", "\"6f1c2c43-9a8e-4b8f-bb52-0c3b1c4d2e0\""}}, "id.uuid", "/id");
  fails({{"/id", "\"6f1c2c43x9a8e-4b8f-bb52-0c3b1c4d2e01\""}}, "id.uuid", "/id");
  passes({{"/id", "\"6F1C2C43-9A8E-4B8F-BB52-0C3B1C4D2E01\""}});
}

TEST_CASE("conformance: conformsTo core class, deprecated version, never both") {
  fails({{"/conformsTo", "[\"http://wis.wmo.int/spec/wcmp/2/conf/core\"]"}}, "conformsTo.core", "/conformsTo");
  fails({{"/conformsTo", "[]"}}, "conformsTo.core", "/conformsTo");
  passes({{"/conformsTo", "[\"http://example.org/other\", \"http://wis.wmo.int/spec/wnm/1/conf/core\"]"}});
  // The schema allows version v04 (a oneOf branch): deprecated, not wrong, in both modes.
  notes({{"/conformsTo", std::nullopt}, {"/version", "\"v04\""}}, "version.deprecated", "/version");
  fails({{"/conformsTo", std::nullopt}, {"/version", "\"v03\""}}, "version.value", "/version");
  fails({{"/version", "\"v04\""}}, "conformance.both", "/version");
  CHECK(
      parse(mutate(valid_message(), {{"/conformsTo", std::nullopt}, {"/version", "\"v04\""}})).notification.version() ==
      "v04");
}

TEST_CASE("type is Feature") {
  fails({{"/type", "\"FeatureCollection\""}}, "type.feature", "/type");
  passes({{"/type", "\"Feature\""}});
}

TEST_CASE("geometry: null, Point or closed Polygon with valid ranges") {
  passes({{"/geometry", "null"}});
  passes({{"/geometry/coordinates", "[-180, -90]"}});
  passes({{"/geometry/coordinates", "[180, 90, 1200.5]"}});
  fails({{"/geometry/type", "\"LineString\""}}, "geometry.type", "/geometry/type");
  fails({{"/geometry", "\"POINT(1 2)\""}}, "type", "/geometry");
  fails({{"/geometry/coordinates", "[8.5]"}}, "geometry.coordinates", "/geometry/coordinates");
  // RFC 7946: a fourth element SHOULD NOT be there; the schema sets no maximum.
  notes({{"/geometry/coordinates", "[8.5, 47, 1, 2]"}}, "geometry.position_extra", "/geometry/coordinates");
  fails({{"/geometry/coordinates", "[\"8.5\", 47]"}}, "geometry.coordinates", "/geometry/coordinates");
  fails({{"/geometry/coordinates", "[180.5, 47]"}}, "geometry.range", "/geometry/coordinates/0");
  fails({{"/geometry/coordinates", "[8.5, -90.01]"}}, "geometry.range", "/geometry/coordinates/1");
  fails({{"/geometry/coordinates", std::nullopt}}, "required", "/geometry/coordinates");
  const std::string square = "[[[-7.75,40.43],[-7.75,78.46],[71.91,78.46],[71.91,40.43],[-7.75,40.43]]]";
  passes({{"/geometry", "{\"type\":\"Polygon\",\"coordinates\":" + square + "}"}});
  const auto poly =
      parse(mutate(valid_message(), {{"/geometry", "{\"type\":\"Polygon\",\"coordinates\":" + square + "}"}}));
  CHECK(poly.notification.geometry().type == Geometry::Type::polygon);
  CHECK(poly.notification.geometry().rings.at(0).size() == 5);
  fails({{"/geometry", "{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[0,1],[1,1],[1,0]]]}"}}, "geometry.polygon_ring",
        "/geometry/coordinates/0");
  fails({{"/geometry", "{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[0,1],[0,0]]]}"}}, "geometry.polygon_ring",
        "/geometry/coordinates/0");
  // No ring: schema-valid, and RFC 7946 lets a reader take it as null.
  notes({{"/geometry", "{\"type\":\"Polygon\",\"coordinates\":[]}"}}, "geometry.empty", "/geometry/coordinates");
  CHECK(parse(mutate(valid_message(), {{"/geometry", "{\"type\":\"Polygon\",\"coordinates\":[]}"}}))
            .notification.geometry()
            .type == Geometry::Type::none);
  fails({{"/geometry", "{\"type\":\"Polygon\",\"coordinates\":{}}"}}, "geometry.coordinates", "/geometry/coordinates");
  fails({{"/geometry", "{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[0,1],[1,91],[0,0]]]}"}}, "geometry.range",
        "/geometry/coordinates/0/2/1");
}

TEST_CASE("times: RFC 3339, UTC, any number of fractional digits") {
  passes({{"/properties/pubtime", "\"2026-01-01T00:02:11.123456Z\""}});
  passes({{"/properties/pubtime", "\"2026-01-01T00:02:11+00:00\""}});
  fails({{"/properties/pubtime", "\"2026-01-01 00:02:11\""}}, "time.rfc3339", "/properties/pubtime");
  fails({{"/properties/pubtime", "\"2026-02-30T00:02:11Z\""}}, "time.rfc3339", "/properties/pubtime");
  fails({{"/properties/pubtime", "\"2026-01-01T01:02:11+01:00\""}}, "time.utc", "/properties/pubtime");
  fails({{"/properties/datetime", "\"2026-01-01T00:00:00-05:00\""}}, "time.utc", "/properties/datetime");
  // RFC 3339 allows any number of fractional digits; the standard's own example has 9.
  passes({{"/properties/pubtime", "\"2026-01-01T00:02:11.314854383Z\""}});
  passes({{"/properties/datetime", "\"2026-01-01T00:00:00.123456789012Z\""}});
  CHECK(parse(mutate(valid_message(), {{"/properties/pubtime", "\"2026-01-01T00:02:11.314854383Z\""}}))
            .notification.pubtime()
            ->nanos == 314854383);
}

TEST_CASE("a pubtime far ahead of the clock is a warning in both modes; the skew is configurable") {
  const auto json = mutate(valid_message(), {{"/properties/pubtime", "\"2099-01-01T00:00:00Z\""}});
  for (auto mode : {ValidationMode::lenient, ValidationMode::strict}) {
    ParseOptions o;
    o.mode = mode;
    const auto p = Notification::parse(json, o);
    CHECK(p.valid());  // the standard sets no bound
    CHECK(p.report.has("pubtime.future"));
    o.max_pubtime_skew = std::chrono::seconds(0);
    CHECK_FALSE(Notification::parse(json, o).report.has("pubtime.future"));
  }
  // Measured against the given clock: 2026-01-01T00:02:11Z is 131 s after this one.
  ParseOptions o;
  o.now = Timestamp{1767225600, 0};
  o.max_pubtime_skew = std::chrono::seconds(130);
  CHECK(Notification::parse(valid_message(), o).report.has("pubtime.future"));
  o.max_pubtime_skew = std::chrono::seconds(131);
  CHECK_FALSE(Notification::parse(valid_message(), o).report.has("pubtime.future"));
  CHECK_FALSE(Notification::parse(valid_message()).report.has("pubtime.future"));
}

TEST_CASE("temporal extent: datetime xor start/end, start <= end") {
  passes({{"/properties/datetime", "null"}});
  passes({{"/properties/datetime", std::nullopt},
          {"/properties/start_datetime", "\"2026-01-01T00:00:00Z\""},
          {"/properties/end_datetime", "\"2026-01-01T00:00:00Z\""}});
  fails({{"/properties/datetime", std::nullopt}}, "temporal.required", "/properties/datetime");
  fails({{"/properties/datetime", std::nullopt}, {"/properties/start_datetime", "\"2026-01-01T00:00:00Z\""}},
        "temporal.required", "/properties/end_datetime");
  // Both forms match both branches of the schema's oneOf.
  fails({{"/properties/start_datetime", "\"2026-01-01T00:00:00Z\""},
         {"/properties/end_datetime", "\"2026-01-01T01:00:00Z\""}},
        "temporal.exclusive", "/properties/datetime");
  // datetime with half an extent matches one branch: allowed, with a word.
  notes({{"/properties/start_datetime", "\"2026-01-01T00:00:00Z\""}}, "temporal.exclusive",
        "/properties/start_datetime");
  // Neither the schema nor the text orders start and end.
  notes({{"/properties/datetime", std::nullopt},
         {"/properties/start_datetime", "\"2026-01-01T06:00:00Z\""},
         {"/properties/end_datetime", "\"2026-01-01T00:00:00Z\""}},
        "temporal.order", "/properties/end_datetime");
}

TEST_CASE("data_id is not empty") {
  fails({{"/properties/data_id", "\"\""}}, "data_id.empty", "/properties/data_id");
}

TEST_CASE("integrity: method, value form, digest of inline content") {
  fails({{"/properties/integrity/method", "\"sha512-invalid\""}}, "integrity.method", "/properties/integrity/method");
  fails({{"/properties/integrity/method", "\"md5\""}}, "integrity.method", "/properties/integrity/method");
  // A well-formed digest of other data: the inline content does not match.
  fails({{"/properties/integrity/value", "\"" + std::string(86, 'A') + "==\""}}, "integrity.mismatch",
        "/properties/integrity/value");
  // The right digest written in hex: a deviation, and still verified.
  const auto p = parse(valid_message());
  const auto raw = wis2mon::detail::base64_decode(p.notification.integrity()->value);
  std::string hex;
  for (unsigned char c : *raw) {
    static const char* k = "0123456789abcdef";
    hex += k[c >> 4];
    hex += k[c & 15];
  }
  deviates({{"/properties/integrity/value", "\"" + hex + "\""}}, "integrity.hex");
  std::string wrong_hex = hex;
  wrong_hex[0] = wrong_hex[0] == '0' ? '1' : '0';
  fails({{"/properties/integrity/value", "\"" + wrong_hex + "\""}}, "integrity.mismatch",
        "/properties/integrity/value");
  // A value that is no digest at all (a placeholder) cannot be verified.
  deviates({{"/properties/integrity/value", "\"A2KNxvks...S8qfSCw==\""}}, "integrity.value");
  // Without inline content only the form is checked.
  passes({{"/properties/content", std::nullopt}});
}

TEST_CASE("content: encoding, size, value length, decoding") {
  fails({{"/properties/content/encoding", "\"base32\""}}, "content.encoding", "/properties/content/encoding");
  // Above the schema's maximum (the text makes size the unencoded size): a deviation.
  deviates({{"/properties/integrity", std::nullopt},
            {"/properties/content/encoding", "\"gzip\""},
            {"/properties/content/value", "\"H4sIAAAAAAAAA8tIzcnJBwCGphA2BQAAAA==\""},
            {"/properties/content/size", "5000"}},
           "content.size_max");
  fails({{"/properties/content/size", "-1"}}, "content.size_max", "/properties/content/size");
  // With a verifiable digest a wrong size is an error.
  fails({{"/properties/content/size", "47"}}, "content.size", "/properties/content/size");
  // Without one it is a deviation (the official example 1 has placeholder content and digest).
  deviates({{"/properties/content/size", "47"}, {"/properties/integrity", std::nullopt}}, "content.size");
  fails({{"/properties/content/value", "\"not*base64\""}}, "content.decode", "/properties/content/value");
  fails({{"/properties/content/encoding", "\"gzip\""}}, "content.decode", "/properties/content/value");
  // utf-8 content: size in bytes passes; size in characters is a deviation.
  const std::string text = "Vent fort \xc3\xa0 tr\xc3\xa8s fort";  // 21 characters, 23 bytes
  passes({{"/properties/integrity", std::nullopt},
          {"/properties/content", "{\"encoding\":\"utf-8\",\"value\":\"" + text + "\",\"size\":23}"}});
  deviates({{"/properties/integrity", std::nullopt},
            {"/properties/content", "{\"encoding\":\"utf-8\",\"value\":\"" + text + "\",\"size\":21}"}},
           "content.size_chars");
  // More than 4096 bytes inline: an error; 4096 characters in more bytes: a deviation.
  const std::string big(4097, 'x');
  fails({{"/properties/integrity", std::nullopt},
         {"/properties/content", "{\"encoding\":\"utf-8\",\"value\":\"" + big + "\",\"size\":4096}"}},
        "content.value_length", "/properties/content/value");
  std::string wide;
  for (int i = 0; i < 2100; ++i) wide += "\xc3\xa9";  // 2100 characters, 4200 bytes
  deviates({{"/properties/integrity", std::nullopt},
            {"/properties/content", "{\"encoding\":\"utf-8\",\"value\":\"" + wide + "\",\"size\":2100}"}},
           "content.value_length");
}

TEST_CASE("links: at least one, schemes, length, one canonical/update/deletion at least") {
  fails({{"/links", "[]"}}, "links.empty", "/links");
  fails({{"/links/0/href", "\"file:///etc/passwd\""}}, "links.scheme", "/links/0/href");
  fails({{"/links/0/href", "\"mailto:a@b.org\""}}, "links.scheme", "/links/0/href");
  fails({{"/links/0/href", "\"data.example.org/x\""}}, "links.scheme", "/links/0/href");
  for (const char* scheme : {"http", "HTTPS", "ftp", "sftp"})
    passes({{"/links/0/href", std::string("\"") + scheme + "://data.example.org/x\""}});
  fails({{"/links/0/length", "-5"}}, "links.length", "/links/0/length");
  fails({{"/links/0/length", "\"188\""}}, "links.length", "/links/0/length");
  fails({{"/links/0/rel", "\"item\""}}, "links.relation", "/links");
  // /req/core/links E-G ask for at least one: two canonical links are fine.
  passes({{"/links/1", "{\"href\":\"https://b.org/x\",\"rel\":\"canonical\"}"}});
  // Links of two operations: allowed, read as the strongest, with a word.
  notes({{"/links/1", "{\"href\":\"https://b.org/x\",\"rel\":\"deletion\"}"}}, "links.mixed_relations", "/links");
  notes({{"/links/1", "{\"href\":\"https://b.org/x\",\"rel\":\"update\"}"}}, "links.mixed_relations", "/links");
  CHECK(parse(mutate(valid_message(), {{"/links/1", "{\"href\":\"https://b.org/x\",\"rel\":\"update\"}"}}))
            .notification.operation() == Operation::update);
  passes({{"/links/1", "{\"href\":\"https://b.org/x\",\"rel\":\"via\"}"}});
  passes({{"/links/0/rel", "\"update\""}});
  passes({{"/links/0/rel", "\"http://def.wmo.int/def/rel/wnm/-/update\""}});
  CHECK(parse(mutate(valid_message(), {{"/links/0/rel", "\"update\""}})).notification.operation() == Operation::update);
  CHECK(parse(mutate(valid_message(), {{"/links/0/rel", "\"deletion\""}})).notification.operation() ==
        Operation::deletion);
}

TEST_CASE("a metadata deletion without metadata_id is a warning in both modes") {
  const Edits metadata_deletion = {
      {"/links/0/rel", "\"deletion\""},
      {"/properties/metadata_id", std::nullopt},
      {"/properties/data_id", "\"ch-meteoswiss/metadata/urn:wmo:md:ch-meteoswiss:synop\""}};
  // Neither the standard nor its schema requires it; a catalogue cannot act without it.
  notes(metadata_deletion, "metadata_id.deletion", "/properties/metadata_id");
  // A data deletion does not need it.
  passes({{"/links/0/rel", "\"deletion\""}, {"/properties/metadata_id", std::nullopt}});
  // The topic decides when it is known.
  ParseOptions o;
  o.topic = "origin/a/wis2/ch-meteoswiss/metadata";
  const auto json =
      mutate(valid_message(), {{"/links/0/rel", "\"deletion\""}, {"/properties/metadata_id", std::nullopt}});
  CHECK(Notification::parse(json, o).report.has("metadata_id.deletion"));
  o.topic = "origin/a/wis2/ch-meteoswiss/data/core/weather/surface-based-observations/synop";
  CHECK_FALSE(Notification::parse(mutate(valid_message(), metadata_deletion), o).report.has("metadata_id.deletion"));
}

TEST_CASE("message size limit is 8192 bytes on the wire") {
  std::string padding(7600, 'p');
  fails({{"/properties/_padding", "\"" + padding + "\""}}, "message.size", "");
  // Pretty-printing whitespace does not count.
  std::string pretty = valid_message();
  pretty.insert(1, std::string(9000, ' '));
  CHECK(parse(pretty).valid());
}

TEST_CASE("extra members are kept, never an error") {
  const auto json = mutate(valid_message(), {{"/_comment", "{\"errors\":[\"data_id is not correct\"]}"},
                                             {"/properties/wigos_station_identifier", "\"0-20000-0-06660\""},
                                             {"/properties/gts", "{\"ttaaii\":\"ISND40\",\"cccc\":\"SOWR\"}"}});
  const auto p = parse(json, ValidationMode::strict);
  CHECK(p.valid());
  CHECK(p.report.warnings().empty());
  REQUIRE(p.notification.extra_members().size() == 1);
  CHECK(p.notification.extra_members()[0].name == "_comment");
  CHECK(p.notification.extra_members()[0].json == "{\"errors\":[\"data_id is not correct\"]}");
  REQUIRE(p.notification.extra_property("wigos_station_identifier"));
  CHECK(*p.notification.extra_property("wigos_station_identifier") == "\"0-20000-0-06660\"");
  CHECK(*p.notification.extra_property("gts") == "{\"ttaaii\":\"ISND40\",\"cccc\":\"SOWR\"}");
  CHECK_FALSE(p.notification.extra_property("nope"));
}

TEST_CASE("an invalid message is still modelled as far as possible") {
  const auto p = parse(mutate(valid_message(), {{"/id", "\"bad\""}, {"/properties/pubtime", std::nullopt}}));
  CHECK_FALSE(p.valid());
  CHECK(p.report.errors().size() == 2);
  CHECK(p.notification.id() == "bad");
  CHECK(p.notification.data_id().size() > 10);
  CHECK_FALSE(p.notification.pubtime());
}

TEST_CASE("verification of inline content can be turned off") {
  ParseOptions o;
  o.verify_inline_content = false;
  const auto json = mutate(valid_message(), {{"/properties/content/size", "47"}});
  CHECK(Notification::parse(json, o).valid());
}

TEST_CASE("a Notification's strings live as long as any copy of it") {
  Notification kept = parse(mutate(valid_message(), {{"/_comment", "\"kept\""}})).notification;  // the result is gone
  const Notification copy = kept;
  kept = parse("{}").notification;  // the original is overwritten
  CHECK(copy.id() == "6f1c2c43-9a8e-4b8f-bb52-0c3b1c4d2e01");
  CHECK(copy.links().at(0).href == "https://data.example.org/06660.bufr4");
  CHECK(copy.extra_members().at(0).json == "\"kept\"");
  CHECK(copy.integrity()->method == "sha512");
}

TEST_CASE("escapes are resolved and NUL bytes are refused") {
  const auto p = parse(mutate(valid_message(), {{"/properties/data_id", "\"a\\/b \\u00e9\\n\""}}));
  CHECK(p.notification.data_id() == "a/b \xc3\xa9\n");
  std::string with_nul = valid_message();
  with_nul.push_back('\0');
  CHECK(parse(with_nul).report.has("json.syntax"));
  CHECK(parse(std::string("{\"id\":\"a\0b\"}", 12)).report.has("json.syntax"));
}

TEST_CASE("extra members whose numbers grow when re-serialised are kept whole") {
  // "1e20" is written back as "100000000000000000000.0": almost six times longer.
  std::string nums = "[";
  for (int i = 0; i < 300; ++i) nums += i ? ",1e20" : "1e20";
  nums += "]";
  // Inserted as raw text: mutate() would re-serialise (and so expand) the numbers itself.
  const auto p = parse(valid_message().insert(1, "\"_nums\":" + nums + ","));
  REQUIRE(p.valid());
  const auto json = p.notification.extra_members().at(0).json;
  CHECK(json.size() == 300 * 23 + 299 + 2);
  CHECK(json.substr(0, 25) == "[100000000000000000000.0,");
  CHECK(json.back() == ']');
}

TEST_CASE("notification_fields: one flat projection, values typed, text as the C API and Python give it") {
  const auto p = parse(valid_message());
  const auto& n = p.notification;
  const auto* id = find_notification_field("id");
  const auto* pubtime = find_notification_field("pubtime");
  REQUIRE(id != nullptr);
  REQUIRE(pubtime != nullptr);
  CHECK(std::get<std::string>(id->value(n)) == n.id());
  CHECK(std::get<Timestamp>(pubtime->value(n)) == *n.pubtime());
  CHECK(field_text(pubtime->value(n)) == format_rfc3339(*n.pubtime()));
  CHECK(find_notification_field("colour") == nullptr);
  CHECK_FALSE(field_text(find_notification_field("global_cache")->value(n)).has_value());  // absent: null
  std::vector<std::string> names;
  for (const auto& f : notification_fields()) names.emplace_back(f.name);
  CHECK(names.size() == 14);
  // The report's JSON, as the CLI and the C API write it.
  CHECK(to_json(p.report, "source", "x") == R"({"source":"x","valid":true,"errors":[],"warnings":[]})");
}

TEST_CASE("identifiers with control characters are refused in both modes") {
  for (const auto* edit : {R"("a\u0000b")", R"("x/y\u001fz")"})
    for (const auto mode : {ValidationMode::lenient, ValidationMode::strict}) {
      ParseOptions o;
      o.mode = mode;
      const auto data = Notification::parse(mutate(valid_message(), {{"/properties/data_id", edit}}), o);
      CHECK_FALSE(data.valid());
      CHECK(data.report.has("data_id.characters"));
      const auto meta = Notification::parse(mutate(valid_message(), {{"/properties/metadata_id", edit}}), o);
      CHECK(meta.report.has("metadata_id.characters"));
    }
  CHECK_FALSE(parse(valid_message()).report.has("data_id.characters"));
}
