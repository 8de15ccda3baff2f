// S3-compatible object storage: where the NDJSON sink uploads its closed files and a pipeline
// keeps its downloaded objects when their place is an s3:// URL.
//
// Requests are signed by libcurl's AWS Signature Version 4 support (CURLOPT_AWS_SIGV4); the
// library computes no signature itself. Credentials and region come from the environment or
// the standard AWS files, as the AWS CLI and SDKs read them.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wis2mon/export.hpp"

namespace wis2mon {

/// "s3://bucket/prefix" split: the prefix has no leading or trailing '/'.
struct WIS2MON_API S3Location {
  std::string bucket;
  std::string prefix;

  /// Throws Error(invalid_argument) unless the URL is s3://<bucket>[/<prefix>] with a valid
  /// bucket name (3-63 characters of a-z, 0-9, '.', '-').
  static S3Location parse(std::string_view url);
  /// prefix + "/" + name (just name when the prefix is empty).
  std::string key(std::string_view name) const;
};

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  ///< temporary credentials (Lambda, assumed roles); may be empty
};

/// The credentials an AWS SDK would use, in its order: AWS_ACCESS_KEY_ID /
/// AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else the profile (AWS_PROFILE, default
/// "default") of the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
/// ~/.aws/credentials), else of the config file (AWS_CONFIG_FILE, default ~/.aws/config).
/// Throws Error(invalid_argument) naming the places it looked when none has them.
WIS2MON_API AwsCredentials aws_credentials_from_environment();

/// AWS_REGION, else AWS_DEFAULT_REGION, else the profile's region in the config file, else
/// "us-east-1".
WIS2MON_API std::string aws_region_from_environment();

/// True when this build's libcurl can sign requests (CURLOPT_AWS_SIGV4 and S3 payload hashes:
/// libcurl 7.87 or newer). Without it every S3Client request throws Error(unsupported).
WIS2MON_API bool object_storage_supported() noexcept;

struct S3ClientOptions {
  /// "http://127.0.0.1:9000" for a local S3-compatible server (path-style requests); empty:
  /// AWS itself (https://<bucket>.s3.<region>.amazonaws.com).
  std::string endpoint;
  std::string region;                         ///< empty: aws_region_from_environment()
  std::optional<AwsCredentials> credentials;  ///< unset: aws_credentials_from_environment()
  /// Files larger than this go up in parts (S3 multipart upload); parts of part_bytes each.
  /// S3 refuses parts under 5 MiB but the last.
  std::uint64_t multipart_threshold = 16u * 1024u * 1024u;
  std::uint64_t part_bytes = 8u * 1024u * 1024u;
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};  ///< per request
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
};

struct S3Object {
  std::string key;
  std::uint64_t size = 0;
};

/// One bucket of an S3-compatible store. Methods throw Error: network (retryable) when the
/// server could not be reached or answered 5xx, 408 or 429; io (not retryable) for other
/// refusals, with S3's error code and message. Safe to use from one thread at a time.
class WIS2MON_API S3Client {
 public:
  S3Client(std::string bucket, S3ClientOptions options = {});
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  void put_object(const std::string& key, std::string_view data, const std::string& content_type);
  /// Uploads a file: one PUT, or a multipart upload (aborted on failure) above the threshold.
  /// Reads at most part_bytes into memory at a time.
  void put_file(const std::string& key, const std::filesystem::path& file, const std::string& content_type);
  std::string get_object(const std::string& key);
  /// Every object under the prefix (ListObjectsV2, all pages), in key order; "folder/" keys
  /// (folder markers, no data) are left out.
  std::vector<S3Object> list_objects(const std::string& prefix);
  void delete_object(const std::string& key);
  /// Creates the bucket (a local server's set-up; tests).
  void create_bucket();

  const std::string& bucket() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wis2mon
