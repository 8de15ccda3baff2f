// BUFR decoding: fixtures built here with ecCodes from its sample templates, then the
// reference files against the values their SOURCES.md lists.
#include <doctest/doctest.h>
#include <eccodes.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/encoding.hpp"
#include "support.hpp"
#include "wis2mon/decode/bufr.hpp"
#include "wis2mon/decoder.hpp"
#include "wis2mon/error.hpp"

using namespace wis2mon;

namespace {

constexpr double kMissing = CODES_MISSING_DOUBLE;

// Builds a BUFR edition 4 message from ecCodes' BUFR4 sample.
class BufrBuilder {
 public:
  BufrBuilder(long subsets, bool compressed, const std::vector<long>& descriptors, long master_table = 30)
      : h_(codes_bufr_handle_new_from_samples(nullptr, "BUFR4")) {
    REQUIRE(h_ != nullptr);
    check(codes_set_long(h_, "masterTablesVersionNumber", master_table), "masterTablesVersionNumber");
    check(codes_set_long(h_, "numberOfSubsets", subsets), "numberOfSubsets");
    check(codes_set_long(h_, "compressedData", compressed ? 1 : 0), "compressedData");
    check(codes_set_long_array(h_, "unexpandedDescriptors", descriptors.data(), descriptors.size()),
          "unexpandedDescriptors");
  }
  ~BufrBuilder() { codes_handle_delete(h_); }
  BufrBuilder(const BufrBuilder&) = delete;
  BufrBuilder& operator=(const BufrBuilder&) = delete;

  BufrBuilder& set(const std::string& key, double v) {
    check(codes_set_double(h_, key.c_str(), v), key);
    return *this;
  }
  BufrBuilder& set_long(const std::string& key, long v) {
    check(codes_set_long(h_, key.c_str(), v), key);
    return *this;
  }
  BufrBuilder& set(const std::string& key, const std::vector<double>& v) {
    check(codes_set_double_array(h_, key.c_str(), v.data(), v.size()), key);
    return *this;
  }
  BufrBuilder& set_text(const std::string& key, const std::string& v) {
    size_t len = v.size();
    check(codes_set_string(h_, key.c_str(), v.c_str(), &len), key);
    return *this;
  }
  BufrBuilder& set_texts(const std::string& key, std::vector<std::string> v) {
    std::vector<const char*> p;
    for (auto& s : v) p.push_back(s.c_str());
    check(codes_set_string_array(h_, key.c_str(), p.data(), p.size()), key);
    return *this;
  }
  std::string pack() {
    check(codes_set_long(h_, "pack", 1), "pack");
    const void* msg = nullptr;
    size_t size = 0;
    check(codes_get_message(h_, &msg, &size), "get_message");
    return {static_cast<const char*>(msg), size};
  }

 private:
  static void check(int err, const std::string& what) {
    INFO("ecCodes: " << what << ": " << codes_get_error_message(err));
    REQUIRE(err == 0);
  }
  codes_handle* h_;
};

const FieldValue& field(const Record& r, std::string_view name) {
  const auto* v = r.get(name);
  INFO("field " << name);
  REQUIRE(v != nullptr);
  return *v;
}
bool is_null(const Record& r, std::string_view name) {
  return std::holds_alternative<std::monostate>(field(r, name));
}
double real(const Record& r, std::string_view name) {
  INFO("field " << name);
  REQUIRE(std::holds_alternative<double>(field(r, name)));
  return std::get<double>(field(r, name));
}
std::int64_t integer(const Record& r, std::string_view name) {
  INFO("field " << name);
  REQUIRE(std::holds_alternative<std::int64_t>(field(r, name)));
  return std::get<std::int64_t>(field(r, name));
}
std::string text(const Record& r, std::string_view name) {
  INFO("field " << name);
  REQUIRE(std::holds_alternative<std::string>(field(r, name)));
  return std::get<std::string>(field(r, name));
}
std::string time_text(const Record& r, std::string_view name) {
  INFO("field " << name);
  REQUIRE(std::holds_alternative<Timestamp>(field(r, name)));
  return format_rfc3339(std::get<Timestamp>(field(r, name)));
}

// Plain element descriptors with traps: two air temperatures (the first is the one we want),
// pressure (a level) and nonCoordinatePressure (the station's), two precipitation amounts
// with their periods, the first missing.
const std::vector<long> kPlainElements = {1001,  1002, 1015,  4001,  4002,  4003,  4004,  4005,  5001,
                                          6001,  7030, 7004,  10004, 10051, 12101, 12103, 13003, 4024,
                                          13011, 4024, 13011, 11001, 11002, 4025,  11041, 20001, 12101};

BufrBuilder& fill_plain(BufrBuilder& b, int rank, double t2m, double station, const std::string& name) {
  // Ranks run across subsets: an element that occurs n times per subset has ranks
  // n*(rank-1)+1 .. n*rank in subset `rank`.
  const auto k = [rank](const char* key, int per_subset = 1, int i = 1) {
    return "#" + std::to_string(per_subset * (rank - 1) + i) + "#" + key;
  };
  b.set(k("blockNumber"), 15).set(k("stationNumber"), station).set_text(k("stationOrSiteName"), name);
  b.set(k("year"), 2023).set(k("month"), 3).set(k("day"), 21).set(k("hour"), 12).set(k("minute"), 55);
  b.set(k("latitude"), 47.77706).set(k("longitude"), 23.94046).set(k("heightOfStationGroundAboveMeanSeaLevel"), 503);
  b.set(k("pressure"), 92500).set(k("nonCoordinatePressure"), 97650).set(k("pressureReducedToMeanSeaLevel"), 101320);
  b.set(k("airTemperature", 2, 1), t2m).set(k("airTemperature", 2, 2), 199.95);
  b.set(k("dewpointTemperature"), 264.15).set(k("relativeHumidity"), 25);
  b.set(k("timePeriod", 3, 1), -1).set(k("totalPrecipitationOrTotalWaterEquivalent", 2, 1), kMissing);
  b.set(k("timePeriod", 3, 2), -6).set(k("totalPrecipitationOrTotalWaterEquivalent", 2, 2), 4.2);
  b.set(k("windDirection"), 250).set(k("windSpeed"), 1.5);
  b.set(k("timePeriod", 3, 3), -10);  // 004025: the gust period, in minutes
  b.set(k("maximumWindGustSpeed"), 7.2).set(k("horizontalVisibility"), 50000);
  return b;
}

}  // namespace

