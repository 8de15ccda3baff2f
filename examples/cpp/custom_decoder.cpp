// A decoder and a sink kind of one's own through a whole monitor: register StationCsvDecoder
// and JsonlFileSink, run a pipeline `decoder: station_csv` into SQLite and a `jsonl_file` sink
// on a notification whose data is inline, and read the rows back. Usage:
// example_custom_decoder DIR (a scratch folder). Exits 0 when both sinks hold what was sent.
#include <sqlite3.h>
#include <wis2mon/monitor.hpp>

#include <chrono>
#include <iostream>
#include <string>

#include <fstream>

#include "csv_decoder.hpp"
#include "jsonl_sink.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: example_custom_decoder DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  wis2mon::register_decoder(std::make_shared<StationCsvDecoder>());
  wis2mon::register_sink_kind(JsonlFileSink::kind());

  const auto config = wis2mon::parse_monitor_config(
      "monitor: {spool: " + dir + "/spool.db}\n" + "sinks: [{name: db, type: sqlite, path: " + dir + "/obs.db},\n" +
      "        {name: lines, type: jsonl_file, path: " + dir + "/obs.jsonl}]\n" +
      "pipelines:\n"
      "  - name: csv\n"
      "    filters: ['+/a/wis2/+/data/core/weather/#']\n"
      "    decoder: station_csv\n"
      "    sinks: [db, lines]\n");
  wis2mon::Monitor monitor(config);
  monitor.start();

  const std::string csv =
      "station,observed_at,air_temperature\n"
      "0-20000-0-10385,2026-11-30T06:00:00Z,271.35\n"
      "0-20000-0-10384,2026-11-30T06:00:00Z,270.95\n"
      "not a reading\n";
  std::string value;  // the CSV as a JSON string's text: line breaks escaped
  for (char c : csv) value += c == '\n' ? std::string("\\n") : std::string(1, c);
  const std::string notification =
      R"({"id": "7d6b5f9e-2f1a-4c1e-9a55-3f0e8e1c2b01", "type": "Feature", "geometry": null,)"
      R"( "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],)"
      R"( "properties": {"data_id": "de-example/data/core/weather/obs-0600", "pubtime": "2026-11-30T06:05:00Z",)"
      R"( "datetime": "2026-11-30T06:00:00Z", "content": {"encoding": "utf-8", "size": )" +
      std::to_string(csv.size()) + R"(, "value": ")" + value +
      R"("}},)"
      R"( "links": [{"href": "https://example.org/obs-0600.csv", "rel": "canonical", "type": "text/csv"}]})";
  monitor.push("origin/a/wis2/de-example/data/core/weather/surface-based-observations/synop", notification);
  if (!monitor.drain(std::chrono::seconds(30))) {
    std::cerr << "not drained\n";
    return 1;
  }
  monitor.stop();

  sqlite3* db = nullptr;
  sqlite3_open((dir + "/obs.db").c_str(), &db);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT station, air_temperature FROM csv_obs ORDER BY station", -1, &st, nullptr);
  int rows = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::cout << sqlite3_column_text(st, 0) << " " << sqlite3_column_double(st, 1) << "\n";
    ++rows;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  std::ifstream jsonl(dir + "/obs.jsonl");
  int lines = 0;
  for (std::string line; std::getline(jsonl, line);) ++lines;
  std::cout << rows << " csv_obs rows, " << lines << " JSON lines\n";
  return rows == 2 && lines == 2 ? 0 : 1;
}
