// BUFR surface observations with ecCodes.
//
// How one message becomes records:
//  1. frame: find "BUFR", check the declared length and the "7777" end section ourselves, so a
//     broken message is an error for that message and scanning goes on after it;
//  2. open the message with ecCodes (no copy) and unpack it; a master table newer than the
//     installed tables is replaced by the newest installed one on a copy of the message;
//  3. walk the data-section keys once ("#3#airTemperature" ...) and, per subset, note which
//     ranked key holds each field: the first occurrence (so the 2 m temperature, not the
//     statistics block's), the first non-missing precipitation with the time period just
//     before it, and so on;
//  4. read those keys: compressed messages give one array per key (size 1 when constant
//     across subsets), uncompressed ones rank keys across subsets, so each subset's keys
//     are a contiguous slice of the walk.
#include "wis2mon/decode/bufr.hpp"

#include <eccodes.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "common/encoding.hpp"
#include "common/file.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon {

const RecordSchemaPtr& surface_obs_schema() {
  static const RecordSchemaPtr schema = std::make_shared<const RecordSchema>(
      "surface_obs", surface_obs_fields(),
      SchemaHints{
          {"wigos_station_identifier", "observed_at"}, "observed_at", {"wigos_station_identifier"}, {{"observed_at"}}});
  return schema;
}

namespace {

// ecCodes reports details through a process-wide logging callback; route them to the
// decoding thread's current message so errors say more than "Hash array no match".
thread_local std::string* t_log_capture = nullptr;

void log_to_capture(const codes_context*, int level, const char* msg) {
  if (!t_log_capture || level != GRIB_LOG_ERROR || !msg || t_log_capture->size() > 300) return;
  if (t_log_capture->find(msg) != std::string::npos) return;  // ecCodes repeats itself
  if (!t_log_capture->empty()) *t_log_capture += "; ";
  *t_log_capture += msg;
}

void print_nothing(const codes_context*, void*, const char*) {}

int find_newest_master_table() {
  int newest = 0;
  const char* path = codes_definition_path(nullptr);  // owned by ecCodes
  std::string paths = path ? path : "";
  std::stringstream ss(paths);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir + "/bufr/tables/0/wmo", ec)) {
      const auto name = entry.path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      if (std::filesystem::exists(entry.path() / "element.table", ec)) newest = std::max(newest, std::stoi(name));
    }
  }
  return newest;
}

struct Library {
  int newest_master_table = 0;
};

const Library& library() {
  static const Library lib = [] {
    codes_context* ctx = codes_context_get_default();
    codes_context_set_logging_proc(ctx, &log_to_capture);
    codes_context_set_print_proc(ctx, &print_nothing);
    Library l;
    l.newest_master_table = find_newest_master_table();
    return l;
  }();
  return lib;
}

struct HandleDeleter {
  void operator()(codes_handle* h) const noexcept { codes_handle_delete(h); }
};
using HandlePtr = std::unique_ptr<codes_handle, HandleDeleter>;

struct IteratorDeleter {
  void operator()(bufr_keys_iterator* it) const noexcept { codes_bufr_keys_iterator_delete(it); }
};

// 10^0 .. 10^23 (exact up to 10^22).
constexpr std::array<double, 24> kPowersOfTen = [] {
  std::array<double, 24> p{};
  p[0] = 1;
  for (std::size_t i = 1; i < p.size(); ++i) p[i] = p[i - 1] * 10;
  return p;
}();

// ecCodes computes value = (raw + reference) * 10^-scale, which leaves binary noise
// (36.794000000000007). BUFR values carry at most 10 significant digits, so rounding to 12
// gives back the decimal that was encoded; n / 10^k is exact-rounded because both are exact.

double round_to_encoded(double v) noexcept {
  if (v == 0 || !std::isfinite(v)) return v;
  // The decimal exponent comes from the binary one (log10 costs more than the rest of the
  // rounding, and this runs for many values of every subset).
  const auto& powers = kPowersOfTen;
  const double a = std::fabs(v);
  int e2 = 0;
  std::frexp(a, &e2);                                                    // a in [2^(e2-1), 2^e2)
  int d = static_cast<int>(std::floor((e2 - 1) * 0.30102999566398120));  // floor(log10 a) or one less
  const auto pow10 = [&](int e) {
    return e >= 0 ? powers[static_cast<std::size_t>(e)] : 1 / powers[static_cast<std::size_t>(-e)];
  };
  if (d >= -22 && d < 23 && a >= pow10(d + 1)) ++d;
  const int k = 11 - d;  // scale giving 12 significant digits
  if (k < 0 || k > 22) return v;
  return std::round(v * powers[static_cast<std::size_t>(k)]) / powers[static_cast<std::size_t>(k)];
}

bool is_missing(double v) noexcept {
  return !std::isfinite(v) || v == CODES_MISSING_DOUBLE || v == static_cast<double>(CODES_MISSING_LONG);
}