TEST_CASE("bufr: single subset from plain element descriptors, first occurrences") {
  BufrBuilder b(1, false, kPlainElements, 39);
  fill_plain(b, 1, 283.45, 15, "Baia Mare");
  const auto bytes = b.pack();
  const auto r = decode_bufr(bytes);
  REQUIRE(r.ok());
  CHECK(r.messages == 1);
  REQUIRE(r.records.size() == 1);
  const auto& rec = r.records[0];
  CHECK(rec.table() == "surface_obs");
  CHECK(text(rec, "wigos_station_identifier") == "0-20000-0-15015");  // derived from block/station
  CHECK(integer(rec, "block_number") == 15);
  CHECK(integer(rec, "station_number") == 15);
  CHECK(text(rec, "station_name") == "Baia Mare");
  CHECK(real(rec, "latitude") == 47.77706);
  CHECK(real(rec, "longitude") == 23.94046);
  CHECK(real(rec, "station_height") == 503);
  CHECK(time_text(rec, "observed_at") == "2023-03-21T12:55:00Z");
  CHECK(real(rec, "air_temperature") == 283.45);  // not the last airTemperature (199.95)
  CHECK(real(rec, "dewpoint_temperature") == 264.15);
  CHECK(real(rec, "relative_humidity") == 25);
  CHECK(real(rec, "station_pressure") == 97650);  // nonCoordinatePressure, not pressure
  CHECK(real(rec, "msl_pressure") == 101320);
  CHECK(real(rec, "wind_direction") == 250);
  CHECK(real(rec, "wind_speed") == 1.5);
  CHECK(real(rec, "wind_gust") == 7.2);
  CHECK(real(rec, "visibility") == 50000);
  CHECK(real(rec, "precipitation") == 4.2);  // the first amount reported, with its period
  CHECK(integer(rec, "precipitation_period") == -6);
  CHECK(integer(rec, "message_index") == 1);
  CHECK(integer(rec, "subset_index") == 1);
  CHECK(text(rec, "template").rfind("001001,001002,001015,004001", 0) == 0);
  // Every surface_obs field is present, in the documented order.
  const auto& names = surface_obs_fields();
  REQUIRE(rec.fields().size() == names.size());
  for (std::size_t i = 0; i < names.size(); ++i) CHECK(rec.fields()[i].name == names[i]);
}

TEST_CASE("bufr: uncompressed multi-subset keeps each subset's own values") {
  BufrBuilder b(3, false, kPlainElements, 39);
  fill_plain(b, 1, 283.45, 15, "ONE");
  fill_plain(b, 2, kMissing, 20, "TWO  ");
  fill_plain(b, 3, 287.05, 90, "THREE");
  b.set("#2#windSpeed", kMissing);
  b.set("#6#totalPrecipitationOrTotalWaterEquivalent", kMissing);  // subset 3: no amount at all
  const auto r = decode_bufr(b.pack());
  REQUIRE(r.ok());
  REQUIRE(r.records.size() == 3);
  CHECK(integer(r.records[0], "station_number") == 15);
  CHECK(integer(r.records[1], "station_number") == 20);
  CHECK(integer(r.records[2], "station_number") == 90);
  CHECK(text(r.records[1], "station_name") == "TWO");  // trimmed
  CHECK(real(r.records[0], "air_temperature") == 283.45);
  CHECK(is_null(r.records[1], "air_temperature"));  // missing, and not the 199.95 after it
  CHECK(real(r.records[2], "air_temperature") == 287.05);
  CHECK(real(r.records[0], "wind_speed") == 1.5);
  CHECK(is_null(r.records[1], "wind_speed"));
  CHECK(real(r.records[1], "precipitation") == 4.2);
  CHECK(is_null(r.records[2], "precipitation"));
  CHECK(is_null(r.records[2], "precipitation_period"));
  for (int i = 0; i < 3; ++i) {
    CHECK(integer(r.records[static_cast<std::size_t>(i)], "subset_index") == i + 1);
    CHECK(integer(r.records[static_cast<std::size_t>(i)], "message_index") == 1);
  }
}

