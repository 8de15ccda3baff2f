#include "monitor/replay_service.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "wis2mon/topic.hpp"

namespace wis2mon::detail {

std::string topic_member(const rapidjson::Value& v) {
  if (v.IsObject() && v.HasMember("topic") && v["topic"].IsString())
    return std::string(v["topic"].GetString(), v["topic"].GetStringLength());
  if (v.IsObject() && v.HasMember("properties") && v["properties"].IsObject()) {
    const auto& p = v["properties"];
    if (p.HasMember("topic") && p["topic"].IsString())
      return std::string(p["topic"].GetString(), p["topic"].GetStringLength());
  }
  return {};
}

namespace {

// The href of the page's rel=next link; empty on the last page.
std::string next_link(const rapidjson::Value& page) {
  if (!page.HasMember("links") || !page["links"].IsArray()) return {};
  for (const auto& l : page["links"].GetArray())
    if (l.IsObject() && l.HasMember("rel") && l["rel"].IsString() && std::string_view(l["rel"].GetString()) == "next" &&
        l.HasMember("href") && l["href"].IsString())
      return l["href"].GetString();
  return {};
}

}  // namespace

BackfillProgress fetch_replay_window(
    Downloader& http, const BackfillRequest& r,
    const std::function<bool(const std::string& topic, std::string_view json)>& on_item,
    const std::atomic<bool>* cancel) {
  BackfillProgress progress;
  const auto fail = [&progress](std::string why) {
    progress.ok = false;
    progress.error = std::move(why);
    return progress;
  };
  std::string next = r.url;
  while (!next.empty() && next.back() == '/') next.pop_back();
  next += "/collections/" + r.collection +
          "/items?f=json&limit=" + std::to_string(std::max<std::size_t>(r.page_size, 1)) +
          "&datetime=" + format_rfc3339(r.since) + "/" + format_rfc3339(r.until);
  while (!next.empty()) {
    if (cancel && *cancel) return fail("cancelled");
    DownloadRequest req;
    req.urls = {next};
    const auto page = http.fetch(req).get();
    if (page.status != DownloadStatus::ok)
      return fail(next + ": " + std::string(to_string(page.status)) + " " + page.error);
    rapidjson::Document doc;
    doc.Parse(page.data.data(), page.data.size());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("features") || !doc["features"].IsArray())
      return fail(next + ": not an OGC API - Features collection page");
    for (const auto& feature : doc["features"].GetArray()) {
      const std::string topic = topic_member(feature);
      if (!r.filters.empty() && (topic.empty() || std::none_of(r.filters.begin(), r.filters.end(), [&](const auto& f) {
                                   return topic_matches(f, topic);
                                 }))) {
        ++progress.skipped;
        continue;
      }
      rapidjson::StringBuffer text;
      rapidjson::Writer<rapidjson::StringBuffer> w(text);
      feature.Accept(w);
      if (!on_item(topic, std::string_view(text.GetString(), text.GetSize()))) return fail("cancelled");
      ++progress.fed;
    }
    next = next_link(doc);
    ++progress.pages;
    if (r.on_page) r.on_page(progress);
  }
  return progress;
}

}  // namespace wis2mon::detail