// Trims spaces/NULs. Null: all-ones bytes (BUFR's missing string), nothing, or the word
// MISSING, which some encoders write into the string itself.
std::optional<std::string> clean_text(std::string_view raw) {
  if (!raw.empty() && std::all_of(raw.begin(), raw.end(), [](char c) { return static_cast<unsigned char>(c) == 0xFF; }))
    return std::nullopt;
  const auto blank = [](char c) { return c == ' ' || c == '\0' || c == '\t'; };
  std::string_view trimmed = raw;
  while (!trimmed.empty() && blank(trimmed.back())) trimmed.remove_suffix(1);
  while (!trimmed.empty() && blank(trimmed.front())) trimmed.remove_prefix(1);
  // Plain ASCII (station names, identifiers) is already valid: no second pass. Otherwise
  // repair first and trim after, as a repaired byte can end up next to the blanks.
  if (std::all_of(trimmed.begin(), trimmed.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    if (trimmed.empty() || trimmed == "MISSING") return std::nullopt;
    return std::string(trimmed);
  }
  std::string s = detail::to_valid_utf8(raw);
  while (!s.empty() && blank(s.back())) s.pop_back();
  std::size_t b = 0;
  while (b < s.size() && blank(s[b])) ++b;
  s.erase(0, b);
  if (s.empty() || s == "MISSING") return std::nullopt;
  return s;
}

std::string_view bare_name(std::string_view key) noexcept {
  if (key.size() > 1 && key[0] == '#') {
    const auto second = key.find('#', 1);
    if (second != std::string_view::npos) return key.substr(second + 1);
  }
  return key;
}

// The single-occurrence elements the decoder reads: each slot with its ecCodes key, in one list
// (the slot numbers are the positions; a static_assert keeps them so).
enum Slot : int {
  kWigosSeries,
  kWigosIssuer,
  kWigosIssue,
  kWigosLocal,
  kBlock,
  kStation,
  kName,
  kLongName,
  kShipId,
  kBuoyId,
  kMarineId,
  kLatitude,
  kLongitude,
  kHeight,
  kYear,
  kMonth,
  kDay,
  kHour,
  kMinute,
  kSecond,
  kAirTemperature,
  kDewpoint,
  kRelativeHumidity,
  kStationPressure,
  kMslPressure,
  kWindDirection,
  kWindSpeed,
  kVisibility,
  kPrecip24,
  // Older and alternative descriptors (ECMWF-style and archived SYNOP/SHIP templates), read
  // where the preferred one above is absent or missing.
  kHeightOfStation,
  kAirTemperatureAt2M,
  kDewpointAt2M,
  kWindDirectionAt10M,
  kWindSpeedAt10M,
  kPrecip12,
  kPrecip6,
  kPrecip3,
  kPrecip1,
  kSlotCount
};

struct SlotKey {
  Slot slot;
  std::string_view key;
};
constexpr SlotKey kSlotKeys[] = {
    {kWigosSeries, "wigosIdentifierSeries"},
    {kWigosIssuer, "wigosIssuerOfIdentifier"},
    {kWigosIssue, "wigosIssueNumber"},
    {kWigosLocal, "wigosLocalIdentifierCharacter"},
    {kBlock, "blockNumber"},
    {kStation, "stationNumber"},
    {kName, "stationOrSiteName"},
    {kLongName, "longStationName"},
    {kShipId, "shipOrMobileLandStationIdentifier"},
    {kBuoyId, "buoyOrPlatformIdentifier"},
    {kMarineId, "marineObservingPlatformIdentifier"},
    {kLatitude, "latitude"},
    {kLongitude, "longitude"},
    {kHeight, "heightOfStationGroundAboveMeanSeaLevel"},
    {kYear, "year"},
    {kMonth, "month"},
    {kDay, "day"},
    {kHour, "hour"},
    {kMinute, "minute"},
    {kSecond, "second"},
    {kAirTemperature, "airTemperature"},
    {kDewpoint, "dewpointTemperature"},
    {kRelativeHumidity, "relativeHumidity"},
    {kStationPressure, "nonCoordinatePressure"},
    {kMslPressure, "pressureReducedToMeanSeaLevel"},
    {kWindDirection, "windDirection"},
    {kWindSpeed, "windSpeed"},
    {kVisibility, "horizontalVisibility"},
    {kPrecip24, "totalPrecipitationPast24Hours"},
    {kHeightOfStation, "heightOfStation"},         // 007001
    {kAirTemperatureAt2M, "airTemperatureAt2M"},   // 012004
    {kDewpointAt2M, "dewpointTemperatureAt2M"},    // 012006
    {kWindDirectionAt10M, "windDirectionAt10M"},   // 011011
    {kWindSpeedAt10M, "windSpeedAt10M"},           // 011012
    {kPrecip12, "totalPrecipitationPast12Hours"},  // 013022
    {kPrecip6, "totalPrecipitationPast6Hours"},    // 013021
    {kPrecip3, "totalPrecipitationPast3Hours"},    // 013020
    {kPrecip1, "totalPrecipitationPast1Hour"},     // 013019
};

template <typename Table, std::size_t N>
constexpr bool listed_in_order(const Table (&table)[N]) {
  for (std::size_t i = 0; i < N; ++i)
    if (static_cast<std::size_t>(table[i].slot) != i) return false;
  return true;
}
static_assert(std::size(kSlotKeys) == kSlotCount && listed_in_order(kSlotKeys),
              "kSlotKeys: one entry per Slot, in order");

const std::unordered_map<std::string_view, Slot>& slot_table() {
  static const auto table = [] {
    std::unordered_map<std::string_view, Slot> made;
    for (const auto& s : kSlotKeys) made.emplace(s.key, s.slot);
    return made;
  }();
  return table;
}

// The surface_obs row layout, in one list: the schema's field names (surface_obs_fields()) and
// the positions the decoder writes to (Column) both come from it, and RowWriter checks that a
// row got every column exactly once.
enum Column : int {
  cWsi,
  cBlock,
  cStation,
  cName,
  cLatitude,
  cLongitude,
  cHeight,
  cObservedAt,
  cAirTemperature,
  cDewpoint,
  cRelativeHumidity,
  cStationPressure,
  cMslPressure,
  cWindDirection,
  cWindSpeed,
  cWindGust,
  cVisibility,
  cPrecipitation,
  cPrecipitationPeriod,
  cPlatform,
  cMessageIndex,
  cSubsetIndex,
  cMasterTable,
  cTemplate,
  cWarning,
  kColumnCount
};

struct ColumnName {
  Column slot;
  const char* name;
};
constexpr ColumnName kColumns[] = {
    {cWsi, "wigos_station_identifier"},
    {cBlock, "block_number"},
    {cStation, "station_number"},
    {cName, "station_name"},
    {cLatitude, "latitude"},
    {cLongitude, "longitude"},
    {cHeight, "station_height"},
    {cObservedAt, "observed_at"},
    {cAirTemperature, "air_temperature"},
    {cDewpoint, "dewpoint_temperature"},
    {cRelativeHumidity, "relative_humidity"},
    {cStationPressure, "station_pressure"},
    {cMslPressure, "msl_pressure"},
    {cWindDirection, "wind_direction"},
    {cWindSpeed, "wind_speed"},
    {cWindGust, "wind_gust"},
    {cVisibility, "visibility"},
    {cPrecipitation, "precipitation"},
    {cPrecipitationPeriod, "precipitation_period"},
    {cPlatform, "platform_identifier"},
    {cMessageIndex, "message_index"},
    {cSubsetIndex, "subset_index"},
    {cMasterTable, "master_table_version"},
    {cTemplate, "template"},
    {cWarning, "warning"},
};
static_assert(std::size(kColumns) == kColumnCount && listed_in_order(kColumns),
              "kColumns: one entry per Column, in order");
static_assert(kColumnCount <= 32, "RowWriter keeps the written columns in 32 bits");

// Where the fields of one subset live: ranked keys ("#3#airTemperature"), "" when absent.
// Unit factors are nullopt when only the key's units attribute can tell; they are then looked
// up when a value is actually used (most amounts and gusts of a subset are never read).
struct PrecipitationRef {
  std::string amount_key, period_key;  // period_key "" when no time period precedes it
  std::optional<double> period_to_hours;
};
struct GustRef {
  std::string key;
  std::optional<double> to_m_per_s;
};
struct SubsetPlan {
  std::array<std::string, kSlotCount> slot;
  std::vector<PrecipitationRef> precipitation;
  std::vector<GustRef> gusts;
};

bool is_text_slot(int s) {
  return s == kWigosLocal || s == kName || s == kLongName || s == kShipId;
}

double hours_factor(std::string_view units) {
  if (units == "min") return 1.0 / 60;
  if (units == "s") return 1.0 / 3600;
  if (units == "d") return 24;
  if (units == "h") return 1;
  return 0;  // years, months: not an hour count
}
double speed_factor(std::string_view units) {
  if (units == "km/h") return 1 / 3.6;
  if (units == "kt") return 0.514444;
  return 1;
}

std::string units_of(codes_handle* h, const std::string& key) {
  char units[32] = {0};
  size_t len = sizeof units;
  const std::string attr = key + "->units";
  if (codes_get_string(h, attr.c_str(), units, &len) != 0) return {};
  return std::string(units, strnlen(units, sizeof units));
}

double period_factor(codes_handle* h, const PrecipitationRef& r) {
  return r.period_to_hours ? *r.period_to_hours : hours_factor(units_of(h, r.period_key));
}
double gust_factor(codes_handle* h, const GustRef& g) {
  return g.to_m_per_s ? *g.to_m_per_s : speed_factor(units_of(h, g.key));
}

// The units of the descriptors ecCodes names "timePeriod" (nullptr for any other descriptor).
const char* time_period_units(long code) {
  switch (code) {
    case 4021:
      return "a";
    case 4022:
      return "mon";
    case 4023:
    case 4073:
      return "d";
    case 4024:
    case 4074:
      return "h";
    case 4025:
    case 4075:
      return "min";
    case 4026:
    case 4086:
      return "s";
    default:
      return nullptr;
  }
}

std::string ranked(long rank, std::string_view name) {
  std::string k = "#" + std::to_string(rank) + "#";
  k += name;
  return k;
}

// Plan from a walk of the data-section keys (one subset's slice of it).
SubsetPlan plan_from_keys(const std::vector<std::string>& keys, std::size_t begin, std::size_t end) {
  SubsetPlan plan;
  const auto& table = slot_table();
  const std::string* last_time_period = nullptr;
  for (std::size_t i = begin; i < end; ++i) {
    const auto name = bare_name(keys[i]);
    if (name == "timePeriod") {
      last_time_period = &keys[i];
    } else if (name == "totalPrecipitationOrTotalWaterEquivalent") {
      plan.precipitation.push_back({keys[i], last_time_period ? *last_time_period : std::string(), std::nullopt});
    } else if (name == "maximumWindGustSpeed") {
      plan.gusts.push_back({keys[i], std::nullopt});
    } else if (const auto it = table.find(name); it != table.end() && plan.slot[it->second].empty()) {
      plan.slot[it->second] = keys[i];
    }
  }
  return plan;
}

// Plan for a single-subset or compressed message without walking the keys (the walk costs
// as much as the unpack for big templates): ranks count per message there, so the first
// occurrence is rank 1, and the order of time periods, amounts and gusts comes from the
// expanded descriptors. Returns nothing when the descriptor counts do not match ecCodes'
// ranks; the caller then walks the keys.
std::optional<SubsetPlan> plan_from_descriptors(codes_handle* h) {
  size_t n = 0;
  if (codes_get_size(h, "expandedDescriptors", &n) != 0 || n == 0) return std::nullopt;
  std::vector<long> d(n);
  if (codes_get_long_array(h, "expandedDescriptors", d.data(), &n) != 0) return std::nullopt;
  SubsetPlan plan;
  for (const auto& [name, slot] : slot_table()) plan.slot[slot] = ranked(1, name);
  long periods = 0, amounts = 0, gusts = 0;
  long last_period = 0;
  double last_period_hours = 1;
  for (size_t i = 0; i < n; ++i) {
    const long c = d[i];
    if (const char* units = time_period_units(c)) {
      last_period = ++periods;
      last_period_hours = hours_factor(units);
    } else if (c == 13011) {
      ++amounts;
      PrecipitationRef ref{ranked(amounts, "totalPrecipitationOrTotalWaterEquivalent"), "", last_period_hours};
      if (last_period > 0) ref.period_key = ranked(last_period, "timePeriod");
      plan.precipitation.push_back(std::move(ref));
    } else if (c == 11041 || c == 11085 || c == 11086) {  // m/s, km/h, kt
      ++gusts;
      plan.gusts.push_back({ranked(gusts, "maximumWindGustSpeed"), speed_factor(c == 11085   ? "km/h"
                                                                                : c == 11086 ? "kt"
                                                                                             : "m/s")});
    }
  }
  // The counts must be exactly the ranks ecCodes has.
  for (const auto& [count, name] : {std::pair<long, const char*>{periods, "timePeriod"},
                                    {amounts, "totalPrecipitationOrTotalWaterEquivalent"},
                                    {gusts, "maximumWindGustSpeed"}}) {
    if (count > 0 && !codes_is_defined(h, ranked(count, name).c_str())) return std::nullopt;
    if (codes_is_defined(h, ranked(count + 1, name).c_str())) return std::nullopt;
  }
  return plan;
}

// Integer rounding without a libm call: adding and subtracting 1.5 * 2^52 leaves x rounded to
// an integer (half to even) in the default rounding mode. Valid for |x| < 2^51.
double round_integer(double x) noexcept {
  constexpr double kShift = 6755399441055744.0;
  return (x + kShift) - kShift;
}

// Values between reading and records are plain doubles with NaN for missing: the decoder
// handles tens of fields per subset and thousands of subsets per message, and optionals
// (returned through the stack) cost more per value than the rest of the work.
constexpr double kNone = std::numeric_limits<double>::quiet_NaN();

double checked(double v) noexcept {
  return is_missing(v) ? kNone : round_to_encoded(v);
}

double get_number(codes_handle* h, const std::string& key) {
  double v = CODES_MISSING_DOUBLE;
  if (key.empty() || codes_get_double(h, key.c_str(), &v) != 0) return kNone;
  return checked(v);
}

std::optional<std::string> get_text(codes_handle* h, const std::string& key) {
  if (key.empty()) return std::nullopt;
  char buf[1024];  // operator 208 widens strings to at most 255 characters
  size_t len = sizeof buf;
  if (codes_get_string(h, key.c_str(), buf, &len) != 0) return std::nullopt;
  return clean_text(std::string_view(buf, strnlen(buf, std::min(len, sizeof buf))));
}

const std::optional<std::string> kNoText;

// The whole number a value holds; false when it is missing or too large for a double to hold
// whole numbers exactly.
bool to_integer(double v, std::int64_t& out) noexcept {
  if (!(std::fabs(v) <= 9.0e15)) return false;  // NaN as well
  out = static_cast<std::int64_t>(v);
  if (static_cast<double>(out) != v) out = std::llround(v);  // codes and dates are whole already
  return true;
}

// The slots read as whole numbers (identifiers, date and time).
bool is_integer_slot(int s) {
  switch (s) {
    case kWigosSeries:
    case kWigosIssuer:
    case kWigosIssue:
    case kBlock:
    case kStation:
    case kBuoyId:
    case kMarineId:
    case kYear:
    case kMonth:
    case kDay:
    case kHour:
    case kMinute:
    case kSecond:
      return true;
    default:
      return false;
  }
}

// A precipitation amount and its period in hours (NaN when absent or not an hour count).
struct Precipitation {
  double amount = kNone, hours = kNone;
};

// Uncompressed: the values of one subset, read key by key (every subset has its own ranked
// keys). add_record() reads them through number(), text(), precipitation() and gust().
class SubsetValues {
 public:
  SubsetValues(codes_handle* h, const SubsetPlan& p) {
    num_.fill(kNone);
    for (int s = 0; s < kSlotCount; ++s) {
      if (is_text_slot(s))
        text_[s] = get_text(h, p.slot[s]);
      else
        num_[s] = get_number(h, p.slot[s]);
    }
    for (const auto& ref : p.precipitation) {
      precipitation_.amount = get_number(h, ref.amount_key);
      if (std::isnan(precipitation_.amount)) continue;
      const double period = get_number(h, ref.period_key);
      const double f = std::isnan(period) ? 0 : period_factor(h, ref);
      if (f > 0) precipitation_.hours = period * f;
      break;
    }
    for (const auto& g : p.gusts) {
      if (const double speed = get_number(h, g.key); !std::isnan(speed)) {
        gust_ = speed * gust_factor(h, g);
        break;
      }
    }
  }

  double number(Slot s) const { return num_[s]; }
  bool integer(Slot s, std::int64_t& out) const { return to_integer(num_[s], out); }
  const std::optional<std::string>& text(Slot s) const { return text_[s]; }
  std::optional<std::string> take_text(Slot s) { return std::move(text_[s]); }
  /// The first reported amount.
  Precipitation precipitation() const { return precipitation_; }
  double gust() const { return gust_; }

 private:
  std::array<double, kSlotCount> num_;
  std::array<std::optional<std::string>, kSlotCount> text_;
  Precipitation precipitation_;
  double gust_ = kNone;
};

// Compressed: one array per key across the subsets, of size 1 when the value is the same in
// every subset. A 2147-subset message reads about 40 such columns once, then makes records
// from them by index.
class Columns {
 public:
  Columns(codes_handle* h, const SubsetPlan& p, long nsubsets) : scratch_(static_cast<std::size_t>(nsubsets)) {
    for (int s = 0; s < kSlotCount; ++s) {
      if (is_text_slot(s))
        text_[s] = read_texts(h, p.slot[s]);
      else if (is_integer_slot(s))
        int_[s] = to_integers(read_numbers(h, p.slot[s]));
      else
        num_[s] = read_numbers(h, p.slot[s]);
    }
    for (const auto& ref : p.precipitation)
      precipitation_.push_back({read_numbers(h, ref.amount_key), read_numbers(h, ref.period_key),
                                ref.period_key.empty() ? 0 : period_factor(h, ref)});
    for (const auto& g : p.gusts) gusts_.push_back({read_numbers(h, g.key), gust_factor(h, g)});
  }

  /// One subset seen through the same accessors as SubsetValues.
  class Row {
   public:
    Row(Columns& c, std::size_t i) : c_(c), i_(i) {}
    double number(Slot s) const { return c_.num_[s].at(i_); }
    bool integer(Slot s, std::int64_t& out) const {
      const std::int64_t v = c_.int_[s].at(i_);
      if (v == IntegerColumn::kMissing) return false;
      out = v;
      return true;
    }
    const std::optional<std::string>& text(Slot s) const {
      const auto& column = c_.text_[s];
      if (column.empty()) return kNoText;
      return column.size() == 1 ? column[0] : i_ < column.size() ? column[i_] : kNoText;
    }
    // Each row is made once: a per-subset string moves into its record, a shared one is copied.
    std::optional<std::string> take_text(Slot s) {
      auto& column = c_.text_[s];
      if (column.size() > 1 && i_ < column.size()) return std::move(column[i_]);
      return text(s);
    }
    Precipitation precipitation() const {
      for (const auto& p : c_.precipitation_) {
        const double amount = p.amount.at(i_);
        if (std::isnan(amount)) continue;
        return {amount, p.period_to_hours > 0 ? p.period.at(i_) * p.period_to_hours : kNone};
      }
      return {};
    }
    double gust() const {
      for (const auto& g : c_.gusts_)
        if (const double speed = g.speed.at(i_); !std::isnan(speed)) return speed * g.to_m_per_s;
      return kNone;
    }

   private:
    Columns& c_;
    std::size_t i_;
  };

 private:
  struct NumberColumn {
    std::vector<double> values;  // NaN: missing
    double at(std::size_t i) const noexcept {
      if (values.size() == 1) return values[0];
      return i < values.size() ? values[i] : kNone;
    }
  };
  // Identifiers, dates and times, converted once per column rather than once per record.
  struct IntegerColumn {
    static constexpr std::int64_t kMissing = std::numeric_limits<std::int64_t>::min();
    std::vector<std::int64_t> values;
    std::int64_t at(std::size_t i) const noexcept {
      if (values.size() == 1) return values[0];
      return i < values.size() ? values[i] : kMissing;
    }
  };
  using TextColumn = std::vector<std::optional<std::string>>;

  static IntegerColumn to_integers(const NumberColumn& numbers) {
    IntegerColumn out;
    out.values.resize(numbers.values.size());
    for (std::size_t i = 0; i < numbers.values.size(); ++i)
      if (!to_integer(numbers.values[i], out.values[i])) out.values[i] = IntegerColumn::kMissing;
    return out;
  }

  // Values come as (raw + reference) * 10^-scale with binary noise; rounding to the element's
  // decimal scale gives back the encoded decimal with one multiplication. The scale attribute
  // covers operator 202; a value that is not on that grid is rounded by significant digits.
  NumberColumn read_numbers(codes_handle* h, const std::string& key) {
    NumberColumn out;
    size_t n = scratch_.size();
    if (key.empty() || codes_get_double_array(h, key.c_str(), scratch_.data(), &n) != 0 || n == 0) return out;
    out.values.resize(n);
    long scale = 0;
    const bool scaled =
        n > 1 && codes_get_long(h, (key + "->scale").c_str(), &scale) == 0 && scale >= -22 && scale <= 22;
    const double p = kPowersOfTen[static_cast<std::size_t>(scaled ? std::labs(scale) : 0)];
    for (size_t i = 0; i < n; ++i) {
      const double v = scratch_[i];
      if (is_missing(v)) {
        out.values[i] = kNone;
        continue;
      }
      if (scaled) {
        const double x = scale > 0 ? v * p : scale < 0 ? v / p : v;
        const double r = round_integer(x);
        if (std::fabs(x) < 1e15 && std::fabs(r - x) < 1e-6) {
          out.values[i] = scale > 0 ? r / p : scale < 0 ? r * p : r;
          continue;
        }
      }
      out.values[i] = round_to_encoded(v);
    }
    return out;
  }

  TextColumn read_texts(codes_handle* h, const std::string& key) {
    TextColumn out;
    size_t n = 0;
    if (key.empty() || codes_get_size(h, key.c_str(), &n) != 0 || n == 0) return out;
    std::vector<char*> raw(n, nullptr);
    if (codes_get_string_array(h, key.c_str(), raw.data(), &n) == 0) {
      out.reserve(n);
      for (size_t i = 0; i < n && i < raw.size(); ++i) out.push_back(raw[i] ? clean_text(raw[i]) : std::nullopt);
    }
    for (char* p : raw) std::free(p);
    return out;
  }

  struct PrecipitationColumns {
    NumberColumn amount, period;
    double period_to_hours;
  };
  struct Gust {
    NumberColumn speed;
    double to_m_per_s;
  };
  std::vector<double> scratch_;  // one value per subset, reused for every key
  std::array<NumberColumn, kSlotCount> num_;
  std::array<IntegerColumn, kSlotCount> int_;
  std::array<TextColumn, kSlotCount> text_;
  std::vector<PrecipitationColumns> precipitation_;
  std::vector<Gust> gusts_;
};

// Fills a batch row's values in schema order. They start null, so only present values are
// written: surface_obs rows are often half empty. A present value is constructed over the
// null in place: destroying a null variant does nothing, so this skips the variant's
// destroy-the-old-alternative dispatch, which costs as much as the store itself.
class RowWriter {
 public:
  explicit RowWriter(FieldValue* row) : row_(row) {}
  void number(Column c, double v) {
    if (!std::isnan(v)) put<double>(c, v);
    written_ |= bit(c);
  }
  void integer(Column c, bool has, std::int64_t v) {
    if (has) put<std::int64_t>(c, v);
    written_ |= bit(c);
  }
  void text(Column c, std::optional<std::string>&& v) {
    if (v) put<std::string>(c, std::move(*v));
    written_ |= bit(c);
  }
  void text(Column c, const std::string& v) {
    put<std::string>(c, v);
    written_ |= bit(c);
  }
  void time(Column c, const std::optional<Timestamp>& v) {
    if (v) put<Timestamp>(c, *v);
    written_ |= bit(c);
  }
  // Hours as a whole number when they are one (-6, not -6.0).
  void hours(Column c, double h) {
    if (!std::isnan(h)) {
      const double r = std::round(h * 1e6) / 1e6;
      if (std::fabs(r - std::round(r)) < 1e-9)
        put<std::int64_t>(c, std::llround(r));
      else
        put<double>(c, r);
    }
    written_ |= bit(c);
  }
  // Every column of the layout was written: a column added to kColumns but not to add_record
  // is an error the first decode reports, not a silently null field.
  void check_complete() const {
    constexpr std::uint32_t all = kColumnCount == 32 ? ~0u : (1u << kColumnCount) - 1;
    if (written_ == all) return;
    for (int c = 0; c < kColumnCount; ++c)
      if (!(written_ & bit(static_cast<Column>(c))))
        throw Error(ErrorCode::internal, std::string("surface_obs row: column ") + kColumns[c].name + " not written");
  }

 private:
  static constexpr std::uint32_t bit(Column c) { return 1u << static_cast<unsigned>(c); }
  template <typename T, typename A>
  void put(Column c, A&& value) {
    FieldValue* slot = row_ + c;
    std::construct_at(slot, std::in_place_type<T>, std::forward<A>(value));  // over a null: see above
  }
  FieldValue* row_;
  std::uint32_t written_ = 0;
};

struct MessageInfo {
  int index = 0;
  std::string template_text;
  long master_table = 0;
  long category = -1;                    // section 1's dataCategory (BUFR Table A); -1 when absent
  std::optional<Timestamp> typical;      // section 1's typical date/time
  mutable std::size_t typical_used = 0;  // subsets that took it (no date/time of their own)
  mutable std::size_t identified = 0;    // subsets with a station or platform identification
};

// The record's note when observed_at came from section 1 (docs/decoders.md).
constexpr const char* kTypicalTimeWarning =
    "observed_at is section 1's typical date/time: the data section has no date/time for this subset";

// Appends one surface_obs record made from a subset's values (SubsetValues or Columns::Row).
// The first slot holding a value: the preferred key, then its fallbacks (docs/decoders.md).
template <typename Values>
double first_of(const Values& v, std::initializer_list<Slot> slots) {
  for (const Slot s : slots)
    if (const double x = v.number(s); !std::isnan(x)) return x;
  return kNone;
}

template <typename Values>
void add_record(RecordBatch& batch, std::vector<Record>& out, Values& v, long subset, const MessageInfo& info) {
  std::int64_t block = 0, station = 0, series = 0, issuer = 0, issue = 0;
  const bool has_block = v.integer(kBlock, block), has_station = v.integer(kStation, station);
  std::optional<std::string> wsi;
  const auto& local = v.text(kWigosLocal);
  if (local && v.integer(kWigosSeries, series) && v.integer(kWigosIssuer, issuer) && v.integer(kWigosIssue, issue)) {
    char prefix[64];  // "series-issuer-issue-", without to_string temporaries (runs per subset)
    char* end = prefix;
    for (const std::int64_t part : {series, issuer, issue}) {
      end = std::to_chars(end, prefix + sizeof prefix - 1, part).ptr;
      *end++ = '-';
    }
    wsi.emplace();
    wsi->reserve(static_cast<std::size_t>(end - prefix) + local->size());
    wsi->append(prefix, end).append(*local);
  } else if (has_block && has_station && block >= 0 && block < 100 && station >= 0 && station < 1000) {
    char derived[32];
    std::snprintf(derived, sizeof derived, "0-20000-0-%02lld%03lld", static_cast<long long>(block),
                  static_cast<long long>(station));
    wsi = derived;
  }
  std::optional<std::string> name = v.take_text(kName);
  if (!name) name = v.take_text(kLongName);
  std::optional<std::string> platform = v.take_text(kShipId);
  for (const Slot s : {kBuoyId, kMarineId}) {
    std::int64_t id = 0;
    if (!platform && v.integer(s, id)) platform = std::to_string(id);
  }

  std::int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  const bool has_time = v.integer(kYear, year) && v.integer(kMonth, month) && v.integer(kDay, day) &&
                        v.integer(kHour, hour) && v.integer(kMinute, minute);
  if (!v.integer(kSecond, second)) second = 0;

  // An amount with its own time period first; else the fixed-period totals, longest first
  // (the 24-hour one was the only fallback before the others were read).
  auto precipitation = v.precipitation();
  for (const auto& [slot, hours] : {std::pair{kPrecip24, -24.0}, std::pair{kPrecip12, -12.0}, std::pair{kPrecip6, -6.0},
                                    std::pair{kPrecip3, -3.0}, std::pair{kPrecip1, -1.0}})
    if (std::isnan(precipitation.amount) && !std::isnan(v.number(slot))) precipitation = {v.number(slot), hours};
  const double gust = v.gust();

  if (wsi || has_block || has_station || name || platform) ++info.identified;
  RowWriter put(batch.next_row());
  put.text(cWsi, std::move(wsi));
  put.integer(cBlock, has_block, block);
  put.integer(cStation, has_station, station);
  put.text(cName, std::move(name));
  put.number(cLatitude, v.number(kLatitude));
  put.number(cLongitude, v.number(kLongitude));
  put.number(cHeight, first_of(v, {kHeight, kHeightOfStation}));
  // No date/time in the data section: section 1's typical one, said so on the record.
  std::optional<Timestamp> observed =
      has_time ? timestamp_from_utc(year, month, day, hour, minute, second) : std::nullopt;
  const bool typical = !has_time && info.typical;
  if (typical) {
    observed = info.typical;
    ++info.typical_used;
  }
  put.time(cObservedAt, observed);
  put.number(cAirTemperature, first_of(v, {kAirTemperature, kAirTemperatureAt2M}));
  put.number(cDewpoint, first_of(v, {kDewpoint, kDewpointAt2M}));
  put.number(cRelativeHumidity, v.number(kRelativeHumidity));
  put.number(cStationPressure, v.number(kStationPressure));
  put.number(cMslPressure, v.number(kMslPressure));
  put.number(cWindDirection, first_of(v, {kWindDirection, kWindDirectionAt10M}));
  put.number(cWindSpeed, first_of(v, {kWindSpeed, kWindSpeedAt10M}));
  put.number(cWindGust, std::isnan(gust) ? gust : round_to_encoded(gust));
  put.number(cVisibility, v.number(kVisibility));
  put.number(cPrecipitation, precipitation.amount);
  put.hours(cPrecipitationPeriod, std::isnan(precipitation.amount) ? kNone : precipitation.hours);
  put.text(cPlatform, std::move(platform));
  put.integer(cMessageIndex, true, info.index);
  put.integer(cSubsetIndex, true, subset + 1);
  put.integer(cMasterTable, true, info.master_table);
  put.text(cTemplate, info.template_text);
  put.text(cWarning, typical ? std::optional<std::string>(kTypicalTimeWarning) : std::nullopt);
  put.check_complete();
  batch.finish_row(out);
}

std::string ecc_error(const char* step, int err, const std::string& detail) {
  std::string m = std::string(step) + ": " + codes_get_error_message(err);
  if (!detail.empty() && detail.find(codes_get_error_message(err)) == std::string::npos) m += " (" + detail + ")";
  return m;
}

// Splits an uncompressed multi-subset key walk into one slice per subset. Each subset starts
// with the same element as the first; when that element also recurs inside a subset, equal
// slices are tried. Returns nothing when neither fits.
std::optional<std::vector<std::size_t>> subset_starts(const std::vector<std::string>& keys, long nsubsets) {
  std::vector<std::size_t> starts;
  if (keys.empty()) return starts;
  const auto first = bare_name(keys[0]);
  for (std::size_t i = 0; i < keys.size(); ++i)
    if (bare_name(keys[i]) == first) starts.push_back(i);
  if (static_cast<long>(starts.size()) == nsubsets) return starts;
  if (keys.size() % static_cast<std::size_t>(nsubsets) == 0) {
    const std::size_t step = keys.size() / static_cast<std::size_t>(nsubsets);
    starts.clear();
    for (long s = 0; s < nsubsets; ++s) {
      const std::size_t at = static_cast<std::size_t>(s) * step;
      if (bare_name(keys[at]) != first) return std::nullopt;
      starts.push_back(at);
    }
    return starts;
  }
  return std::nullopt;
}

std::vector<std::string> data_keys(codes_handle* h) {
  std::vector<std::string> keys;
  std::unique_ptr<bufr_keys_iterator, IteratorDeleter> it(codes_bufr_data_section_keys_iterator_new(h));
  if (!it) return keys;
  while (codes_bufr_keys_iterator_next(it.get())) {
    const char* name = codes_bufr_keys_iterator_get_name(it.get());
    if (name) keys.emplace_back(name);
  }
  return keys;
}

// A replication 1XXYYY repeats the next XX descriptors (after the 031YYY factor when YYY is
// 0, delayed): those must exist, and a delayed replication needs its factor descriptor.
std::optional<std::string> replication_problem(const std::vector<long>& d) {
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (d[i] / 100000 != 1) continue;
    const auto x = static_cast<std::size_t>((d[i] / 1000) % 100);
    const bool delayed = d[i] % 1000 == 0;
    if (delayed && (i + 1 >= d.size() || d[i + 1] / 1000 != 31))
      return "delayed replication " + std::to_string(d[i]) + " at position " + std::to_string(i + 1) +
             " has no 031 factor after it";
    const std::size_t first = i + 1 + (delayed ? 1 : 0);
    if (x == 0 || first + x > d.size())
      return "replication " + std::to_string(d[i]) + " at position " + std::to_string(i + 1) + " covers " +
             std::to_string(x) + " descriptors but " + std::to_string(d.size() - std::min(first, d.size())) + " follow";
  }
  return std::nullopt;
}