TEST_CASE("bufr: the same subsets compressed and uncompressed decode to the same records") {
  // Compressed messages are read column by column (one array per key, rounded to the
  // element's scale), uncompressed ones key by key: both must give identical records.
  const std::vector<double> t2m = {283.45, kMissing, 287.05}, station = {15, 20, 90};
  const std::vector<std::string> names = {"ONE", "TWO  ", "THREE"};
  BufrBuilder plain(3, false, kPlainElements, 39);
  for (int s = 0; s < 3; ++s) {
    const auto i = static_cast<std::size_t>(s);
    fill_plain(plain, s + 1, t2m[i], station[i], names[i]);
  }
  plain.set("#2#windSpeed", kMissing).set("#6#totalPrecipitationOrTotalWaterEquivalent", kMissing);

  BufrBuilder packed(3, true, kPlainElements, 39);
  const auto all = [](double v) { return std::vector<double>{v, v, v}; };
  packed.set("#1#blockNumber", all(15)).set("#1#stationNumber", station).set_texts("#1#stationOrSiteName", names);
  packed.set("#1#year", all(2023)).set("#1#month", all(3)).set("#1#day", all(21)).set("#1#hour", all(12));
  packed.set("#1#minute", all(55)).set("#1#latitude", all(47.77706)).set("#1#longitude", all(23.94046));
  packed.set("#1#heightOfStationGroundAboveMeanSeaLevel", all(503)).set("#1#pressure", all(92500));
  packed.set("#1#nonCoordinatePressure", all(97650)).set("#1#pressureReducedToMeanSeaLevel", all(101320));
  packed.set("#1#airTemperature", t2m).set("#2#airTemperature", all(199.95));
  packed.set("#1#dewpointTemperature", all(264.15)).set("#1#relativeHumidity", all(25));
  packed.set("#1#timePeriod", all(-1)).set("#1#totalPrecipitationOrTotalWaterEquivalent", all(kMissing));
  packed.set("#2#timePeriod", all(-6)).set("#2#totalPrecipitationOrTotalWaterEquivalent", {4.2, 4.2, kMissing});
  packed.set("#1#windDirection", all(250)).set("#1#windSpeed", {1.5, kMissing, 1.5});
  packed.set("#3#timePeriod", all(-10)).set("#1#maximumWindGustSpeed", all(7.2));
  packed.set("#1#horizontalVisibility", all(50000));

  const auto a = decode_bufr(plain.pack()), b = decode_bufr(packed.pack());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(a.records.size() == 3);
  REQUIRE(b.records.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("subset " << i + 1 << ": " << a.records[i].to_json() << " vs " << b.records[i].to_json());
    CHECK(a.records[i] == b.records[i]);
  }
  CHECK(real(b.records[0], "precipitation") == 4.2);
  CHECK(integer(b.records[0], "precipitation_period") == -6);
  CHECK(is_null(b.records[2], "precipitation"));
  CHECK(real(b.records[2], "wind_gust") == 7.2);
}

TEST_CASE("bufr: compressed values under a changed scale (operator 202) come out as encoded") {
  // 202129 adds one decimal to the temperature's scale (201131 three bits to its width, so
  // it fits): 283.456 has three decimals.
  BufrBuilder b(3, true, {1001, 1002, 201131, 202129, 12101, 202000, 201000, 12103});
  b.set("#1#blockNumber", std::vector<double>{15, 15, 15}).set("#1#stationNumber", std::vector<double>{1, 2, 3});
  b.set("#1#airTemperature", std::vector<double>{283.456, 250.001, kMissing});
  b.set("#1#dewpointTemperature", std::vector<double>{270.15, 271.25, 272.35});  // back to scale 2
  const auto r = decode_bufr(b.pack());
  REQUIRE(r.ok());
  REQUIRE(r.records.size() == 3);
  CHECK(real(r.records[0], "air_temperature") == 283.456);
  CHECK(real(r.records[1], "air_temperature") == 250.001);
  CHECK(is_null(r.records[2], "air_temperature"));
  CHECK(integer(r.records[2], "station_number") == 3);
  CHECK(real(r.records[2], "dewpoint_temperature") == 272.35);
}

TEST_CASE("bufr: compressed multi-subset expands constant values and per-subset strings") {
  BufrBuilder b(3, true, {301150, 307096});
  b.set("#1#blockNumber", std::vector<double>{15, 15, 15});
  b.set("#1#stationNumber", std::vector<double>{15, 20, 90});
  b.set("#1#airTemperature", std::vector<double>{283.45, kMissing, 287.05});
  b.set("#2#airTemperature", std::vector<double>{250, 251, 252});  // statistics block
  b.set("#1#year", 2023).set("#1#month", 3).set("#1#day", 21).set("#1#hour", 12).set("#1#minute", 0);
  b.set("#1#wigosIdentifierSeries", std::vector<double>{0, 0, kMissing});
  b.set("#1#wigosIssuerOfIdentifier", std::vector<double>{20000, 20000, kMissing});
  b.set("#1#wigosIssueNumber", std::vector<double>{0, 0, kMissing});
  b.set_texts("#1#wigosLocalIdentifierCharacter", {"15015", "ROU-20", ""});
  b.set_texts("#1#stationOrSiteName", {"BAIA MARE", "SATU MARE", "IASI"});
  const auto r = decode_bufr(b.pack());
  REQUIRE(r.ok());
  REQUIRE(r.records.size() == 3);
  CHECK(text(r.records[0], "template") == "301150,307096");
  CHECK(integer(r.records[2], "block_number") == 15);  // constant: one value for all
  CHECK(integer(r.records[1], "station_number") == 20);
  CHECK(real(r.records[0], "air_temperature") == 283.45);
  CHECK(is_null(r.records[1], "air_temperature"));
  CHECK(real(r.records[2], "air_temperature") == 287.05);
  CHECK(text(r.records[0], "wigos_station_identifier") == "0-20000-0-15015");
  CHECK(text(r.records[1], "wigos_station_identifier") == "0-20000-0-ROU-20");
  CHECK(text(r.records[2], "wigos_station_identifier") == "0-20000-0-15090");  // WIGOS missing: derived
  CHECK(text(r.records[1], "station_name") == "SATU MARE");
  CHECK(time_text(r.records[2], "observed_at") == "2023-03-21T12:00:00Z");
  CHECK(is_null(r.records[0], "station_pressure"));  // never set: missing, not -1e100
}

TEST_CASE("bufr: a compressed message too big to expand is refused, the next one still decodes") {
  // Constant values cost a compressed message almost nothing per subset, so a corrupted
  // subset count can make ecCodes expand gigabytes: the limit refuses such a message first.
  BufrBuilder big(400, true, {301150, 307096});
  big.set("#1#blockNumber", 15).set("#1#stationNumber", 15);
  BufrBuilder small(1, true, {301150, 307096});
  small.set("#1#blockNumber", 11).set("#1#stationNumber", 35);
  BufrOptions options;
  options.max_expanded_values = 200 * 100;  // under 400 subsets x the template's descriptors
  const auto r = decode_bufr(big.pack() + small.pack(), options);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message_index == 1);
  CHECK(r.errors[0].message.find("over the limit") != std::string::npos);
  REQUIRE(r.records.size() == 1);
  CHECK(integer(r.records[0], "station_number") == 35);
  CHECK(decode_bufr(big.pack()).records.size() == 400);  // the default limits take it
  BufrOptions few;
  few.max_subsets = 399;
  const auto refused = decode_bufr(big.pack(), few);
  REQUIRE(refused.errors.size() == 1);
  CHECK(refused.errors[0].message.find("400 subsets is over the limit") != std::string::npos);
}

