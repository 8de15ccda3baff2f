#include "dashboard/dashboard_state.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace wis2mon::detail {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(Writer& w, std::string_view key, std::string_view value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}
void put(Writer& w, std::string_view key, std::uint64_t value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.Uint64(value);
}
void put_time(Writer& w, std::string_view key, std::int64_t seconds) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  if (seconds == 0)
    w.Null();
  else
    w.String(format_rfc3339(Timestamp{seconds, 0}, 0).c_str());
}
// Text that is already JSON (the cap_areas polygons and circles), or [] when it is not there.
void put_raw_json(Writer& w, std::string_view key, const std::string& json) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  if (json.empty())
    w.RawValue("[]", 2, rapidjson::kArrayType);
  else
    w.RawValue(json.data(), json.size(), rapidjson::kArrayType);
}

// A centre's counts (the members /api/centres and /api/summary share).
template <class Centre>
void put_centre_counts(Writer& w, const std::string& id, const Centre& c) {
  put(w, "centre_id", id);
  put(w, "received", c.received);
  put(w, "valid", c.valid);
  put(w, "invalid", c.invalid);
  put(w, "duplicates", c.duplicates);
  put_time(w, "last_message", c.last);
}

std::string text_of(const Record& r, std::string_view name) {
  const auto* v = r.get(name);
  if (!v) return {};
  if (const auto* s = std::get_if<std::string>(v)) return *s;
  if (const auto* t = std::get_if<Timestamp>(v)) return format_rfc3339(*t, 0);
  if (const auto* i = std::get_if<std::int64_t>(v)) return std::to_string(*i);
  return {};
}

std::optional<double> number_of(const Record& r, std::string_view name) {
  const auto* v = r.get(name);
  if (!v) return std::nullopt;
  if (const auto* d = std::get_if<double>(v)) return std::isfinite(*d) ? std::optional<double>(*d) : std::nullopt;
  if (const auto* i = std::get_if<std::int64_t>(v)) return static_cast<double>(*i);
  return std::nullopt;
}

std::optional<Timestamp> time_of(const Record& r, std::string_view name) {
  const auto* v = r.get(name);
  if (!v) return std::nullopt;
  if (const auto* t = std::get_if<Timestamp>(v)) return *t;
  if (const auto* s = std::get_if<std::string>(v)) return parse_rfc3339(*s);
  return std::nullopt;
}

// The surface_obs fields the map can colour by and shows on hover.
constexpr const char* kStationValues[] = {
    "air_temperature", "dewpoint_temperature", "relative_humidity", "station_pressure", "msl_pressure",
    "wind_direction",  "wind_speed",           "wind_gust",         "visibility",       "precipitation"};

// Drops the entry with the smallest `order` when a map is over its bound.
template <typename Map>
void drop_oldest(Map& m, std::size_t max) {
  while (m.size() > max) {
    auto oldest = m.begin();
    for (auto it = m.begin(); it != m.end(); ++it)
      if (it->second.order < oldest->second.order) oldest = it;
    m.erase(oldest);
  }
}

}  // namespace

DashboardState::DashboardState(std::size_t max_stations, std::size_t max_alerts)
    : max_stations_(max_stations), max_alerts_(max_alerts) {}

DashboardState::Centre& DashboardState::centre(std::string_view id) {
  auto it = centres_.find(id);
  if (it == centres_.end()) it = centres_.emplace(std::string(id), Centre{}).first;
  return it->second;
}

void DashboardState::on_message(std::string_view id, bool valid, Timestamp at) {
  std::lock_guard lock(mu_);
  auto& c = centre(id);
  ++c.received;
  ++(valid ? c.valid : c.invalid);
  c.last = std::max(c.last, at.seconds);
  const std::int64_t minute = at.seconds / 60;
  const auto slot = static_cast<std::size_t>(((minute % kMinutes) + kMinutes) % kMinutes);
  if (c.minute[slot] != minute) {
    c.minute[slot] = minute;
    c.count[slot] = 0;
  }
  ++c.count[slot];
}

void DashboardState::on_duplicate(std::string_view id) {
  std::lock_guard lock(mu_);
  ++centre(id).duplicates;
}

void DashboardState::on_invalid(std::string_view centre_id, std::string_view topic, std::string reason, Timestamp at) {
  std::lock_guard lock(mu_);
  invalid_.push_front(Invalid{at.seconds, std::string(centre_id), std::string(topic), std::move(reason)});
  if (invalid_.size() > kInvalidKept) invalid_.pop_back();
}

void DashboardState::on_download(std::string_view url, bool ok, std::uint64_t bytes, std::string_view error,
                                 Timestamp at) {
  // The data server is the URL's scheme and authority: what an operator would call to ask.
  std::string_view server = url;
  if (const auto scheme = url.find("://"); scheme != std::string_view::npos) {
    const auto path = url.find('/', scheme + 3);
    server = url.substr(0, path);
  }
  if (server.empty()) server = "unknown";
  std::lock_guard lock(mu_);
  auto it = servers_.find(server);
  if (it == servers_.end()) it = servers_.emplace(std::string(server), Server{}).first;
  auto& s = it->second;
  s.last_at = at.seconds;
  if (ok) {
    ++s.downloads;
    s.bytes += bytes;
  } else {
    ++s.failures;
    s.last_error = std::string(error);
    s.last_error_at = at.seconds;
  }
}