// BUFR Table A categories that never hold station or platform observations at the surface:
// soundings, upper-air single level, radar, satellite data, oceanographic profiles, images.
const char* non_surface_category(long category) {
  switch (category) {
    case 2:
      return "vertical soundings (other than satellite)";
    case 3:
      return "vertical soundings (satellite)";
    case 4:
      return "single level upper-air data (other than satellite)";
    case 5:
      return "single level upper-air data (satellite)";
    case 6:
      return "radar data";
    case 12:
      return "surface data (satellite)";
    case 21:
    case 22:
    case 23:
    case 24:
    case 25:
    case 26:
    case 27:
    case 28:
    case 29:
    case 30:
      return "satellite data";
    case 31:
      return "oceanographic data";
    case 101:
      return "image data (satellite)";
    default:
      return nullptr;
  }
}

std::string not_surface_observation(const MessageInfo& info) {
  std::string m = "not a surface observation (category " + std::to_string(info.category);
  if (const char* what = non_surface_category(info.category)) m += std::string(": ") + what;
  return m + ", template " + (info.template_text.empty() ? std::string("unknown") : info.template_text) + ")";
}

// Section 1's typical date/time (ecCodes computes typicalYear for edition 3 too).
std::optional<Timestamp> typical_time(codes_handle* h) {
  long parts[6] = {0, 0, 0, 0, 0, 0};
  const char* keys[6] = {"typicalYear", "typicalMonth", "typicalDay", "typicalHour", "typicalMinute", "typicalSecond"};
  for (int i = 0; i < 6; ++i)
    if (codes_get_long(h, keys[i], &parts[i]) != 0) {
      if (i < 5) return std::nullopt;
      parts[i] = 0;  // edition 3 has no seconds
    }
  return timestamp_from_utc(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5]);
}

