// surface_obs records as the BUFR decoder makes them, for the sink benchmarks.
#pragma once

#include <string>
#include <vector>

#include "wis2mon/decode/bufr.hpp"
#include "wis2mon/record.hpp"

namespace bench {

using namespace wis2mon;

// surface_obs records as the BUFR decoder makes them: 24 fields, 5,000 stations.
inline std::vector<Record> make_rows(std::size_t n) {
  const auto schema = std::make_shared<const RecordSchema>("surface_obs", surface_obs_fields());
  std::vector<Record> rows;
  rows.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    Record r(schema);
    const auto station = static_cast<std::int64_t>(i % 5000);
    std::size_t f = 0;
    const auto put = [&](FieldValue v) { r.value(f++) = std::move(v); };
    put("0-20000-0-" + std::to_string(10000 + station));
    put(station / 1000);
    put(station % 1000);
    put(std::string("STATION ") + std::to_string(station));
    put(45.0 + static_cast<double>(station) / 1000);
    put(7.5 - static_cast<double>(station) / 2000);
    put(static_cast<double>(station % 900));
    put(Timestamp{1700000000 + static_cast<std::int64_t>(i / 5000) * 600, 0});
    put(273.15 + static_cast<double>(i % 300) / 10);
    put(270.15 + static_cast<double>(i % 200) / 10);
    put(static_cast<double>(i % 100));
    put(95000.0 + static_cast<double>(i % 500) * 10);
    put(101325.0 - static_cast<double>(i % 300) * 10);
    put(static_cast<double>(i % 360));
    put(static_cast<double>(i % 25));
    put(std::monostate{});
    put(20000.0);
    put(static_cast<double>(i % 7) / 10);
    put(std::int64_t{-1});
    put(std::monostate{});
    put(std::int64_t{1});
    put(static_cast<std::int64_t>(i % 64) + 1);
    put(std::int64_t{38});
    put(std::string("301150,307096"));
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace bench
