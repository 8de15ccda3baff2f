// Object storage: libcurl's SigV4 signing as the library sets it up, checked against AWS's
// published test vectors; the S3 client and the NDJSON sink's uploads against a real
// S3-compatible server (S3Proxy, see s3_server.hpp), including a server killed mid-upload.
#include <doctest/doctest.h>
#include <httplib.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "objstore/aws_request.hpp"
#include "objstore/uploader.hpp"
#include "s3_server.hpp"
#include "support.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/object_store.hpp"
#include "wis2mon/record.hpp"
#include "wis2mon/sinks/ndjson.hpp"

using namespace wis2mon;
using namespace std::chrono_literals;

namespace {

// A loopback server that answers 200 to anything: the vectors only need the request sent.
struct AnyServer {
  httplib::Server server;
  int port = 0;
  std::thread thread;
  AnyServer() {
    const auto ok = [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); };
    server.Get(".*", ok);
    server.Post(".*", ok);
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~AnyServer() {
    server.stop();
    thread.join();
  }
};

std::string authorization_sent(const detail::AwsResponse& r) {
  const auto at = r.request_head.find("Authorization: ");
  if (at == std::string::npos) return "(none)";
  const auto end = r.request_head.find("\r\n", at);
  return r.request_head.substr(at + 15, end - at - 15);
}

// AWS's SigV4 test suite (aws-sig-v4-test-suite): these credentials, region, service and time.
detail::AwsRequest suite_request(const AnyServer& s, std::string path_and_query) {
  detail::AwsRequest q;
  q.url = "http://example.amazonaws.com" + std::move(path_and_query);
  q.connect_to = "example.amazonaws.com:80:127.0.0.1:" + std::to_string(s.port);
  q.headers = {"X-Amz-Date: 20150830T123600Z"};
  q.region = "us-east-1";
  q.service = "service";
  q.credentials = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  return q;
}

bool have_s3_server() {
  if (!object_storage_supported()) {
    MESSAGE("this build's libcurl cannot sign S3 requests: skipped");
    return false;
  }
  if (!testing::S3Server::jar().empty()) return true;
  MESSAGE("S3Proxy is not installed (scripts/test.sh sets WIS2MON_S3PROXY): skipped");
  return false;
}

Record row(int i) {
  Record r("observations");
  r.set("data_id", "item-" + std::to_string(i));
  r.set("value", static_cast<double>(i));
  return r;
}

// The objects under the prefix, without what S3Proxy's filesystem backend leaves of a PUT
// cut by a SIGKILL of the server: it writes "<key>-<uuid>" and renames it when the body is
// complete, so a killed upload leaves that file, listed as an object after the restart (S3
// itself never shows a partial upload). Such a key must name an object that did arrive whole.
std::vector<S3Object> whole_objects(S3Client& client, const std::string& prefix) {
  auto listed = client.list_objects(prefix);
  std::set<std::string> keys;
  for (const auto& o : listed) keys.insert(o.key);
  std::vector<S3Object> out;
  for (auto& o : listed) {
    const auto dash = o.key.size() > 37 ? o.key.size() - 37 : std::string::npos;
    const bool leftover = dash != std::string::npos && o.key[dash] == '-' &&
                          o.key.find_first_not_of("0123456789abcdef-", dash + 1) == std::string::npos;
    if (leftover) {
      CHECK_MESSAGE(keys.count(o.key.substr(0, dash)), "a partial upload of an object that never arrived: ", o.key);
      continue;
    }
    out.push_back(std::move(o));
  }
  return out;
}

// Every data_id of every line of every object under the prefix, with how often it occurs.
std::map<std::string, int> ids_in_bucket(S3Client& client, const std::string& prefix, std::size_t* objects = nullptr) {
  std::map<std::string, int> seen;
  const auto listed = whole_objects(client, prefix);
  if (objects) *objects = listed.size();
  for (const auto& o : listed) {
    const auto body = client.get_object(o.key);
    std::size_t start = 0;
    while (start < body.size()) {
      const auto end = body.find('\n', start);
      const auto line = body.substr(start, end - start);
      const auto at = line.find("\"data_id\":\"");
      if (at != std::string::npos) ++seen[line.substr(at + 11, line.find('"', at + 11) - at - 11)];
      start = end == std::string::npos ? body.size() : end + 1;
    }
  }
  return seen;
}

std::size_t files_under(const std::filesystem::path& root) {
  std::size_t n = 0;
  if (!std::filesystem::exists(root)) return 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root))
    if (e.is_regular_file()) ++n;
  return n;
}

}  // namespace