void decode_subsets(const char* data, std::size_t size, int index, const BufrOptions& options, BufrResult& out,
                    MessageInfo& info) {
  std::string log;
  t_log_capture = &log;
  struct Reset {
    ~Reset() { t_log_capture = nullptr; }
  } reset;
  const auto fail = [&](std::string message) { out.errors.push_back({index, std::move(message)}); };

  HandlePtr h(codes_handle_new_from_message(nullptr, data, size));
  if (!h) return fail("read: not a decodable BUFR message" + (log.empty() ? std::string() : " (" + log + ")"));

  info.index = index;
  long nsubsets = 0, compressed = 0;
  codes_get_long(h.get(), "masterTablesVersionNumber", &info.master_table);
  codes_get_long(h.get(), "dataCategory", &info.category);
  info.typical = typical_time(h.get());
  if (int err = codes_get_long(h.get(), "numberOfSubsets", &nsubsets); err != 0)
    return fail(ecc_error("header", err, log));
  codes_get_long(h.get(), "compressedData", &compressed);
  if (nsubsets <= 0) return fail("header: message declares no subsets");
  if (nsubsets > options.max_subsets)
    return fail("header: refused: " + std::to_string(nsubsets) + " subsets is over the limit of " +
                std::to_string(options.max_subsets));
  {
    size_t n = 0;
    if (codes_get_size(h.get(), "unexpandedDescriptors", &n) == 0 && n > 0) {
      std::vector<long> d(n);
      if (codes_get_long_array(h.get(), "unexpandedDescriptors", d.data(), &n) == 0) {
        d.resize(n);
        for (size_t i = 0; i < n; ++i) {
          char code[16];
          std::snprintf(code, sizeof code, "%06ld", d[i]);
          if (i) info.template_text += ',';
          info.template_text += code;
        }
        // ecCodes recurses without end on some malformed replications (a fuzzed message
        // overflowed the stack): check their ranges before it expands them.
        if (auto why = replication_problem(d)) return fail("header: malformed descriptors: " + *why);
      }
    }
  }

  // Soundings, satellite swaths and the like are not unpacked at all (docs/decoders.md).
  if (non_surface_category(info.category)) return fail(not_surface_observation(info));

  const int newest = library().newest_master_table;
  if (newest > 0 && info.master_table > newest) {
    if (!options.fallback_master_table)
      return fail("unpack: master table version " + std::to_string(info.master_table) +
                  " is newer than the installed tables (" + std::to_string(newest) + ")");
    HandlePtr copy(codes_handle_new_from_message_copy(nullptr, data, size));
    if (!copy || codes_set_long(copy.get(), "masterTablesVersionNumber", newest) != 0)
      return fail("unpack: could not fall back to master table version " + std::to_string(newest));
    h = std::move(copy);
    out.warnings.push_back({index, "master table version " + std::to_string(info.master_table) +
                                       " is newer than the installed tables; decoded with version " +
                                       std::to_string(newest)});
  }
  {
    // A failed expansion leaves the handle unusable (ecCodes crashes in the unpack after it).
    size_t expanded = 0;
    if (int err = codes_get_size(h.get(), "expandedDescriptors", &expanded); err != 0)
      return fail(ecc_error("unpack", err, log));
    if (static_cast<double>(expanded) * static_cast<double>(nsubsets) >
        static_cast<double>(options.max_expanded_values))
      return fail("unpack: refused: " + std::to_string(nsubsets) + " subsets x " + std::to_string(expanded) +
                  " expanded descriptors is over the limit of " + std::to_string(options.max_expanded_values) +
                  " values");
  }

  if (int err = codes_set_long(h.get(), "unpack", 1); err != 0) return fail(ecc_error("unpack", err, log));

  if (compressed != 0 || nsubsets == 1) {
    auto plan = plan_from_descriptors(h.get());
    if (!plan) {
      const auto keys = data_keys(h.get());
      plan = plan_from_keys(keys, 0, keys.size());
    }
    if (compressed == 0) {
      SubsetValues values(h.get(), *plan);
      RecordBatch batch(surface_obs_schema(), 1);
      add_record(batch, out.records, values, 0, info);
      return;
    }
    Columns columns(h.get(), *plan, nsubsets);
    // Everything is read: free ecCodes' unpacked message before the records are made, so the
    // two never take memory at the same time.
    h.reset();
    out.records.reserve(out.records.size() + static_cast<std::size_t>(nsubsets));
    RecordBatch batch(surface_obs_schema(), static_cast<std::size_t>(nsubsets));
    for (long s = 0; s < nsubsets; ++s) {
      Columns::Row row(columns, static_cast<std::size_t>(s));
      add_record(batch, out.records, row, s, info);
    }
    return;
  }
  // Uncompressed with several subsets: ranks run across subsets, so walk the keys and cut the
  // walk into one slice per subset.
  const auto keys = data_keys(h.get());
  const auto starts = subset_starts(keys, nsubsets);
  if (!starts) return fail("unpack: cannot locate the " + std::to_string(nsubsets) + " subsets in the data section");
  RecordBatch batch(surface_obs_schema(), static_cast<std::size_t>(nsubsets));
  for (long s = 0; s < nsubsets; ++s) {
    const std::size_t begin = (*starts)[static_cast<std::size_t>(s)];
    const std::size_t end = s + 1 < nsubsets ? (*starts)[static_cast<std::size_t>(s + 1)] : keys.size();
    SubsetValues values(h.get(), plan_from_keys(keys, begin, end));
    add_record(batch, out.records, values, s, info);
  }
}

