// Enrichment: lookups from a CSV file and a SQLite table, column typing, misses, shared
// schemas, and enriched records through the SQLite and InfluxDB sinks (added columns as
// fields, and as tags).
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <sqlite3.h>

#include <fstream>
#include <thread>

#include "influx_server.hpp"
#include "support.hpp"
#include "wis2mon/enrich.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/sinks/influxdb.hpp"
#include "wis2mon/sinks/sqlite.hpp"

using namespace wis2mon;

namespace {

// Station metadata written by the test: quoted names with commas, a leading-zero station
// number, an empty elevation.
const char* stations_csv =
    "wigos_station_identifier,name,territory,station_number,elevation,synop\r\n"
    "0-20000-0-06260,\"De Bilt, AWS\",Netherlands,06260,1.9,1\r\n"
    "0-20000-0-10381,Berlin-Dahlem,Germany,10381,,1\r\n"
    "0-20000-0-15015,\"Oradea \"\"Airport\"\"\",Romania,15015,136,0\r\n";

std::filesystem::path write_csv(const testing::TempDir& dir, const std::string& text) {
  const auto p = dir.path / "stations.csv";
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

const RecordSchemaPtr& obs_schema() {
  static const auto s = std::make_shared<const RecordSchema>(
      "surface_obs", std::vector<std::string>{"wigos_station_identifier", "observed_at", "air_temperature"});
  return s;
}

Record obs(const std::string& station, double t) {
  Record r(obs_schema());
  r.value(0) = station;
  r.value(1) = Timestamp{1679400000, 0};
  r.value(2) = t;
  return r;
}

}  // namespace

TEST_CASE("enrich: CSV lookup adds typed columns; misses and records without a key are counted") {
  testing::TempDir dir;
  EnrichOptions o;
  o.key_field = "wigos_station_identifier";
  const auto e = Enricher::from_csv(write_csv(dir, stations_csv), o);
  CHECK(e.size() == 3);
  CHECK(e.added_fields() == std::vector<std::string>{"name", "territory", "station_number", "elevation", "synop"});

  auto hit = obs("0-20000-0-06260", 280.0);
  CHECK(e.apply(hit));
  CHECK(std::get<std::string>(*hit.get("name")) == "De Bilt, AWS");
  CHECK(std::get<std::string>(*hit.get("station_number")) == "06260");  // leading zero: text
  CHECK(std::get<double>(*hit.get("elevation")) == 1.9);                // numbers: real
  CHECK(std::get<std::int64_t>(*hit.get("synop")) == 1);                // integers: integer
  CHECK(std::get<double>(*hit.get("air_temperature")) == 280.0);        // the record's own fields stay
  auto quoted_name = obs("0-20000-0-15015", 1.0);
  CHECK(e.apply(quoted_name));
  CHECK(std::get<std::string>(*quoted_name.get("name")) == "Oradea \"Airport\"");
  CHECK(std::get<double>(*quoted_name.get("elevation")) == 136.0);
  auto empty_cell = obs("0-20000-0-10381", 1.0);
  CHECK(e.apply(empty_cell));
  CHECK(type_of(*empty_cell.get("elevation")) == FieldType::null);

  auto miss = obs("0-20000-0-99999", 1.0);
  CHECK_FALSE(e.apply(miss));
  CHECK(miss == obs("0-20000-0-99999", 1.0));  // unchanged
  Record keyless("surface_obs");
  keyless.set("air_temperature", 1.0);
  CHECK_FALSE(e.apply(keyless));
  const auto s = e.stats();
  CHECK(s.hits == 3);
  CHECK(s.misses == 1);
  CHECK(s.no_key == 1);
}

TEST_CASE("enrich: records of a shared schema move to one shared extended schema") {
  testing::TempDir dir;
  EnrichOptions o;
  o.key_field = "wigos_station_identifier";
  o.columns = {"name", "territory"};
  o.prefix = "station_";
  const auto e = Enricher::from_csv(write_csv(dir, stations_csv), o);
  std::vector<Record> batch = {obs("0-20000-0-06260", 1.0), obs("0-20000-0-10381", 2.0), obs("x", 3.0)};
  CHECK(e.apply(batch) == 2);
  CHECK(batch[0].schema() == batch[1].schema());  // no copy per record
  CHECK(batch[0].schema() != obs_schema());
  CHECK(batch[0].schema()->names() == std::vector<std::string>{"wigos_station_identifier", "observed_at",
                                                               "air_temperature", "station_name", "station_territory"});
  CHECK(std::get<std::string>(*batch[1].get("station_territory")) == "Germany");
  CHECK(batch[2].schema() == obs_schema());  // a miss keeps its schema
  CHECK(obs_schema()->size() == 3);          // the decoder's schema is untouched

  // Threads share one enricher.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        auto r = obs(i % 2 ? "0-20000-0-15015" : "nope", 1.0);
        e.apply(r);
      }
    });
  for (auto& t : threads) t.join();
  CHECK(e.stats().hits == 2 + 1000);
  CHECK(e.stats().misses == 1 + 1000);
}

