#include "mosquitto_server.hpp"

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

namespace testing {

bool have_mosquitto() {
  if (!MosquittoServer::binary().empty() && !find_program("mosquitto_pub").empty()) return true;
  MESSAGE("mosquitto / mosquitto_pub are not installed (Debian packages mosquitto, mosquitto-clients): skipped");
  return false;
}

namespace {

bool accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

}  // namespace

std::string MosquittoServer::binary() {
  return find_program("mosquitto");
}

MosquittoServer::MosquittoServer() {
  if (binary().empty()) throw std::runtime_error("mosquitto is not installed");
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() / ("wis2mon-mosquitto-" + std::to_string(rd()));
  std::filesystem::create_directories(dir_);
  // Started as root, mosquitto drops to the user `mosquitto`, which must be able to write its
  // persistence file here (else every restart silently loses the sessions).
  std::filesystem::permissions(dir_, std::filesystem::perms::all);
  port_ = free_port();
  std::ofstream(dir_ / "mosquitto.conf") << "listener " << port_ << " 127.0.0.1\n"
                                         << "allow_anonymous true\n"
                                         << "persistence true\n"
                                         << "persistence_location " << dir_.string() << "/\n"
                                         << "max_queued_messages 0\n"
                                         << "log_dest stderr\n";
  start();
}

MosquittoServer::~MosquittoServer() {
  process_.stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string MosquittoServer::url() const {
  return "mqtt://127.0.0.1:" + std::to_string(port_);
}

void MosquittoServer::stop() {
  process_.stop();
}

void MosquittoServer::start() {
  process_ = ChildProcess({binary(), "-c", (dir_ / "mosquitto.conf").string()}, dir_ / "mosquitto.log");
  for (int i = 0; i < 200; ++i) {
    if (accepts(port_)) return;
    if (!process_.running()) throw std::runtime_error("mosquitto exited: " + slurp(dir_ / "mosquitto.log"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("mosquitto does not accept connections: " + slurp(dir_ / "mosquitto.log"));
}

void MosquittoServer::restart_forgetting() {
  process_.stop();
  std::error_code ec;
  std::filesystem::remove(dir_ / "mosquitto.db", ec);
  start();
}

bool MosquittoServer::publish(const std::string& topic, const std::vector<std::string>& payloads, int qos) const {
  const auto cmd = find_program("mosquitto_pub") + " -h 127.0.0.1 -p " + std::to_string(port_) + " -q " +
                   std::to_string(qos) + " -t '" + topic + "' -l";
  FILE* p = popen(cmd.c_str(), "w");
  if (!p) return false;
  for (const auto& payload : payloads) {
    std::fwrite(payload.data(), 1, payload.size(), p);
    std::fputc('\n', p);
  }
  return pclose(p) == 0;
}

}  // namespace testing
