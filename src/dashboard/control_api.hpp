// The control API under /api/control/ (docs/dashboard.md#control-api): subscriptions and
// pipelines' filters changed at run time, dead letters retried or purged. Off unless the
// monitor has a control token; every request must carry it as a bearer token (401 and a log
// line otherwise). It names only brokers and pipelines the configuration has: no request can
// make the monitor read a file or reach another host.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "monitor/metrics_server.hpp"

namespace wis2mon::detail {

/// What the control API can do, given by the monitor. The change functions answer "" when
/// done, else why not; they throw Error(not_found) for a broker or pipeline that is not there.
struct ControlActions {
  std::function<std::string()> subscriptions;  ///< {"brokers": [{name, subscriptions, configured}]}
  /// broker "" : every broker.
  std::function<std::string(const std::string& broker, const std::string& filter, bool add)> change_subscription;
  std::function<std::string()> pipelines;  ///< {"pipelines": [{name, filters, configured}]}
  std::function<std::string(const std::string& pipeline, const std::string& filter, bool add)> change_filter;
  std::function<std::size_t(const std::string& sink, std::size_t limit)> retry_dead_letters;
  std::function<std::size_t(const std::string& sink)> purge_dead_letters;
  std::function<void(std::string_view)> log;
};

/// Answers requests under /api/control/ (nullopt for other paths). `token` empty: the API is
/// off and its paths answer 404.
std::optional<MetricsServer::Reply> serve_control(const std::string& token, const ControlActions& actions,
                                                  const MetricsServer::Request& request);

}  // namespace wis2mon::detail
