#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "support.hpp"

namespace testing {

std::optional<std::filesystem::path> refdata() {
  std::filesystem::path p = WIS2MON_REFDATA;
  if (const char* env = std::getenv("WIS2MON_REFDATA")) p = env;
  std::error_code ec;
  if (std::filesystem::is_directory(p / "wis2", ec)) return p;
  return std::nullopt;
}

std::string valid_message() {
  std::string payload = "BUFR";
  for (int i = 0; i < 180; ++i) payload += static_cast<char>((i * 37) & 0xff);
  payload += "7777";
  unsigned char d[64];
  wis2mon::detail::compute_digest("sha512", payload.data(), payload.size(), d);
  const std::string digest = wis2mon::detail::base64_encode({reinterpret_cast<char*>(d), 64});
  return R"({"id":"6f1c2c43-9a8e-4b8f-bb52-0c3b1c4d2e01","conformsTo":["http://wis.wmo.int/spec/wnm/1/conf/core"],)"
         R"("type":"Feature","geometry":{"type":"Point","coordinates":[8.5,47.25]},)"
         R"("properties":{"data_id":"ch-meteoswiss/data/core/weather/surface-based-observations/synop/WIGOS_0-20000-0-06660_20260101T0000",)"
         R"("metadata_id":"urn:wmo:md:ch-meteoswiss:synop","pubtime":"2026-01-01T00:02:11Z","datetime":"2026-01-01T00:00:00Z",)"
         R"("integrity":{"method":"sha512","value":")" +
         digest + R"("},"content":{"encoding":"base64","value":")" + wis2mon::detail::base64_encode(payload) +
         R"(","size":)" + std::to_string(payload.size()) +
         R"(}},"links":[{"href":"https://data.example.org/06660.bufr4","rel":"canonical","type":"application/bufr","length":)" +
         std::to_string(payload.size()) + "}]}";
}

std::string mutate(const std::string& json,
                   const std::vector<std::pair<std::string, std::optional<std::string>>>& edits) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  for (const auto& [pointer, value] : edits) {
    if (!value) {
      rapidjson::Pointer(pointer.c_str()).Erase(doc);
      continue;
    }
    rapidjson::Document v(&doc.GetAllocator());
    v.Parse(value->c_str());
    rapidjson::Value copy(v, doc.GetAllocator());
    rapidjson::Pointer(pointer.c_str()).Set(doc, copy);
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return buf.GetString();
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TempDir::TempDir() {
  std::random_device rd;
  path = std::filesystem::temp_directory_path() / ("wis2mon-test-" + std::to_string(rd()));
  std::filesystem::create_directories(path);
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

// Starts the sink_writer helper, lets it acknowledge `min_acks` batches, kills it with
// SIGKILL (mid-batch, most likely) and returns the last batch number it acknowledged.
std::int64_t run_writer_and_kill(const char* kind, const std::filesystem::path& path, const char* per_batch,
                                 int min_acks) {
  int out[2];
  REQUIRE(pipe(out) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    execl(WIS2MON_SINK_WRITER, WIS2MON_SINK_WRITER, kind, path.c_str(), per_batch, static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string acks;
  char buf[4096];
  while (std::count(acks.begin(), acks.end(), '\n') < min_acks) {
    const auto n = read(out[0], buf, sizeof buf);
    REQUIRE(n > 0);
    acks.append(buf, static_cast<std::size_t>(n));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status));
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) acks.append(buf, static_cast<std::size_t>(n));
  close(out[0]);
  std::int64_t last_acked = 0;
  for (std::size_t p = 0; (p = acks.find("acked ", p)) != std::string::npos; p += 6)
    last_acked = std::stoll(acks.substr(p + 6));
  return last_acked;
}

void record_wme(const std::string& event) {
  static std::mutex mu;
  const char* file = std::getenv("WIS2MON_WME_DUMP");
  if (!file || !*file) return;
  std::lock_guard lock(mu);
  std::ofstream(file, std::ios::app) << event << "\n";
}

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

std::int64_t sqlite_int(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  std::int64_t out = -1;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(h);
  return out;
}

}  // namespace testing
