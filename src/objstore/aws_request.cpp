// perform_aws_request: libcurl does the signing (CURLOPT_AWS_SIGV4); this sets up what it signs.
#include "objstore/aws_request.hpp"

#include <curl/curl.h>

#include <cctype>

#include "common/ca_bundle.hpp"
#include "common/curl.hpp"
#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "wis2mon/error.hpp"

// libcurl signs with SigV4 since 7.75; 7.87 added what S3 needs (a caller's
// x-amz-content-sha256 used as the payload hash). Older builds (the portable wheels carry
// Debian 11's 7.74) have no object storage.
#if LIBCURL_VERSION_NUM >= 0x075700
#define WIS2MON_HAVE_SIGV4 1
#else
#define WIS2MON_HAVE_SIGV4 0
#endif

namespace wis2mon {

bool object_storage_supported() noexcept {
  return WIS2MON_HAVE_SIGV4 != 0;
}

namespace detail {

#if WIS2MON_HAVE_SIGV4
namespace {

size_t collect_body(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

size_t collect_header(char* p, size_t size, size_t n, void* user) {
  std::string_view line(p, size * n);
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  (*static_cast<std::map<std::string, std::string>*>(user))[name] = std::string(value);
  return size * n;
}

int collect_request_head(CURL*, curl_infotype type, char* data, size_t size, void* user) {
  if (type == CURLINFO_HEADER_OUT) static_cast<std::string*>(user)->append(data, size);
  return 0;
}

struct CurlHandle {
  CURL* h = curl_easy_init();
  curl_slist* headers = nullptr;
  curl_slist* connect_to = nullptr;
  ~CurlHandle() {
    curl_slist_free_all(headers);
    curl_slist_free_all(connect_to);
    if (h) curl_easy_cleanup(h);
  }
};

}  // namespace
#endif

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr std::string_view unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
  static constexpr const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const unsigned char c : s) {
    if (unreserved.find(static_cast<char>(c)) != std::string_view::npos || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string canonical_query(const std::map<std::string, std::string>& params) {
  std::string out;
  for (const auto& [k, v] : params) {  // std::map: sorted by name, byte order as SigV4 wants
    if (!out.empty()) out += '&';
    out += uri_encode(k, false) + "=" + uri_encode(v, false);
  }
  return out;
}

AwsResponse perform_aws_request(const AwsRequest& q) {
#if WIS2MON_HAVE_SIGV4
  curl_global_init_once();
  CurlHandle c;
  if (!c.h) throw Error(ErrorCode::internal, "curl_easy_init failed");
  CURL* curl = c.h;
  AwsResponse r;
  curl_easy_setopt(curl, CURLOPT_URL, q.url.c_str());
  const std::string provider = "aws:amz:" + q.region + ":" + q.service;
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, provider.c_str());
  curl_easy_setopt(curl, CURLOPT_USERNAME, q.credentials.access_key_id.c_str());
  curl_easy_setopt(curl, CURLOPT_PASSWORD, q.credentials.secret_access_key.c_str());
  // Only headers that are sent go in: libcurl signs every header given here, an emptied one
  // ("Accept:") included, which the server would then not see.
  const auto add = [&c](const std::string& h) { c.headers = curl_slist_append(c.headers, h.c_str()); };
  for (const auto& h : q.headers) add(h);
  if (q.service == "s3") {
    // S3 wants the payload's hash in a header; libcurl signs it and uses it as the payload hash.
    unsigned char digest[32];
    compute_digest("sha256", q.body.data(), q.body.size(), digest);
    add("x-amz-content-sha256: " + hex_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest)));
  }
  if (!q.credentials.session_token.empty()) add("x-amz-security-token: " + q.credentials.session_token);
  if (!q.content_type.empty()) add("Content-Type: " + q.content_type);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, c.headers);
  if (q.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (q.method == "DELETE" || q.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, q.method.c_str());
    if (q.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    // A body in memory: libcurl can hash what it signs (a read callback would not let it).
    // Never a null pointer (an empty body): libcurl would then read the body from stdin.
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, q.body.data() ? q.body.data() : "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(q.body.size()));
    if (q.method != "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, q.method.c_str());
  }
  if (!q.connect_to.empty()) {
    c.connect_to = curl_slist_append(nullptr, q.connect_to.c_str());
    curl_easy_setopt(curl, CURLOPT_CONNECT_TO, c.connect_to);
  }
  // The request head as sent (for the signing test and error reports); no output otherwise.
  curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
  curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, collect_request_head);
  curl_easy_setopt(curl, CURLOPT_DEBUGDATA, &r.request_head);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(q.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(q.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  const auto& ca = system_ca_file();
  if (!ca.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca.c_str());
  const CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) throw Error(ErrorCode::network, q.method + " " + q.url + ": " + curl_easy_strerror(rc), true);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
#else
  throw Error(ErrorCode::unsupported, std::string("object storage needs libcurl 7.87 or newer; this build has ") +
                                          LIBCURL_VERSION + " (" + q.method + " " + q.url + ")");
#endif
}

}  // namespace detail
}  // namespace wis2mon
