#include "influx_server.hpp"

#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

namespace testing {

std::string InfluxServer::binary() {
  if (const char* env = std::getenv("WIS2MON_INFLUXD"); env && *env) return env;
  return find_program("influxd");
}

InfluxServer::InfluxServer() {
  const auto exe = binary();
  if (exe.empty()) throw std::runtime_error("influxd is not installed");
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() / ("wis2mon-influx-" + std::to_string(rd()));
  std::filesystem::create_directories(dir_);
  // free_port() only finds a port free now: another test process may take it before influxd
  // binds it, and then /ping would be answered by the other server. So the answer must come
  // from this instance (its /debug/vars names its config file); else start again elsewhere.
  std::string last_failure;
  for (int attempt = 0; attempt < 5; ++attempt) {
    http_port_ = free_port();
    const int rpc_port = free_port();
    const auto d = dir_.string();
    std::ofstream(dir_ / "influxdb.conf")
        << "reporting-enabled = false\n"
        << "bind-address = \"127.0.0.1:" << rpc_port << "\"\n"
        << "[meta]\n  dir = \"" << d << "/meta\"\n"
        << "[data]\n  dir = \"" << d << "/data\"\n  wal-dir = \"" << d << "/wal\"\n  query-log-enabled = false\n"
        << "[monitor]\n  store-enabled = false\n"
        << "[http]\n  bind-address = \"127.0.0.1:" << http_port_ << "\"\n  log-enabled = false\n"
        << "[ifql]\n  enabled = false\n"
        << "[logging]\n  level = \"warn\"\n";
    process_ = ChildProcess({exe, "-config", (dir_ / "influxdb.conf").string()}, dir_ / "influxd.log");
    if (wait_until_answering(last_failure)) return;
    process_.stop();
  }
  throw std::runtime_error(last_failure);
}

bool InfluxServer::wait_until_answering(std::string& failure) {
  httplib::Client client("127.0.0.1", http_port_);
  client.set_connection_timeout(std::chrono::milliseconds(200));
  for (int i = 0; i < 300; ++i) {  // up to 30 s on a slow machine
    if (auto r = client.Get("/ping"); r && r->status == 204) {
      const auto vars = client.Get("/debug/vars");
      if (vars && vars->body.find((dir_ / "influxdb.conf").string()) != std::string::npos) return true;
      failure = "port " + std::to_string(http_port_) + " is answered by another influxd";
      return false;
    }
    if (!process_.running()) {
      failure = "influxd exited: " + slurp(dir_ / "influxd.log");
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  failure = "influxd did not answer /ping: " + slurp(dir_ / "influxd.log");
  return false;
}

InfluxServer::~InfluxServer() {
  process_.stop();
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
  process_.signal(SIGSTOP);
}
void InfluxServer::resume() {
  process_.signal(SIGCONT);
}

}  // namespace testing
