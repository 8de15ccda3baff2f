// One HTTP request signed with AWS Signature Version 4 by libcurl (CURLOPT_AWS_SIGV4): the
// S3 client's transport, and what the signing test drives with AWS's published test vectors.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "wis2mon/object_store.hpp"

namespace wis2mon::detail {

struct AwsRequest {
  std::string method = "GET";
  std::string url;                   ///< path already URI-encoded, query already sorted (see s3_client.cpp)
  std::vector<std::string> headers;  ///< "Name: value", signed with the rest
  std::string_view body;
  std::string content_type;  ///< sent (and signed) when not empty
  std::string region;
  std::string service = "s3";  ///< "s3" also sends x-amz-content-sha256 (SHA-256 of the body)
  AwsCredentials credentials;
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  /// Tests: "host:port:127.0.0.1:port2" (CURLOPT_CONNECT_TO), so a request for a published
  /// vector's host reaches a loopback server with the Host header unchanged.
  std::string connect_to;
};

struct AwsResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string request_head;                    ///< the request line and headers as sent
};

/// SigV4's URI encoding: every byte but A-Z a-z 0-9 - _ . ~ as %XX (upper case); '/' kept
/// when keep_slash (paths). libcurl signs the path and query as sent, so they are encoded here.
std::string uri_encode(std::string_view s, bool keep_slash);

/// A query string in SigV4's canonical form: names sorted, "name=" for a bare name. libcurl
/// before 8.x signs the query in the order given, so requests send it in this order.
std::string canonical_query(const std::map<std::string, std::string>& params);

/// Performs the request. Throws Error(network, retriable) when no answer came,
/// Error(unsupported) when libcurl is too old to sign.
AwsResponse perform_aws_request(const AwsRequest& request);

}  // namespace wis2mon::detail
