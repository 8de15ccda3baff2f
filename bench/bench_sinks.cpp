// Sinks: SQLite rows/s in batches of 1,000 vs the same rows one statement per transaction;
// NDJSON MB/s vs writing the same bytes with write()+fsync per batch.
//   bench_sinks DIR [--rows N]     (DIR on the disk to measure; files are removed)
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "bench_common.hpp"
#include "bench_rows.hpp"
#include "wis2mon/decode/bufr.hpp"
#include "wis2mon/sinks/ndjson.hpp"
#include "wis2mon/sinks/sqlite.hpp"

namespace fs = std::filesystem;
using namespace wis2mon;

namespace {

using bench::make_rows;

void remove_db(const fs::path& p) {
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(p.string() + suffix);
}

std::vector<std::vector<Record>> batches_of_1000(const std::vector<Record>& rows) {
  std::vector<std::vector<Record>> out;
  for (std::size_t i = 0; i < rows.size(); i += 1000)
    out.emplace_back(rows.begin() + static_cast<std::ptrdiff_t>(i),
                     rows.begin() + static_cast<std::ptrdiff_t>(std::min(rows.size(), i + 1000)));
  return out;
}

double sqlite_batched(const fs::path& db, const std::vector<Record>& rows) {
  remove_db(db);
  SqliteSinkOptions o;
  o.path = db;
  SqliteSink sink("bench", o);
  const auto batches = batches_of_1000(rows);
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& batch : batches) {
    for (const auto& d : sink.write(batch))
      if (d.status != DeliveryStatus::delivered) throw std::runtime_error("not delivered: " + d.reason);
  }
  const double s = bench::seconds_since(t0);
  sink.close();
  return static_cast<double>(rows.size()) / s;
}

// What a user writes with SQLite alone: WAL, synchronous=FULL, one prepared INSERT,
// autocommit (one transaction per row), the same table and values.
double sqlite_row_per_transaction(const fs::path& db, const std::vector<Record>& rows) {
  remove_db(db);
  sqlite3* h = nullptr;
  sqlite3_open(db.c_str(), &h);
  sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
  std::string cols, params;
  for (std::size_t i = 0; i < rows[0].size(); ++i) {
    cols += (i ? "," : "") + rows[0].name(i);
    params += i ? ",?" : "?";
  }
  sqlite3_exec(h, ("CREATE TABLE surface_obs (" + cols + ")").c_str(), nullptr, nullptr, nullptr);
  sqlite3_exec(h, "CREATE UNIQUE INDEX ux ON surface_obs (wigos_station_identifier, observed_at)", nullptr, nullptr,
               nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(h, ("INSERT INTO surface_obs VALUES (" + params + ")").c_str(), -1, &st, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      const int k = static_cast<int>(i + 1);
      const auto& v = r.value(i);
      if (auto* d = std::get_if<double>(&v))
        sqlite3_bind_double(st, k, *d);
      else if (auto* n = std::get_if<std::int64_t>(&v))
        sqlite3_bind_int64(st, k, *n);
      else if (auto* s = std::get_if<std::string>(&v))
        sqlite3_bind_text(st, k, s->c_str(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
      else if (auto* t = std::get_if<Timestamp>(&v))
        sqlite3_bind_text(st, k, format_rfc3339(*t).c_str(), -1, SQLITE_TRANSIENT);
      else
        sqlite3_bind_null(st, k);
    }
    sqlite3_step(st);
    sqlite3_reset(st);
  }
  const double s = bench::seconds_since(t0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return static_cast<double>(rows.size()) / s;
}

double ndjson_mb_per_s(const fs::path& root, const std::vector<Record>& rows, bool gzip) {
  fs::remove_all(root);
  NdjsonSinkOptions o;
  o.root = root;
  o.gzip = gzip;
  NdjsonSink sink("bench", o);
  const auto batches = batches_of_1000(rows);
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& batch : batches) sink.write(batch);
  sink.close();
  const double s = bench::seconds_since(t0);
  fs::remove_all(root);
  return static_cast<double>(sink.bytes_written()) / 1e6 / s;
}

// The same JSON lines, serialized beforehand, written with write()+fsync per 1,000.
double raw_write_mb_per_s(const fs::path& file, const std::vector<Record>& rows) {
  std::vector<std::string> batches;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < rows.size(); i += 1000) {
    std::string b;
    for (std::size_t j = i; j < std::min(rows.size(), i + 1000); ++j) b += rows[j].to_json() + "\n";
    bytes += b.size();
    batches.push_back(std::move(b));
  }
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& b : batches) {
    if (::write(fd, b.data(), b.size()) < 0) throw std::runtime_error("write");
    ::fsync(fd);
  }
  ::close(fd);
  const double s = bench::seconds_since(t0);
  fs::remove(file);
  return static_cast<double>(bytes) / 1e6 / s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_sinks DIR [--rows N]\n";
    return 2;
  }
  const fs::path dir = argv[1];
  std::size_t n = 200000;
  for (int i = 2; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--rows") n = std::stoul(argv[i + 1]);
  fs::create_directories(dir);
  const auto rows = make_rows(n);
  const std::vector<Record> few(rows.begin(),
                                rows.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(n, 3000)));
  const double batched = sqlite_batched(dir / "bench.db", rows);
  const double single = sqlite_row_per_transaction(dir / "baseline.db", few);
  remove_db(dir / "bench.db");
  remove_db(dir / "baseline.db");
  const double plain = ndjson_mb_per_s(dir / "ndjson", rows, false);
  const double gz = ndjson_mb_per_s(dir / "ndjson-gz", rows, true);
  const double raw = raw_write_mb_per_s(dir / "raw.ndjson", rows);
  std::printf(
      "{\"rows\":%zu,\"sqlite_batch_1000_rows_per_s\":%.0f,\"sqlite_row_per_txn_rows_per_s\":%.0f,"
      "\"baseline_rows\":%zu,\"ndjson_mb_per_s\":%.1f,\"ndjson_gzip_mb_per_s\":%.1f,\"raw_write_fsync_mb_per_s\":%.1f}"
      "\n",
      n, batched, single, few.size(), plain, gz, raw);
  return 0;
}
