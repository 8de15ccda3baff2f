#include "sample/demo_stream.hpp"

#include <eccodes.h>
#include <libxml/xmlwriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>

#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "sample/generator.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/time.hpp"

namespace wis2mon::detail {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

const auto& kCentres = sample_centre_ids();

// Plain element descriptors: station identification, time, position, and the usual
// surface elements (the same set decode_bufr's tests use).
const std::vector<long> kDescriptors = {1001, 1002, 1015,  4001,  4002,  4003,  4004,  4005, 5001,
                                        6001, 7030, 10004, 10051, 12101, 12103, 11001, 11002};

struct CodesHandle {
  codes_handle* h;
  ~CodesHandle() { codes_handle_delete(h); }
};

void check(int err, const char* what) {
  if (err != 0)
    throw Error(ErrorCode::internal, std::string("BUFR encoding: ") + what + ": " + codes_get_error_message(err));
}

std::string sha512_base64(const std::string& bytes) {
  unsigned char digest[64];
  compute_digest("sha512", bytes.data(), bytes.size(), digest);
  return base64_encode({reinterpret_cast<char*>(digest), 64});
}

void str(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

struct NotificationSpec {
  std::string id, data_id, metadata_id, pubtime, datetime, href, type, integrity, global_cache;
  std::size_t length = 0;
  bool point = false;
  double lon = 0, lat = 0;
  bool drop_pubtime = false;
};

std::string notification_json(const NotificationSpec& s) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("id");
  str(w, s.id);
  w.Key("conformsTo");
  w.StartArray();
  w.String("http://wis.wmo.int/spec/wnm/1/conf/core");
  w.EndArray();
  w.Key("type");
  w.String("Feature");
  w.Key("geometry");
  if (s.point) {
    w.StartObject();
    w.Key("type");
    w.String("Point");
    w.Key("coordinates");
    w.StartArray();
    w.Double(s.lon);
    w.Double(s.lat);
    w.EndArray();
    w.EndObject();
  } else {
    w.Null();
  }
  w.Key("properties");
  w.StartObject();
  w.Key("data_id");
  str(w, s.data_id);
  w.Key("metadata_id");
  str(w, s.metadata_id);
  if (!s.drop_pubtime) {
    w.Key("pubtime");
    str(w, s.pubtime);
  }
  w.Key("datetime");
  str(w, s.datetime);
  if (!s.integrity.empty()) {
    w.Key("integrity");
    w.StartObject();
    w.Key("method");
    w.String("sha512");
    w.Key("value");
    str(w, s.integrity);
    w.EndObject();
  }
  if (!s.global_cache.empty()) {
    w.Key("global-cache");
    str(w, s.global_cache);
  }
  w.EndObject();
  w.Key("links");
  w.StartArray();
  w.StartObject();
  w.Key("href");
  str(w, s.href);
  w.Key("rel");
  w.String("canonical");
  w.Key("type");
  str(w, s.type);
  w.Key("length");
  w.Uint64(s.length);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace

// A CAP 1.2 alert with one info and one area, written with libxml2's writer.
std::string make_cap_xml(const std::string& identifier, const std::string& sender, const std::string& sent,
                         const std::string& event, const std::string& severity, const std::string& area,
                         const std::string& polygon) {
  xmlBufferPtr buffer = xmlBufferCreate();
  xmlTextWriterPtr w = xmlNewTextWriterMemory(buffer, 0);
  const auto el = [w](const char* name, const std::string& text) {
    xmlTextWriterWriteElement(w, BAD_CAST name, BAD_CAST text.c_str());
  };
  xmlTextWriterStartDocument(w, nullptr, "UTF-8", nullptr);
  xmlTextWriterStartElementNS(w, nullptr, BAD_CAST "alert", BAD_CAST "urn:oasis:names:tc:emergency:cap:1.2");
  el("identifier", identifier);
  el("sender", sender);
  el("sent", sent);
  el("status", "Actual");
  el("msgType", "Alert");
  el("scope", "Public");
  xmlTextWriterStartElement(w, BAD_CAST "info");
  el("category", "Met");
  el("event", event);
  el("urgency", "Expected");
  el("severity", severity);
  el("certainty", "Likely");
  el("headline", event + " warning for " + area);
  xmlTextWriterStartElement(w, BAD_CAST "area");
  el("areaDesc", area);
  el("polygon", polygon);
  xmlTextWriterEndElement(w);  // area
  xmlTextWriterEndElement(w);  // info
  xmlTextWriterEndDocument(w);
  xmlFreeTextWriter(w);
  std::string out(reinterpret_cast<const char*>(xmlBufferContent(buffer)),
                  static_cast<std::size_t>(xmlBufferLength(buffer)));
  xmlBufferFree(buffer);
  return out;
}

SynopValues random_synop(std::mt19937_64& rng, int block, int station, const std::string& name, Timestamp at) {
  std::uniform_real_distribution<double> unit(0, 1);
  const std::string when = format_rfc3339(at);
  SynopValues v;
  v.block = block;
  v.station = station;
  v.name = name;
  v.lat = std::round((-60 + unit(rng) * 130) * 1e5) / 1e5;
  v.lon = std::round((-180 + unit(rng) * 360) * 1e5) / 1e5;
  v.height = std::floor(unit(rng) * 2000);
  v.year = std::stoi(when.substr(0, 4));
  v.month = std::stoi(when.substr(5, 2));
  v.day = std::stoi(when.substr(8, 2));
  v.hour = std::stoi(when.substr(11, 2));
  v.minute = std::stoi(when.substr(14, 2));
  v.air_temperature = std::round((250 + unit(rng) * 60) * 100) / 100;
  v.dewpoint = v.air_temperature - std::round(unit(rng) * 1000) / 100;
  v.pressure = std::round(90000 + unit(rng) * 12000);
  v.msl_pressure = std::round(98000 + unit(rng) * 5000);
  v.wind_direction = std::round(unit(rng) * 359);
  v.wind_speed = std::round(unit(rng) * 250) / 10;
  return v;
}

std::string encode_synop_bufr(const SynopValues& v) {
  CodesHandle h{codes_bufr_handle_new_from_samples(nullptr, "BUFR4")};
  if (!h.h) throw Error(ErrorCode::internal, "BUFR encoding: ecCodes has no BUFR4 sample");
  check(codes_set_long(h.h, "masterTablesVersionNumber", 30), "masterTablesVersionNumber");
  check(codes_set_long(h.h, "numberOfSubsets", 1), "numberOfSubsets");
  check(codes_set_long(h.h, "compressedData", 0), "compressedData");
  check(codes_set_long(h.h, "typicalYear", v.year), "typicalYear");
  check(codes_set_long_array(h.h, "unexpandedDescriptors", kDescriptors.data(), kDescriptors.size()),
        "unexpandedDescriptors");
  const auto set = [&](const char* key, double value) { check(codes_set_double(h.h, key, value), key); };
  set("blockNumber", v.block);
  set("stationNumber", v.station);
  std::size_t len = v.name.size();
  check(codes_set_string(h.h, "stationOrSiteName", v.name.c_str(), &len), "stationOrSiteName");
  set("year", v.year);
  set("month", v.month);
  set("day", v.day);
  set("hour", v.hour);
  set("minute", v.minute);
  set("latitude", v.lat);
  set("longitude", v.lon);
  set("heightOfStationGroundAboveMeanSeaLevel", v.height);
  set("nonCoordinatePressure", v.pressure);
  set("pressureReducedToMeanSeaLevel", v.msl_pressure);
  set("airTemperature", v.air_temperature);
  set("dewpointTemperature", v.dewpoint);
  set("windDirection", v.wind_direction);
  set("windSpeed", v.wind_speed);
  check(codes_set_long(h.h, "pack", 1), "pack");
  const void* msg = nullptr;
  std::size_t size = 0;
  check(codes_get_message(h.h, &msg, &size), "get_message");
  return {static_cast<const char*>(msg), size};
}

DemoStream make_demo_stream(const DemoStreamOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> unit(0, 1);
  DemoStream out;
  const Timestamp now = Timestamp::now();
  const Timestamp obs_time{now.seconds - now.seconds % 3600, 0};
  const std::string obs_text = format_rfc3339(obs_time);
  const auto pubtime = [&](int offset) { return format_rfc3339(Timestamp{obs_time.seconds + 120 + offset, 0}, 3); };

  std::vector<DemoMessage> repeats_pool;
  std::vector<DemoMessage> caches;
  // Surface observations: BUFR at the origin, announced by the origin and each cache.
  for (std::size_t i = 0; i < o.stations; ++i) {
    const std::string centre = kCentres[i % kCentres.size()];
    const SynopValues v = random_synop(rng, static_cast<int>(10 + i / 900), static_cast<int>(1 + i % 900),
                                       "STATION " + std::to_string(i + 1), obs_time);
    const std::string bufr = encode_synop_bufr(v);
    char wsi[32];
    std::snprintf(wsi, sizeof wsi, "0-20000-0-%02d%03d", v.block, v.station);
    const std::string file = "WIGOS_" + std::string(wsi) + "_" + obs_text.substr(0, 13) + ".bufr4";
    const std::string path = centre + "/data/core/weather/surface-based-observations/synop/" + file;
    out.objects["/origin/" + path] = bufr;
    NotificationSpec s;
    s.id = random_uuid(rng);
    s.data_id = path;
    s.metadata_id = "urn:wmo:md:" + centre + ":surface-weather-observations";
    s.pubtime = pubtime(static_cast<int>(i % 60));
    s.datetime = obs_text;
    s.href = o.base_url + "/origin/" + path;
    s.type = "application/bufr";
    s.integrity = sha512_base64(bufr);
    s.length = bufr.size();
    s.point = true;
    s.lon = v.lon;
    s.lat = v.lat;
    const std::string topic_tail = "/a/wis2/" + centre + "/data/core/weather/surface-based-observations/synop";
    DemoMessage origin{"origin" + topic_tail, notification_json(s), 0};
    out.messages.push_back(origin);
    if (repeats_pool.size() < o.repeats) repeats_pool.push_back(origin);
    for (std::size_t c = 1; c <= o.caches; ++c) {
      const std::string gc = "gc" + std::to_string(c);
      out.objects["/" + gc + "/" + path] = bufr;
      NotificationSpec copy = s;
      copy.id = random_uuid(rng);
      copy.href = o.base_url + "/" + gc + "/" + path;
      copy.global_cache = "xx-wmo-" + gc;
      caches.push_back({"cache" + topic_tail, notification_json(copy), 3});
    }
  }
  // CAP warnings, at the origin only.
  static const std::array<const char*, 4> kEvents = {"Thunderstorm", "Heavy rain", "Strong wind", "Heat"};
  static const std::array<const char*, 3> kSeverity = {"Moderate", "Severe", "Extreme"};
  for (std::size_t i = 0; i < o.cap_alerts; ++i) {
    const std::string centre = kCentres[i % kCentres.size()];
    const std::string identifier = "urn:oid:2.49.0.1." + std::to_string(1000 + i);
    const std::string xml =
        make_cap_xml(identifier, "cap@" + centre + ".example", format_rfc3339(Timestamp{obs_time.seconds + 60, 0}),
                     kEvents[i % kEvents.size()], kSeverity[i % kSeverity.size()], "District " + std::to_string(i + 1),
                     "10.0,20.0 10.5,20.0 10.5,20.5 10.0,20.5 10.0,20.0");
    const std::string path = centre + "/data/core/weather/advisories-warnings/" + std::to_string(1000 + i) + ".xml";
    out.objects["/origin/" + path] = xml;
    NotificationSpec s;
    s.id = random_uuid(rng);
    s.data_id = path;
    s.metadata_id = "urn:wmo:md:" + centre + ":cap-alerts";
    s.pubtime = pubtime(static_cast<int>(i));
    s.datetime = obs_text;
    s.href = o.base_url + "/origin/" + path;
    s.type = "application/cap+xml";
    s.integrity = sha512_base64(xml);
    s.length = xml.size();
    out.messages.push_back(
        {"origin/a/wis2/" + centre + "/data/core/weather/advisories-warnings", notification_json(s), 1});
  }
  // Plain notifications (metadata records): recorded, not downloaded.
  for (std::size_t i = 0; i < o.plain; ++i) {
    const std::string centre = kCentres[i % kCentres.size()];
    NotificationSpec s;
    s.id = random_uuid(rng);
    s.data_id = centre + "/metadata/urn:wmo:md:" + centre + ":dataset-" + std::to_string(i);
    s.metadata_id = "urn:wmo:md:" + centre + ":dataset-" + std::to_string(i);
    s.pubtime = pubtime(static_cast<int>(i));
    s.datetime = obs_text;
    s.href = o.base_url + "/origin/" + centre + "/metadata/dataset-" + std::to_string(i) + ".json";
    s.type = "application/geo+json";
    s.length = 1000;
    out.messages.push_back({"origin/a/wis2/" + centre + "/metadata", notification_json(s), 2});
  }
  for (auto& m : caches) out.messages.push_back(std::move(m));
  for (auto& m : repeats_pool) {
    m.phase = 4;
    out.messages.push_back(std::move(m));
  }

  // Invalid and hostile messages, each with a data_id of its own or none.
  for (std::size_t i = 0; i < o.invalid; ++i) {
    const std::string centre = kCentres[i % kCentres.size()];
    const std::string topic = "origin/a/wis2/" + centre + "/data/core/weather/surface-based-observations/synop";
    NotificationSpec s;
    s.id = random_uuid(rng);
    s.data_id = centre + "/data/core/weather/invalid/" + std::to_string(i);
    s.metadata_id = "urn:wmo:md:" + centre + ":invalid";
    s.pubtime = pubtime(0);
    s.datetime = obs_text;
    s.href = o.base_url + "/origin/missing/" + std::to_string(i);
    s.type = "application/bufr";
    s.length = 10;
    std::string payload;
    switch (i % 6) {
      case 0:
        payload = "this is not JSON at all";
        break;
      case 1:
        s.drop_pubtime = true;
        payload = notification_json(s);
        break;
      case 2:
        s.id = "not-a-uuid";
        payload = notification_json(s);
        break;
      case 3:
        payload = std::string(400, '[') + std::string(400, ']');  // deep nesting
        break;
      case 4:
        payload = "\xff\xfe{\"id\": \"\xc3\x28\"}";  // not UTF-8
        break;
      default:
        payload = notification_json(s).substr(0, 80);  // cut short
        break;
    }
    out.messages.push_back({topic, payload, 5});
  }

  out.invalid = o.invalid;
  out.valid = out.messages.size() - o.invalid;
  out.duplicates = repeats_pool.size();
  out.downloads = o.stations + o.cap_alerts;
  out.rows["notifications"] = o.stations + o.cap_alerts + o.plain + o.invalid;
  out.rows["surface_obs"] = o.stations;
  out.rows["cap_alerts"] = o.cap_alerts;
  out.rows["cap_areas"] = o.cap_alerts;
  return out;
}

}  // namespace wis2mon::detail
