// The fallbacks of src/common/compat.hpp (used where the portable wheels are built: GCC 10,
// curl 7.74) against the standard facilities they stand in for; the CA bundle lookup; the
// small text helpers of src/common/text.hpp.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <unordered_map>

#include "common/ca_bundle.hpp"
#include "common/compat.hpp"
#include "common/text.hpp"

using namespace wis2mon::detail;

namespace {
double read_back(const std::string& text) {
  double v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  REQUIRE(r.ec == std::errc());
  REQUIRE(r.ptr == text.data() + text.size());
  return v;
}
std::string fallback_text(double v) {
  char buf[32];
  const auto r = fallback_double_to_chars(buf, buf + sizeof buf, v);
  REQUIRE(r.ec == std::errc());
  return std::string(buf, r.ptr);
}
}  // namespace

TEST_CASE("double formatting fallback: every value reads back exactly, as short as to_chars") {
  std::mt19937_64 random(20261130);
  std::vector<double> values = {0.0,
                                -0.0,
                                0.1,
                                1.5,
                                -273.15,
                                100000.0,
                                1e21,
                                1e-7,
                                101325.0,
                                287.45,
                                3.0e-5,
                                1.0 / 3,
                                6.02214076e23,
                                std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::min(),
                                std::numeric_limits<double>::denorm_min()};
  for (int i = 0; i < 2000; ++i) {
    const double v = std::bit_cast<double>(random());
    if (std::isfinite(v)) values.push_back(v);
    values.push_back(static_cast<double>(random() % 100000) / 100.0);
  }
  for (const double v : values) {
    CAPTURE(v);
    const std::string text = fallback_text(v);
    CHECK(read_back(text) == v);
    CHECK(std::signbit(read_back(text)) == std::signbit(v));
    char shortest[32];
    const auto r = std::to_chars(shortest, shortest + sizeof shortest, v);
    // The same significant digits as to_chars' shortest form: at most its length plus what
    // the exponent notation adds ("e+05").
    CHECK(text.size() <= static_cast<std::size_t>(r.ptr - shortest) + 4);
  }
  char small[4];
  CHECK(fallback_double_to_chars(small, small + sizeof small, 0.123456789).ec == std::errc::value_too_large);
}

TEST_CASE("double formatting fallback ignores the process's locale") {
  const char* previous = std::setlocale(LC_NUMERIC, nullptr);
  const std::string saved = previous ? previous : "C";
  // de_DE writes 1,5; the fallback must still write 1.5 (skipped if the locale is not installed).
  if (std::setlocale(LC_NUMERIC, "de_DE.UTF-8") != nullptr) {
    CHECK(fallback_text(1.5) == "1.5");
    double v = 0;
    const std::string text = "2.25";
    CHECK(fallback_double_from_chars(text.data(), text.data() + text.size(), v).ec == std::errc());
    CHECK(v == 2.25);
  }
  std::setlocale(LC_NUMERIC, saved.c_str());
  CHECK(fallback_text(1.5) == "1.5");
}

TEST_CASE("double parsing fallback: same answers as from_chars") {
  const char* inputs[] = {"0",
                          "-0",
                          "1.5",
                          "-273.15",
                          "1e5",
                          "1E-7",
                          "12abc",
                          ".5",
                          "5.",
                          "inf",
                          "-inf",
                          "nan",
                          "",
                          "-",
                          "+1",
                          " 1",
                          "\t1",
                          "0x10",
                          "-0x1p3",
                          "1e400",
                          "1e-400",
                          "abc",
                          "1.7976931348623157e308",
                          "4.9e-324",
                          "00012"};
  for (const char* input : inputs) {
    const std::string s = input;
    CAPTURE(s);
    double expected = 7, got = 7;
    const auto e = std::from_chars(s.data(), s.data() + s.size(), expected);
    const auto g = fallback_double_from_chars(s.data(), s.data() + s.size(), got);
    CHECK(g.ec == e.ec);
    if (e.ec == std::errc::invalid_argument) continue;
    CHECK(g.ptr - s.data() == e.ptr - s.data());
    if (e.ec == std::errc()) {
      if (std::isnan(expected))
        CHECK(std::isnan(got));
      else
        CHECK(got == expected);
    }
  }
}

