#include "s3_server.hpp"

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include "wis2mon/error.hpp"

namespace testing {

std::string S3Server::jar() {
  const char* env = std::getenv("WIS2MON_S3PROXY");
  if (!env || !*env || !std::filesystem::exists(env) || find_program("java").empty()) return {};
  return env;
}

S3Server::S3Server() {
  if (jar().empty()) throw std::runtime_error("S3Proxy is not installed (WIS2MON_S3PROXY)");
  std::random_device rd;
  const auto id = std::to_string(rd());
  dir_ = std::filesystem::temp_directory_path() / ("wis2mon-s3-" + id);
  std::filesystem::create_directories(dir_ / "data");
  bucket_ = "wis2mon-test-" + id;
  // Credentials of its own: another test's server on a reused port refuses them.
  identity_ = "wis2mon-" + id;
  secret_ = "secret-" + std::to_string(rd()) + "/" + std::to_string(rd());
  std::string failure;
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    try {
      start();
      wis2mon::S3Client(bucket_, client_options()).create_bucket();
      return;
    } catch (const std::exception& ex) {
      failure = ex.what();
      process_.stop();
    }
  }
  throw std::runtime_error(failure);
}

void S3Server::start() {
  std::ofstream(dir_ / "s3proxy.conf") << "s3proxy.endpoint=" << endpoint() << "\n"
                                       << "s3proxy.authorization=aws-v2-or-v4\n"
                                       << "s3proxy.identity=" << identity_ << "\n"
                                       << "s3proxy.credential=" << secret_ << "\n"
                                       << "jclouds.provider=filesystem\n"
                                       << "jclouds.filesystem.basedir=" << (dir_ / "data").string() << "\n";
  process_ =
      ChildProcess({find_program("java"), "-Xmx256m", "-jar", jar(), "--properties", (dir_ / "s3proxy.conf").string()},
                   dir_ / "s3proxy.log");
  wis2mon::S3ClientOptions o = client_options();
  o.timeout = std::chrono::seconds(2);
  // The service list (GET /) answers with this server's credentials once it is up.
  std::string last;
  for (int i = 0; i < 600; ++i) {  // up to 60 s (a JVM on a busy machine)
    try {
      wis2mon::S3Client probe(bucket_, o);
      probe.list_objects("");
      return;
    } catch (const wis2mon::Error& ex) {
      last = ex.what();
      // NoSuchBucket before the bucket is made: the server is up and took the credentials.
      if (last.find("NoSuchBucket") != std::string::npos) return;
    }
    if (!process_.running()) throw std::runtime_error("s3proxy exited: " + slurp(dir_ / "s3proxy.log"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("s3proxy did not answer (" + last + "): " + slurp(dir_ / "s3proxy.log"));
}

S3Server::~S3Server() {
  process_.stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string S3Server::endpoint() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

wis2mon::S3ClientOptions S3Server::client_options() const {
  wis2mon::S3ClientOptions o;
  o.endpoint = endpoint();
  o.region = "us-east-1";
  o.credentials = wis2mon::AwsCredentials{identity_, secret_, ""};
  o.timeout = std::chrono::seconds(20);
  o.connect_timeout = std::chrono::seconds(2);
  return o;
}

void S3Server::kill() {
  process_.signal(SIGKILL);
  process_.stop();  // reaps it
}

void S3Server::restart() {
  start();
}

}  // namespace testing
