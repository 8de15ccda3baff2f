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
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "common/encoding.hpp"
#include "common/file.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon {
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

// ecCodes computes value = (raw + reference) * 10^-scale, which leaves binary noise
// (36.794000000000007). BUFR values carry at most 10 significant digits, so rounding to 12
// gives back the decimal that was encoded; n / 10^k is exact-rounded because both are exact.
double round_to_encoded(double v) noexcept {
  if (v == 0 || !std::isfinite(v)) return v;
  // 10^0 .. 10^23; the decimal exponent comes from the binary one (log10 costs more than the
  // rest of the rounding, and this runs for every value of every subset).
  static const auto powers = [] {
    std::array<double, 24> p{};
    p[0] = 1;
    for (std::size_t i = 1; i < p.size(); ++i) p[i] = p[i - 1] * 10;
    return p;
  }();
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
  std::string s = detail::to_valid_utf8(raw);
  const auto blank = [](char c) { return c == ' ' || c == '\0' || c == '\t'; };
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

// The single-occurrence fields, in the order of the lookup table below.
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
  kSlotCount
};

const std::unordered_map<std::string_view, Slot>& slot_table() {
  static const std::unordered_map<std::string_view, Slot> table = {
      {"wigosIdentifierSeries", kWigosSeries},
      {"wigosIssuerOfIdentifier", kWigosIssuer},
      {"wigosIssueNumber", kWigosIssue},
      {"wigosLocalIdentifierCharacter", kWigosLocal},
      {"blockNumber", kBlock},
      {"stationNumber", kStation},
      {"stationOrSiteName", kName},
      {"longStationName", kLongName},
      {"shipOrMobileLandStationIdentifier", kShipId},
      {"buoyOrPlatformIdentifier", kBuoyId},
      {"marineObservingPlatformIdentifier", kMarineId},
      {"latitude", kLatitude},
      {"longitude", kLongitude},
      {"heightOfStationGroundAboveMeanSeaLevel", kHeight},
      {"year", kYear},
      {"month", kMonth},
      {"day", kDay},
      {"hour", kHour},
      {"minute", kMinute},
      {"second", kSecond},
      {"airTemperature", kAirTemperature},
      {"dewpointTemperature", kDewpoint},
      {"relativeHumidity", kRelativeHumidity},
      {"nonCoordinatePressure", kStationPressure},
      {"pressureReducedToMeanSeaLevel", kMslPressure},
      {"windDirection", kWindDirection},
      {"windSpeed", kWindSpeed},
      {"horizontalVisibility", kVisibility},
      {"totalPrecipitationPast24Hours", kPrecip24},
  };
  return table;
}

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

// The decoded values of one subset, before they become a record.
struct SubsetValues {
  std::array<std::optional<double>, kSlotCount> num;
  std::array<std::optional<std::string>, kSlotCount> text;
  std::optional<double> precipitation, precipitation_period, gust;
};

std::optional<double> checked(double v) {
  if (is_missing(v)) return std::nullopt;
  return round_to_encoded(v);
}

std::optional<double> get_number(codes_handle* h, const std::string& key) {
  double v = CODES_MISSING_DOUBLE;
  if (key.empty() || codes_get_double(h, key.c_str(), &v) != 0) return std::nullopt;
  return checked(v);
}

std::optional<std::string> get_text(codes_handle* h, const std::string& key) {
  if (key.empty()) return std::nullopt;
  char buf[1024];  // operator 208 widens strings to at most 255 characters
  size_t len = sizeof buf;
  if (codes_get_string(h, key.c_str(), buf, &len) != 0) return std::nullopt;
  return clean_text(std::string_view(buf, strnlen(buf, std::min(len, sizeof buf))));
}

// Uncompressed: every subset has its own ranked keys; read them one by one.
SubsetValues read_subset(codes_handle* h, const SubsetPlan& p) {
  SubsetValues v;
  for (int s = 0; s < kSlotCount; ++s) {
    if (is_text_slot(s))
      v.text[s] = get_text(h, p.slot[s]);
    else
      v.num[s] = get_number(h, p.slot[s]);
  }
  for (const auto& ref : p.precipitation) {
    if ((v.precipitation = get_number(h, ref.amount_key))) {
      const auto period = get_number(h, ref.period_key);
      const double f = period ? period_factor(h, ref) : 0;
      if (f > 0) v.precipitation_period = *period * f;
      break;
    }
  }
  for (const auto& g : p.gusts) {
    if (auto speed = get_number(h, g.key)) {
      v.gust = *speed * gust_factor(h, g);
      break;
    }
  }
  return v;
}

// Compressed: one array per key, of size 1 when the value is the same in every subset.
class Columns {
 public:
  Columns(codes_handle* h, const SubsetPlan& p) {
    for (int s = 0; s < kSlotCount; ++s) {
      if (is_text_slot(s))
        text_[s] = read_texts(h, p.slot[s]);
      else
        num_[s] = read_numbers(h, p.slot[s]);
    }
    for (const auto& ref : p.precipitation)
      precipitation_.push_back({read_numbers(h, ref.amount_key), read_numbers(h, ref.period_key),
                                ref.period_key.empty() ? 0 : period_factor(h, ref)});
    for (const auto& g : p.gusts) gusts_.push_back({read_numbers(h, g.key), gust_factor(h, g)});
  }

