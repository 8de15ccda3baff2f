// The Downloader against a real HTTP(S) server with injected faults (fault_server.hpp).
// Every fault must give the right status and hand back no data.
#include <doctest/doctest.h>

#include <zlib.h>
#include <set>

#include <thread>

#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "fault_server.hpp"
#include "support.hpp"
#include "wis2mon/download.hpp"
#include "wis2mon/error.hpp"

using namespace wis2mon;
using namespace std::chrono_literals;

namespace {

std::string sha512_b64(std::string_view data) {
  unsigned char d[64];
  detail::compute_digest("sha512", data.data(), data.size(), d);
  return detail::base64_encode({reinterpret_cast<char*>(d), 64});
}

std::string payload(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 31);
  return s;
}

// Quick retries so the tests stay fast.
DownloadOptions fast_options() {
  DownloadOptions o;
  o.retry_base = 5ms;
  o.retry_max = 20ms;
  o.max_retries = 2;
  o.connect_timeout = 2000ms;
  o.total_timeout = 10000ms;
  return o;
}

DownloadRequest request(std::vector<std::string> urls, const std::string& data) {
  DownloadRequest r;
  r.urls = std::move(urls);
  r.integrity = ExpectedDigest{"sha512", sha512_b64(data)};
  r.expected_size = data.size();
  return r;
}

}  // namespace

