#include "common/http_daemon.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "wis2mon/error.hpp"

namespace wis2mon::detail {

MHD_Daemon* start_http_daemon(const std::string& who, const std::string& host, int port,
                              MHD_AccessHandlerCallback handler, void* cls, const HttpDaemonLimits& limits,
                              int& bound_port) {
  const auto fail = [&](const std::string& why) {
    throw Error(ErrorCode::io, who + ": cannot listen on " + host + ":" + std::to_string(port) + ": " + why);
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port < 0 ? 0 : port);
  if (const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found); rc != 0)
    fail(::gai_strerror(rc));
  sockaddr_storage addr{};
  std::memcpy(&addr, found->ai_addr, std::min<std::size_t>(found->ai_addrlen, sizeof addr));
  ::freeaddrinfo(found);
  // MHD's own listening socket: SO_REUSEADDR (its POSIX default) and not SO_REUSEPORT, so a
  // second process on the same port fails instead of sharing it.
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
  if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  MHD_Daemon* daemon =
      MHD_start_daemon(flags, 0, nullptr, nullptr, handler, cls, MHD_OPTION_SOCK_ADDR,
                       reinterpret_cast<sockaddr*>(&addr), MHD_OPTION_THREAD_POOL_SIZE, limits.threads,
                       MHD_OPTION_CONNECTION_TIMEOUT, limits.idle_timeout_seconds, MHD_OPTION_CONNECTION_LIMIT,
                       limits.max_connections, MHD_OPTION_NOTIFY_COMPLETED, limits.completed, cls, MHD_OPTION_END);
  if (!daemon) fail(std::strerror(errno));
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
  bound_port = info ? info->port : port;
  return daemon;
}

}  // namespace wis2mon::detail
