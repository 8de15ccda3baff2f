// S3Client: PUT / multipart upload / GET / ListObjectsV2 / DELETE against S3 or an
// S3-compatible server, signed by libcurl (CURLOPT_AWS_SIGV4); S3's XML answers read by libxml2.
#include "wis2mon/object_store.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>

#include "common/curl.hpp"
#include "objstore/aws_request.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string home_file(const char* env_name, const char* relative) {
  if (auto v = env(env_name); !v.empty()) return v;
  const auto home = env("HOME");
  return home.empty() ? std::string() : home + "/" + relative;
}

std::string trim(std::string s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.back())) s.pop_back();
  std::size_t b = 0;
  while (b < s.size() && blank(s[b])) ++b;
  return s.substr(b);
}

// The key = value pairs of one [section] of an AWS INI file (credentials or config).
std::map<std::string, std::string> ini_section(const std::string& path, const std::string& section) {
  std::map<std::string, std::string> out;
  if (path.empty()) return out;
  std::ifstream in(path);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      inside = trim(line.substr(1, line.size() - 2)) == section;
      continue;
    }
    const auto eq = line.find('=');
    if (inside && eq != std::string::npos) out[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return out;
}

std::string profile_name() {
  auto p = env("AWS_PROFILE");
  return p.empty() ? "default" : p;
}

// The config file names profiles "[profile x]", except "[default]".
std::map<std::string, std::string> config_profile() {
  const auto p = profile_name();
  return ini_section(home_file("AWS_CONFIG_FILE", ".aws/config"), p == "default" ? p : "profile " + p);
}

struct XmlDoc {
  xmlDocPtr doc = nullptr;
  explicit XmlDoc(const std::string& text) {
    if (!text.empty())
      doc = xmlReadMemory(text.data(), static_cast<int>(text.size()), "s3.xml", nullptr,
                          XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  }
  ~XmlDoc() {
    if (doc) xmlFreeDoc(doc);
  }
  XmlDoc(const XmlDoc&) = delete;
  XmlDoc& operator=(const XmlDoc&) = delete;
  const xmlNode* root() const { return doc ? xmlDocGetRootElement(doc) : nullptr; }
};

std::string_view local_name(const xmlNode* n) {
  return reinterpret_cast<const char*>(n->name);
}

const xmlNode* child(const xmlNode* parent, std::string_view name) {
  if (!parent) return nullptr;
  for (const xmlNode* c = parent->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && local_name(c) == name) return c;
  return nullptr;
}

std::string text_of(const xmlNode* n) {
  if (!n) return {};
  xmlChar* t = xmlNodeGetContent(n);
  std::string out = t ? reinterpret_cast<const char*>(t) : "";
  xmlFree(t);
  return out;
}

using Response = detail::AwsResponse;

}  // namespace

S3Location S3Location::parse(std::string_view url) {
  constexpr std::string_view scheme = "s3://";
  if (url.substr(0, scheme.size()) != scheme)
    throw Error(ErrorCode::invalid_argument,
                "object storage URL must start with s3:// (got '" + std::string(url) + "')");
  auto rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  S3Location loc;
  loc.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) loc.prefix = std::string(rest.substr(slash + 1));
  while (!loc.prefix.empty() && loc.prefix.back() == '/') loc.prefix.pop_back();
  while (!loc.prefix.empty() && loc.prefix.front() == '/') loc.prefix.erase(0, 1);
  const bool name_ok = loc.bucket.size() >= 3 && loc.bucket.size() <= 63 &&
                       loc.bucket.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") == std::string::npos;
  if (!name_ok)
    throw Error(ErrorCode::invalid_argument,
                "'" + std::string(url) + "': a bucket name is 3 to 63 characters of a-z, 0-9, '.' and '-'");
  return loc;
}

std::string S3Location::key(std::string_view name) const {
  return prefix.empty() ? std::string(name) : prefix + "/" + std::string(name);
}

AwsCredentials aws_credentials_from_environment() {
  AwsCredentials c;
  c.access_key_id = env("AWS_ACCESS_KEY_ID");
  c.secret_access_key = env("AWS_SECRET_ACCESS_KEY");
  c.session_token = env("AWS_SESSION_TOKEN");
  if (!c.access_key_id.empty() && !c.secret_access_key.empty()) return c;
  const auto credentials_file = home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
  for (const auto& section : {ini_section(credentials_file, profile_name()), config_profile()}) {
    const auto id = section.find("aws_access_key_id");
    const auto secret = section.find("aws_secret_access_key");
    if (id == section.end() || secret == section.end()) continue;
    const auto token = section.find("aws_session_token");
    return {id->second, secret->second, token == section.end() ? std::string() : token->second};
  }
  throw Error(ErrorCode::invalid_argument,
              "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile '" + profile_name() +
                  "' in " + (credentials_file.empty() ? std::string("~/.aws/credentials") : credentials_file) +
                  " or the AWS config file");
}