// One message: its surface_obs records, or one error entry. A message of a category that may
// hold anything (not 0 land or 1 sea surface) is a surface observation only when a subset
// names its station or platform; else its records (a position and a time each) are dropped.
void decode_message(const char* data, std::size_t size, int index, const BufrOptions& options, BufrResult& out) {
  const std::size_t first = out.records.size();
  MessageInfo info;
  decode_subsets(data, size, index, options, out, info);
  if (out.records.size() == first) return;
  if (info.category != 0 && info.category != 1 && info.identified == 0) {
    out.records.erase(out.records.begin() + static_cast<std::ptrdiff_t>(first), out.records.end());
    out.errors.push_back({index, not_surface_observation(info)});
    return;
  }
  if (info.typical_used > 0)
    out.warnings.push_back({index, std::to_string(info.typical_used) + " of " +
                                       std::to_string(out.records.size() - first) +
                                       " subsets have no date/time in the data section: observed_at is section "
                                       "1's typical date/time, " +
                                       format_rfc3339(*info.typical)});
}

std::uint32_t be24(const unsigned char* p) noexcept {
  return (static_cast<std::uint32_t>(p[0]) << 16) | (static_cast<std::uint32_t>(p[1]) << 8) | p[2];
}

}  // namespace

const std::vector<std::string>& surface_obs_fields() {
  static const std::vector<std::string> fields = [] {
    std::vector<std::string> names;
    for (const auto& c : kColumns) names.emplace_back(c.name);
    return names;
  }();
  return fields;
}

