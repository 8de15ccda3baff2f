// The stream `wis2mon demo` publishes (and the monitor tests use): real BUFR surface
// observations encoded with ecCodes for several hundred stations, CAP warnings, plain
// notifications, the same observations announced by the origin and two Global Caches,
// repeats, and invalid or hostile messages, with the numbers a monitor must find.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "wis2mon/time.hpp"

namespace wis2mon::detail {

struct DemoStreamOptions {
  std::size_t stations = 300;
  std::size_t cap_alerts = 20;
  std::size_t plain = 60;    ///< notifications of other data (not downloaded)
  std::size_t repeats = 10;  ///< origin messages published a second time (same id)
  std::size_t caches = 2;    ///< Global Caches republishing each observation
  std::size_t invalid = 12;  ///< invalid or hostile messages
  std::string base_url;      ///< the data server, e.g. http://127.0.0.1:8080
  std::uint64_t seed = 7;
};

struct DemoMessage {
  std::string topic;
  std::string payload;
  int phase = 0;  ///< publishing order of groups: origin data, CAP, plain, cache copies, repeats, invalid
};

struct DemoStream {
  std::vector<DemoMessage> messages;           ///< in publishing order
  std::map<std::string, std::string> objects;  ///< URL path -> bytes the data server serves
  // What a monitor with the default configuration must find.
  std::size_t valid = 0;
  std::size_t invalid = 0;
  std::size_t duplicates = 0;               ///< messages that bring nothing new
  std::size_t downloads = 0;                ///< one per observation and per CAP alert
  std::map<std::string, std::size_t> rows;  ///< table -> rows in the database
};

/// One BUFR edition 4 message, one subset, of plain surface-observation elements.
struct SynopValues {
  int block = 0, station = 0;
  std::string name;
  double lat = 0, lon = 0, height = 0;
  int year = 2026, month = 1, day = 1, hour = 0, minute = 0;
  double air_temperature = 0, dewpoint = 0, pressure = 0, msl_pressure = 0, wind_direction = 0, wind_speed = 0;
};
std::string encode_synop_bufr(const SynopValues& v);

/// Plausible values for one station at one time, drawn from rng.
SynopValues random_synop(std::mt19937_64& rng, int block, int station, const std::string& name, Timestamp at);

/// A CAP 1.2 alert with one info and one area, written with libxml2's writer.
std::string make_cap_xml(const std::string& identifier, const std::string& sender, const std::string& sent,
                         const std::string& event, const std::string& severity, const std::string& area,
                         const std::string& polygon);

DemoStream make_demo_stream(const DemoStreamOptions& options);

}  // namespace wis2mon::detail