std::string aws_region_from_environment() {
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"})
    if (auto v = env(name); !v.empty()) return v;
  const auto profile = config_profile();
  if (const auto it = profile.find("region"); it != profile.end() && !it->second.empty()) return it->second;
  return "us-east-1";
}

struct S3Client::Impl {
  std::string bucket;
  S3ClientOptions opt;
  AwsCredentials credentials;
  std::string region;
  std::string base;  // scheme://host[:port][/bucket]: what a key's path is appended to

  std::string url(const std::string& key, const std::map<std::string, std::string>& query) const {
    std::string u = base + "/" + detail::uri_encode(key, true);
    if (!query.empty()) u += "?" + detail::canonical_query(query);
    return u;
  }

  // One signed request. body: sent as is (its SHA-256 is the signed payload hash).
  Response perform(const char* method, const std::string& target, std::string_view body,
                   const std::string& content_type) const {
    detail::AwsRequest q;
    q.method = method;
    q.url = target;
    q.body = body;
    const std::string_view m(method);
    // libcurl signs a content type for any request with a body: always name one.
    q.content_type = content_type.empty() && (m == "PUT" || m == "POST") ? "application/octet-stream" : content_type;
    q.region = region;
    q.credentials = credentials;
    q.timeout = opt.timeout;
    q.connect_timeout = opt.connect_timeout;
    return detail::perform_aws_request(q);
  }

  // Throws unless 2xx and free of an <Error> body (S3 may answer 200 with an error to a
  // CompleteMultipartUpload that failed late).
  static void check(const Response& r, const std::string& what) {
    XmlDoc doc(r.status >= 200 && r.status < 300 && r.body.find("<Error>") == std::string::npos ? std::string()
                                                                                                : r.body);
    const xmlNode* root = doc.root();
    const bool error_body = root && local_name(root) == "Error";
    if (r.status >= 200 && r.status < 300 && !error_body) return;
    std::string detail = "HTTP " + std::to_string(r.status);
    if (error_body) detail += " " + text_of(child(root, "Code")) + ": " + text_of(child(root, "Message"));
    const bool retriable = r.status >= 500 || r.status == 408 || r.status == 429 || r.status < 200 ||
                           (error_body && text_of(child(root, "Code")) == "InternalError") ||
                           (error_body && text_of(child(root, "Code")) == "SlowDown");
    throw Error(retriable ? ErrorCode::network : ErrorCode::io, what + ": " + detail, retriable);
  }
};

S3Client::S3Client(std::string bucket, S3ClientOptions options) : impl_(std::make_unique<Impl>()) {
  detail::curl_global_init_once();
  auto& m = *impl_;
  m.bucket = std::move(bucket);
  m.opt = std::move(options);
  if (m.opt.part_bytes == 0 || m.opt.multipart_threshold < m.opt.part_bytes)
    throw Error(ErrorCode::invalid_argument, "object storage: part_bytes must be > 0 and <= multipart_threshold");
  m.credentials = m.opt.credentials ? *m.opt.credentials : aws_credentials_from_environment();
  m.region = m.opt.region.empty() ? aws_region_from_environment() : m.opt.region;
  if (m.opt.endpoint.empty()) {
    // Virtual-hosted style, except for bucket names with dots (they break the TLS name match).
    m.base = m.bucket.find('.') == std::string::npos ? "https://" + m.bucket + ".s3." + m.region + ".amazonaws.com"
                                                     : "https://s3." + m.region + ".amazonaws.com/" + m.bucket;
  } else {
    auto e = m.opt.endpoint;
    while (!e.empty() && e.back() == '/') e.pop_back();
    if (e.rfind("http://", 0) != 0 && e.rfind("https://", 0) != 0)
      throw Error(ErrorCode::invalid_argument, "object storage endpoint must start with http:// or https://");
    m.base = e + "/" + m.bucket;  // path style: what S3-compatible servers expect
  }
}

S3Client::~S3Client() = default;

const std::string& S3Client::bucket() const noexcept {
  return impl_->bucket;
}

void S3Client::put_object(const std::string& key, std::string_view data, const std::string& content_type) {
  const auto r = impl_->perform("PUT", impl_->url(key, {}), data, content_type);
  Impl::check(r, "PUT s3://" + impl_->bucket + "/" + key);
}

