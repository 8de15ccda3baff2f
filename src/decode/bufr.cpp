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
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "common/encoding.hpp"
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
  static const auto powers = [] {
    std::array<double, 23> p{};
    p[0] = 1;
    for (std::size_t i = 1; i < p.size(); ++i) p[i] = p[i - 1] * 10;
    return p;
  }();
  const int k = 11 - static_cast<int>(std::floor(std::log10(std::fabs(v))));
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

// Where each field of one subset lives: indexes into the message's key walk.
struct SubsetPlan {
  std::array<int, kSlotCount> slot;
  std::vector<std::pair<int, int>> precipitation;  // (precipitation key, its timePeriod key or -1)
  std::vector<int> gusts;
  SubsetPlan() { slot.fill(-1); }
};

SubsetPlan plan_subset(const std::vector<std::string>& keys, std::size_t begin, std::size_t end) {
  SubsetPlan plan;
  const auto& table = slot_table();
  int last_time_period = -1;
  for (std::size_t i = begin; i < end; ++i) {
    const auto name = bare_name(keys[i]);
    const int idx = static_cast<int>(i);
    if (name == "timePeriod") {
      last_time_period = idx;
    } else if (name == "totalPrecipitationOrTotalWaterEquivalent") {
      plan.precipitation.emplace_back(idx, last_time_period);
    } else if (name == "maximumWindGustSpeed") {
      plan.gusts.push_back(idx);
    } else if (const auto it = table.find(name); it != table.end() && plan.slot[it->second] < 0) {
      plan.slot[it->second] = idx;
    }
  }
  return plan;
}

// Reads values of ranked keys for a subset. Compressed messages return one array per key
// (size 1 when the value is the same in every subset), cached on first use.
class ValueReader {
 public:
  ValueReader(codes_handle* h, bool compressed) : h_(h), compressed_(compressed) {}

  std::optional<double> number(const std::string& key, long subset) {
    double v = CODES_MISSING_DOUBLE;
    if (compressed_) {
      auto it = numbers_.find(key);
      if (it == numbers_.end()) {
        std::vector<double> values;
        size_t n = 0;
        if (codes_get_size(h_, key.c_str(), &n) == 0 && n > 0) {
          values.resize(n);
          if (codes_get_double_array(h_, key.c_str(), values.data(), &n) != 0) values.clear();
          values.resize(std::min(values.size(), static_cast<std::size_t>(n)));
        }
        it = numbers_.emplace(key, std::move(values)).first;
      }
      const auto& values = it->second;
      if (values.size() == 1)
        v = values[0];
      else if (static_cast<std::size_t>(subset) < values.size())
        v = values[static_cast<std::size_t>(subset)];
    } else if (codes_get_double(h_, key.c_str(), &v) != 0) {
      return std::nullopt;
    }
    if (is_missing(v)) return std::nullopt;
    return round_to_encoded(v);
  }

  std::optional<std::string> text(const std::string& key, long subset) {
    if (compressed_) {
      auto it = texts_.find(key);
      if (it == texts_.end()) it = texts_.emplace(key, read_string_array(key)).first;
      const auto& values = it->second;
      if (values.size() == 1) return values[0];
      if (static_cast<std::size_t>(subset) < values.size()) return values[static_cast<std::size_t>(subset)];
      return std::nullopt;
    }
    char buf[256];
    size_t len = sizeof buf;
    if (codes_get_string(h_, key.c_str(), buf, &len) == 0) {
      return clean_text(std::string_view(buf, strnlen(buf, len)));
    }
    // Longer than the stack buffer (operator 208 widens strings): ask for the length.
    if (codes_get_length(h_, key.c_str(), &len) != 0 || len == 0 || len > (1u << 20)) return std::nullopt;
    std::string big(len + 1, '\0');
    len = big.size();
    if (codes_get_string(h_, key.c_str(), big.data(), &len) != 0) return std::nullopt;
    return clean_text(std::string_view(big.data(), strnlen(big.data(), len)));
  }

 private:
  std::vector<std::optional<std::string>> read_string_array(const std::string& key) {
    std::vector<std::optional<std::string>> out;
    size_t n = 0;
    if (codes_get_size(h_, key.c_str(), &n) != 0 || n == 0) return out;
    std::vector<char*> raw(n, nullptr);
    if (codes_get_string_array(h_, key.c_str(), raw.data(), &n) == 0) {
      for (size_t i = 0; i < n && i < raw.size(); ++i) {
        out.push_back(raw[i] ? clean_text(raw[i]) : std::nullopt);
      }
    }
    for (char* p : raw) std::free(p);
    return out;
  }

