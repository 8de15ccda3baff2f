#include "dashboard/api.hpp"

#include <charconv>

#include "dashboard/assets.hpp"

namespace wis2mon::detail {

namespace {

MetricsServer::Reply json(std::string body) {
  // Always the state now: the page polls, and nothing in between may keep an old answer.
  return MetricsServer::Reply{200, std::move(body), "application/json", "no-store"};
}

MetricsServer::Reply error(unsigned status, const std::string& message) {
  return MetricsServer::Reply{status, "{\"error\":\"" + message + "\"}", "application/json", "no-store"};
}

// The endpoints, for GET /api/ (and the docs' list).
constexpr const char* kIndex =
    R"({"endpoints":["/api/summary","/api/centres","/api/brokers","/api/invalid","/api/downloads",)"
    R"("/api/sinks","/api/dead-letters","/api/stations","/api/alerts","/api/sensor-centre"]})";

}  // namespace

std::optional<MetricsServer::Reply> serve_dashboard(const DashboardSources& s, const MetricsServer::Request& r) {
  const auto& path = r.path;
  const bool is_api = path == "/api" || path.rfind("/api/", 0) == 0;
  if (path.rfind("/api/control/", 0) == 0 || path == "/api/control") return std::nullopt;  // the control API's
  const bool get = r.method == "GET" || r.method == "HEAD";
  if (!get) {
    if (is_api || find_embedded_asset(path == "/" ? "/index.html" : path))
      return MetricsServer::Reply{405, "GET only\n", "text/plain"};
    return std::nullopt;
  }
  if (!is_api) {
    if (path == "/favicon.ico") return MetricsServer::Reply{204, "", "image/x-icon"};
    const auto* asset = find_embedded_asset(path == "/" ? "/index.html" : path);
    if (!asset) return std::nullopt;
    MetricsServer::Reply reply{200, std::string(asset->data, asset->size), asset->type, "no-cache"};
    // The browser itself holds the page to this server: no script, style, image or request
    // from anywhere else, and no other site may frame it.
    reply.headers.emplace_back("Content-Security-Policy",
                               "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    return reply;
  }
  const Timestamp now = s.now ? s.now() : Timestamp::now();
  if (path == "/api" || path == "/api/") return json(kIndex);
  if (path == "/api/summary") return json(s.summary());
  if (path == "/api/centres") return json(s.state->centres_json(now));
  if (path == "/api/brokers") return json(s.brokers());
  if (path == "/api/invalid") return json(s.state->invalid_json());
  if (path == "/api/downloads") return json(s.state->downloads_json());
  if (path == "/api/sinks") return json(s.sinks());
  if (path == "/api/stations") return json(s.state->stations_json(now));
  if (path == "/api/alerts") return json(s.state->alerts_json(now));
  if (path == "/api/sensor-centre") {
    // {"figures": ..., "findings": [...]}: the monitor's figures and the open findings.
    auto findings = s.state->findings_json();  // {"findings":[...]}
    auto figures = s.sensor_centre();          // {...}
    figures.pop_back();
    return json(figures + (figures.size() > 1 ? "," : "") + findings.substr(1));
  }
  if (path == "/api/dead-letters") {
    std::size_t limit = 100;
    if (const auto it = r.query.find("limit"); it != r.query.end()) {
      const auto& v = it->second;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), limit);
      if (ec != std::errc() || end != v.data() + v.size() || limit == 0 || limit > 10000)
        return error(400, "limit must be a number from 1 to 10000");
    }
    const auto sink = r.query.count("sink") ? r.query.at("sink") : std::string();
    return json(s.dead_letters(limit, sink));
  }
  return error(404, "no such endpoint: GET /api/ lists them");
}

}  // namespace wis2mon::detail
