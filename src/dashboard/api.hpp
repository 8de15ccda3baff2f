// The dashboard page and its read-only JSON endpoints under /api/ (docs/dashboard.md). The
// monitor gives the JSON of its counters through DashboardSources; the rest comes from the
// DashboardState it feeds.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "dashboard/dashboard_state.hpp"
#include "monitor/metrics_server.hpp"

namespace wis2mon::detail {

struct DashboardSources {
  DashboardState* state = nullptr;
  std::function<Timestamp()> now;
  std::function<std::string()> summary;        ///< /api/summary
  std::function<std::string()> brokers;        ///< /api/brokers
  std::function<std::string()> sinks;          ///< /api/sinks
  std::function<std::string()> sensor_centre;  ///< /api/sensor-centre (without findings)
  /// /api/dead-letters: at most `limit`, of `sink` ("" every sink).
  std::function<std::string(std::size_t limit, const std::string& sink)> dead_letters;
};

/// The page, its files and the GET /api/ endpoints; nullopt for other paths.
std::optional<MetricsServer::Reply> serve_dashboard(const DashboardSources& sources,
                                                    const MetricsServer::Request& request);

}  // namespace wis2mon::detail