TEST_CASE("a verified download, and every fault with its status") {
  testing::FaultServer server;
  const std::string a = payload(10000, 'a');
  server.put("a", a);
  Downloader dl(fast_options());

  SUBCASE("ok") {
    const auto r = dl.fetch(request({server.url("/ok/a")}, a)).get();
    CHECK(r.status == DownloadStatus::ok);
    CHECK(r.data == a);
    CHECK(r.sha512 == sha512_b64(a));
    CHECK(r.http_code == 200);
    CHECK(r.url == server.url("/ok/a"));
    CHECK(r.attempts.size() == 1);
  }
  SUBCASE("other digests, and hex when lenient") {
    for (const char* method : {"sha256", "sha384", "sha3-256", "sha3-384", "sha3-512"}) {
      unsigned char d[64];
      const auto len = detail::compute_digest(method, a.data(), a.size(), d);
      DownloadRequest r;
      r.urls = {server.url("/ok/a")};
      r.integrity = ExpectedDigest{method, detail::base64_encode({reinterpret_cast<char*>(d), len})};
      CHECK(dl.fetch(r).get().status == DownloadStatus::ok);
      std::string hex;
      for (std::size_t i = 0; i < len; ++i) {
        static const char* k = "0123456789abcdef";
        (hex += k[d[i] >> 4]) += k[d[i] & 15];
      }
      r.integrity->value = hex;
      CHECK(dl.fetch(r).get().status == DownloadStatus::ok);
    }
  }
  SUBCASE("head_only asks whether the object is there: no body, no digest check") {
    DownloadRequest r;
    r.urls = {server.url("/ok/a")};
    r.head_only = true;
    r.integrity = ExpectedDigest{"sha512", sha512_b64("something else")};  // not checked: nothing came
    const auto there = dl.fetch(r).get();
    CHECK(there.status == DownloadStatus::ok);
    CHECK(there.http_code == 200);
    CHECK(there.data.empty());
    r.urls = {server.url("/ok/missing")};
    const auto gone = dl.fetch(r).get();
    CHECK(gone.status == DownloadStatus::not_found);
    CHECK(gone.http_code == 404);
  }
  SUBCASE("404 is not_found, not retried") {
    const auto r = dl.fetch(request({server.url("/ok/missing")}, a)).get();
    CHECK(r.status == DownloadStatus::not_found);
    CHECK_FALSE(r.retriable);
    CHECK(r.attempts.size() == 1);
    CHECK(r.data.empty());
  }
  SUBCASE("500 is an http_error, retried up to the limit") {
    const auto r = dl.fetch(request({server.url("/status/500")}, a)).get();
    CHECK(r.status == DownloadStatus::http_error);
    CHECK(r.http_code == 500);
    CHECK(r.retriable);
    CHECK(r.attempts.size() == 3);  // first try + max_retries
  }
  SUBCASE("403 is an http_error, not retried") {
    const auto r = dl.fetch(request({server.url("/status/403")}, a)).get();
    CHECK(r.status == DownloadStatus::http_error);
    CHECK(r.attempts.size() == 1);
  }
  SUBCASE("503 then 200 succeeds on retry") {
    const auto r = dl.fetch(request({server.url("/flaky503/a")}, a)).get();
    CHECK(r.status == DownloadStatus::ok);
    CHECK(r.data == a);
    REQUIRE(r.attempts.size() == 2);
    CHECK(r.attempts[0].http_code == 503);
  }
  SUBCASE("a truncated body is a connection error and nothing is kept") {
    const auto r = dl.fetch(request({server.url("/truncated")}, a)).get();
    CHECK(r.status == DownloadStatus::connection_error);
    CHECK(r.data.empty());
  }
  SUBCASE("a wrong Content-Length fails verification") {
    DownloadRequest req = request({server.url("/short-length/a")}, a);
    req.expected_size.reset();
    const auto r = dl.fetch(req).get();
    CHECK(r.status == DownloadStatus::integrity_failed);
    CHECK(r.data.empty());
    CHECK(dl.fetch(request({server.url("/short-length/a")}, a)).get().status == DownloadStatus::size_mismatch);
  }
  SUBCASE("a wrong digest is integrity_failed; the next candidate is tried") {
    server.put("corrupt", payload(10000, 'z'));
    const auto bad = dl.fetch(request({server.url("/ok/corrupt")}, a)).get();
    CHECK(bad.status == DownloadStatus::integrity_failed);
    CHECK(bad.data.empty());
    CHECK(bad.sha512.empty());
    const auto fallback = dl.fetch(request({server.url("/ok/corrupt"), server.url("/ok/a")}, a)).get();
    CHECK(fallback.status == DownloadStatus::ok);
    CHECK(fallback.url == server.url("/ok/a"));
    REQUIRE(fallback.attempts.size() == 2);
    CHECK(fallback.attempts[0].status == DownloadStatus::integrity_failed);
  }
  SUBCASE("redirects: followed within the scheme, loops and file:// refused") {
    CHECK(dl.fetch(request({server.url("/redirect/a")}, a)).get().status == DownloadStatus::ok);
    const auto loop = dl.fetch(request({server.url("/redirect-loop")}, a)).get();
    CHECK(loop.status == DownloadStatus::refused);
    CHECK(loop.attempts.size() == 1);
    const auto file = dl.fetch(request({server.url("/redirect-file")}, a)).get();
    CHECK(file.status == DownloadStatus::refused);
    CHECK(file.data.empty());
  }
  SUBCASE("schemes other than http(s) are refused without any request") {
    const int before = server.requests();
    for (const char* url : {"file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://x/y", "no-scheme"})
      CHECK(dl.fetch(request({url}, a)).get().status == DownloadStatus::refused);
    CHECK(server.requests() == before);
  }
  SUBCASE("nothing listening is a connection error") {
    const auto r = dl.fetch(request({"http://127.0.0.1:1/x"}, a)).get();
    CHECK(r.status == DownloadStatus::connection_error);
    CHECK(r.retriable);
  }
  SUBCASE("an unusable request is invalid_notification") {
    CHECK(dl.fetch(DownloadRequest{}).get().status == DownloadStatus::invalid_notification);
    DownloadRequest r = request({server.url("/ok/a")}, a);
    r.integrity->value = "A2KNxvks...S8qfSCw==";
    CHECK(dl.fetch(r).get().status == DownloadStatus::invalid_notification);
    r.integrity = ExpectedDigest{"md5", "x"};
    CHECK(dl.fetch(r).get().status == DownloadStatus::invalid_notification);
  }
}