  codes_handle* h_;
  bool compressed_;
  std::unordered_map<std::string, std::vector<double>> numbers_;
  std::unordered_map<std::string, std::vector<std::optional<std::string>>> texts_;
};

std::optional<std::int64_t> as_integer(std::optional<double> v) {
  if (!v || std::fabs(*v) > 9.0e15) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(*v));
}

FieldValue value_or_null(std::optional<double> v) {
  return v ? FieldValue(*v) : FieldValue();
}
FieldValue value_or_null(std::optional<std::int64_t> v) {
  return v ? FieldValue(*v) : FieldValue();
}
FieldValue value_or_null(std::optional<std::string> v) {
  return v ? FieldValue(std::move(*v)) : FieldValue();
}

// Hours of a timePeriod key: 004024 is in hours, 004025 in minutes, 004026 in seconds; they
// share the key name, so the unit attribute tells them apart.
std::optional<double> period_hours(codes_handle* h, ValueReader& reader, const std::string& key, long subset) {
  const auto v = reader.number(key, subset);
  if (!v) return std::nullopt;
  char units[32] = {0};
  size_t len = sizeof units;
  const std::string attr = key + "->units";
  if (codes_get_string(h, attr.c_str(), units, &len) != 0) return *v;
  const std::string_view u(units, strnlen(units, sizeof units));
  if (u == "min") return *v / 60.0;
  if (u == "s") return *v / 3600.0;
  return *v;
}

FieldValue hours_value(std::optional<double> h) {
  if (!h) return {};
  if (std::fabs(*h - std::round(*h)) < 1e-9) return static_cast<std::int64_t>(std::llround(*h));
  return *h;
}

std::optional<Timestamp> observation_time(ValueReader& r, const std::vector<std::string>& keys, const SubsetPlan& p,
                                          long subset) {
  const auto get = [&](Slot s) -> std::optional<std::int64_t> {
    return p.slot[s] < 0 ? std::nullopt : as_integer(r.number(keys[static_cast<std::size_t>(p.slot[s])], subset));
  };
  const auto year = get(kYear), month = get(kMonth), day = get(kDay), hour = get(kHour), minute = get(kMinute);
  if (!year || !month || !day || !hour || !minute) return std::nullopt;
  const auto second = get(kSecond).value_or(0);
  if (*year < 1 || *year > 9999 || second < 0 || second > 59) return std::nullopt;
  char text[48];
  std::snprintf(text, sizeof text, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", static_cast<long long>(*year),
                static_cast<long long>(*month), static_cast<long long>(*day), static_cast<long long>(*hour),
                static_cast<long long>(*minute), static_cast<long long>(second));
  return parse_rfc3339(text);  // rejects month 13, February 30, hour 25 ...
}

struct MessageInfo {
  int index = 0;
  std::string template_text;
  long master_table = 0;
};

