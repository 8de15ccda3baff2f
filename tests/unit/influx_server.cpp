#include "influx_server.hpp"

#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace testing {

namespace {

// A port the kernel just handed out on 127.0.0.1 (free at that moment).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("no free loopback port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string InfluxServer::binary() {
  if (const char* env = std::getenv("WIS2MON_INFLUXD"); env && *env) return env;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/usr/sbin");
  for (std::string d; std::getline(dirs, d, ':');)
    if (!d.empty() && access((d + "/influxd").c_str(), X_OK) == 0) return d + "/influxd";
  return {};
}

InfluxServer::InfluxServer() {
  const auto exe = binary();
  if (exe.empty()) throw std::runtime_error("influxd is not installed");
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() / ("wis2mon-influx-" + std::to_string(rd()));
  std::filesystem::create_directories(dir_);
  http_port_ = free_port();
  const int rpc_port = free_port();
  const auto d = dir_.string();
  std::ofstream(dir_ / "influxdb.conf") << "reporting-enabled = false\n"
                                        << "bind-address = \"127.0.0.1:" << rpc_port << "\"\n"
                                        << "[meta]\n  dir = \"" << d << "/meta\"\n"
                                        << "[data]\n  dir = \"" << d << "/data\"\n  wal-dir = \"" << d
                                        << "/wal\"\n  query-log-enabled = false\n"
                                        << "[monitor]\n  store-enabled = false\n"
                                        << "[http]\n  bind-address = \"127.0.0.1:" << http_port_
                                        << "\"\n  log-enabled = false\n"
                                        << "[ifql]\n  enabled = false\n"
                                        << "[logging]\n  level = \"warn\"\n";
  const auto conf = (dir_ / "influxdb.conf").string();
  const auto log = (dir_ / "influxd.log").string();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execl(exe.c_str(), exe.c_str(), "-config", conf.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  httplib::Client client("127.0.0.1", http_port_);
  client.set_connection_timeout(std::chrono::milliseconds(200));
  for (int i = 0; i < 300; ++i) {  // up to 30 s on a slow machine
    if (auto r = client.Get("/ping"); r && r->status == 204) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("influxd exited: " + slurp(dir_ / "influxd.log"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("influxd did not answer /ping: " + slurp(dir_ / "influxd.log"));
}

InfluxServer::~InfluxServer() {
  if (pid_ > 0) {
    if (paused_) kill(pid_, SIGCONT);
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && waitpid(pid_, &status, WNOHANG) != pid_; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string InfluxServer::url() const {
  return "http://127.0.0.1:" + std::to_string(http_port_);
}

std::string InfluxServer::query(const std::string& db, const std::string& q) const {
  httplib::Client client("127.0.0.1", http_port_);
  httplib::Params params{{"q", q}};
  if (!db.empty()) params.emplace("db", db);
  const auto r = client.Post("/query", params);
  if (!r) throw std::runtime_error("influxd did not answer the query " + q);
  if (r->status != 200) throw std::runtime_error("query " + q + ": " + std::to_string(r->status) + " " + r->body);
  return r->body;
}

void InfluxServer::pause() {
  kill(pid_, SIGSTOP);
  paused_ = true;
}

void InfluxServer::resume() {
  kill(pid_, SIGCONT);
  paused_ = false;
}

}  // namespace testing
