// One way to start a libmicrohttpd daemon (the metrics endpoint, the Global Cache's data
// server): epoll in an internal thread, a pool of worker threads, idle connections timed out,
// so that a silent connection costs a socket and never a thread.
#pragma once

#include <microhttpd.h>

#include <string>

namespace wis2mon::detail {

struct HttpDaemonLimits {
  unsigned threads = 2;
  unsigned idle_timeout_seconds = 10;
  unsigned max_connections = 4096;
  /// Called when a request ends (answered or cut): frees what the handler kept in its state.
  MHD_RequestCompletedCallback completed = nullptr;
};

/// Listens on host:port (port 0 or -1: any free port) and serves with handler(cls, ...).
/// Returns the daemon; `bound_port` gets the port. Throws Error(io) starting with `who` when
/// the address cannot be resolved or bound.
MHD_Daemon* start_http_daemon(const std::string& who, const std::string& host, int port,
                              MHD_AccessHandlerCallback handler, void* cls, const HttpDaemonLimits& limits,
                              int& bound_port);

}  // namespace wis2mon::detail
