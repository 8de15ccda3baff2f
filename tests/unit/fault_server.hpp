// A real HTTP(S) server on a free loopback port, started by the tests, that serves objects
// and injects faults: delays, 404, 500, 503-then-200, truncated bodies, wrong
// Content-Length, a slow drip, redirect loops, redirects to file://, an endless body, a huge
// announced length. Built on cpp-httplib.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>

namespace testing {

class FaultServer {
 public:
  /// Plain HTTP, or HTTPS with the given PEM certificate and key.
  FaultServer();
  FaultServer(const std::filesystem::path& cert, const std::filesystem::path& key);
  ~FaultServer();

  /// Serve body at /ok/<name> (also via /delay/<ms>/<name>, /flaky503/<name>, /redirect/<name>).
  void put(const std::string& name, std::string body);
  std::string url(const std::string& path) const;  ///< e.g. url("/ok/a")
  int port() const { return port_; }
  int max_concurrent() const { return max_concurrent_.load(); }
  int requests() const { return requests_.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  bool tls_ = false;
  std::atomic<int> concurrent_{0}, max_concurrent_{0}, requests_{0};
  void start();
};

/// A TCP listener on a free loopback port that answers every connection with fixed bytes
/// (after reading the request), then closes it: for replies no HTTP server would send.
class RawReplyServer {
 public:
  explicit RawReplyServer(std::string reply);
  ~RawReplyServer();
  std::string url(const std::string& path) const;

 private:
  int listen_fd_ = -1;
  int port_ = 0;
  std::string reply_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<std::thread> thread_;
};

/// Writes a self-signed CA certificate and key (for 127.0.0.1) into dir with the openssl
/// command; returns false when that is not possible.
bool make_test_certificate(const std::filesystem::path& dir);

}  // namespace testing