int bufr_newest_master_table() {
  return library().newest_master_table;
}

namespace {

// The framing of sections 1 to 4, each one's declared length within the message (before
// "7777"); "" when they fit. Edition 4 has the optional-section flag at byte 10 of
// section 1, editions 2 and 3 at byte 8.
std::string section_overrun(const unsigned char* m, std::size_t length, unsigned edition) {
  const std::size_t end = length - 4;
  std::size_t at = 8;
  const auto section = [&](int number, std::size_t minimum) -> std::string {
    if (at + 3 > end) return "section " + std::to_string(number) + " starts past the end of the message";
    const std::size_t n = be24(m + at);
    if (n < minimum || n > end - at)
      return "section " + std::to_string(number) + " declares " + std::to_string(n) + " bytes, " +
             std::to_string(end - at) + " remain in the message";
    at += n;
    return {};
  };
  const std::size_t s1 = at;
  if (auto why = section(1, edition == 4 ? 22 : 17); !why.empty()) return why;
  const bool has_section2 = (m[s1 + (edition == 4 ? 9 : 7)] & 0x80) != 0;
  if (has_section2)
    if (auto why = section(2, 4); !why.empty()) return why;
  if (auto why = section(3, 7); !why.empty()) return why;
  return section(4, 4);
}

}  // namespace