  SubsetValues subset(long i) const {
    SubsetValues v;
    for (int s = 0; s < kSlotCount; ++s) {
      if (is_text_slot(s))
        v.text[s] = pick(text_[s], i);
      else
        v.num[s] = pick(num_[s], i);
    }
    for (const auto& p : precipitation_) {
      if ((v.precipitation = pick(p.amount, i))) {
        const auto period = pick(p.period, i);
        if (period && p.period_to_hours > 0) v.precipitation_period = *period * p.period_to_hours;
        break;
      }
    }
    for (const auto& g : gusts_) {
      if (auto speed = pick(g.speed, i)) {
        v.gust = *speed * g.to_m_per_s;
        break;
      }
    }
    return v;
  }

 private:
  template <typename T>
  static T pick(const std::vector<T>& column, long i) {
    if (column.size() == 1) return column[0];
    if (static_cast<std::size_t>(i) < column.size()) return column[static_cast<std::size_t>(i)];
    return T{};
  }

  static std::vector<std::optional<double>> read_numbers(codes_handle* h, const std::string& key) {
    std::vector<std::optional<double>> out;
    size_t n = 0;
    if (key.empty() || codes_get_size(h, key.c_str(), &n) != 0 || n == 0) return out;
    std::vector<double> values(n);
    if (codes_get_double_array(h, key.c_str(), values.data(), &n) != 0) return out;
    out.reserve(n);
    for (size_t i = 0; i < n && i < values.size(); ++i) out.push_back(checked(values[i]));
    return out;
  }

  static std::vector<std::optional<std::string>> read_texts(codes_handle* h, const std::string& key) {
    std::vector<std::optional<std::string>> out;
    size_t n = 0;
    if (key.empty() || codes_get_size(h, key.c_str(), &n) != 0 || n == 0) return out;
    std::vector<char*> raw(n, nullptr);
    if (codes_get_string_array(h, key.c_str(), raw.data(), &n) == 0) {
      for (size_t i = 0; i < n && i < raw.size(); ++i) out.push_back(raw[i] ? clean_text(raw[i]) : std::nullopt);
    }
    for (char* p : raw) std::free(p);
    return out;
  }

  using Column = std::vector<std::optional<double>>;
  struct Precipitation {
    Column amount, period;
    double period_to_hours;
  };
  struct Gust {
    Column speed;
    double to_m_per_s;
  };
  std::array<Column, kSlotCount> num_;
  std::array<std::vector<std::optional<std::string>>, kSlotCount> text_;
  std::vector<Precipitation> precipitation_;
  std::vector<Gust> gusts_;
};

std::optional<std::int64_t> as_integer(std::optional<double> v) {
  if (!v || std::fabs(*v) > 9.0e15) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(*v));
}

FieldValue value_or_null(const std::optional<double>& v) {
  return v ? FieldValue(*v) : FieldValue();
}
FieldValue value_or_null(const std::optional<std::int64_t>& v) {
  return v ? FieldValue(*v) : FieldValue();
}
FieldValue value_or_null(std::optional<std::string>&& v) {
  return v ? FieldValue(std::move(*v)) : FieldValue();
}

FieldValue hours_value(std::optional<double> h) {
  if (!h) return {};
  const double r = std::round(*h * 1e6) / 1e6;
  if (std::fabs(r - std::round(r)) < 1e-9) return static_cast<std::int64_t>(std::llround(r));
  return r;
}

struct MessageInfo {
  int index = 0;
  std::string template_text;
  long master_table = 0;
};

