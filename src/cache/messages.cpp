// The Global Cache's message rules. The rewrite is a SAX pass (RapidJSON Reader into a Writer)
// with numbers kept as their text, so nothing but the three changed members can differ.
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "notification/relations.hpp"
#include "wis2mon/cache.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/wme.hpp"

namespace wis2mon {
namespace {

// The topic's levels 1..n (no allocation).
std::vector<std::string_view> levels(std::string_view topic) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= topic.size()) {
    const auto slash = topic.find('/', start);
    const auto end = slash == std::string_view::npos ? topic.size() : slash;
    out.push_back(topic.substr(start, end - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

// Writes the message through, replacing what CacheRewrite names. Which link is the canonical
// one is found first (its index), since rel may follow href inside a link object.
class Rewriter {
 public:
  Rewriter(rapidjson::Writer<rapidjson::StringBuffer>& w, const CacheRewrite& c, int canonical)
      : w_(w), c_(c), canonical_(canonical) {}

  bool Null() { return value(), w_.Null(); }
  bool Bool(bool b) { return value(), w_.Bool(b); }
  bool Int(int i) { return value(), w_.Int(i); }
  bool Uint(unsigned i) { return value(), w_.Uint(i); }
  bool Int64(std::int64_t i) { return value(), w_.Int64(i); }
  bool Uint64(std::uint64_t i) { return value(), w_.Uint64(i); }
  bool Double(double d) { return value(), w_.Double(d); }
  // Writer::RawNumber would quote it; RawValue writes the number's own text.
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    return value(), w_.RawValue(s, n, rapidjson::kNumberType);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    const bool is_id = depth_ == 1 && key_ == "id";
    const bool is_href = depth_ == 3 && in_links_ && link_ == canonical_ && key_ == "href" && c_.href;
    const bool is_gc = depth_ == 2 && in_properties_ && key_ == "global-cache" && c_.global_cache;
    value();
    if (is_id) return w_.String(c_.id.data(), static_cast<rapidjson::SizeType>(c_.id.size()));
    if (is_href) return w_.String(c_.href->data(), static_cast<rapidjson::SizeType>(c_.href->size()));
    if (is_gc) {
      wrote_gc_ = true;
      return w_.String(c_.global_cache->data(), static_cast<rapidjson::SizeType>(c_.global_cache->size()));
    }
    return w_.String(s, n, copy);
  }
  bool StartObject() {
    enter();
    ++depth_;
    return w_.StartObject();
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    key_.assign(s, n);
    return w_.Key(s, n, copy);
  }
  bool EndObject(rapidjson::SizeType) {
    // properties ends: add global-cache when the message had none.
    if (depth_ == 2 && in_properties_ && c_.global_cache && !wrote_gc_) {
      w_.Key("global-cache");
      w_.String(c_.global_cache->data(), static_cast<rapidjson::SizeType>(c_.global_cache->size()));
      wrote_gc_ = true;
    }
    --depth_;
    if (depth_ == 1) in_properties_ = false;
    return w_.EndObject();
  }
  bool StartArray() {
    enter();
    ++depth_;
    return w_.StartArray();
  }
  bool EndArray(rapidjson::SizeType) {
    --depth_;
    if (depth_ == 1) in_links_ = false;
    return w_.EndArray();
  }

 private:
  // A value starts: notes where we are before descending into it.
  void enter() {
    if (depth_ == 1 && key_ == "properties") in_properties_ = true;
    if (depth_ == 1 && key_ == "links") {
      in_links_ = true;
      link_ = -1;
    }
    if (depth_ == 2 && in_links_) ++link_;  // a link object of the links array
    key_.clear();
  }
  void value() {
    if (depth_ == 2 && in_links_) ++link_;  // a link that is not an object still counts
  }

  rapidjson::Writer<rapidjson::StringBuffer>& w_;
  const CacheRewrite& c_;
  int canonical_;
  int depth_ = 0, link_ = -1;
  bool in_properties_ = false, in_links_ = false, wrote_gc_ = false;
  std::string key_;
};

}  // namespace

CacheTopicRule cache_topic_rule(std::string_view topic) noexcept {
  try {
    const auto l = levels(topic);
    if (l.size() < 5 || (l[0] != "origin" && l[0] != "cache") || l[1] != "a" || l[2] != "wis2")
      return CacheTopicRule::ignore;
    if (l[4] == "metadata") return CacheTopicRule::take;
    if (l[4] == "data" && l.size() > 5 && l[5] == "core") return CacheTopicRule::take;
    return CacheTopicRule::ignore;  // data/recommended, or anything else
  } catch (...) {
    return CacheTopicRule::ignore;
  }
}

std::string cache_topic_for(std::string_view topic) {
  for (const std::string_view prefix : {"origin/a/wis2/", "cache/a/wis2/"})
    if (topic.substr(0, prefix.size()) == prefix) return "cache/a/wis2/" + std::string(topic.substr(prefix.size()));
  return {};
}

std::string cache_message_id(std::string_view centre_id, std::string_view data_id, std::string_view pubtime) {
  std::string name;
  name.append(centre_id).push_back('\0');
  name.append(data_id).push_back('\0');
  name.append(pubtime);
  return detail::name_based_uuid(name);
}

std::string rewrite_for_cache(std::string_view message, const CacheRewrite& changes) {
  // Which link is canonical: the first with rel canonical (Notification::data_link's rule for
  // a new item), else the first update link.
  rapidjson::Document doc;
  doc.Parse(message.data(), message.size());
  if (doc.HasParseError() || !doc.IsObject())
    throw Error(ErrorCode::parse, "rewrite_for_cache: the message is not a JSON object");
  int canonical = -1;
  if (doc.HasMember("links") && doc["links"].IsArray()) {
    const auto& links = doc["links"];
    for (int pass = 0; pass < 2 && canonical < 0; ++pass)
      for (rapidjson::SizeType i = 0; i < links.Size(); ++i) {
        const auto& l = links[i];
        if (!l.IsObject() || !l.HasMember("rel") || !l["rel"].IsString()) continue;
        const std::string_view rel(l["rel"].GetString(), l["rel"].GetStringLength());
        if (pass == 0 ? rel == "canonical" : detail::is_update_rel(rel)) {
          canonical = static_cast<int>(i);
          break;
        }
      }
  }
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  Rewriter rewriter(w, changes, canonical);
  rapidjson::Reader reader;
  rapidjson::MemoryStream ms(message.data(), message.size());
  const auto r = reader.Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseIterativeFlag>(ms, rewriter);
  if (r.IsError())
    throw Error(ErrorCode::parse, std::string("rewrite_for_cache: ") + rapidjson::GetParseError_En(r.Code()));
  return {out.GetString(), out.GetSize()};
}

std::string cache_monitor_topic(std::string_view centre_id) {
  return "monitor/a/wis2/" + std::string(centre_id);
}

std::string cache_declined_event(const CacheDeclinedItem& item, Timestamp time) {
  const bool large = item.reason == CacheDeclineReason::too_large;
  WmeEvent e;
  // The same item declined again (after a crash) gets the same event id.
  e.id = cache_message_id(item.cache_centre_id, "declined\n" + item.data_id, item.pubtime);
  e.source = item.cache_centre_id;
  e.subject = item.centre_id;
  e.time = time;
  e.subtype = "gc-declined";
  e.severity = "WARNING";
  e.channel = item.topic;
  e.title = large ? "Data not cached: " + std::to_string(item.announced) +
                        " bytes announced, over the cache's limit of " + std::to_string(item.limit)
                  : "Data not cached: " + std::to_string(item.announced) + " items from " + item.centre_id +
                        " in a minute, over the cache's limit of " + std::to_string(item.limit);
  e.description = item.cache_centre_id + " republished " + item.data_id + " (pubtime " + item.pubtime +
                  ") on cache/a/wis2/ without caching it; its link still points at the original source. "
                  "Please contact the Global Cache operator to remedy this (WIS2 Guide 2.7.4.1).";
  if (!item.href.empty()) e.links.push_back({item.href, "via", "", "", item.topic});
  return to_json(e);
}

}  // namespace wis2mon