void DashboardState::on_records(const std::vector<Record>& records, std::string_view centre_id, Timestamp at) {
  std::lock_guard lock(mu_);
  for (const auto& r : records) {
    if (r.table() == "surface_obs")
      on_observation(r, centre_id, at);
    else if (r.table() == "cap_alerts")
      on_alert(r);
    else if (r.table() == "cap_areas")
      on_area(r);
  }
  drop_oldest(stations_, max_stations_);
  drop_oldest(alerts_, max_alerts_);
}

void DashboardState::on_observation(const Record& r, std::string_view centre_id, Timestamp at) {
  const auto id = text_of(r, "wigos_station_identifier");
  if (id.empty()) return;
  const auto observed = time_of(r, "observed_at").value_or(at);
  auto it = stations_.find(id);
  if (it == stations_.end()) {
    it = stations_.emplace(id, Station{}).first;
    it->second.order = ++order_;
  } else if (observed < it->second.observed) {
    return;  // an older report arriving late: the map shows the latest
  }
  auto& s = it->second;
  const auto lat = number_of(r, "latitude"), lon = number_of(r, "longitude");
  const bool placed = lat && lon && std::abs(*lat) <= 90 && std::abs(*lon) <= 180;
  if (placed) {
    s.lat = *lat, s.lon = *lon;
    s.placed = true;
  }
  if (auto name = text_of(r, "station_name"); !name.empty()) s.name = std::move(name);
  s.centre = std::string(centre_id);
  s.observed = observed;
  s.received = at;
  s.values.clear();
  s.json.clear();
  for (const char* field : kStationValues)
    if (const auto v = number_of(r, field)) s.values.emplace_back(field, *v);
}

void DashboardState::on_alert(const Record& r) {
  const auto identifier = text_of(r, "identifier");
  if (identifier.empty()) return;
  const auto msg_type = text_of(r, "msg_type");
  // An Update or Cancel ends the alerts it references ("sender,identifier,sent" each).
  if (msg_type == "Update" || msg_type == "Cancel") {
    std::istringstream refs(text_of(r, "references"));
    std::string ref;
    while (refs >> ref) {
      const auto first = ref.find(','), second = ref.find(',', first + 1);
      if (first == std::string::npos || second == std::string::npos) continue;
      alerts_.erase(ref.substr(first + 1, second - first - 1));
    }
  }
  if (msg_type == "Cancel") {
    alerts_.erase(identifier);
    return;
  }
  auto& a = alerts_[identifier];
  const bool first_info = a.order == 0 || a.sent != text_of(r, "sent");
  if (first_info) {
    a = Alert{};
    a.order = ++order_;
  }
  a.identifier = identifier;
  a.sender = text_of(r, "sender");
  a.sent = text_of(r, "sent");
  a.msg_type = msg_type;
  // An alert of several info blocks (languages): the first gives the words, the latest expiry counts.
  if (a.event.empty()) {
    a.event = text_of(r, "event");
    a.severity = text_of(r, "severity");
    a.urgency = text_of(r, "urgency");
    a.certainty = text_of(r, "certainty");
    a.headline = text_of(r, "headline");
  }
  if (const auto expires = time_of(r, "expires"); expires && expires->seconds > a.expires_at) {
    a.expires_at = expires->seconds;
    a.expires = format_rfc3339(*expires, 0);
  }
}

void DashboardState::on_area(const Record& r) {
  const auto it = alerts_.find(text_of(r, "identifier"));
  if (it == alerts_.end()) return;
  // Several info blocks repeat the same areas: keep one of each description.
  const auto desc = text_of(r, "area_desc");
  auto& areas = it->second.areas;
  if (std::any_of(areas.begin(), areas.end(), [&](const Area& a) { return a.desc == desc; })) return;
  areas.push_back(Area{desc, text_of(r, "polygons"), text_of(r, "circles")});
}

void DashboardState::on_availability_rows(const std::vector<Record>& rows) {
  std::lock_guard lock(mu_);
  for (const auto& r : rows) {
    if (r.table() != "findings") continue;
    const auto key = text_of(r, "rule") + "|" + text_of(r, "subject") + "|" + text_of(r, "centre_id");
    if (text_of(r, "state") == "raised")
      findings_[key] = Finding{text_of(r, "rule"),     text_of(r, "subject"),   text_of(r, "centre_id"),
                               text_of(r, "severity"), text_of(r, "raised_at"), text_of(r, "title")};
    else
      findings_.erase(key);
  }
}