TEST_CASE("bufr: a replication that runs past the descriptors is an error, not a stack overflow") {
  BufrBuilder b(1, false, {301150, 307096});
  b.set("#1#blockNumber", 10).set("#1#stationNumber", 384);
  std::string bytes = b.pack();
  // Section 3 follows sections 0 (8 bytes) and 1 (the BUFR4 sample has no section 2); its
  // descriptors start 7 bytes in. Make the first one 1-05-002: five descriptors, twice, when
  // only one follows (ecCodes recursed until the stack ran out on such a fuzzed message).
  const std::size_t sec3 = 8 + ((static_cast<unsigned char>(bytes[8]) << 16) |
                                (static_cast<unsigned char>(bytes[9]) << 8) | static_cast<unsigned char>(bytes[10]));
  const unsigned descriptor = (1u << 14) | (5u << 8) | 2u;
  bytes[sec3 + 7] = static_cast<char>(descriptor >> 8);
  bytes[sec3 + 8] = static_cast<char>(descriptor & 0xff);
  const auto r = decode_bufr(bytes);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message.find("replication 105002 at position 1 covers 5 descriptors but 1 follow") !=
        std::string::npos);
}

TEST_CASE("bufr: everything missing gives nulls, never sentinel values") {
  BufrBuilder b(1, false, {301150, 307096});
  const auto r = decode_bufr(b.pack());
  REQUIRE(r.ok());
  REQUIRE(r.records.size() == 1);
  const auto& rec = r.records[0];
  for (const auto& name :
       {"wigos_station_identifier", "block_number", "station_number", "station_name", "latitude", "longitude",
        "station_height", "air_temperature", "station_pressure", "msl_pressure", "wind_direction", "wind_speed",
        "wind_gust", "visibility", "precipitation", "precipitation_period"}) {
    INFO(name);
    CHECK(is_null(rec, name));
  }
  // The time falls back to section 1's (the sample's typical date), and the record says so.
  CHECK(time_text(rec, "observed_at") == "2012-10-31T00:02:00Z");
  CHECK(text(rec, "warning").find("section 1's typical date/time") != std::string::npos);
  const auto json = rec.to_json();
  CHECK(json.find("MISSING") == std::string::npos);
  CHECK(json.find("2147483647") == std::string::npos);
  CHECK(json.find("e+100") == std::string::npos);
}

TEST_CASE("bufr: strings become valid UTF-8") {
  std::string name_latin1 = "Rivi\xe8re des galets";
  const std::vector<long> d = {1015, 1019};
  {
    BufrBuilder b(1, false, d, 39);
    b.set_text("#1#stationOrSiteName", name_latin1);
    const auto r = decode_bufr(b.pack());
    REQUIRE(r.records.size() == 1);
    CHECK(text(r.records[0], "station_name") == "Rivi\xc3\xa8re des galets");
  }
  {
    BufrBuilder b(1, false, d, 39);
    b.set_text("#1#longStationName", "Caf\xc3\xa9 \xc3");  // cut inside the last character
    const auto r = decode_bufr(b.pack());
    REQUIRE(r.records.size() == 1);
    CHECK(text(r.records[0], "station_name") == "Caf\xc3\xa9");  // trailing space trimmed too
  }
  CHECK(detail::is_valid_utf8("Rivi\xc3\xa8re"));
  CHECK_FALSE(detail::is_valid_utf8("Rivi\xe8re"));
  CHECK_FALSE(detail::is_valid_utf8("\xed\xa0\x80"));  // a surrogate
  CHECK_FALSE(detail::is_valid_utf8("\xc0\xaf"));      // overlong
}

TEST_CASE("bufr: several messages behind a GTS header, with a broken one in between") {
  BufrBuilder a(1, false, kPlainElements, 39);
  fill_plain(a, 1, 280.15, 15, "A");
  BufrBuilder b(1, false, kPlainElements, 39);
  fill_plain(b, 1, 281.15, 20, "B");
  const auto first = a.pack(), second = b.pack();
  std::string truncated = second.substr(0, second.size() / 2);
  const std::string input =
      "\x01\r\r\n123\r\r\nISMD02 LIIB 201200\r\r\n" + first + "\r\r\n" + truncated + "junk" + second + "\r\r\n\x03";
  const auto r = decode_bufr(input);
  CHECK(r.messages == 3);
  REQUIRE(r.records.size() == 2);
  CHECK(integer(r.records[0], "message_index") == 1);
  CHECK(integer(r.records[1], "message_index") == 3);
  CHECK(real(r.records[1], "air_temperature") == 281.15);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message_index == 2);
  CHECK(r.errors[0].message.find("read:") == 0);
}

TEST_CASE("bufr: bad input never crashes and says what is wrong") {
  CHECK(decode_bufr("").errors.size() == 1);
  CHECK(decode_bufr("hello world").errors[0].message.find("no BUFR message") != std::string::npos);
  CHECK(decode_bufr("BUFR").errors[0].message.find("end of input") != std::string::npos);
  std::string bad_edition = std::string("BUFR\x00\x00\x20\x07", 8) + std::string(24, '\0');
  CHECK(decode_bufr(bad_edition).errors[0].message.find("edition 7") != std::string::npos);
  std::string no_end = std::string("BUFR\x00\x00\x20\x04", 8) + std::string(24, 'x');
  CHECK(decode_bufr(no_end).errors[0].message.find("wrong message length") != std::string::npos);

  BufrBuilder b(1, false, kPlainElements, 39);
  fill_plain(b, 1, 280.15, 15, "A");
  const auto good = b.pack();
  // Flip bytes all over the message: each result is records or errors, never a crash.
  for (std::size_t i = 8; i < good.size() - 4; i += 3) {
    std::string mutated = good;
    mutated[i] = static_cast<char>(mutated[i] ^ 0x5A);
    const auto r = decode_bufr(mutated);
    CHECK((r.records.size() + r.errors.size()) >= 1);
  }
  BufrOptions small;
  small.max_input_bytes = 10;
  CHECK(decode_bufr(good, small).errors[0].message.find("limit") != std::string::npos);
  CHECK_THROWS_AS(decode_bufr_file("/nonexistent/file.bufr"), Error);
}

