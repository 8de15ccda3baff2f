#include "sample/generator.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <numeric>
#include <random>

#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "sample/demo_stream.hpp"
#include "wis2mon/time.hpp"

namespace wis2mon::detail {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Real-traffic habits the standard does not allow (docs/validation.md: deviations).
constexpr std::array<const char*, 2> kDeviations = {"integrity.hex", "integrity.value"};
constexpr std::array<const char*, 8> kDefects = {"id.uuid",      "required",       "time.utc",     "integrity.mismatch",
                                                 "links.scheme", "geometry.range", "content.size", "json.syntax"};
constexpr std::array<const char*, 4> kEvents = {"Thunderstorm", "Heavy rain", "Strong wind", "Heat"};
constexpr std::array<const char*, 3> kSeverities = {"Moderate", "Severe", "Extreme"};

void str(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// CAP wants its date-times with a zone offset, not "Z".
std::string cap_time(Timestamp t) {
  return format_rfc3339(t).substr(0, 19) + "+00:00";
}

// A small WCMP2-style discovery metadata record (GeoJSON), as a metadata notification carries.
std::string metadata_record(const std::string& id, const std::string& centre, Timestamp updated) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("id");
  str(w, id);
  w.Key("type");
  w.String("Feature");
  w.Key("conformsTo");
  w.StartArray();
  w.String("http://wis.wmo.int/spec/wcmp/2/conf/core");
  w.EndArray();
  w.Key("geometry");
  w.Null();
  w.Key("properties");
  w.StartObject();
  w.Key("type");
  w.String("dataset");
  w.Key("title");
  str(w, "Surface weather observations from " + centre);
  w.Key("description");
  str(w, "Hourly SYNOP observations published by " + centre + " (generated sample).");
  w.Key("wmo:dataPolicy");
  w.String("core");
  w.Key("updated");
  str(w, format_rfc3339(updated));
  w.EndObject();
  w.Key("links");
  w.StartArray();
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace

const std::array<const char*, 8>& sample_centre_ids() {
  // Each is in the WIS2 Topic Hierarchy's centre-id table (a test checks it against the table).
  static const std::array<const char*, 8> ids = {"de-dwd",      "fr-meteofrance", "jp-jma", "br-inmet",
                                                 "ca-eccc-msc", "ke-meteo",       "au-bom", "ar-smn"};
  return ids;
}

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
  std::vector<std::string> centres(sample_centre_ids().begin(), sample_centre_ids().end());
  centres.resize(std::max<std::size_t>(1, o.centres));
  for (std::size_t k = sample_centre_ids().size(); k < centres.size(); ++k)
    centres[k] = "xx-sample-" + std::to_string(k + 1);
  // Every station once in each `stations` messages of the kind: a step coprime with the count.
  const std::size_t stations = std::max<std::size_t>(1, o.stations);
  std::size_t step = 7919;
  while (std::gcd(step, stations) != 1) ++step;
  std::size_t surface_obs = 0;          // surface observations so far
  const Timestamp base{1767225600, 0};  // 2026-01-01T00:00:00Z
  for (std::size_t i = 0; i < o.count; ++i) {
    const std::string& centre = centres[i % centres.size()];
    const int kind = static_cast<int>(i % 10);  // 0-6 surface obs, 7-8 CAP, 9 metadata
    const Timestamp obs{base.seconds + static_cast<std::int64_t>(i / 50) * 600, 0};
    const Timestamp pub{obs.seconds + 130 + static_cast<std::int64_t>(rng() % 60),
                        static_cast<std::int32_t>(rng() % 1000000) * 1000};
    std::string defect;
    if (unit(rng) < o.invalid_fraction) defect = kDefects[rng() % kDefects.size()];
    std::string deviation;
    if (defect.empty() && unit(rng) < o.deviation_fraction) deviation = kDeviations[rng() % kDeviations.size()];

    SampleMessage m;
    std::string data_id, type, encoding, metadata_id;
    double lon = 0, lat = 0;
    std::string station;
    const std::string obs_text = format_rfc3339(obs);
    if (kind <= 6) {
      // One of the stations (1,800 by default: blocks 10 and 11), a real BUFR edition 4 SYNOP.
      const std::size_t index = (surface_obs++ * step) % stations;
      const SynopValues v = random_synop(rng, static_cast<int>(10 + index / 900), static_cast<int>(1 + index % 900),
                                         "SAMPLE STATION " + std::to_string(index + 1), obs);
      m.data = encode_synop_bufr(v);
      char wsi[32];
      std::snprintf(wsi, sizeof wsi, "0-20000-0-%02d%03d", v.block, v.station);
      station = wsi;
      lon = v.lon;
      lat = v.lat;
      data_id = centre + "/data/core/weather/surface-based-observations/synop/WIGOS_" + station + "_" +
                obs_text.substr(0, 4) + obs_text.substr(5, 2) + obs_text.substr(8, 5) + obs_text.substr(14, 2) + "00";
      m.path = data_id + ".bufr4";
      type = "application/bufr";
      encoding = "base64";
      metadata_id = "urn:wmo:md:" + centre + ":surface-weather-observations";
      m.topic = "origin/a/wis2/" + centre + "/data/core/weather/surface-based-observations/synop";
    } else if (kind <= 8) {
      const std::string identifier = "urn:oid:2.49.0.1." + std::to_string(100000 + i);
      m.data = make_cap_xml(identifier, "cap@" + centre + ".example", cap_time(obs), kEvents[i % kEvents.size()],
                            kSeverities[i % kSeverities.size()], "District " + std::to_string(i % 97 + 1),
                            "10.0,20.0 10.5,20.0 10.5,20.5 10.0,20.5 10.0,20.0");
      data_id = centre + "/data/core/weather/advisories-warnings/" + identifier;
      m.path = centre + "/data/core/weather/advisories-warnings/" + std::to_string(100000 + i) + ".xml";
      type = "application/cap+xml";
      encoding = "utf-8";
      metadata_id = "urn:wmo:md:" + centre + ":cap-alerts";
      m.topic = "origin/a/wis2/" + centre + "/data/core/weather/advisories-warnings";
    } else {
      const std::string record_id = "urn:wmo:md:" + centre + ":dataset-" + std::to_string(i % 97);
      m.data = metadata_record(record_id, centre, obs);
      data_id = centre + "/metadata/" + record_id;
      m.path = centre + "/metadata/dataset-" + std::to_string(i % 97) + ".json";
      type = "application/geo+json";
      encoding = "utf-8";
      metadata_id = record_id;
      m.topic = "origin/a/wis2/" + centre + "/metadata";
    }

    unsigned char digest[64];
    compute_digest("sha512", m.data.data(), m.data.size(), digest);
    std::string integrity = base64_encode({reinterpret_cast<char*>(digest), 64});
    if (deviation == "integrity.hex") integrity = hex_encode({reinterpret_cast<char*>(digest), 64});
    if (deviation == "integrity.value") integrity = integrity.substr(0, 8) + "...";  // a placeholder
    if (defect == "integrity.mismatch") integrity[0] = integrity[0] == 'A' ? 'B' : 'A';

    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    w.Key("id");
    str(w, defect == "id.uuid" ? "WIGOS_" + station + std::to_string(i) : random_uuid(rng));
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
      w.Double(defect == "geometry.range" ? 190.5 : lon);
      w.Double(lat);
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
    str(w, metadata_id);
    if (defect != "required") {
      w.Key("pubtime");
      str(w, format_rfc3339(pub, 6));
    }
    w.Key("datetime");
    str(w, defect == "time.utc" ? obs_text.substr(0, obs_text.size() - 1) + "+02:00" : obs_text);
    w.Key("integrity");
    w.StartObject();
    w.Key("method");
    w.String("sha512");
    w.Key("value");
    str(w, integrity);
    w.EndObject();
    if (o.inline_content) {
      w.Key("content");
      w.StartObject();
      w.Key("encoding");
      str(w, encoding);
      w.Key("value");
      str(w, encoding == "base64" ? base64_encode(m.data) : m.data);
      w.Key("size");
      w.Uint64(defect == "content.size" ? m.data.size() + 3 : m.data.size());
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
    str(w, defect == "links.scheme" ? "file:///etc/" + std::to_string(i) : o.data_url + "/" + m.path);
    w.Key("rel");
    w.String("canonical");
    w.Key("type");
    str(w, type);
    w.Key("length");
    w.Uint64(m.data.size());
    w.EndObject();
    w.EndArray();
    // Where it was published: `wis2mon replay` routes by it.
    w.Key("topic");
    str(w, m.topic);
    w.EndObject();
    m.json.assign(buf.GetString(), buf.GetSize());
    if (defect == "json.syntax") m.json.resize(m.json.size() / 2);
    // Without inline content a wrong size or digest only shows when the data is downloaded.
    if ((defect == "content.size" || defect == "integrity.mismatch") && !o.inline_content) defect.clear();
    if (defect == "geometry.range" && kind > 6) defect.clear();
    m.defect = std::move(defect);
    m.deviation = std::move(deviation);
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace wis2mon::detail
