// WIS2 Monitoring Events: the JSON writer and the validator. The rules follow the WME schema
// 1.0.0 (wis2-event-message-bundled.json: CloudEvents 1.0.2 plus the WME members) and what
// pywis-pubsub's WME test suite adds (data.severity required, `type` from the code list).
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <random>

#include "common/encoding.hpp"
#include "common/text.hpp"
#include "wis2mon/wme.hpp"

namespace wis2mon {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
using Value = rapidjson::Value;

constexpr std::string_view kCore = "http://wis.wmo.int/spec/wme/1/conf/monitoring-event-message-core";
constexpr std::string_view kSchemaType = "int.wmo.wis.wme.event";
constexpr std::array<std::string_view, 5> kSeverities = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};

void str(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void member(Writer& w, const char* key, std::string_view value) {
  w.Key(key);
  str(w, value);
}

void member_if(Writer& w, const char* key, std::string_view value) {
  if (!value.empty()) member(w, key, value);
}

std::string random_uuid4() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  unsigned char b[16];
  for (int i = 0; i < 16; i += 8) {
    const auto r = rng();
    for (int j = 0; j < 8; ++j) b[i + j] = static_cast<unsigned char>(r >> (8 * j));
  }
  return detail::uuid_text(b, 4);
}

std::string seconds_text(Timestamp t) {
  return format_rfc3339(Timestamp{t.seconds, 0}, 0);
}

// The schema's patterns for data.time, without a regex engine.
bool digits(std::string_view s, std::size_t from, std::size_t n) {
  if (s.size() < from + n) return false;
  return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(from), s.begin() + static_cast<std::ptrdiff_t>(from + n),
                     [](char c) { return c >= '0' && c <= '9'; });
}
bool is_date(std::string_view s) {  // ^\d{4}-\d{2}-\d{2}$
  return s.size() == 10 && digits(s, 0, 4) && s[4] == '-' && digits(s, 5, 2) && s[7] == '-' && digits(s, 8, 2);
}
bool is_fraction_z(std::string_view s, std::size_t at) {  // (?:\.\d+)?Z$ from `at`
  if (at < s.size() && s[at] == '.') {
    std::size_t end = at + 1;
    while (end < s.size() && s[end] >= '0' && s[end] <= '9') ++end;
    if (end == at + 1) return false;
    at = end;
  }
  return at + 1 == s.size() && s[at] == 'Z';
}
bool is_timestamp(std::string_view s) {  // ^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$
  return s.size() >= 20 && is_date(s.substr(0, 10)) && s[10] == 'T' && digits(s, 11, 2) && s[13] == ':' &&
         digits(s, 14, 2) && s[16] == ':' && digits(s, 17, 2) && is_fraction_z(s, 19);
}
bool is_time_of_day(std::string_view s) {  // ^T\d{2}(:\d{2})?(:\d{2})?(?:\.\d+)?Z$
  if (s.size() < 4 || s[0] != 'T' || !digits(s, 1, 2)) return false;
  std::size_t at = 3;
  for (int i = 0; i < 2 && at < s.size() && s[at] == ':'; ++i) {
    if (!digits(s, at + 1, 2)) return false;
    at += 3;
  }
  return is_fraction_z(s, at);
}
bool is_interval_end(std::string_view s) {
  return is_date(s) || (s.size() == 7 && digits(s, 0, 4) && s[4] == '-' && digits(s, 5, 2)) ||
         (s.size() == 4 && digits(s, 0, 4)) || is_timestamp(s) || is_time_of_day(s) || s == "..";
}