TEST_CASE("size limits and slow servers") {
  testing::FaultServer server;
  DownloadOptions o = fast_options();
  o.max_object_bytes = 256 * 1024;
  o.low_speed_bytes = 100;
  o.low_speed_time = std::chrono::seconds(1);
  o.max_retries = 0;
  Downloader dl(o);
  DownloadRequest r;
  r.urls = {server.url("/endless")};
  CHECK(dl.fetch(r).get().status == DownloadStatus::too_large);  // streaming
  r.urls = {server.url("/huge")};
  CHECK(dl.fetch(r).get().status == DownloadStatus::too_large);  // announced
  r.urls = {server.url("/drip")};
  const auto drip = dl.fetch(r).get();
  CHECK(drip.status == DownloadStatus::timeout);
  CHECK(drip.data.empty());
}

TEST_CASE("a server slower than the timeout gives timeout") {
  testing::FaultServer server;
  server.put("late", "late");
  DownloadOptions o = fast_options();
  o.total_timeout = 300ms;
  o.max_retries = 1;
  Downloader dl(o);
  const auto r = dl.fetch(request({server.url("/delay/1000/late")}, "late")).get();
  CHECK(r.status == DownloadStatus::timeout);
  CHECK(r.retriable);
  CHECK(r.attempts.size() == 2);
  CHECK(r.data.empty());
}

TEST_CASE("retries stop at the deadline") {
  testing::FaultServer server;
  DownloadOptions o = fast_options();
  o.max_retries = 1000;
  Downloader dl(o);
  DownloadRequest r;
  r.urls = {server.url("/status/503")};
  r.deadline = 300ms;
  const auto result = dl.fetch(r).get();
  CHECK(result.status == DownloadStatus::http_error);
  CHECK(result.attempts.size() > 2);
  CHECK(result.attempts.size() < 1000);
}

TEST_CASE("concurrency is bounded by max_in_flight, and callbacks run in poll()") {
  testing::FaultServer server;
  const std::string body = payload(1000, 'c');
  server.put("c", body);
  DownloadOptions o = fast_options();
  o.max_in_flight = 8;
  o.max_per_host = 8;
  Downloader dl(o);
  int done = 0, ok = 0;
  const auto me = std::this_thread::get_id();
  bool same_thread = true;
  for (int i = 0; i < 40; ++i)
    dl.submit(request({server.url("/delay/50/c")}, body), [&](DownloadResult r) {
      ++done;
      ok += r.status == DownloadStatus::ok;
      same_thread = same_thread && std::this_thread::get_id() == me;
    });
  while (done < 40) dl.poll(1000ms);
  CHECK(ok == 40);
  CHECK(same_thread);
  CHECK(dl.pending() == 0);
  CHECK(server.max_concurrent() > 1);
  CHECK(server.max_concurrent() <= 8);
}

TEST_CASE("memory for objects in flight is bounded: beyond the budget, bodies go to temporary files") {
  testing::FaultServer server;
  std::vector<std::string> bodies;
  for (int i = 0; i < 12; ++i) {
    bodies.push_back(payload(512 * 1024, static_cast<char>('a' + i)));
    server.put("big" + std::to_string(i), bodies.back());
  }
  DownloadOptions o = fast_options();
  o.max_in_flight = 12;
  o.max_per_host = 12;
  o.max_buffered_bytes = 1024 * 1024;  // two of the twelve objects
  Downloader dl(o);
  std::vector<std::string> got(bodies.size());
  int done = 0, ok = 0;
  for (std::size_t i = 0; i < bodies.size(); ++i)
    dl.submit(request({server.url("/delay/100/big" + std::to_string(i))}, bodies[i]), [&, i](DownloadResult r) {
      ++done;
      ok += r.status == DownloadStatus::ok;
      got[i] = std::move(r.data);
    });
  // Nobody polls until everything has arrived: finished results wait, and count, too.
  while (dl.pending() > 0) std::this_thread::sleep_for(10ms);
  const auto held = dl.memory();
  CHECK(held.peak_buffered_bytes <= o.max_buffered_bytes);
  CHECK(held.spilled_transfers >= 10);
  while (done < 12) dl.poll(1000ms);
  CHECK(ok == 12);
  CHECK(got == bodies);  // verified (sha512) and whole, spilled or not
  CHECK(dl.memory().buffered_bytes == 0);
}