Record make_record(SubsetValues&& v, long subset, const MessageInfo& info) {
  const auto integer = [&](Slot s) { return as_integer(v.num[s]); };
  const auto block = integer(kBlock);
  const auto station = integer(kStation);
  std::optional<std::string> wsi;
  const auto series = integer(kWigosSeries), issuer = integer(kWigosIssuer), issue = integer(kWigosIssue);
  if (series && issuer && issue && v.text[kWigosLocal]) {
    wsi = std::to_string(*series) + "-" + std::to_string(*issuer) + "-" + std::to_string(*issue) + "-" +
          *v.text[kWigosLocal];
  } else if (block && station && *block >= 0 && *block < 100 && *station >= 0 && *station < 1000) {
    char derived[32];
    std::snprintf(derived, sizeof derived, "0-20000-0-%02lld%03lld", static_cast<long long>(*block),
                  static_cast<long long>(*station));
    wsi = derived;
  }
  auto name = std::move(v.text[kName]);
  if (!name) name = std::move(v.text[kLongName]);
  std::optional<std::string> platform = std::move(v.text[kShipId]);
  for (const Slot s : {kBuoyId, kMarineId})
    if (!platform)
      if (const auto id = integer(s)) platform = std::to_string(*id);

  std::optional<Timestamp> observed;
  const auto year = integer(kYear), month = integer(kMonth), day = integer(kDay), hour = integer(kHour),
             minute = integer(kMinute);
  if (year && month && day && hour && minute)
    observed = timestamp_from_utc(*year, *month, *day, *hour, *minute, integer(kSecond).value_or(0));

  static const auto schema = std::make_shared<const RecordSchema>("surface_obs", surface_obs_fields());
  Record rec(schema);
  std::size_t at = 0;
  const auto put = [&](FieldValue value) { rec.value(at++) = std::move(value); };
  // In the order of surface_obs_fields().
  put(value_or_null(std::move(wsi)));
  put(value_or_null(block));
  put(value_or_null(station));
  put(value_or_null(std::move(name)));
  put(value_or_null(v.num[kLatitude]));
  put(value_or_null(v.num[kLongitude]));
  put(value_or_null(v.num[kHeight]));
  put(observed ? FieldValue(*observed) : FieldValue());
  put(value_or_null(v.num[kAirTemperature]));
  put(value_or_null(v.num[kDewpoint]));
  put(value_or_null(v.num[kRelativeHumidity]));
  put(value_or_null(v.num[kStationPressure]));
  put(value_or_null(v.num[kMslPressure]));
  put(value_or_null(v.num[kWindDirection]));
  put(value_or_null(v.num[kWindSpeed]));
  put(value_or_null(v.gust ? std::optional<double>(round_to_encoded(*v.gust)) : std::nullopt));
  put(value_or_null(v.num[kVisibility]));
  if (!v.precipitation && v.num[kPrecip24]) {
    v.precipitation = v.num[kPrecip24];
    v.precipitation_period = -24.0;
  }
  put(value_or_null(v.precipitation));
  put(hours_value(v.precipitation ? v.precipitation_period : std::nullopt));
  put(value_or_null(std::move(platform)));
  put(static_cast<std::int64_t>(info.index));
  put(static_cast<std::int64_t>(subset + 1));
  put(static_cast<std::int64_t>(info.master_table));
  put(info.template_text);
  return rec;
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

void decode_message(const char* data, std::size_t size, int index, const BufrOptions& options, BufrResult& out) {
  std::string log;
  t_log_capture = &log;
  struct Reset {
    ~Reset() { t_log_capture = nullptr; }
  } reset;
  const auto fail = [&](std::string message) { out.errors.push_back({index, std::move(message)}); };

  HandlePtr h(codes_handle_new_from_message(nullptr, data, size));
  if (!h) return fail("read: not a decodable BUFR message" + (log.empty() ? std::string() : " (" + log + ")"));

  MessageInfo info;
  info.index = index;
  long nsubsets = 0, compressed = 0;
  codes_get_long(h.get(), "masterTablesVersionNumber", &info.master_table);
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
      out.records.push_back(make_record(read_subset(h.get(), *plan), 0, info));
      return;
    }
    const Columns columns(h.get(), *plan);
    out.records.reserve(out.records.size() + static_cast<std::size_t>(nsubsets));
    for (long s = 0; s < nsubsets; ++s) out.records.push_back(make_record(columns.subset(s), s, info));
    return;
  }
  // Uncompressed with several subsets: ranks run across subsets, so walk the keys and cut the
  // walk into one slice per subset.
  const auto keys = data_keys(h.get());
  const auto starts = subset_starts(keys, nsubsets);
  if (!starts) return fail("unpack: cannot locate the " + std::to_string(nsubsets) + " subsets in the data section");
  for (long s = 0; s < nsubsets; ++s) {
    const std::size_t begin = (*starts)[static_cast<std::size_t>(s)];
    const std::size_t end = s + 1 < nsubsets ? (*starts)[static_cast<std::size_t>(s + 1)] : keys.size();
    out.records.push_back(make_record(read_subset(h.get(), plan_from_keys(keys, begin, end)), s, info));
  }
}

std::uint32_t be24(const unsigned char* p) noexcept {
  return (static_cast<std::uint32_t>(p[0]) << 16) | (static_cast<std::uint32_t>(p[1]) << 8) | p[2];
}

}  // namespace

const std::vector<std::string>& surface_obs_fields() {
  static const std::vector<std::string> fields = {"wigos_station_identifier",
                                                  "block_number",
                                                  "station_number",
                                                  "station_name",
                                                  "latitude",
                                                  "longitude",
                                                  "station_height",
                                                  "observed_at",
                                                  "air_temperature",
                                                  "dewpoint_temperature",
                                                  "relative_humidity",
                                                  "station_pressure",
                                                  "msl_pressure",
                                                  "wind_direction",
                                                  "wind_speed",
                                                  "wind_gust",
                                                  "visibility",
                                                  "precipitation",
                                                  "precipitation_period",
                                                  "platform_identifier",
                                                  "message_index",
                                                  "subset_index",
                                                  "master_table_version",
                                                  "template"};
  return fields;
}

int bufr_newest_master_table() {
  return library().newest_master_table;
}

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