void S3Client::put_file(const std::string& key, const std::filesystem::path& file, const std::string& content_type) {
  auto& m = *impl_;
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) throw Error(ErrorCode::io, "object storage: " + file.string() + ": " + ec.message());
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorCode::io, "object storage: cannot read " + file.string());
  const auto read = [&in, &file](std::uint64_t n) {
    std::string buf(static_cast<std::size_t>(n), '\0');
    in.read(buf.data(), static_cast<std::streamsize>(n));
    if (static_cast<std::uint64_t>(in.gcount()) != n)
      throw Error(ErrorCode::io, "object storage: short read of " + file.string());
    return buf;
  };
  if (size <= m.opt.multipart_threshold) return put_object(key, read(size), content_type);

  const std::string where = "s3://" + m.bucket + "/" + key;
  auto r = m.perform("POST", m.url(key, {{"uploads", ""}}), {}, content_type);
  Impl::check(r, "CreateMultipartUpload " + where);
  const XmlDoc started(r.body);
  const std::string upload_id = text_of(child(started.root(), "UploadId"));
  if (upload_id.empty()) throw Error(ErrorCode::io, "CreateMultipartUpload " + where + ": no UploadId in the answer");
  try {
    std::string complete = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    std::uint64_t done = 0;
    for (int part = 1; done < size; ++part) {
      const auto n = std::min(m.opt.part_bytes, size - done);
      const auto data = read(n);
      r = m.perform("PUT", m.url(key, {{"partNumber", std::to_string(part)}, {"uploadId", upload_id}}), data,
                    "application/octet-stream");
      Impl::check(r, "UploadPart " + std::to_string(part) + " of " + where);
      const auto etag = r.headers.find("etag");
      if (etag == r.headers.end()) throw Error(ErrorCode::io, "UploadPart of " + where + ": no ETag in the answer");
      // The ETag goes back as given; it is hex in quotes, nothing XML needs escaped.
      complete += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" + etag->second + "</ETag></Part>";
      done += n;
    }
    complete += "</CompleteMultipartUpload>";
    r = m.perform("POST", m.url(key, {{"uploadId", upload_id}}), complete, "application/xml");
    Impl::check(r, "CompleteMultipartUpload " + where);
  } catch (...) {
    // Parts of an abandoned upload are billed until aborted; best effort.
    try {
      (void)m.perform("DELETE", m.url(key, {{"uploadId", upload_id}}), {}, {});
    } catch (...) {
    }
    throw;
  }
}

std::string S3Client::get_object(const std::string& key) {
  auto r = impl_->perform("GET", impl_->url(key, {}), {}, {});
  if (r.status == 404) throw Error(ErrorCode::not_found, "s3://" + impl_->bucket + "/" + key + ": no such object");
  Impl::check(r, "GET s3://" + impl_->bucket + "/" + key);
  return std::move(r.body);
}

std::vector<S3Object> S3Client::list_objects(const std::string& prefix) {
  auto& m = *impl_;
  std::vector<S3Object> out;
  std::string token;
  for (;;) {
    std::map<std::string, std::string> q{{"list-type", "2"}, {"prefix", prefix}};
    if (!token.empty()) q["continuation-token"] = token;
    const auto r = m.perform("GET", m.base + "?" + detail::canonical_query(q), {}, {});
    Impl::check(r, "ListObjectsV2 s3://" + m.bucket + "/" + prefix);
    const XmlDoc doc(r.body);
    const xmlNode* root = doc.root();
    if (!root || local_name(root) != "ListBucketResult")
      throw Error(ErrorCode::io, "ListObjectsV2 s3://" + m.bucket + ": not a ListBucketResult");
    for (const xmlNode* c = root->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE || local_name(c) != "Contents") continue;
      S3Object o;
      o.key = text_of(child(c, "Key"));
      o.size = std::strtoull(text_of(child(c, "Size")).c_str(), nullptr, 10);
      // "folder/" keys (console folders; directories of filesystem-backed servers) hold no data.
      if (!o.key.empty() && o.key.back() == '/') continue;
      out.push_back(std::move(o));
    }
    token = text_of(child(root, "NextContinuationToken"));
    if (text_of(child(root, "IsTruncated")) != "true" || token.empty()) break;
  }
  return out;
}

void S3Client::delete_object(const std::string& key) {
  const auto r = impl_->perform("DELETE", impl_->url(key, {}), {}, {});
  Impl::check(r, "DELETE s3://" + impl_->bucket + "/" + key);
}

void S3Client::create_bucket() {
  const auto r = impl_->perform("PUT", impl_->base, {}, {});
  Impl::check(r, "CreateBucket " + impl_->bucket);
}

}  // namespace wis2mon
