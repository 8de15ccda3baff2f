// A real PostgreSQL server (Debian's postgresql: initdb, then postgres) started by the tests on
// a free loopback port with its data in a temporary directory; stopped and removed when the
// object goes. As root (CI) it runs as the postgres user, since PostgreSQL refuses root.
#pragma once

#include <filesystem>
#include <string>

#include "child_process.hpp"

namespace testing {

class PostgresServer {
 public:
  /// The directory of initdb and postgres ($WIS2MON_PG_BIN, else /usr/lib/postgresql/<newest>/bin),
  /// or empty when PostgreSQL is not installed.
  static std::filesystem::path bin_dir();

  /// initdb (trust authentication, user wis2mon), then starts the server and waits until it
  /// accepts connections. Throws std::runtime_error with the server's log when it cannot.
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  /// postgresql://wis2mon@127.0.0.1:PORT/postgres
  std::string url() const;
  int port() const { return port_; }
  /// Runs SQL through psql; returns its unaligned, tuples-only output.
  std::string query(const std::string& sql) const;
  /// Fast shutdown (the server ends every session), and a start on the same port and data.
  void stop();
  void start();

 private:
  std::string as_server_user(const std::string& command) const;
  std::filesystem::path dir_;
  ChildProcess process_;
  int port_ = 0;
};

}  // namespace testing
