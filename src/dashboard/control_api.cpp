#include "dashboard/control_api.hpp"

#include <openssl/crypto.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <map>

#include "common/json_text.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon::detail {

namespace {

using Reply = MetricsServer::Reply;

std::string json_string(std::string_view text) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return buf.GetString();
}

Reply answer(unsigned status, std::string body) {
  return Reply{status, std::move(body), "application/json", "no-store"};
}

Reply failure(unsigned status, std::string_view message) {
  return answer(status, "{\"error\":" + json_string(message) + "}");
}

// The token compared in constant time (OpenSSL's CRYPTO_memcmp): a caller learns nothing from
// how long a refusal takes.
bool authorized(const std::string& token, const std::string& header) {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() != kBearer.size() + token.size() || header.compare(0, kBearer.size(), kBearer) != 0) return false;
  return CRYPTO_memcmp(header.data() + kBearer.size(), token.data(), token.size()) == 0;
}

// The request's arguments: its JSON body's string (and number) members, else its query.
struct Arguments {
  std::string filter, broker, sink;
  std::size_t limit = 1000;
};

std::optional<std::string> read_arguments(const MetricsServer::Request& r, Arguments& a) {
  std::map<std::string, std::string> values = r.query;
  if (!r.body.empty()) {
    rapidjson::Document doc;
    parse_json_text(doc, r.body);
    if (doc.HasParseError() || !doc.IsObject()) return "the body must be a JSON object";
    const rapidjson::Value& object = doc;  // const: clang's C++20 check of the mutable iterator
    for (const auto& m : object.GetObject()) {
      const std::string name(m.name.GetString(), m.name.GetStringLength());
      if (m.value.IsString())
        values[name] = std::string(m.value.GetString(), m.value.GetStringLength());
      else if (m.value.IsUint64())
        values[name] = std::to_string(m.value.GetUint64());
      else
        return "member '" + name + "' must be a string or a number";
    }
  }
  for (const auto& [name, value] : values) {
    if (name == "filter")
      a.filter = value;
    else if (name == "broker")
      a.broker = value;
    else if (name == "sink")
      a.sink = value;
    else if (name == "limit") {
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), a.limit);
      if (ec != std::errc() || end != value.data() + value.size() || a.limit == 0 || a.limit > 100000)
        return "limit must be a number from 1 to 100000";
    } else {
      return "unknown member '" + name + "' (filter, broker, sink, limit)";
    }
  }
  return std::nullopt;
}

Reply changed(const std::string& error, const std::string& what, const std::string& filter, bool add) {
  if (!error.empty()) return failure(400, error);
  return answer(200,
                "{" + what + ",\"filter\":" + json_string(filter) + ",\"" + (add ? "added" : "removed") + "\":true}");
}

}  // namespace

std::optional<Reply> serve_control(const std::string& token, const ControlActions& act,
                                   const MetricsServer::Request& r) {
  constexpr std::string_view kPrefix = "/api/control";
  if (r.path.compare(0, kPrefix.size(), kPrefix) != 0 ||
      (r.path.size() > kPrefix.size() && r.path[kPrefix.size()] != '/'))
    return std::nullopt;
  if (token.empty()) return failure(404, "the control API is off (metrics.control_token)");
  if (!authorized(token, r.authorization)) {
    if (act.log)
      act.log("control API: refused " + r.method + " " + r.path + " from " + (r.peer.empty() ? "?" : r.peer) +
              (r.authorization.empty() ? " (no token)" : " (wrong token)"));
    Reply refused = failure(401, "a bearer token is required (Authorization: Bearer <metrics.control_token>)");
    refused.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"wis2mon\"");
    return refused;
  }
  const std::string path = r.path.substr(kPrefix.size());
  const bool get = r.method == "GET", post = r.method == "POST", del = r.method == "DELETE";
  Arguments a;
  if (const auto bad = read_arguments(r, a)) return failure(400, *bad);
  const auto need_filter = [&]() -> std::optional<Reply> {
    if (a.filter.empty()) return failure(400, "give the filter (a JSON body {\"filter\": \"...\"})");
    return std::nullopt;
  };
  try {
    if (path == "/subscriptions") {
      if (get) return answer(200, act.subscriptions());
      if (!post && !del) return failure(405, "GET, POST or DELETE");
      if (auto missing = need_filter()) return missing;
      const auto error = act.change_subscription(a.broker, a.filter, post);
      if (act.log && error.empty())
        act.log(std::string("control API: ") + (post ? "subscribed to " : "unsubscribed from ") + a.filter +
                (a.broker.empty() ? " on every broker" : " on broker " + a.broker));
      return changed(error, "\"broker\":" + json_string(a.broker), a.filter, post);
    }
    if (path == "/pipelines") {
      if (get) return answer(200, act.pipelines());
      return failure(405, "GET");
    }
    constexpr std::string_view kFilters = "/filters";
    if (path.rfind("/pipelines/", 0) == 0 && path.size() > 11 + kFilters.size() &&
        path.compare(path.size() - kFilters.size(), kFilters.size(), kFilters) == 0) {
      const std::string name = path.substr(11, path.size() - 11 - kFilters.size());
      if (!post && !del) return failure(405, "POST or DELETE");
      if (auto missing = need_filter()) return missing;
      const auto error = act.change_filter(name, a.filter, post);
      if (act.log && error.empty())
        act.log("control API: pipeline " + name + (post ? " takes " : " no longer takes ") + a.filter);
      return changed(error, "\"pipeline\":" + json_string(name), a.filter, post);
    }
    if (path == "/dead-letters/retry") {
      if (!post) return failure(405, "POST");
      const auto n = act.retry_dead_letters(a.sink, a.limit);
      if (act.log) act.log("control API: " + std::to_string(n) + " dead letters retried");
      return answer(200, "{\"retried\":" + std::to_string(n) + "}");
    }
    if (path == "/dead-letters/purge") {
      if (!post) return failure(405, "POST");
      const auto n = act.purge_dead_letters(a.sink);
      if (act.log) act.log("control API: " + std::to_string(n) + " dead letters purged");
      return answer(200, "{\"purged\":" + std::to_string(n) + "}");
    }
  } catch (const Error& e) {
    return failure(e.code() == ErrorCode::not_found ? 404 : 400, e.what());
  }
  return failure(404,
                 "no such control endpoint (subscriptions, pipelines, pipelines/<name>/filters, "
                 "dead-letters/retry, dead-letters/purge)");
}

}  // namespace wis2mon::detail
