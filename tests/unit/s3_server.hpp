// A real S3-compatible server for the tests: S3Proxy (org.gaul:s3proxy 2.6.0 from Maven
// Central, its jar-with-dependencies run by Java 17) over its filesystem backend. Chosen because
// it checks every request's SigV4 signature like S3 does (a wrong one is SignatureDoesNotMatch),
// keeps objects in a directory (so a server killed and restarted on the same folder still has
// them, as the restart tests need) and implements multipart uploads and ListObjectsV2. Debian 12
// packages no S3-compatible server; MinIO is AGPL; s3rver (npm) does not check V4 signatures.
// scripts/test.sh downloads the jar into build-tools/s3proxy and sets WIS2MON_S3PROXY.
#pragma once

#include <filesystem>
#include <string>

#include "child_process.hpp"
#include "wis2mon/object_store.hpp"

namespace testing {

class S3Server {
 public:
  /// Path of the S3Proxy jar ($WIS2MON_S3PROXY), or empty when it or java is not installed.
  static std::string jar();

  /// Starts S3Proxy on a free loopback port, with credentials of its own, creates a bucket
  /// and waits until it answers.
  /// Throws std::runtime_error (with its log) when it does not come up.
  S3Server();
  ~S3Server();
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;

  std::string endpoint() const;  ///< "http://127.0.0.1:<port>"
  const std::string& bucket() const { return bucket_; }
  /// Options that reach this server with its credentials.
  wis2mon::S3ClientOptions client_options() const;

  /// SIGKILL: requests in flight are cut; stored objects stay in the folder.
  void kill();
  /// Starts again on the same port and folder.
  void restart();

 private:
  void start();
  std::filesystem::path dir_;
  std::string bucket_;
  std::string identity_, secret_;
  int port_ = 0;
  ChildProcess process_;
};

}  // namespace testing