TEST_CASE("closing completes what is unfinished") {
  testing::FaultServer server;
  server.put("slow", "x");
  auto dl = std::make_unique<Downloader>(fast_options());
  auto pending = dl->fetch(request({server.url("/delay/1000/slow")}, "x"));
  std::this_thread::sleep_for(50ms);
  dl->close();
  const auto r = pending.get();
  CHECK(r.status == DownloadStatus::connection_error);
  CHECK(r.error == "downloader closed");
  CHECK(dl->fetch(request({server.url("/ok/slow")}, "x")).get().error == "downloader closed");
  dl->close();  // idempotent
}

TEST_CASE("TLS: a self-signed server is rejected by default, accepted with its CA") {
  testing::TempDir tmp;
  if (!testing::make_test_certificate(tmp.path)) return;  // no openssl command: nothing to test
  testing::FaultServer server(tmp.path / "cert.pem", tmp.path / "key.pem");
  server.put("t", "secret");
  DownloadOptions o = fast_options();
  o.max_retries = 0;
  {
    Downloader dl(o);
    const auto r = dl.fetch(request({server.url("/ok/t")}, "secret")).get();
    CHECK(r.status == DownloadStatus::connection_error);
    CHECK(r.data.empty());
  }
  o.ca_file = (tmp.path / "cert.pem").string();
  Downloader dl(o);
  const auto r = dl.fetch(request({server.url("/ok/t")}, "secret")).get();
  CHECK(r.status == DownloadStatus::ok);
  CHECK(r.data == "secret");
  // https never redirects to http: an https URL cannot be downgraded.
}

namespace {
std::string gzip(std::string_view in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

Notification inline_message(const std::string& encoding, const std::string& value, std::size_t size,
                            const std::string& digest_of) {
  const std::string json = testing::mutate(
      testing::valid_message(), {{"/properties/content", R"({"encoding":")" + encoding + R"(","value":")" + value +
                                                             R"(","size":)" + std::to_string(size) + "}"},
                                 {"/properties/integrity/value", "\"" + sha512_b64(digest_of) + "\""}});
  ParseOptions po;
  po.verify_inline_content = false;
  return Notification::parse(json, po).notification;
}
}  // namespace

TEST_CASE("inline content is decoded and verified without the network") {
  const std::string text = "hello WIS2";
  auto r = decode_inline_content(inline_message("utf-8", text, text.size(), text));
  CHECK(r.status == DownloadStatus::ok);
  CHECK(r.data == text);
  const std::string bin = payload(300, 'b');
  r = decode_inline_content(inline_message("base64", detail::base64_encode(bin), bin.size(), bin));
  CHECK(r.status == DownloadStatus::ok);
  CHECK(r.data == bin);
  const std::string big = std::string(5000, 'g') + "ZZZ";
  const std::string gz = gzip(big);
  r = decode_inline_content(inline_message("gzip", detail::base64_encode(gz), big.size(), big));
  CHECK(r.status == DownloadStatus::ok);
  CHECK(r.data == big);
  CHECK(decode_inline_content(inline_message("gzip", detail::base64_encode(gz), gz.size(), big)).status ==
        DownloadStatus::ok);
  CHECK(decode_inline_content(inline_message("gzip", detail::base64_encode(gz), big.size(), big), true, 1000).status ==
        DownloadStatus::too_large);
  CHECK(decode_inline_content(inline_message("gzip", detail::base64_encode("not gzip"), 8, big)).status ==
        DownloadStatus::invalid_notification);
  r = decode_inline_content(inline_message("base64", detail::base64_encode(bin), bin.size(), "other"));
  CHECK(r.status == DownloadStatus::integrity_failed);
  CHECK(r.data.empty());
  CHECK(decode_inline_content(inline_message("base64", detail::base64_encode(bin), 7, bin)).status ==
        DownloadStatus::size_mismatch);
  const std::string accents = "\xc3\xa9t\xc3\xa9";  // 3 characters, 5 bytes
  CHECK(decode_inline_content(inline_message("utf-8", accents, 3, accents)).status == DownloadStatus::ok);
  CHECK(decode_inline_content(inline_message("utf-8", accents, 3, accents), false).status ==
        DownloadStatus::size_mismatch);
  CHECK(decode_inline_content(
            Notification::parse(testing::mutate(testing::valid_message(), {{"/properties/content", std::nullopt}}))
                .notification)
            .status == DownloadStatus::invalid_notification);
}