TEST_CASE("bufr: a master table newer than the installed tables falls back with a warning") {
  const int newest = bufr_newest_master_table();
  REQUIRE(newest >= 30);
  BufrBuilder b(1, false, kPlainElements, 30);
  fill_plain(b, 1, 283.45, 15, "X");
  std::string bytes = b.pack();
  REQUIRE(static_cast<unsigned char>(bytes[7]) == 4);
  bytes[8 + 13] = static_cast<char>(newest + 2);  // edition 4, section 1 octet 14
  const auto r = decode_bufr(bytes);
  REQUIRE(r.ok());
  REQUIRE(r.records.size() == 1);
  CHECK(real(r.records[0], "air_temperature") == 283.45);
  CHECK(integer(r.records[0], "master_table_version") == newest + 2);
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].message.find("newer than the installed tables") != std::string::npos);

  BufrOptions no_fallback;
  no_fallback.fallback_master_table = false;
  const auto strict = decode_bufr(bytes, no_fallback);
  CHECK(strict.records.empty());
  REQUIRE(strict.errors.size() == 1);
}

TEST_CASE("bufr: decoding from several threads at once gives the same records") {
  BufrBuilder c(3, true, {301150, 307096});
  c.set("#1#stationNumber", std::vector<double>{15, 20, 90}).set("#1#blockNumber", 15);
  BufrBuilder u(3, false, kPlainElements, 39);
  fill_plain(u, 1, 283.45, 15, "ONE").set("#2#stationNumber", 20).set("#3#stationNumber", 90);
  const std::string input = c.pack() + u.pack();
  const auto expected = decode_bufr(input);
  REQUIRE(expected.records.size() == 6);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const auto r = decode_bufr(input);
        if (r.records.size() != expected.records.size() || !r.ok()) {
          ++mismatches[static_cast<std::size_t>(t)];
          continue;
        }
        for (std::size_t k = 0; k < r.records.size(); ++k)
          if (!(r.records[k] == expected.records[k])) ++mismatches[static_cast<std::size_t>(t)];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) CHECK(m == 0);
}

// ---- reference files ----------------------------------------------------------------

namespace {

struct Expected {
  std::string file;
  int messages = -1, subsets = -1;
  bool error = false;
  std::map<std::string, std::string> first;  // ecCodes key -> value as SOURCES.md writes it
};

// Reads the per-file sections of bufr/SOURCES.md: "### <file>" then "- messages=N
// total_subsets=M ... [ERROR=...]" and "- msg1/subset1 (first occurrence): k=v, ...".
std::vector<Expected> read_expectations(const std::filesystem::path& sources) {
  std::vector<Expected> out;
  std::ifstream in(sources);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("### ", 0) == 0) {
      out.push_back({line.substr(4), -1, -1, false, {}});
    } else if (!out.empty() && line.rfind("- messages=", 0) == 0) {
      // (std::regex is avoided: GCC 12 warns inside it under ASan, and warnings are errors.)
      const auto ts = line.find("total_subsets=");
      out.back().messages = std::stoi(line.substr(std::strlen("- messages=")));
      if (ts != std::string::npos) out.back().subsets = std::stoi(line.substr(ts + std::strlen("total_subsets=")));
      out.back().error = line.find("ERROR=") != std::string::npos;
    } else if (!out.empty() && line.rfind("- msg1/subset1 (first occurrence): ", 0) == 0) {
      std::stringstream ss(line.substr(line.find(':') + 2));
      std::string kv;
      while (std::getline(ss, kv, ',')) {
        while (!kv.empty() && kv.front() == ' ') kv.erase(0, 1);
        const auto eq = kv.find('=');
        if (eq != std::string::npos) out.back().first[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    }
  }
  return out;
}

void check_value(const Record& rec, const std::string& key, const std::string& value) {
  static const std::map<std::string, std::string> to_field = {
      {"blockNumber", "block_number"},
      {"stationNumber", "station_number"},
      {"latitude", "latitude"},
      {"longitude", "longitude"},
      {"heightOfStationGroundAboveMeanSeaLevel", "station_height"},
      {"airTemperature", "air_temperature"},
      {"dewpointTemperature", "dewpoint_temperature"},
      {"relativeHumidity", "relative_humidity"},
      {"nonCoordinatePressure", "station_pressure"},
      {"pressureReducedToMeanSeaLevel", "msl_pressure"},
      {"windDirection", "wind_direction"},
      {"windSpeed", "wind_speed"}};
  INFO("key " << key << " expected " << value);
  if (key == "WSI") {
    if (value.rfind("MISSING", 0) == 0)
      CHECK(is_null(rec, "wigos_station_identifier"));
    else
      CHECK(text(rec, "wigos_station_identifier") == value);
  } else if (key == "stationOrSiteName") {
    if (value.empty() || value == "MISSING")
      CHECK(is_null(rec, "station_name"));
    else if (value.find("\xef\xbf\xbd") != std::string::npos)  // SOURCES shows a Latin-1 byte as U+FFFD
      CHECK(detail::is_valid_utf8(text(rec, "station_name")));
    else
      CHECK(text(rec, "station_name") == value);
  } else if (key == "shipOrMobileLandStationIdentifier") {
    CHECK(text(rec, "platform_identifier") == value);
  } else if (const auto it = to_field.find(key); it != to_field.end()) {
    const auto& f = field(rec, it->second);
    if (value == "MISSING") {
      CHECK(std::holds_alternative<std::monostate>(f));
    } else {
      const double want = std::stod(value);
      const double got = std::holds_alternative<std::int64_t>(f) ? static_cast<double>(std::get<std::int64_t>(f))
                                                                 : std::get<double>(f);
      CHECK(std::fabs(got - want) <= 1e-4);  // SOURCES.md rounds to 4 decimals
    }
  }
}

void check_time(const Record& rec, const std::map<std::string, std::string>& first) {
  if (!first.count("year")) return;
  if (first.at("year") == "MISSING") {  // section 1's typical date/time, said on the record
    CHECK_FALSE(is_null(rec, "observed_at"));
    CHECK(text(rec, "warning").find("typical date/time") != std::string::npos);
    return;
  }
  char want[32];
  std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:00Z", std::stoi(first.at("year")),
                std::stoi(first.at("month")), std::stoi(first.at("day")), std::stoi(first.at("hour")),
                std::stoi(first.at("minute")));
  CHECK(time_text(rec, "observed_at") == want);
}

}  // namespace