TEST_CASE("enrich: existing fields are kept unless overwrite; table filter; integer keys") {
  EnrichOptions o;
  o.key_field = "block";
  o.lookup_key = "wmo_block";
  o.tables = {"surface_obs"};
  const Enricher e({"wmo_block", "region", "air_temperature"},
                   {{std::int64_t{6}, std::string("VI"), 1.0}, {std::int64_t{10}, std::string("VI"), 2.0}}, o);
  Record r("surface_obs");
  r.set("block", std::int64_t{6});
  r.set("air_temperature", 280.0);
  CHECK(e.apply(r));
  CHECK(std::get<std::string>(*r.get("region")) == "VI");
  CHECK(std::get<double>(*r.get("air_temperature")) == 280.0);  // kept
  Record other("cap_alerts");
  other.set("block", std::int64_t{6});
  CHECK_FALSE(e.apply(other));  // not an enriched table: not even counted
  CHECK(e.stats().no_key + e.stats().misses == 0);

  o.overwrite = true;
  o.tables.clear();
  const Enricher over({"wmo_block", "air_temperature"}, {{std::int64_t{6}, 1.0}}, o);
  CHECK(over.apply(r));
  CHECK(std::get<double>(*r.get("air_temperature")) == 1.0);
}

TEST_CASE("enrich: bad lookup tables give clear errors") {
  testing::TempDir dir;
  EnrichOptions o;
  o.key_field = "wigos_station_identifier";
  CHECK_THROWS_WITH_AS(Enricher::from_csv(dir.path / "absent.csv", o), doctest::Contains("absent.csv"), Error);
  CHECK_THROWS_WITH_AS(Enricher::from_csv(write_csv(dir, "wigos_station_identifier,name\nx\n"), o),
                       doctest::Contains("row 2"), Error);
  CHECK_THROWS_WITH_AS(Enricher::from_csv(write_csv(dir, "station,name\nx,y\n"), o),
                       doctest::Contains("no column 'wigos_station_identifier'"), Error);
  o.columns = {"nme"};
  CHECK_THROWS_WITH_AS(Enricher::from_csv(write_csv(dir, stations_csv), o), doctest::Contains("'nme'"), Error);
  o.columns.clear();
  CHECK_THROWS_AS(Enricher::from_sqlite(dir.path / "stations.csv", "x; DROP TABLE y", o), Error);
  CHECK_THROWS_AS(Enricher::from_sqlite(dir.path / "absent.db", "stations", o), Error);
  EnrichOptions none;
  CHECK_THROWS_AS(Enricher({"a"}, {}, none), Error);  // no key field
  CHECK_THROWS_AS(make_enricher(enrich_config_table().validate({{"source", "stations.txt"}})), Error);
}