TEST_CASE("Downloader::fetch(notification): inline content without a request, else the data link") {
  testing::FaultServer server;
  const std::string body = payload(2000, 'n');
  server.put("obj.bin", body);
  Downloader d;
  // Inline content that verifies: no request; the result says "inline".
  const std::string text = "hello WIS2";
  auto r = d.fetch(inline_message("utf-8", text, text.size(), text)).get();
  CHECK(r.status == DownloadStatus::ok);
  CHECK(r.url == "inline");
  CHECK(r.data == text);
  CHECK(server.requests() == 0);
  // Without inline content: the data link, checked against the notification's digest.
  const std::string linked =
      testing::mutate(testing::valid_message(), {{"/properties/content", std::nullopt},
                                                 {"/properties/integrity/value", "\"" + sha512_b64(body) + "\""},
                                                 {"/links/0/href", "\"" + server.url("/ok/obj.bin") + "\""},
                                                 {"/links/0/length", std::nullopt}});
  r = d.fetch(Notification::parse(linked).notification).get();
  CHECK(r.status == DownloadStatus::ok);
  CHECK(r.data == body);
  CHECK(server.requests() == 1);
  // Nothing to download from: invalid_notification, at once.
  const std::string nothing =
      testing::mutate(testing::valid_message(), {{"/properties/content", std::nullopt}, {"/links", "[]"}});
  r = d.fetch(Notification::parse(nothing).notification).get();
  CHECK(r.status == DownloadStatus::invalid_notification);
  CHECK(r.error == "the notification has no data link");
}

TEST_CASE("storage paths from hostile data_ids stay inside the cache directory") {
  CHECK(storage_path_for("de-dwd/data/core/weather/synop/A_1.bufr4") == "de-dwd/data/core/weather/synop/A_1.bufr4");
  for (const std::string& id :
       {std::string("../../etc/passwd"), std::string("/etc/passwd"), std::string("a/./b/../../c"),
        std::string("a\0b", 3), std::string("x/\x01\x7f\n"), std::string(5000, 'L'), std::string("C:\\win\\sys"),
        std::string("caf\xc3\xa9/\xe6\xb0\x94\xe8\xb1\xa1"), std::string(""), std::string("////"),
        std::string("a//b/")}) {
    const std::string p = storage_path_for(id);
    INFO("id '", id.substr(0, 60), "' -> '", p.substr(0, 80), "'");
    CHECK_FALSE(p.empty());
    CHECK(p.front() != '/');
    CHECK(p.find('\0') == std::string::npos);
    CHECK(p.find('\\') == std::string::npos);
    for (std::size_t start = 0; start <= p.size();) {
      const auto slash = std::min(p.find('/', start), p.size());
      const auto seg = p.substr(start, slash - start);
      CHECK_FALSE(seg.empty());
      CHECK(seg != "..");
      CHECK(seg != ".");
      CHECK(seg.size() <= 210);
      for (unsigned char c : seg) CHECK(c >= 0x20);
      start = slash + 1;
    }
  }
  // Different ids that sanitise alike still get different paths.
  CHECK(storage_path_for("a:b") != storage_path_for("a?b"));
  CHECK(storage_path_for("../x") != storage_path_for("_/x"));
}

