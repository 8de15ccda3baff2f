// A decoder of one's own, from outside the library: station readings as CSV lines
//
//   station,observed_at,air_temperature
//   0-20000-0-10385,2026-11-30T06:00:00Z,271.35
//
// into `csv_obs` records. It only uses the public API (wis2mon/decoder.hpp); register it once
// and any pipeline can say `decoder: station_csv`. docs/architecture.md walks through it.
#pragma once

#include <wis2mon/decoder.hpp>
#include <wis2mon/time.hpp>

#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

class StationCsvDecoder : public wis2mon::Decoder {
 public:
  std::string name() const override { return "station_csv"; }
  std::string description() const override { return "station,observed_at,air_temperature lines: csv_obs records"; }

  // The table, its fields and the hints a sink needs: the key makes a repeated reading an
  // update (SQLite upsert), the time field ages rows out and stamps time series points.
  static const wis2mon::RecordSchemaPtr& schema() {
    static const auto s = std::make_shared<const wis2mon::RecordSchema>(
        "csv_obs", std::vector<std::string>{"station", "observed_at", "air_temperature"},
        wis2mon::SchemaHints{{"station", "observed_at"}, "observed_at", {"station"}, {}});
    return s;
  }
  std::vector<wis2mon::RecordSchemaPtr> schemas() const override { return {schema()}; }

  // Bad lines become errors (with their line number); the good ones still give records.
  wis2mon::DecodeOutput decode(std::string_view data) const override {
    wis2mon::DecodeOutput out;
    int line_no = 0;
    while (!data.empty()) {
      const auto end = data.find('\n');
      std::string line(data.substr(0, end));
      data.remove_prefix(end == std::string_view::npos ? data.size() : end + 1);
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || line.rfind("station,", 0) == 0) continue;  // blank or the header
      const auto c1 = line.find(','), c2 = line.find(',', c1 == std::string::npos ? c1 : c1 + 1);
      if (c1 == std::string::npos || c2 == std::string::npos) {
        out.errors.push_back({"line " + std::to_string(line_no) + ": expected three fields", line_no});
        continue;
      }
      const auto when = wis2mon::parse_rfc3339(line.substr(c1 + 1, c2 - c1 - 1));
      char* parsed_to = nullptr;
      const std::string value = line.substr(c2 + 1);
      const double kelvin = std::strtod(value.c_str(), &parsed_to);
      if (!when || value.empty() || *parsed_to != '\0') {
        out.errors.push_back({"line " + std::to_string(line_no) + ": bad time or temperature", line_no});
        continue;
      }
      out.records.emplace_back(schema(), std::vector<wis2mon::FieldValue>{line.substr(0, c1), *when, kelvin});
    }
    return out;
  }
};