std::string_view sv(const Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

class Checker {
 public:
  Checker(ValidationReport& r, ValidationMode mode) : r_(r), mode_(mode) {}

  void run(const Value& doc) {
    // CloudEvents' required attributes, then the WME schema's.
    for (const char* key : {"id", "source", "specversion", "type"}) required_string(doc, key);
    for (const char* key : {"subject", "time", "datacontenttype", "dataschema"}) nullable_string(doc, key);
    if (const Value* v = get(doc, "specversion"); v && v->IsString() && sv(*v) != "1.0")
      error("/specversion", "wme.specversion", "specversion is \"" + std::string(sv(*v)) + "\", not \"1.0\"");
    if (const Value* v = get(doc, "time"); v && v->IsString() && !parse_rfc3339(sv(*v)))
      error("/time", "wme.time", "time \"" + std::string(sv(*v)) + "\" is not an RFC 3339 date-time");
    if (const Value* v = get(doc, "type"); v && v->IsString()) check_type(sv(*v));
    const Value* data = get(doc, "data");
    if (!data) return error("/data", "wme.required", "data is missing");
    if (!data->IsObject()) return error("/data", "wme.data", "data is not an object");
    check_data(*data);
  }

 private:
  ValidationReport& r_;
  ValidationMode mode_;

  void error(std::string path, const char* rule, std::string message) {
    r_.add_error(std::move(path), rule, std::move(message));
  }
  static const Value* get(const Value& o, const char* key) {
    const auto it = o.FindMember(key);
    return it == o.MemberEnd() ? nullptr : &it->value;
  }
  void required_string(const Value& doc, const char* key) {
    const Value* v = get(doc, key);
    const std::string path = std::string("/") + key;
    if (!v) return error(path, "wme.required", std::string(key) + " is missing");
    if (!v->IsString() || v->GetStringLength() == 0)
      error(path, "wme.type_mismatch", std::string(key) + " is not a non-empty string");
  }
  // Required by the WME schema; CloudEvents' definitions allow null for these.
  void nullable_string(const Value& doc, const char* key) {
    const Value* v = get(doc, key);
    const std::string path = std::string("/") + key;
    if (!v) return error(path, "wme.required", std::string(key) + " is missing");
    if (v->IsNull()) return r_.add_warning(path, "wme.null", std::string(key) + " is null");
    if (!v->IsString() || v->GetStringLength() == 0)
      error(path, "wme.type_mismatch", std::string(key) + " is not a non-empty string");
  }
  void check_type(std::string_view type) {
    if (type == kSchemaType) return;
    const auto& types = wme_event_types();
    if (std::find(types.begin(), types.end(), type) == types.end())
      return error("/type", "wme.type", "type \"" + std::string(type) + "\" is not in the WME event type code list");
    if (mode_ == ValidationMode::strict)
      error("/type", "wme.type",
            "type \"" + std::string(type) + "\": the WME schema 1.0.0 allows only " + std::string(kSchemaType));
    else
      r_.add_warning("/type", "wme.type.finer",
                     "type \"" + std::string(type) + "\" is in the code list, but the WME schema 1.0.0 allows only " +
                         std::string(kSchemaType));
  }
  void check_data(const Value& data) {
    const Value* conforms = get(data, "conformsTo");
    bool core = false;
    if (conforms && conforms->IsArray())
      for (const auto& c : conforms->GetArray()) core = core || (c.IsString() && sv(c) == kCore);
    if (!core) error("/data/conformsTo", "wme.conformance", "data.conformsTo does not contain " + std::string(kCore));
    if (const Value* s = get(data, "severity"); !s) {
      error("/data/severity", "wme.severity", "data.severity is missing");
    } else if (!s->IsString() || std::find(kSeverities.begin(), kSeverities.end(), sv(*s)) == kSeverities.end()) {
      error("/data/severity", "wme.severity", "data.severity is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL");
    }
    if (const Value* s = get(data, "subtype"); s && !s->IsString())
      error("/data/subtype", "wme.type_mismatch", "data.subtype is not a string");
    if (const Value* ref = get(data, "ref"); ref && !(ref->IsString() && detail::is_uuid(sv(*ref))))
      error("/data/ref", "wme.ref", "data.ref is not a UUID");
    if (const Value* t = get(data, "time")) check_time(*t);
    if (const Value* c = get(data, "content")) {
      if (!c->IsObject()) {
        error("/data/content", "wme.content", "data.content is not an object");
      } else {
        const Value* title = get(*c, "title");
        if (!title || !title->IsString()) error("/data/content/title", "wme.content", "data.content.title is missing");
        for (const char* key : {"channel", "description"})
          if (const Value* v = get(*c, key); v && !v->IsString())
            error(std::string("/data/content/") + key, "wme.type_mismatch",
                  std::string("data.content.") + key + " is not a string");
      }
    }
    if (const Value* links = get(data, "links")) check_links(*links);
  }
  void check_time(const Value& t) {
    if (!t.IsObject()) return error("/data/time", "wme.data_time", "data.time is not an object");
    if (const Value* d = get(t, "date"); d && !(d->IsString() && is_date(sv(*d))))
      error("/data/time/date", "wme.data_time", "data.time.date is not YYYY-MM-DD");
    if (const Value* s = get(t, "timestamp"); s && !(s->IsString() && is_timestamp(sv(*s))))
      error("/data/time/timestamp", "wme.data_time", "data.time.timestamp is not YYYY-MM-DDThh:mm:ss[.f]Z");
    if (const Value* i = get(t, "interval")) {
      bool ok = i->IsArray() && i->Size() == 2;
      if (ok)
        for (const auto& e : i->GetArray()) ok = ok && e.IsString() && is_interval_end(sv(e));
      if (!ok) error("/data/time/interval", "wme.data_time", "data.time.interval is not two dates or times");
    }
  }
  void check_links(const Value& links) {
    if (!links.IsArray() || links.Empty())
      return error("/data/links", "wme.links", "data.links is not an array of at least one link");
    for (rapidjson::SizeType i = 0; i < links.Size(); ++i) {
      const std::string path = "/data/links/" + std::to_string(i);
      const Value& l = links[i];
      if (!l.IsObject()) {
        error(path, "wme.links", "a link is not an object");
        continue;
      }
      const Value* href = get(l, "href");
      if (!href || !href->IsString()) error(path + "/href", "wme.links", "a link has no href");
      for (const char* key : {"rel", "type", "hreflang", "title", "channel"})
        if (const Value* v = get(l, key); v && !v->IsString())
          error(path + "/" + key, "wme.type_mismatch", std::string("link ") + key + " is not a string");
      if (const Value* v = get(l, "length"); v && !v->IsInt64() && !v->IsUint64())
        error(path + "/length", "wme.type_mismatch", "link length is not an integer");
    }
  }
};

}  // namespace