TEST_CASE("storage paths: no data_id's file is another's folder, so prefixes of each other both store") {
  CHECK(storage_path_for("c/a/b") == "c/a/b~");
  CHECK(storage_path_for("c/a/b/c") == "c/a/b/c~");
  CHECK(storage_path_for("c/a/b.bufr4/x.bufr4") == "c/a/b.bufr4~/x.bufr4");
  CHECK(storage_path_for("c/a~b") != storage_path_for("c/a_b"));
  testing::TempDir tmp;
  const std::vector<std::string> ids = {"c/a/b",         "c/a/b/c",   "c/a/b/c/d.bufr4", "c/a/b.bufr4",
                                        "c/a/b.bufr4/x", "c/a/b~",    "c/a/b_",          "c/a/b.bufr4~/y.txt",
                                        "c/a/b/c.d/e",   "c/a/b/c.d", "c/a/b/c.d~"};
  std::set<std::string> paths;
  for (const auto& id : ids) {
    INFO(id);
    const auto path = store_object(tmp.path, id, id);
    CHECK(paths.insert(path.string()).second);
  }
  for (const auto& id : ids) CHECK(testing::read_file(tmp.path / storage_path_for(id)) == id);
}

TEST_CASE("store_object: a path it cannot write is an io error naming the path") {
  testing::TempDir tmp;
  std::filesystem::create_directories(tmp.path / "c" / "a" / "b~");  // a folder where the file goes
  try {
    store_object(tmp.path, "c/a/b", "x");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::io);
    CHECK(std::string(e.what()).find("b~") != std::string::npos);
  }
  CHECK(std::string(to_string(DownloadStatus::storage_error)) == "storage_error");
  CHECK_FALSE(is_retriable(DownloadStatus::storage_error, 0));
}

TEST_CASE("store_object writes atomically under the directory") {
  testing::TempDir tmp;
  const auto path = store_object(tmp.path, "../../escape/attempt.bin", "data");
  CHECK(path.string().rfind(tmp.path.string(), 0) == 0);
  CHECK(testing::read_file(path) == "data");
  std::size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(tmp.path)) {
    files += e.is_regular_file();
    CHECK(e.path().filename().string().find(".part-") == std::string::npos);
  }
  CHECK(files == 1);
  CHECK(testing::read_file(store_object(tmp.path, "../../escape/attempt.bin", "again")) == "again");
}

TEST_CASE("the reference CREX bulletin verifies against its notification; one flipped byte fails") {
  const auto root = testing::refdata();
  if (!root) return;
  const auto ets = *root / "wis2/ets/pywis-pubsub";
  // The notification fails validation (no datetime) but its integrity and link are usable.
  const auto n = Notification::parse(testing::read_file(ets / "test_valid_checksum.json")).notification;
  const std::string crex = testing::read_file(ets / "A_SZIO01AMMC110648_C_EDZW_20230811064904_50549867.crex.txt");
  REQUIRE(n.integrity());
  REQUIRE(n.data_link());
  testing::FaultServer server;
  server.put("crex", crex);
  std::string flipped = crex;
  flipped[100] = static_cast<char>(flipped[100] ^ 0x01);
  server.put("flipped", flipped);
  Downloader dl(fast_options());
  DownloadRequest r;
  r.integrity = ExpectedDigest{std::string(n.integrity()->method), std::string(n.integrity()->value)};
  r.expected_size = static_cast<std::uint64_t>(*n.data_link()->length);
  r.urls = {server.url("/ok/crex")};
  const auto good = dl.fetch(r).get();
  CHECK(good.status == DownloadStatus::ok);
  CHECK(good.data.size() == 465);
  CHECK(good.sha512 == n.integrity()->value);
  r.urls = {server.url("/ok/flipped")};
  const auto bad = dl.fetch(r).get();
  CHECK(bad.status == DownloadStatus::integrity_failed);
  CHECK(bad.data.empty());
}

namespace {
Notification announced(const std::string& href, const std::string& global_cache = "", bool cache = true,
                       const std::string& pubtime = "2026-01-01T00:02:11Z") {
  std::vector<std::pair<std::string, std::optional<std::string>>> edits = {
      {"/links/0/href", "\"" + href + "\""},
      {"/properties/pubtime", "\"" + pubtime + "\""},
      {"/properties/cache", cache ? "true" : "false"}};
  if (!global_cache.empty()) edits.push_back({"/properties/global-cache", "\"" + global_cache + "\""});
  return Notification::parse(testing::mutate(testing::valid_message(), edits)).notification;
}
}  // namespace