TEST_CASE("find_key, shared_buffer and curl protocol masks") {
  // As the library's maps are: a transparent hash, so string_views are looked up as they are.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, int, Hash, std::equal_to<>> map = {{"a", 1}, {"bc", 2}};
  const std::string_view key = "bc";
  REQUIRE(find_key(map, key) != map.end());
  CHECK(find_key(map, key)->second == 2);
  CHECK(find_key(map, std::string_view("zz")) == map.end());
  const auto& const_map = map;
  CHECK(find_key(const_map, std::string_view("a"))->second == 1);

  auto buffer = shared_buffer(16);
  buffer[15] = 'x';
  CHECK(buffer[15] == 'x');

  CHECK(curl_protocol_mask("http,https") == (CURLPROTO_HTTP | CURLPROTO_HTTPS));
  CHECK(curl_protocol_mask("http,https,ftp,sftp") ==
        (CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FTP | CURLPROTO_SFTP));
  CHECK(curl_protocol_mask("https") == CURLPROTO_HTTPS);
  CHECK(curl_protocol_mask("file,gopher") == 0);  // never allowed by name: nothing
  CHECK(curl_protocol_mask("") == 0);
}

TEST_CASE("the system's CA bundle is found where the distribution keeps it") {
  const auto dir = std::filesystem::temp_directory_path() / ("wis2mon-ca-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string debian = (dir / "debian.crt").string(), amazon = (dir / "amazon.crt").string();
  // Amazon Linux: the Debian path is missing, the RHEL one is there.
  std::ofstream(amazon) << "PEM";
  CHECK(find_ca_file(nullptr, {debian, amazon}) == amazon);
  std::ofstream(debian) << "PEM";
  CHECK(find_ca_file(nullptr, {debian, amazon}) == debian);
  CHECK(find_ca_file("", {debian, amazon}) == debian);
  CHECK(find_ca_file("/my/bundle.pem", {debian, amazon}) == "/my/bundle.pem");  // SSL_CERT_FILE wins
  CHECK(find_ca_file(nullptr, {(dir / "none").string()}).empty());
  std::filesystem::remove_all(dir);
  // On this machine: one of the known files, or SSL_CERT_FILE.
  const char* env = std::getenv("SSL_CERT_FILE");
  if (env != nullptr && *env != '\0')
    CHECK(system_ca_file() == env);
  else
    CHECK(std::find(known_ca_files().begin(), known_ca_files().end(), system_ca_file()) != known_ca_files().end());
}

TEST_CASE("masked_url hides a URL's password and nothing else") {
  CHECK(masked_url("mqtt://user:secret@host:1883") == "mqtt://user:********@host:1883");
  CHECK(masked_url("mqtts://everyone:everyone@globalbroker.meteo.fr:8883/x?y=1") ==
        "mqtts://everyone:********@globalbroker.meteo.fr:8883/x?y=1");
  CHECK(masked_url("postgresql://wis:p@ss:w@rd@127.0.0.1:5432/db") == "postgresql://wis:********@127.0.0.1:5432/db");
  CHECK(masked_url("mqtt://user@host") == "mqtt://user@host");        // no password
  CHECK(masked_url("mqtt://host:1883") == "mqtt://host:1883");        // no user
  CHECK(masked_url("http://host/a@b:c") == "http://host/a@b:c");      // an @ in the path is not a user
  CHECK(masked_url("http://host?u=a:b@c") == "http://host?u=a:b@c");  // nor in the query
  CHECK(masked_url("not a url") == "not a url");
  CHECK(masked_url("") == "");
}