TEST_CASE("bufr: reference files give the values SOURCES.md lists") {
  const auto ref = testing::refdata();
  if (!ref) return;
  const auto dir = *ref / "bufr";
  const auto expectations = read_expectations(dir / "SOURCES.md");
  REQUIRE(expectations.size() >= 40);
  int checked = 0;
  for (const auto& e : expectations) {
    if (e.messages < 0) continue;  // a companion file, not a BUFR file
    INFO("file " << e.file);
    const auto r = decode_bufr_file((dir / e.file).string());
    if (e.file.rfind("DERIVED_", 0) == 0) {
      // Declares master table 41: decodes with the newest installed tables instead.
      REQUIRE(r.ok());
      CHECK(r.warnings.size() == 1);
    } else if (e.error) {
      CHECK_FALSE(r.ok());
      CHECK(r.records.empty());
      continue;
    } else {
      CHECK(r.ok());
      CHECK(r.messages == e.messages);
      CHECK(static_cast<int>(r.records.size()) == e.subsets);
    }
    REQUIRE_FALSE(r.records.empty());
    for (const auto& [key, value] : e.first) check_value(r.records[0], key, value);
    check_time(r.records[0], e.first);
    for (const auto& rec : r.records) CHECK(detail::is_valid_utf8(rec.to_json()));
    ++checked;
  }
  CHECK(checked >= 40);
}

TEST_CASE("bufr: reference traps") {
  const auto ref = testing::refdata();
  if (!ref) return;
  const auto dir = *ref / "bufr";
  // Ranks run across subsets in uncompressed messages: subset 12 is "#12#airTemperature".
  auto irish = decode_bufr_file((dir / "bufr2geojson_A_ISIA21EIDB202100_C_EDZW_20220320210902_11839953.bin").string());
  REQUIRE(irish.records.size() == 12);
  CHECK(real(irish.records[11], "air_temperature") == 280.45);
  // 307096: precipitation over the last hour (the first amount), periods in hours.
  auto aws = decode_bufr_file((dir / "wis2boxtraining_aws_307096_bufr-cli-ex2.bufr4").string());
  REQUIRE(aws.records.size() == 1);
  CHECK(real(aws.records[0], "precipitation") == 0);
  CHECK(integer(aws.records[0], "precipitation_period") == -1);
  CHECK(real(aws.records[0], "air_temperature") == 301.25);  // not the missing #2#
  auto ex5 = decode_bufr_file((dir / "wis2boxtraining_synop2bufr_307096_15015_ex5.bufr4").string());
  REQUIRE(ex5.records.size() == 1);
  CHECK(integer(ex5.records[0], "precipitation_period") == -6);
  // Report time from the data section (11:55), not the typical time.
  auto ex3 = decode_bufr_file((dir / "synop2bufr_ex3_WIGOS_0-20000-0-15260_20230321T115500.bufr4").string());
  CHECK(time_text(ex3.records.at(0), "observed_at") == "2023-03-21T11:55:00Z");
  // Compressed, 2147 subsets; constant values expanded to every subset.
  auto esoh = decode_bufr_file((dir / "esoh_SurfaceLand_subset_2147_307103_compressed.buf").string());
  REQUIRE(esoh.records.size() == 2147);
  CHECK(time_text(esoh.records[2146], "observed_at").rfind("2023-08-2", 0) == 0);
  // The synthetic compressed 307096: constant block number, per-subset stations.
  auto synth = decode_bufr_file((dir / "SYNTHETIC_301150-307096_compressed_3subsets.bufr").string());
  REQUIRE(synth.records.size() == 3);
  CHECK(integer(synth.records[2], "block_number") == 15);
  CHECK(integer(synth.records[2], "station_number") == 90);
  CHECK(is_null(synth.records[1], "air_temperature"));
  CHECK(real(synth.records[2], "air_temperature") == 287.05);
  // Latin-1 station name in a buoy report.
  auto buoy =
      decode_bufr_file((dir / "wis2box_buoy_315008_A_IOBH03LFPW161000_C_EDZW_20240216112202_27622614.bin").string());
  CHECK(text(buoy.records.at(0), "station_name") == "Rivi\xc3\xa8re des galets");
  // WIGOS id with every part missing: null, not "MISSING-MISSING-MISSING-".
  auto nowsi = decode_bufr_file((dir / "pdbufr_synop_invalid_wigos_id.bufr").string());
  CHECK(is_null(nowsi.records.at(0), "wigos_station_identifier"));
  // An aircraft report with local descriptors (its unpack fails in ecCodes 2.28) is upper-air
  // data: refused by its category before any unpack, an error for that message only.
  auto local = decode_bufr_file((dir / "wreport_C06006.bufr").string());
  REQUIRE(local.errors.size() == 1);
  CHECK(local.errors[0].message.find("not a surface observation (category 4: single level upper-air data") == 0);
}