TEST_CASE("source selection: cache copies first, preferred caches before others, origin last") {
  SourceSelector s;
  const auto key = s.observe(announced("https://origin.example/x"), "origin/a/wis2/ch-meteoswiss/data/core/weather/x");
  CHECK(s.observe(announced("https://gc-one.example/x"), "cache/a/wis2/de-dwd-gc/data/core/weather/x") == key);
  CHECK(s.observe(announced("https://gc-two.example/x", "jp-jma-gc")) == key);  // no topic: global-cache says cache
  s.observe(announced("https://gc-two.example/x", "jp-jma-gc"));                // the same copy twice: kept once
  CHECK(s.candidates(key) ==
        std::vector<std::string>{"https://gc-one.example/x", "https://gc-two.example/x", "https://origin.example/x"});
  CHECK(s.kind_of(key, "https://gc-one.example/x") == SourceKind::cache);
  CHECK(s.kind_of(key, "https://origin.example/x") == SourceKind::origin);

  SourcePolicy prefer;
  prefer.preferred_caches = {"jp-jma-gc"};
  SourceSelector p(prefer);
  p.observe(announced("https://origin.example/x"), "origin/a/wis2/ch-meteoswiss/data/core/weather/x");
  p.observe(announced("https://gc-one.example/x"), "cache/a/wis2/de-dwd-gc/data/core/weather/x");
  p.observe(announced("https://gc-two.example/x", "jp-jma-gc"));
  CHECK(p.candidates(key).front() == "https://gc-two.example/x");
  SourcePolicy by_host;
  by_host.preferred_caches = {"gc-one.example"};
  SourceSelector h(by_host);
  h.observe(announced("https://gc-two.example/x", "jp-jma-gc"));
  h.observe(announced("https://gc-one.example:8443/x", "de-dwd-gc"));
  CHECK(h.candidates(key).front() == "https://gc-one.example:8443/x");

  SourcePolicy origin;
  origin.origin_first = true;
  SourceSelector o(origin);
  o.observe(announced("https://gc-one.example/x", "de-dwd-gc"));
  o.observe(announced("https://origin.example/x"));
  CHECK(o.candidates(key).front() == "https://origin.example/x");

  // A newer pubtime is another item.
  CHECK(s.observe(announced("https://origin.example/x2", "", true, "2026-01-01T00:05:00Z")) != key);
  CHECK(s.candidates("nope").empty());
}

TEST_CASE("source selection: cache false goes to the origin first; memory is bounded") {
  SourceSelector s;
  const auto key = s.observe(announced("https://origin.example/x", "de-dwd-gc", false),
                             "cache/a/wis2/de-dwd-gc/data/core/weather/x");
  s.observe(announced("https://gc.example/x", "jp-jma-gc", false), "cache/a/wis2/jp-jma-gc/data/core/weather/x");
  s.observe(announced("https://origin.example/y", "", false), "origin/a/wis2/ch-meteoswiss/data/core/weather/x");
  CHECK(s.candidates(key).front() == "https://origin.example/y");

  SourcePolicy small;
  small.capacity = 3;
  SourceSelector b(small);
  std::string first;
  for (int i = 0; i < 10; ++i) {
    const auto k = b.observe(
        announced("https://o.example/" + std::to_string(i), "", true, "2026-01-01T00:0" + std::to_string(i) + ":00Z"));
    if (i == 0) first = k;
  }
  CHECK(b.size() == 3);
  CHECK(b.candidates(first).empty());
}

TEST_CASE("source selection drives the downloader's fallback") {
  testing::FaultServer server;
  const std::string a = payload(5000, 'q');
  server.put("good", a);
  SourceSelector s;
  const auto key = s.observe(announced(server.url("/ok/good")), "origin/a/wis2/ch-meteoswiss/data/core/weather/x");
  s.observe(announced(server.url("/status/404"), "de-dwd-gc"));  // a cache that lost its copy
  Downloader dl(fast_options());
  DownloadRequest r = request(s.candidates(key), a);
  const auto result = dl.fetch(r).get();
  CHECK(result.status == DownloadStatus::ok);
  CHECK(result.url == server.url("/ok/good"));
  CHECK(s.kind_of(key, result.url) == SourceKind::origin);
  REQUIRE(result.attempts.size() == 2);
  CHECK(result.attempts[0].status == DownloadStatus::not_found);
}

