// PostgreSQL sink: surface_obs rows/s through PostgresSink (batches of 1,000, upserts on the
// station/time key) against two baselines on the same rows in the same run: `psql \copy` of
// them as CSV into a table of the same columns and key (the bulk-load ceiling), and one
// INSERT ... ON CONFLICT per row in autocommit (what a naive writer does). Starts its own
// server (Debian's postgresql, as the tests do).
//   bench_postgres [--rows N]
#include <libpq-fe.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "bench_common.hpp"
#include "bench_rows.hpp"
#include "unit/postgres_server.hpp"
#include "wis2mon/sinks/postgresql.hpp"

namespace fs = std::filesystem;
using namespace wis2mon;

namespace {

// A value as text: for a CSV field (strings quoted) or a statement parameter.
std::string text_of(const FieldValue& v, bool csv) {
  switch (type_of(v)) {
    case FieldType::null:
      return "";
    case FieldType::boolean:
      return std::get<bool>(v) ? "true" : "false";
    case FieldType::integer:
      return std::to_string(std::get<std::int64_t>(v));
    case FieldType::real: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", std::get<double>(v));
      return buf;
    }
    case FieldType::string:
      return csv ? "\"" + std::get<std::string>(v) + "\"" : std::get<std::string>(v);  // no quotes inside
    case FieldType::time:
      return format_rfc3339(std::get<Timestamp>(v));
  }
  return "";
}

// The sink made the table; the baselines get one of the same columns and key.
void clone_table(const testing::PostgresServer& server, const std::string& name) {
  server.query("DROP TABLE IF EXISTS " + name + "; CREATE TABLE " + name + " (LIKE surface_obs INCLUDING ALL)");
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 100000;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--rows") n = std::stoul(argv[++i]);
  if (testing::PostgresServer::bin_dir().empty()) {
    std::cout << "{\"skipped\": \"PostgreSQL is not installed\"}\n";
    return 0;
  }
  testing::PostgresServer server;
  const auto rows = bench::make_rows(n);

  // The sink, as a pipeline uses it: batches of 1,000.
  PostgresSinkOptions o;
  o.url = server.url();
  auto sink = std::make_shared<PostgresSink>("bench", o);
  sink->write({rows.front()});  // creates the table and key; not timed
  server.query("TRUNCATE surface_obs");
  // All rows in batches of 1,000: rows/s, or 0 when a record was not delivered.
  const auto write_all = [&](const char* what) {
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; i += 1000) {
      std::vector<Record> batch(rows.begin() + static_cast<std::ptrdiff_t>(i),
                                rows.begin() + static_cast<std::ptrdiff_t>(std::min(n, i + 1000)));
      for (const auto& d : sink->write(batch))
        if (d.status != DeliveryStatus::delivered) {
          std::cerr << "bench_postgres (" << what << "): " << d.reason << "\n";
          return 0.0;
        }
    }
    return static_cast<double>(n) / bench::seconds_since(start);
  };
  const double sink_rate = write_all("new keys");
  // The same rows again: every key stored, so every run takes the staging table and the
  // ON CONFLICT update rules (a replay, or a second monitor's copies).
  const double update_rate = write_all("stored keys");
  if (sink_rate == 0 || update_rate == 0) return 1;
  sink->close();

  // psql \copy of the same rows as CSV (the file is written before the clock starts).
  clone_table(server, "copy_obs");
  const fs::path csv = fs::temp_directory_path() / "wis2mon-bench-pg.csv";
  {
    std::ofstream out(csv);
    for (const auto& r : rows) {
      for (std::size_t f = 0; f < r.size(); ++f) out << (f ? "," : "") << text_of(r.value(f), true);
      out << "\n";
    }
  }
  fs::permissions(csv, fs::perms::others_read, fs::perm_options::add);
  std::string columns;
  for (std::size_t f = 0; f < rows.front().size(); ++f) columns += (f ? "," : "") + rows.front().name(f);
  auto t0 = std::chrono::steady_clock::now();
  server.query("\\copy copy_obs (" + columns + ") FROM '" + csv.string() + "' WITH (FORMAT csv)");
  const double copy_rate = static_cast<double>(n) / bench::seconds_since(t0);
  fs::remove(csv);

  // One INSERT ... ON CONFLICT per row, autocommit (a tenth of the rows: it is slow).
  clone_table(server, "row_obs");
  PGconn* conn = PQconnectdb(server.url().c_str());
  std::string sql = "INSERT INTO row_obs (" + columns + ") VALUES (";
  for (std::size_t f = 0; f < rows.front().size(); ++f) sql += (f ? ",$" : "$") + std::to_string(f + 1);
  sql +=
      ") ON CONFLICT (wigos_station_identifier, observed_at) DO UPDATE SET air_temperature = "
      "EXCLUDED.air_temperature";
  const std::size_t single = std::max<std::size_t>(1000, n / 10);
  t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < single; ++i) {
    std::vector<std::string> text;
    std::vector<const char*> params;
    for (std::size_t f = 0; f < rows[i].size(); ++f) text.push_back(text_of(rows[i].value(f), false));
    for (std::size_t f = 0; f < text.size(); ++f)
      params.push_back(type_of(rows[i].value(f)) == FieldType::null ? nullptr : text[f].c_str());
    PGresult* res =
        PQexecParams(conn, sql.c_str(), static_cast<int>(params.size()), nullptr, params.data(), nullptr, nullptr, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      std::cerr << "bench_postgres: " << PQresultErrorMessage(res);
      return 1;
    }
    PQclear(res);
  }
  const double row_rate = static_cast<double>(single) / bench::seconds_since(t0);
  PQfinish(conn);

  std::printf(
      "{\"rows\": %zu, \"fields\": %zu, \"sink_rows_per_s\": %.0f, \"sink_update_rows_per_s\": %.0f, "
      "\"copy_rows_per_s\": %.0f, "
      "\"insert_per_row_rows_per_s\": %.0f, \"sink_vs_copy\": %.2f, \"sink_update_vs_copy\": %.2f, "
      "\"sink_vs_insert_per_row\": %.1f}\n",
      n, rows.front().size(), sink_rate, update_rate, copy_rate, row_rate, sink_rate / copy_rate,
      update_rate / copy_rate, sink_rate / row_rate);
  return 0;
}