std::string DashboardState::centres_json(Timestamp now) const {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  const std::int64_t this_minute = now.seconds / 60;
  const std::int64_t first = this_minute - (kMinutes - 1);
  std::lock_guard lock(mu_);
  w.StartObject();
  put_time(w, "minute_start", first * 60);
  put(w, "minutes", static_cast<std::uint64_t>(kMinutes));
  w.Key("centres");
  w.StartArray();
  for (const auto& [id, c] : centres_) {
    w.StartObject();
    put_centre_counts(w, id, c);
    w.Key("per_minute");
    w.StartArray();
    for (std::int64_t m = first; m <= this_minute; ++m) {
      const auto slot = static_cast<std::size_t>(((m % kMinutes) + kMinutes) % kMinutes);
      w.Uint(c.minute[slot] == m ? c.count[slot] : 0);
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return buf.GetString();
}

std::string DashboardState::centre_counts_json() const {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  std::lock_guard lock(mu_);
  w.StartArray();
  for (const auto& [id, c] : centres_) {
    w.StartObject();
    put_centre_counts(w, id, c);
    w.EndObject();
  }
  w.EndArray();
  return buf.GetString();
}

std::string DashboardState::invalid_json() const {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  std::lock_guard lock(mu_);
  w.StartObject();
  w.Key("invalid");
  w.StartArray();
  for (const auto& i : invalid_) {
    w.StartObject();
    put_time(w, "at", i.at);
    put(w, "centre_id", i.centre);
    put(w, "topic", i.topic);
    put(w, "reason", i.reason);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return buf.GetString();
}

std::string DashboardState::downloads_json() const {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  std::lock_guard lock(mu_);
  w.StartObject();
  w.Key("servers");
  w.StartArray();
  for (const auto& [name, s] : servers_) {
    w.StartObject();
    put(w, "server", name);
    put(w, "downloads", s.downloads);
    put(w, "failures", s.failures);
    put(w, "bytes", s.bytes);
    put(w, "last_error", s.last_error);
    put_time(w, "last_error_at", s.last_error_at);
    put_time(w, "last_at", s.last_at);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return buf.GetString();
}

std::string DashboardState::stations_json(Timestamp now) const {
  std::string out = "{\"stations\":[";
  std::lock_guard lock(mu_);
  out.reserve(stations_.size() * 256);
  std::uint64_t without_position = 0;
  bool first = true;
  for (const auto& [id, s] : stations_) {
    if (!s.placed) {
      ++without_position;
      continue;
    }
    if (s.json.empty()) {
      rapidjson::StringBuffer buf;
      Writer w(buf);
      w.StartObject();
      put(w, "id", id);
      put(w, "name", s.name);
      w.Key("lat");
      w.Double(s.lat);
      w.Key("lon");
      w.Double(s.lon);
      put(w, "centre_id", s.centre);
      put_time(w, "observed_at", s.observed.seconds);
      put_time(w, "received_at", s.received.seconds);
      w.Key("values");
      w.StartObject();
      for (const auto& [field, value] : s.values) {
        w.Key(field.c_str());
        w.Double(value);
      }
      w.EndObject();
      w.EndObject();
      s.json.assign(buf.GetString(), buf.GetSize() - 1);  // without the closing brace: age_s follows
    }
    if (!first) out += ',';
    first = false;
    out += s.json;
    out += ",\"age_s\":";
    out += std::to_string(std::max<std::int64_t>(0, now.seconds - s.received.seconds));
    out += '}';
  }
  out += "],\"without_position\":";
  out += std::to_string(without_position);
  out += '}';
  return out;
}

std::string DashboardState::alerts_json(Timestamp now) const {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  std::lock_guard lock(mu_);
  w.StartObject();
  w.Key("alerts");
  w.StartArray();
  for (const auto& [id, a] : alerts_) {
    if (a.expires_at != 0 && a.expires_at <= now.seconds) continue;
    w.StartObject();
    put(w, "identifier", a.identifier);
    put(w, "sender", a.sender);
    put(w, "sent", a.sent);
    put(w, "expires", a.expires);
    put(w, "msg_type", a.msg_type);
    put(w, "event", a.event);
    put(w, "severity", a.severity);
    put(w, "urgency", a.urgency);
    put(w, "certainty", a.certainty);
    put(w, "headline", a.headline);
    w.Key("areas");
    w.StartArray();
    for (const auto& ar : a.areas) {
      w.StartObject();
      put(w, "desc", ar.desc);
      put_raw_json(w, "polygons", ar.polygons);
      put_raw_json(w, "circles", ar.circles);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return buf.GetString();
}

std::string DashboardState::findings_json() const {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  std::lock_guard lock(mu_);
  w.StartObject();
  w.Key("findings");
  w.StartArray();
  for (const auto& [key, f] : findings_) {
    w.StartObject();
    put(w, "rule", f.rule);
    put(w, "subject", f.subject);
    put(w, "centre_id", f.centre);
    put(w, "severity", f.severity);
    put(w, "raised_at", f.raised_at);
    put(w, "title", f.title);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return buf.GetString();
}

std::size_t DashboardState::station_count() const {
  std::lock_guard lock(mu_);
  return stations_.size();
}

std::size_t DashboardState::centre_count() const {
  std::lock_guard lock(mu_);
  return centres_.size();
}

}  // namespace wis2mon::detail