TEST_CASE("bufr: the registered decoder emits surface_obs_schema(): one layout, with its hints") {
  const auto decoder = find_decoder("bufr");
  REQUIRE(decoder != nullptr);
  REQUIRE(decoder->schemas().size() == 1);
  CHECK(decoder->schemas()[0] == surface_obs_schema());
  CHECK(surface_obs_schema()->names() == surface_obs_fields());
  CHECK(surface_obs_schema()->hints().key == std::vector<std::string>{"wigos_station_identifier", "observed_at"});
  CHECK(surface_obs_schema()->hints().time_field == "observed_at");
  BufrBuilder b(1, false, kPlainElements, 39);
  fill_plain(b, 1, 283.45, 15, "Baia Mare");
  const auto out = decoder->decode(b.pack());
  REQUIRE(out.records.size() == 1);
  CHECK(out.records[0].schema() == surface_obs_schema());  // every row has exactly the schema's fields
  CHECK(out.errors.empty());
  CHECK(decoder->decode("not BUFR").failed());
}

TEST_CASE("bufr: a section longer than its message is refused before ecCodes sees it (a fuzz finding)") {
  // 136 bytes whose section 4 claims 2,169,348: ecCodes allocated over 2 GB decoding it.
  const auto bytes = *wis2mon::detail::base64_decode(
      "QlVGUgAAiAMAABIAADgAgAQEBQUJAhgLHwAAABIA//+sxA8BCQIYEDsCFQAAAB4AAAkCGBA7AhUAAAAeAAABAMFBwULLAw0DIRkhGgQPQwQE"
      "IIYGC+sAAAA6ADRSQRMh0prCEQAD7JMLf0bOaVLGwfyGXDY2EdX////7/4P4P4P4P4AANzc3Nw==");
  REQUIRE(bytes.size() == 136);
  const auto r = wis2mon::decode_bufr(bytes);
  CHECK(r.records.empty());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message == "read: section 4 declares 2169348 bytes, 58 remain in the message");
}

TEST_CASE("bufr: older and alternative element keys fill the fields the preferred keys leave empty") {
  // A SYNOP as ECMWF-style and archived templates carry it: station height 007001, air and
  // dewpoint temperature at 2 m (012004, 012006), wind at 10 m (011011, 011012), and a
  // fixed-period precipitation total (013019..013023) with no 013011.
  const std::vector<long> base = {1001, 1002, 4001, 4002,  4003,  4004,  4005,
                                  5001, 6001, 7001, 12004, 12006, 11011, 11012};
  for (const auto& [descriptor, key, hours] :
       {std::tuple{13019L, "totalPrecipitationPast1Hour", -1}, std::tuple{13020L, "totalPrecipitationPast3Hours", -3},
        std::tuple{13021L, "totalPrecipitationPast6Hours", -6},
        std::tuple{13022L, "totalPrecipitationPast12Hours", -12},
        std::tuple{13023L, "totalPrecipitationPast24Hours", -24}}) {
    for (const bool compressed : {false, true}) {
      const std::string key_name = key;
      CAPTURE(key_name);
      CAPTURE(compressed);
      auto descriptors = base;
      descriptors.push_back(descriptor);
      BufrBuilder b(2, compressed, descriptors, 39);
      b.set("blockNumber", 6.0).set("stationNumber", std::vector<double>{660, 670});
      b.set("year", 2026).set("month", 11).set("day", 30).set("hour", 6).set("minute", 0);
      b.set("latitude", 47.38).set("longitude", 8.57).set("heightOfStation", std::vector<double>{555, 432});
      b.set("airTemperatureAt2M", std::vector<double>{271.6, 272.1});
      b.set("dewpointTemperatureAt2M", std::vector<double>{269.1, kMissing});
      b.set("windDirectionAt10M", std::vector<double>{230, 240}).set("windSpeedAt10M", std::vector<double>{3.1, 4.6});
      b.set(key, std::vector<double>{0.4, kMissing});
      const auto r = decode_bufr(b.pack());
      REQUIRE(r.ok());
      REQUIRE(r.records.size() == 2);
      const auto& first = r.records[0];
      CHECK(real(first, "station_height") == 555);
      CHECK(real(r.records[1], "station_height") == 432);
      CHECK(real(first, "air_temperature") == 271.6);
      CHECK(real(r.records[1], "air_temperature") == 272.1);
      CHECK(real(first, "dewpoint_temperature") == 269.1);
      CHECK(is_null(r.records[1], "dewpoint_temperature"));
      CHECK(real(first, "wind_direction") == 230);
      CHECK(real(r.records[1], "wind_speed") == 4.6);
      CHECK(real(first, "precipitation") == 0.4);
      CHECK(integer(first, "precipitation_period") == hours);
      CHECK(is_null(r.records[1], "precipitation"));
      CHECK(is_null(r.records[1], "precipitation_period"));
    }
  }
}

