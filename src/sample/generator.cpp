#include "sample/generator.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <random>

#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "wis2mon/time.hpp"

namespace wis2mon::detail {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr std::array<const char*, 8> kCentres = {"de-dwd",      "fr-meteo-france", "jp-jma", "br-inmet",
                                                 "ca-eccc-msc", "ke-kmd",          "au-bom", "ar-smn"};
// Real-traffic habits the standard does not allow (docs/validation.md: deviations).
constexpr std::array<const char*, 2> kDeviations = {"integrity.hex", "integrity.value"};
constexpr std::array<const char*, 8> kDefects = {"id.uuid",      "required",       "time.utc",     "integrity.mismatch",
                                                 "links.scheme", "geometry.range", "content.size", "json.syntax"};

void str(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

}  // namespace

std::string random_uuid(std::mt19937_64& rng) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(36, '-');
  for (std::size_t i = 0; i < s.size(); ++i)
    if (i != 8 && i != 13 && i != 18 && i != 23) s[i] = kHex[rng() % 16];
  s[14] = '4';
  return s;
}

std::vector<SampleMessage> generate_samples(const SampleOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<SampleMessage> out;
  out.reserve(o.count);
  const Timestamp base{1767225600, 0};  // 2026-01-01T00:00:00Z
  for (std::size_t i = 0; i < o.count; ++i) {
    const std::string centre = kCentres[i % kCentres.size()];
    const int kind = static_cast<int>(i % 10);  // 0-6 surface obs, 7-8 CAP, 9 metadata
    const Timestamp obs{base.seconds + static_cast<std::int64_t>(i / 50) * 600, 0};
    const Timestamp pub{obs.seconds + 130 + static_cast<std::int64_t>(rng() % 60),
                        static_cast<std::int32_t>(rng() % 1000000) * 1000};
    const std::string station = "0-20000-0-" + std::to_string(10000 + (i * 7919) % 89999);
    std::string defect;
    if (unit(rng) < o.invalid_fraction) defect = kDefects[rng() % kDefects.size()];
    std::string deviation;
    if (defect.empty() && unit(rng) < o.deviation_fraction) deviation = kDeviations[rng() % kDeviations.size()];

    SampleMessage m;
    std::string data_id, href, type, disc_topic;
    if (kind <= 6) {
      disc_topic = "weather/surface-based-observations/synop";
      data_id = centre + "/data/core/weather/surface-based-observations/synop/WIGOS_" + station + "_" +
                format_rfc3339(obs).substr(0, 16);
      href = "https://" + centre + ".example.org/data/" + station + "/" + std::to_string(obs.seconds) + ".bufr4";
      type = "application/bufr";
    } else if (kind <= 8) {
      disc_topic = "weather/advisories-warnings";
      data_id = centre + "/data/core/weather/advisories-warnings/" + random_uuid(rng) + ".xml";
      href = "https://" + centre + ".example.org/cap/" + std::to_string(i) + ".xml";
      type = "application/cap+xml";
    } else {
      data_id = centre + "/metadata/urn:wmo:md:" + centre + ":dataset-" + std::to_string(i % 97);
      href = "https://" + centre + ".example.org/metadata/dataset-" + std::to_string(i % 97) + ".json";
      type = "application/geo+json";
    }
    m.topic =
        kind == 9 ? "origin/a/wis2/" + centre + "/metadata" : "origin/a/wis2/" + centre + "/data/core/" + disc_topic;

    // A synthetic observation payload: "BUFR" framing around pseudo-random bytes.
    std::string payload = "BUFR";
    const std::size_t len = kind <= 6 ? 200 + rng() % 100 : 900 + rng() % 400;
    while (payload.size() < len - 4) payload += static_cast<char>(rng() & 0xff);
    payload += "7777";
    unsigned char digest[64];
    compute_digest("sha512", payload.data(), payload.size(), digest);
    std::string integrity = base64_encode({reinterpret_cast<char*>(digest), 64});
    if (deviation == "integrity.hex") integrity = hex_encode({reinterpret_cast<char*>(digest), 64});
    if (deviation == "integrity.value") integrity = integrity.substr(0, 8) + "...";  // a placeholder
    if (defect == "integrity.mismatch") integrity[0] = integrity[0] == 'A' ? 'B' : 'A';

    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    w.Key("id");
    str(w, defect == "id.uuid" ? "WIGOS_" + station : random_uuid(rng));
    w.Key("conformsTo");
    w.StartArray();
    w.String("http://wis.wmo.int/spec/wnm/1/conf/core");
    w.EndArray();
    w.Key("type");
    w.String("Feature");
    w.Key("geometry");
    if (kind <= 6) {
      w.StartObject();
      w.Key("type");
      w.String("Point");
      w.Key("coordinates");
      w.StartArray();
      w.Double(defect == "geometry.range" ? 190.5 : -180 + unit(rng) * 360);
      w.Double(-90 + unit(rng) * 180);
      w.EndArray();
      w.EndObject();
    } else {
      w.Null();
    }
    w.Key("properties");
    w.StartObject();
    w.Key("data_id");
    str(w, data_id);
    w.Key("metadata_id");
    str(w, "urn:wmo:md:" + centre + ":" +
               (kind <= 6   ? "synop"
                : kind <= 8 ? "cap"
                            : "dataset-" + std::to_string(i % 97)));
    if (defect != "required") {
      w.Key("pubtime");
      str(w, format_rfc3339(pub, 6));
    }
    w.Key("datetime");
    std::string dt = format_rfc3339(obs);
    if (defect == "time.utc") dt = dt.substr(0, dt.size() - 1) + "+02:00";
    str(w, dt);
    w.Key("integrity");
    w.StartObject();
    w.Key("method");
    w.String("sha512");
    w.Key("value");
    str(w, integrity);
    w.EndObject();
    if (kind <= 6 && o.inline_content) {
      w.Key("content");
      w.StartObject();
      w.Key("encoding");
      w.String("base64");
      w.Key("value");
      str(w, base64_encode(payload));
      w.Key("size");
      w.Uint64(defect == "content.size" ? payload.size() + 3 : payload.size());
      w.EndObject();
    }
    if (kind <= 6) {
      w.Key("wigos_station_identifier");
      str(w, station);
    }
    w.EndObject();
    w.Key("links");
    w.StartArray();
    w.StartObject();
    w.Key("href");
    str(w, defect == "links.scheme" ? "file:///etc/" + std::to_string(i) : href);
    w.Key("rel");
    w.String("canonical");
    w.Key("type");
    str(w, type);
    w.Key("length");
    w.Uint64(payload.size());
    w.EndObject();
    w.EndArray();
    w.EndObject();
    m.json.assign(buf.GetString(), buf.GetSize());
    if (defect == "json.syntax") m.json.resize(m.json.size() / 2);
    if (defect == "content.size" && !(kind <= 6 && o.inline_content)) defect.clear();
    if (defect == "geometry.range" && kind > 6) defect.clear();
    // Without inline content a wrong digest only shows when the data is downloaded.
    if (defect == "integrity.mismatch" && !(kind <= 6 && o.inline_content)) defect.clear();
    m.defect = std::move(defect);
    m.deviation = std::move(deviation);
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace wis2mon::detail