TEST_CASE("SigV4 as libcurl signs it for the library matches AWS's published test vectors") {
  if (!object_storage_supported()) {
    MESSAGE("this build's libcurl cannot sign (needs 7.87): skipped");
    return;
  }
  AnyServer server;
  const std::string scope = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ";

  SUBCASE("get-vanilla") {
    const auto r = detail::perform_aws_request(suite_request(server, "/"));
    CHECK(r.status == 200);
    CHECK(authorization_sent(r) == scope +
                                       "SignedHeaders=host;x-amz-date, "
                                       "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  }
  SUBCASE("get-vanilla-query-order-key-case: the query is sent in canonical order") {
    const auto query = detail::canonical_query({{"Param2", "value2"}, {"Param1", "value1"}});
    CHECK(query == "Param1=value1&Param2=value2");
    const auto r = detail::perform_aws_request(suite_request(server, "/?" + query));
    CHECK(authorization_sent(r) == scope +
                                       "SignedHeaders=host;x-amz-date, "
                                       "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
  }
  SUBCASE("post-x-www-form-urlencoded") {
    auto q = suite_request(server, "/");
    q.method = "POST";
    q.body = "Param1=value1";
    q.content_type = "application/x-www-form-urlencoded";
    const auto r = detail::perform_aws_request(q);
    CHECK(authorization_sent(r) == scope +
                                       "SignedHeaders=content-type;host;x-amz-date, "
                                       "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
  }
  SUBCASE("the S3 documentation's GET Object example (payload hash header signed)") {
    detail::AwsRequest q;
    q.url = "http://examplebucket.s3.amazonaws.com/" + detail::uri_encode("test.txt", true);
    q.connect_to = "examplebucket.s3.amazonaws.com:80:127.0.0.1:" + std::to_string(server.port);
    q.headers = {"X-Amz-Date: 20130524T000000Z", "Range: bytes=0-9"};
    q.region = "us-east-1";
    q.service = "s3";
    q.credentials = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
    const auto r = detail::perform_aws_request(q);
    CHECK(r.request_head.find("x-amz-content-sha256: "
                              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") != std::string::npos);
    CHECK(authorization_sent(r) ==
          "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
          "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
          "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  }
  SUBCASE("another secret gives another signature") {
    auto q = suite_request(server, "/");
    q.credentials.secret_access_key = "not-the-example-key";
    const auto r = detail::perform_aws_request(q);
    CHECK(authorization_sent(r).find("5fa00fa31553b73e") == std::string::npos);
  }
}

TEST_CASE("object storage URLs, keys and encoding") {
  const auto loc = S3Location::parse("s3://wis2-raw/monitor/a/");
  CHECK(loc.bucket == "wis2-raw");
  CHECK(loc.prefix == "monitor/a");
  CHECK(loc.key("x/y.ndjson") == "monitor/a/x/y.ndjson");
  CHECK(S3Location::parse("s3://bucket").key("k") == "k");
  CHECK_THROWS_AS(S3Location::parse("http://bucket/x"), Error);
  CHECK_THROWS_AS(S3Location::parse("s3://Upper/x"), Error);
  CHECK_THROWS_AS(S3Location::parse("s3://ab"), Error);
  CHECK(detail::uri_encode("a b/ü~", true) == "a%20b/%C3%BC~");
  CHECK(detail::uri_encode("a/b", false) == "a%2Fb");
  CHECK(detail::canonical_query({{"uploads", ""}}) == "uploads=");
}

TEST_CASE("AWS credentials and region come from the environment, then the shared files") {
  testing::TempDir dir;
  const auto credentials = dir.path / "credentials";
  const auto config = dir.path / "config";
  std::ofstream(credentials) << "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n"
                             << "[ops]\naws_access_key_id=AKIDOPS\naws_secret_access_key=s2\naws_session_token = t2\n";
  std::ofstream(config) << "[default]\nregion = eu-west-1\n[profile ops]\nregion=ap-southeast-2\n";
  const auto keep = [](const char* name) {
    const char* v = std::getenv(name);
    return std::make_pair(std::string(name), v ? std::optional<std::string>(v) : std::nullopt);
  };
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
  for (const char* n : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                        "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_REGION", "AWS_DEFAULT_REGION"}) {
    saved.push_back(keep(n));
    ::unsetenv(n);
  }
  ::setenv("AWS_SHARED_CREDENTIALS_FILE", credentials.c_str(), 1);
  ::setenv("AWS_CONFIG_FILE", config.c_str(), 1);

  auto c = aws_credentials_from_environment();
  CHECK(c.access_key_id == "AKIDDEFAULT");
  CHECK(c.session_token.empty());
  CHECK(aws_region_from_environment() == "eu-west-1");
  ::setenv("AWS_PROFILE", "ops", 1);
  c = aws_credentials_from_environment();
  CHECK(c.access_key_id == "AKIDOPS");
  CHECK(c.session_token == "t2");
  CHECK(aws_region_from_environment() == "ap-southeast-2");
  ::setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "s3", 1);
  ::setenv("AWS_REGION", "us-west-2", 1);
  CHECK(aws_credentials_from_environment().access_key_id == "AKIDENV");
  CHECK(aws_region_from_environment() == "us-west-2");
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::setenv("AWS_PROFILE", "missing", 1);
  CHECK_THROWS_AS(aws_credentials_from_environment(), Error);

  for (const auto& [name, value] : saved) {
    if (value)
      ::setenv(name.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
}

TEST_CASE("S3 client against a real S3-compatible server: put, multipart, get, list, refusals") {
  if (!have_s3_server()) return;
  testing::S3Server server;
  S3Client client(server.bucket(), server.client_options());

  client.put_object("a/one.ndjson", "{\"x\":1}\n", "application/x-ndjson");
  CHECK(client.get_object("a/one.ndjson") == "{\"x\":1}\n");

  // A file of 12 MiB in parts of 5 MiB (S3's smallest, which this server enforces too): three
  // parts, put back together byte for byte.
  testing::TempDir dir;
  std::string big;
  for (int i = 0; big.size() < 12 * 1024 * 1024; ++i) big += "line " + std::to_string(i) + " of a large batch\n";
  std::ofstream(dir.path / "big.ndjson", std::ios::binary) << big;
  auto opt = server.client_options();
  opt.multipart_threshold = 6 * 1024 * 1024;
  opt.part_bytes = 5 * 1024 * 1024;
  S3Client parts(server.bucket(), opt);
  parts.put_file("a/b/big file.ndjson", dir.path / "big.ndjson", "application/x-ndjson");
  CHECK(client.get_object("a/b/big file.ndjson") == big);
  // Parts under 5 MiB are refused by the server: the upload fails (and is aborted), it does
  // not leave a broken object.
  opt.multipart_threshold = 1024 * 1024;
  opt.part_bytes = 1024 * 1024;
  S3Client small_parts(server.bucket(), opt);
  CHECK_THROWS_AS(small_parts.put_file("a/c/refused.ndjson", dir.path / "big.ndjson", "application/x-ndjson"), Error);
  CHECK(client.list_objects("a/c/").empty());

  const auto listed = client.list_objects("a/");
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].key == "a/b/big file.ndjson");
  CHECK(listed[0].size == big.size());
  CHECK(client.list_objects("b/").empty());

  CHECK_THROWS_AS(client.get_object("a/none"), Error);
  // A wrong secret is refused by the server's signature check: not worth retrying.
  auto wrong = server.client_options();
  wrong.credentials->secret_access_key = "wrong";
  S3Client refused(server.bucket(), wrong);
  try {
    refused.put_object("a/x", "x", "text/plain");
    FAIL("a request signed with the wrong secret was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::io);
    CHECK_FALSE(e.retriable());
    CHECK(std::string(e.what()).find("SignatureDoesNotMatch") != std::string::npos);
  }
  // A server that is gone: retriable.
  server.kill();
  try {
    client.put_object("a/y", "y", "text/plain");
    FAIL("a put to a stopped server succeeded");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::network);
    CHECK(e.retriable());
  }
  server.restart();
  CHECK(client.get_object("a/one.ndjson") == "{\"x\":1}\n");  // kept across the restart
}

TEST_CASE("NDJSON sink to object storage: keys by table and hour, a server killed mid-upload loses nothing") {
  if (!have_s3_server()) return;
  testing::S3Server server;
  testing::TempDir dir;
  const auto creds = server.client_options().credentials;
  ::setenv("AWS_ACCESS_KEY_ID", creds->access_key_id.c_str(), 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", creds->secret_access_key.c_str(), 1);

  NdjsonSinkOptions o;
  o.url = "s3://" + server.bucket() + "/wis2/raw";
  o.endpoint = server.endpoint();
  o.root = dir.path / "staging";
  o.rotate_bytes = 8000;  // a file closes every other batch of 100: many objects
  o.upload_drain = 60s;
  const int total = 3000;
  std::uint64_t uploaded = 0;
  {
    NdjsonSink sink("raw", o);
    int next = 0;
    const auto write = [&](int n) {
      std::vector<Record> batch;
      for (int i = 0; i < n; ++i) batch.push_back(row(next++));
      for (const auto& d : sink.write(batch)) REQUIRE(d.status == DeliveryStatus::delivered);
    };
    for (int i = 0; i < 10; ++i) write(100);
    // Killed while files are going up; writing goes on (records are durable locally).
    server.kill();
    for (int i = 0; i < 10; ++i) write(100);
    std::this_thread::sleep_for(1500ms);
    CHECK(sink.pending_uploads() > 0);
    CHECK_FALSE(sink.healthcheck().ok);
    server.restart();
    while (next < total) write(std::min(100, total - next));
    sink.close();
    uploaded = sink.uploaded_files();
    CHECK(sink.pending_uploads() == 0);
  }
  S3Client client(server.bucket(), server.client_options());
  std::size_t objects = 0;
  const auto seen = ids_in_bucket(client, "wis2/raw/", &objects);
  CHECK(objects == uploaded);
  CHECK(seen.size() == static_cast<std::size_t>(total));
  int doubled = 0;
  for (const auto& [id, n] : seen) doubled += n > 1;
  CHECK(doubled == 0);
  CHECK(files_under(dir.path / "staging") == 0);  // every file went up, then away

  // The documented keys: <prefix>/<table>/YYYY/MM/DD/HH/<file_prefix>-<stamp>-<token>-<n>.ndjson
  for (const auto& obj : whole_objects(client, "wis2/raw/")) {
    INFO(obj.key);
    const std::string rest = obj.key.substr(std::string("wis2/raw/observations/").size());
    CHECK(obj.key.rfind("wis2/raw/observations/", 0) == 0);
    CHECK(rest.size() > 14);
    CHECK(rest[4] == '/');
    CHECK(rest[7] == '/');
    CHECK(rest[10] == '/');
    CHECK(rest[13] == '/');
    CHECK(rest.substr(14, 8) == "wis2mon-");
    CHECK(rest.size() - rest.rfind(".ndjson") == 7);
  }
}

TEST_CASE("NDJSON sink to object storage: files left by a run whose uploads failed go up at the next start") {
  if (!have_s3_server()) return;
  testing::S3Server server;
  testing::TempDir dir;
  NdjsonSinkOptions o;
  o.url = "s3://" + server.bucket() + "/later";
  o.endpoint = server.endpoint();
  o.root = dir.path / "staging";
  o.rotate_bytes = 500;
  o.upload_drain = 500ms;
  const auto creds = server.client_options().credentials;
  ::setenv("AWS_ACCESS_KEY_ID", creds->access_key_id.c_str(), 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", creds->secret_access_key.c_str(), 1);
  server.kill();
  {
    NdjsonSink sink("later", o);
    std::vector<Record> batch;
    for (int i = 0; i < 100; ++i) batch.push_back(row(i));
    for (const auto& d : sink.write(batch)) REQUIRE(d.status == DeliveryStatus::delivered);
    sink.close();  // the store is away: the drain gives up, the files stay
    CHECK(sink.uploaded_files() == 0);
  }
  const auto left = files_under(dir.path / "staging");
  CHECK(left > 0);
  server.restart();
  o.upload_drain = 30s;
  {
    NdjsonSink sink("later", o);
    sink.close();
    CHECK(sink.uploaded_files() == left);
  }
  S3Client client(server.bucket(), server.client_options());
  const auto seen = ids_in_bucket(client, "later/");
  CHECK(seen.size() == 100);
  CHECK(files_under(dir.path / "staging") == 0);
}

TEST_CASE("directory uploader: a file replaced before its upload goes up in its newest version, once") {
  if (!have_s3_server()) return;
  testing::S3Server server;
  testing::TempDir dir;
  const auto root = dir.path / "store";
  std::filesystem::create_directories(root / "de-dwd");
  const auto file = root / "de-dwd" / "obs.bufr4";
  const auto write_version = [&](const std::string& text) {  // as store_object does: a new file renamed over
    std::ofstream(root / "de-dwd" / ".obs.tmp") << text;
    std::filesystem::rename(root / "de-dwd" / ".obs.tmp", file);
  };
  write_version("version 1");
  server.kill();  // the first attempt fails; the item is updated meanwhile
  {
    detail::DirectoryUploader up(root, S3Location::parse("s3://" + server.bucket() + "/objects"),
                                 server.client_options());
    CHECK(up.key_for(file) == "objects/de-dwd/obs.bufr4");
    std::this_thread::sleep_for(300ms);
    write_version("version 2");
    up.add(file);  // queued again by its writer
    server.restart();
    CHECK(up.drain(30s));
    CHECK(up.uploaded() == 1);  // the second entry found the file gone: nothing sent twice
    CHECK(up.failures() >= 1);
  }
  S3Client client(server.bucket(), server.client_options());
  CHECK(client.get_object("objects/de-dwd/obs.bufr4") == "version 2");
  CHECK_FALSE(std::filesystem::exists(file));
  CHECK_FALSE(std::filesystem::exists(root / "de-dwd"));  // the folder it left empty went too
  CHECK(std::filesystem::exists(root));
}