TEST_CASE("bufr: where both are present the preferred key wins, and a missing one gives way") {
  // 012101 and 012004, 007030 and 007001, 013011 (with its period) and 013023.
  const std::vector<long> d = {1001, 1002, 4001,  4002,  4003,  4004,  4005, 5001,  6001,
                               7030, 7001, 12101, 12004, 11001, 11011, 4024, 13011, 13023};
  BufrBuilder b(2, false, d, 39);
  for (int s = 1; s <= 2; ++s) {
    const auto k = [s](const char* key, int per = 1, int i = 1) {
      return "#" + std::to_string(per * (s - 1) + i) + "#" + key;
    };
    b.set(k("blockNumber"), 6).set(k("stationNumber"), 660 + s);
    b.set(k("year"), 2026).set(k("month"), 11).set(k("day"), 30).set(k("hour"), 6).set(k("minute"), 0);
    b.set(k("latitude"), 47.38).set(k("longitude"), 8.57);
    b.set(k("heightOfStationGroundAboveMeanSeaLevel"), s == 1 ? 556 : kMissing).set(k("heightOfStation"), 555);
    b.set(k("airTemperature"), s == 1 ? 271.6 : kMissing).set(k("airTemperatureAt2M"), 270.1);
    b.set(k("windDirection"), 240).set(k("windDirectionAt10M"), 230);
    b.set(k("timePeriod"), -6).set(k("totalPrecipitationOrTotalWaterEquivalent"), s == 1 ? 1.2 : kMissing);
    b.set(k("totalPrecipitationPast24Hours"), 7.5);
  }
  const auto r = decode_bufr(b.pack());
  REQUIRE(r.ok());
  REQUIRE(r.records.size() == 2);
  CHECK(real(r.records[0], "station_height") == 556);
  CHECK(real(r.records[0], "air_temperature") == 271.6);
  CHECK(real(r.records[0], "wind_direction") == 240);
  CHECK(real(r.records[0], "precipitation") == 1.2);
  CHECK(integer(r.records[0], "precipitation_period") == -6);
  CHECK(real(r.records[1], "station_height") == 555);  // the preferred one is missing
  CHECK(real(r.records[1], "air_temperature") == 270.1);
  CHECK(real(r.records[1], "precipitation") == 7.5);
  CHECK(integer(r.records[1], "precipitation_period") == -24);
}

TEST_CASE("bufr: a subset without a date/time takes section 1's typical date/time, with a warning") {
  for (const bool compressed : {false, true}) {
    CAPTURE(compressed);
    BufrBuilder b(2, compressed, {1001, 1002, 4001, 4002, 4003, 4004, 4005, 5001, 6001, 12101});
    b.set_long("typicalYear", 2026).set_long("typicalMonth", 11).set_long("typicalDay", 30);
    b.set_long("typicalHour", 6).set_long("typicalMinute", 0).set_long("typicalSecond", 0);
    b.set("blockNumber", 6.0).set("stationNumber", std::vector<double>{660, 670});
    b.set("year", std::vector<double>{2026, kMissing}).set("month", std::vector<double>{11, kMissing});
    b.set("day", std::vector<double>{30, kMissing}).set("hour", std::vector<double>{5, kMissing});
    b.set("minute", std::vector<double>{50, kMissing});
    b.set("latitude", 47.38).set("longitude", 8.57).set("airTemperature", std::vector<double>{271.6, 272.1});
    const auto r = decode_bufr(b.pack());
    REQUIRE(r.ok());
    REQUIRE(r.records.size() == 2);
    // Its own time: unchanged, no warning.
    CHECK(time_text(r.records[0], "observed_at") == "2026-11-30T05:50:00Z");
    CHECK(is_null(r.records[0], "warning"));
    // None: section 1's, said on the record and once for the message.
    CHECK(time_text(r.records[1], "observed_at") == "2026-11-30T06:00:00Z");
    CHECK(text(r.records[1], "warning") ==
          "observed_at is section 1's typical date/time: the data section has no date/time for this subset");
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].message_index == 1);
    CHECK(r.warnings[0].message ==
          "1 of 2 subsets have no date/time in the data section: observed_at is section 1's typical date/time, "
          "2026-11-30T06:00:00Z");
  }
}

TEST_CASE("bufr: messages that are not surface observations give no records and say which they are") {
  const std::vector<long> position_and_time = {4001, 4002, 4003, 4004, 4005, 5001, 6001, 12101};
  const auto message = [&](long category, bool with_station) {
    auto descriptors = position_and_time;
    if (with_station) descriptors.insert(descriptors.begin(), {1001, 1002});
    BufrBuilder b(3, true, descriptors);
    b.set_long("dataCategory", category);
    if (with_station) b.set("blockNumber", 6.0).set("stationNumber", std::vector<double>{660, 670, 680});
    b.set("year", 2026).set("month", 11).set("day", 30).set("hour", 6).set("minute", 0);
    b.set("latitude", std::vector<double>{47.1, 47.2, 47.3}).set("longitude", 8.5);
    b.set("airTemperature", std::vector<double>{271.6, 272.1, 270.2});
    return b.pack();
  };
  // Soundings, satellite data and the like: by their category, whatever they hold.
  for (const auto& [category, name] :
       {std::pair{2L, "vertical soundings (other than satellite)"}, std::pair{3L, "vertical soundings (satellite)"},
        std::pair{21L, "satellite data"}, std::pair{31L, "oceanographic data"}}) {
    CAPTURE(category);
    const auto r = decode_bufr(message(category, true));
    CHECK(r.records.empty());
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].message == "not a surface observation (category " + std::to_string(category) + ": " + name +
                                     ", template 001001,001002,004001,004002,004003,004004,004005,005001,006001,"
                                     "012101)");
  }
  // Another category: a surface observation when a subset names its station or platform.
  const auto anonymous = decode_bufr(message(7, false));
  CHECK(anonymous.records.empty());
  REQUIRE(anonymous.errors.size() == 1);
  CHECK(anonymous.errors[0].message ==
        "not a surface observation (category 7, template 004001,004002,004003,004004,004005,005001,006001,012101)");
  CHECK(decode_bufr(message(7, true)).records.size() == 3);
  // Land and sea surface categories decode as before, named or not.
  CHECK(decode_bufr(message(0, false)).records.size() == 3);
  CHECK(decode_bufr(message(1, true)).records.size() == 3);
  // In one input, the surface message still gives its records.
  const auto both = decode_bufr(message(2, true) + message(0, true));
  CHECK(both.messages == 2);
  REQUIRE(both.records.size() == 3);
  CHECK(integer(both.records[0], "message_index") == 2);
  REQUIRE(both.errors.size() == 1);
  CHECK(both.errors[0].message_index == 1);
}