TEST_CASE("enrich: from a SQLite table, then stored as columns by the SQLite sink") {
  testing::TempDir dir;
  const auto meta = dir.path / "meta.db";
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(meta.c_str(), &h) == SQLITE_OK);
  REQUIRE(sqlite3_exec(h,
                       "CREATE TABLE stations (wsi TEXT PRIMARY KEY, name TEXT, height REAL, wmo INTEGER);"
                       "INSERT INTO stations VALUES ('0-20000-0-06260', 'De Bilt', 1.9, 6260),"
                       "('0-20000-0-10381', 'Berlin-Dahlem', NULL, 10381);",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(h);
  const auto config = enrich_config_table().validate(
      {{"source", meta.string()}, {"table", "stations"}, {"lookup_key", "wsi"}, {"prefix", "station_"}});
  const auto e = make_enricher(config);
  CHECK(e.size() == 2);
  std::vector<Record> batch = {obs("0-20000-0-06260", 280.0), obs("0-20000-0-10381", 281.0),
                               obs("0-20000-0-00000", 282.0)};
  CHECK(e.apply(batch) == 2);
  CHECK(std::get<std::int64_t>(*batch[0].get("station_wmo")) == 6260);
  CHECK(type_of(*batch[1].get("station_height")) == FieldType::null);

  SqliteSinkOptions so;
  so.path = dir.path / "out.db";
  SqliteSink sink("db", so);
  for (const auto& d : sink.write(batch)) REQUIRE(d.status == DeliveryStatus::delivered);
  sink.close();
  REQUIRE(sqlite3_open_v2(so.path.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h,
                             "SELECT wigos_station_identifier, station_name, station_height FROM surface_obs "
                             "ORDER BY wigos_station_identifier",
                             -1, &st, nullptr) == SQLITE_OK);
  std::vector<std::string> rows;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string row = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    row += "|";
    row +=
        sqlite3_column_type(st, 1) == SQLITE_NULL ? "NULL" : reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    row += "|";
    row += sqlite3_column_type(st, 2) == SQLITE_NULL ? "NULL" : std::to_string(sqlite3_column_double(st, 2));
    rows.push_back(row);
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  CHECK(rows == std::vector<std::string>{"0-20000-0-00000|NULL|NULL", "0-20000-0-06260|De Bilt|1.900000",
                                         "0-20000-0-10381|Berlin-Dahlem|NULL"});
}

TEST_CASE("enrich: looked-up columns written as InfluxDB tags (a real influxd)") {
  if (testing::InfluxServer::binary().empty()) {
    MESSAGE("influxd is not installed (Debian package influxdb): skipped");
    return;
  }
  testing::TempDir dir;
  EnrichOptions eo;
  eo.key_field = "wigos_station_identifier";
  eo.columns = {"territory", "name"};
  const auto e = Enricher::from_csv(write_csv(dir, stations_csv), eo);
  std::vector<Record> batch = {obs("0-20000-0-06260", 280.0), obs("0-20000-0-15015", 281.0)};
  e.apply(batch);

  testing::InfluxServer server;
  server.query("", "CREATE DATABASE obs");
  InfluxSinkOptions o;
  o.url = server.url();
  o.database = "obs";
  auto spec = influx_builtin_tables().at("surface_obs");
  spec.tags.push_back("territory");  // the enriched column as a tag; "name" stays a field
  o.tables["surface_obs"] = spec;
  InfluxSink sink("influx", o);
  for (const auto& d : sink.write(batch)) REQUIRE_MESSAGE(d.status == DeliveryStatus::delivered, d.reason);

  rapidjson::Document tags;
  tags.Parse(server.query("obs", "SHOW TAG VALUES FROM surface_obs WITH KEY = territory").c_str());
  std::vector<std::string> territories;
  for (const auto& row : tags["results"][0]["series"][0]["values"].GetArray())
    territories.emplace_back(row[1].GetString());
  CHECK(territories == std::vector<std::string>{"Netherlands", "Romania"});
  rapidjson::Document rows;
  rows.Parse(server.query("obs", "SELECT \"name\" FROM surface_obs WHERE territory = 'Romania'").c_str());
  CHECK(std::string(rows["results"][0]["series"][0]["values"][0][1].GetString()) == "Oradea \"Airport\"");
}