TEST_CASE("downloads are counted per data server and per centre") {
  testing::FaultServer server;
  const std::string a = payload(2000, 'm');
  server.put("a", a);
  server.put("bad", payload(2000, 'n'));
  MetricsRegistry metrics;
  DownloadOptions o = fast_options();
  o.metrics = &metrics;
  o.max_retries = 0;
  Downloader dl(o);
  auto req = [&](const std::string& path) {
    DownloadRequest r = request({server.url(path)}, a);
    r.centre_id = "de-dwd";
    return r;
  };
  CHECK(dl.fetch(req("/ok/a")).get().status == DownloadStatus::ok);
  CHECK(dl.fetch(req("/ok/a")).get().status == DownloadStatus::ok);
  CHECK(dl.fetch(req("/ok/missing")).get().status == DownloadStatus::not_found);
  CHECK(dl.fetch(req("/ok/bad")).get().status == DownloadStatus::integrity_failed);
  DownloadRequest refused = req("/ok/a");
  refused.urls = {"file:///etc/passwd"};
  CHECK(dl.fetch(refused).get().status == DownloadStatus::refused);  // no request went out: not counted
  const Labels host{{"server", "127.0.0.1"}}, centre{{"centre_id", "de-dwd"}};
  CHECK(metrics.value("wis2mon_downloads_total", host) == 4);
  CHECK(metrics.value("wis2mon_download_bytes_total", host) == 4000);
  CHECK(metrics.value("wmo_wis2_gc_downloaded_total", centre) == 2);
  CHECK(metrics.value("wmo_wis2_gc_downloaded_errors_total", centre) == 2);
  CHECK(metrics.value("wmo_wis2_gc_integrity_failed_total", centre) == 1);
  CHECK(metrics.value("wmo_wis2_gc_dataserver_status_flag", host) == 1);
  CHECK(metrics.value("wis2mon_download_errors_total", {{"server", "127.0.0.1"}, {"status", "not_found"}}) == 1);
  CHECK(metrics.value("wmo_wis2_gc_last_download_timestamp_seconds", centre) > 1.7e9);
  CHECK(metrics.histogram("wis2mon_download_duration_seconds", host).count() == 4);
  // A server that does not answer flips the status flag.
  DownloadRequest unanswered = req("/ok/a");
  unanswered.urls = {"http://127.0.0.1:1/x"};
  CHECK(dl.fetch(unanswered).get().status == DownloadStatus::connection_error);
  CHECK(metrics.value("wmo_wis2_gc_dataserver_status_flag", host) == 0);
}

TEST_CASE("a garbled reply is a (retriable) connection error, not a refusal") {
  // curl reports an unsupported HTTP version with the same code as a redirect to a refused
  // scheme; only the latter is a refusal. (Seen with a reused connection that still held a
  // previous reply's excess bytes.)
  testing::RawReplyServer garbled("HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\nok");
  Downloader dl(fast_options());
  DownloadRequest r;
  r.urls = {garbled.url("/x")};
  const auto result = dl.fetch(r).get();
  CHECK(result.status == DownloadStatus::connection_error);
  CHECK(result.retriable);
  CHECK(result.attempts.size() == 3);  // retried
}

TEST_CASE("a body longer than the announced size is cut off at that size (a hostile data server)") {
  testing::FaultServer server;
  DownloadOptions o = fast_options();
  o.max_retries = 0;
  Downloader dl(o);
  DownloadRequest r;
  r.urls = {server.url("/endless")};
  r.expected_size = 1000;
  const auto res = dl.fetch(r).get();
  CHECK(res.status == DownloadStatus::size_mismatch);
  CHECK(res.error.find("more than the 1000 bytes") != std::string::npos);
  CHECK(res.data.empty());
  // Without an announced size the object cap still applies (unchanged).
  r.expected_size.reset();
  o.max_object_bytes = 128 * 1024;
  Downloader capped(o);
  CHECK(capped.fetch(r).get().status == DownloadStatus::too_large);
}