const std::vector<std::string>& wme_event_types() {
  // wmo-im/wis2-monitoring-events-codelists, codelists/event-type.csv.
  static const std::vector<std::string> types = {
      "int.wmo.wis.wme.event",
      "int.wmo.wis.wme.event.connection",
      "int.wmo.wis.wme.event.item.cache",
      "int.wmo.wis.wme.event.item.download",
      "int.wmo.wis.wme.event.item.integrity",
      "int.wmo.wis.wme.event.log",
      "int.wmo.wis.wme.event.maintenance",
      "int.wmo.wis.wme.event.metadata-archive",
      "int.wmo.wis.wme.event.wcmp2.ets",
      "int.wmo.wis.wme.event.wcmp2.kpi",
      "int.wmo.wis.wme.event.wnm.validation.content",
      "int.wmo.wis.wme.event.wnm.validation.format",
      "int.wmo.wis.wme.event.wnm.validation.metadata",
      "int.wmo.wis.wme.event.wnm.validation.topic",
  };
  return types;
}

bool looks_like_wme(std::string_view json) noexcept {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  return !doc.HasParseError() && doc.IsObject() && doc.HasMember("specversion");
}

std::string to_json(const WmeEvent& e) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  member(w, "id", e.id.empty() ? random_uuid4() : e.id);
  member(w, "specversion", "1.0");
  member(w, "type", e.type);
  member(w, "source", e.source);
  member(w, "subject", e.subject);
  member(w, "time", seconds_text(e.time));
  member(w, "datacontenttype", "application/json");
  member(w, "dataschema", "https://schemas.wmo.int/wme/1.0.0/schemas/wis2-event-message-bundled.json");
  w.Key("data");
  w.StartObject();
  w.Key("conformsTo");
  w.StartArray();
  str(w, kCore);
  w.EndArray();
  member_if(w, "subtype", e.subtype);
  member(w, "severity", e.severity);
  if (e.timestamp || e.interval) {
    w.Key("time");
    w.StartObject();
    if (e.timestamp) member(w, "timestamp", seconds_text(*e.timestamp));
    if (e.interval) {
      w.Key("interval");
      w.StartArray();
      str(w, seconds_text(e.interval->first));
      str(w, seconds_text(e.interval->second));
      w.EndArray();
    }
    w.EndObject();
  }
  if (!e.title.empty()) {
    w.Key("content");
    w.StartObject();
    member_if(w, "channel", e.channel);
    member(w, "title", e.title);
    member_if(w, "description", e.description);
    w.EndObject();
  }
  if (!e.links.empty()) {
    w.Key("links");
    w.StartArray();
    for (const auto& l : e.links) {
      w.StartObject();
      member(w, "href", l.href);
      member_if(w, "rel", l.rel);
      member_if(w, "type", l.type);
      member_if(w, "title", l.title);
      member_if(w, "channel", l.channel);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

ValidationReport validate_wme(std::string_view json, ValidationMode mode) {
  ValidationReport report;
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    report.add_error("", "wme.json", "not a JSON object");
    return report;
  }
  Checker(report, mode).run(doc);
  return report;
}

}  // namespace wis2mon