BufrResult decode_bufr(std::string_view bytes, const BufrOptions& options) {
  library();
  BufrResult out;
  if (bytes.size() > options.max_input_bytes) {
    out.errors.push_back({1, "input is " + std::to_string(bytes.size()) + " bytes, more than the limit of " +
                                 std::to_string(options.max_input_bytes)});
    return out;
  }
  const auto* base = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t pos = 0;
  int index = 0;
  while (pos + 4 <= bytes.size()) {
    const auto at = bytes.find("BUFR", pos);
    if (at == std::string_view::npos) break;
    ++index;
    const std::size_t remain = bytes.size() - at;
    const auto fail = [&](std::string message) {
      out.errors.push_back({index, std::move(message)});
      pos = at + 4;  // look for the next message after this false start
    };
    if (remain < 8) {
      fail("read: end of input reached inside the message (" + std::to_string(remain) + " bytes after \"BUFR\")");
      continue;
    }
    const unsigned edition = base[at + 7];
    if (edition < 2 || edition > 4) {
      fail("read: edition " + std::to_string(edition) + " not supported");
      continue;
    }
    const std::size_t length = be24(base + at + 4);
    if (length < 16) {
      fail("read: wrong message length (" + std::to_string(length) + ")");
      continue;
    }
    if (length > remain) {
      fail("read: end of input reached inside the message (declares " + std::to_string(length) + " bytes, " +
           std::to_string(remain) + " available)");
      continue;
    }
    if (bytes.compare(at + length - 4, 4, "7777") != 0) {
      fail("read: wrong message length (no end section \"7777\" at the declared length " + std::to_string(length) +
           ")");
      continue;
    }
    // Every section inside the message: ecCodes follows a section 4 that claims megabytes
    // of a 136-byte message into gigabytes of allocations (found by fuzz_bufr).
    if (const auto why = section_overrun(base + at, length, edition); !why.empty()) {
      fail("read: " + why);
      continue;
    }
    decode_message(bytes.data() + at, length, index, options, out);
    pos = at + length;
  }
  out.messages = index;
  if (index == 0) out.errors.push_back({1, "read: no BUFR message found in the input"});
  return out;
}

BufrResult decode_bufr_file(const std::string& path, const BufrOptions& options) {
  // Refuse an oversized file before reading it, not after.
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > options.max_input_bytes) {
    BufrResult out;
    out.errors.push_back({1, "input is " + std::to_string(size) + " bytes, more than the limit of " +
                                 std::to_string(options.max_input_bytes)});
    return out;
  }
  return decode_bufr(detail::read_file(path), options);
}

}  // namespace wis2mon