Record make_record(codes_handle* h, ValueReader& r, const std::vector<std::string>& keys, const SubsetPlan& p,
                   long subset, const MessageInfo& info) {
  const auto key = [&](Slot s) -> const std::string* {
    return p.slot[s] < 0 ? nullptr : &keys[static_cast<std::size_t>(p.slot[s])];
  };
  const auto num = [&](Slot s) -> std::optional<double> {
    const auto* k = key(s);
    return k ? r.number(*k, subset) : std::nullopt;
  };
  const auto txt = [&](Slot s) -> std::optional<std::string> {
    const auto* k = key(s);
    return k ? r.text(*k, subset) : std::nullopt;
  };

  const auto block = as_integer(num(kBlock));
  const auto station = as_integer(num(kStation));
  std::optional<std::string> wsi;
  {
    const auto series = as_integer(num(kWigosSeries)), issuer = as_integer(num(kWigosIssuer)),
               issue = as_integer(num(kWigosIssue));
    const auto local = txt(kWigosLocal);
    if (series && issuer && issue && local) {
      wsi = std::to_string(*series) + "-" + std::to_string(*issuer) + "-" + std::to_string(*issue) + "-" + *local;
    } else if (block && station && *block >= 0 && *block < 100 && *station >= 0 && *station < 1000) {
      char derived[32];
      std::snprintf(derived, sizeof derived, "0-20000-0-%02lld%03lld", static_cast<long long>(*block),
                    static_cast<long long>(*station));
      wsi = derived;
    }
  }
  auto name = txt(kName);
  if (!name) name = txt(kLongName);
  std::optional<std::string> platform = txt(kShipId);
  if (!platform) {
    if (auto id = as_integer(num(kBuoyId))) platform = std::to_string(*id);
  }
  if (!platform) {
    if (auto id = as_integer(num(kMarineId))) platform = std::to_string(*id);
  }

  // Precipitation: the first reported amount, with the period it covers.
  std::optional<double> precipitation, precipitation_period;
  for (const auto& [pk, tk] : p.precipitation) {
    if (auto v = r.number(keys[static_cast<std::size_t>(pk)], subset)) {
      precipitation = v;
      if (tk >= 0) precipitation_period = period_hours(h, r, keys[static_cast<std::size_t>(tk)], subset);
      break;
    }
  }
  if (!precipitation) {
    if (auto v = num(kPrecip24)) {
      precipitation = v;
      precipitation_period = -24.0;
    }
  }
  std::optional<double> gust;
  for (const int g : p.gusts) {
    if ((gust = r.number(keys[static_cast<std::size_t>(g)], subset))) break;
  }
  const auto observed = observation_time(r, keys, p, subset);

  Record rec("surface_obs");
  rec.set("wigos_station_identifier", value_or_null(std::move(wsi)));
  rec.set("block_number", value_or_null(block));
  rec.set("station_number", value_or_null(station));
  rec.set("station_name", value_or_null(std::move(name)));
  rec.set("latitude", value_or_null(num(kLatitude)));
  rec.set("longitude", value_or_null(num(kLongitude)));
  rec.set("station_height", value_or_null(num(kHeight)));
  rec.set("observed_at", observed ? FieldValue(*observed) : FieldValue());
  rec.set("air_temperature", value_or_null(num(kAirTemperature)));
  rec.set("dewpoint_temperature", value_or_null(num(kDewpoint)));
  rec.set("relative_humidity", value_or_null(num(kRelativeHumidity)));
  rec.set("station_pressure", value_or_null(num(kStationPressure)));
  rec.set("msl_pressure", value_or_null(num(kMslPressure)));
  rec.set("wind_direction", value_or_null(num(kWindDirection)));
  rec.set("wind_speed", value_or_null(num(kWindSpeed)));
  rec.set("wind_gust", value_or_null(gust));
  rec.set("visibility", value_or_null(num(kVisibility)));
  rec.set("precipitation", value_or_null(precipitation));
  rec.set("precipitation_period", hours_value(precipitation_period));
  rec.set("platform_identifier", value_or_null(std::move(platform)));
  rec.set("message_index", static_cast<std::int64_t>(info.index));
  rec.set("subset_index", static_cast<std::int64_t>(subset + 1));
  rec.set("master_table_version", static_cast<std::int64_t>(info.master_table));
  rec.set("template", info.template_text);
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
  {
    size_t n = 0;
    if (codes_get_size(h.get(), "unexpandedDescriptors", &n) == 0 && n > 0) {
      std::vector<long> d(n);
      if (codes_get_long_array(h.get(), "unexpandedDescriptors", d.data(), &n) == 0) {
        for (size_t i = 0; i < n; ++i) {
          char code[16];
          std::snprintf(code, sizeof code, "%06ld", d[i]);
          if (i) info.template_text += ',';
          info.template_text += code;
        }
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
  if (int err = codes_set_long(h.get(), "unpack", 1); err != 0) return fail(ecc_error("unpack", err, log));

  std::vector<std::string> keys;
  {
    std::unique_ptr<bufr_keys_iterator, IteratorDeleter> it(codes_bufr_data_section_keys_iterator_new(h.get()));
    if (!it) return fail("unpack: cannot iterate the data section");
    while (codes_bufr_keys_iterator_next(it.get())) {
      const char* name = codes_bufr_keys_iterator_get_name(it.get());
      if (name) keys.emplace_back(name);
    }
  }

  ValueReader reader(h.get(), compressed != 0);
  if (compressed != 0 || nsubsets == 1) {
    const auto plan = plan_subset(keys, 0, keys.size());
    for (long s = 0; s < nsubsets; ++s) out.records.push_back(make_record(h.get(), reader, keys, plan, s, info));
    return;
  }
  const auto starts = subset_starts(keys, nsubsets);
  if (!starts) return fail("unpack: cannot locate the " + std::to_string(nsubsets) + " subsets in the data section");
  for (long s = 0; s < nsubsets; ++s) {
    const std::size_t begin = (*starts)[static_cast<std::size_t>(s)];
    const std::size_t end = s + 1 < nsubsets ? (*starts)[static_cast<std::size_t>(s + 1)] : keys.size();
    const auto plan = plan_subset(keys, begin, end);
    out.records.push_back(make_record(h.get(), reader, keys, plan, s, info));
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
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::io, "cannot open " + path + ": " + std::strerror(errno));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(ErrorCode::io, "cannot read " + path);
  return decode_bufr(data, options);
}

}  // namespace wis2mon
