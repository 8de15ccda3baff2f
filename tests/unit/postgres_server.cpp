#include "postgres_server.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

namespace testing {

namespace {

std::string run(const std::string& command) {
  std::array<char, 4096> buf{};
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((command + " 2>&1").c_str(), "r"), &pclose);
  if (!pipe) throw std::runtime_error("cannot run " + command);
  while (fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
  const int status = pclose(pipe.release());
  if (status != 0) throw std::runtime_error(command + " failed: " + out);
  return out;
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::filesystem::path PostgresServer::bin_dir() {
  if (const char* env = std::getenv("WIS2MON_PG_BIN"); env && *env) return env;
  std::vector<std::filesystem::path> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec))
    if (std::filesystem::exists(e.path() / "bin" / "initdb")) found.push_back(e.path() / "bin");
  if (found.empty()) return {};
  std::sort(found.begin(), found.end());
  return found.back();
}

// Root may not run PostgreSQL: as root, commands run as the postgres user.
std::string PostgresServer::as_server_user(const std::string& command) const {
  if (geteuid() != 0) return command;
  // setpriv execs (runuser would stay as a parent that signals do not pass through).
  return "setpriv --reuid=postgres --regid=postgres --init-groups -- sh -c " + quoted(command);
}

PostgresServer::PostgresServer() {
  const auto bin = bin_dir();
  if (bin.empty()) throw std::runtime_error("PostgreSQL is not installed");
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() / ("wis2mon-pg-" + std::to_string(rd()));
  std::filesystem::create_directories(dir_);
  if (geteuid() == 0) {
    const passwd* pw = getpwnam("postgres");
    if (!pw) throw std::runtime_error("running as root and there is no postgres user");
    if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("cannot chown " + dir_.string());
  }
  run(as_server_user(quoted((bin / "initdb").string()) + " -D " + quoted((dir_ / "data").string()) +
                     " -U wis2mon --auth=trust --no-sync -E UTF8 --locale=C"));
  start();
}

void PostgresServer::start() {
  const auto bin = bin_dir();
  // A port found free may be taken by another test process before the server binds it: then
  // the server exits, and it starts again on another one (only while no port was chosen).
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (port_ == 0 || attempt > 0) port_ = free_port();
    const std::string command = quoted((bin / "postgres").string()) + " -D " + quoted((dir_ / "data").string()) +
                                " -p " + std::to_string(port_) + " -k " + quoted(dir_.string()) +
                                " -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50";
    std::vector<std::string> argv = {"/bin/sh", "-c", "exec " + as_server_user("exec " + command)};
    process_ = ChildProcess(argv, dir_ / "postgres.log");
    for (int i = 0; i < 300; ++i) {  // up to 30 s on a slow machine
      try {
        run(quoted((bin / "pg_isready").string()) + " -q -h 127.0.0.1 -p " + std::to_string(port_) + " -U wis2mon");
        return;
      } catch (const std::runtime_error&) {
      }
      if (!process_.running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    process_.stop();
  }
  throw std::runtime_error("postgres did not start: " + slurp(dir_ / "postgres.log"));
}

void PostgresServer::stop() {
  process_.signal(SIGINT);  // fast shutdown: every session ends, the server exits cleanly
  for (int i = 0; i < 100 && process_.running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  process_.stop();
}

PostgresServer::~PostgresServer() {
  process_.stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string PostgresServer::url() const {
  return "postgresql://wis2mon@127.0.0.1:" + std::to_string(port_) + "/postgres";
}

std::string PostgresServer::query(const std::string& sql) const {
  return run(quoted((bin_dir() / "psql").string()) + " -X -q -A -t -v ON_ERROR_STOP=1 " + quoted(url()) + " -c " +
             quoted(sql));
}

}  // namespace testing
