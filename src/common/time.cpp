// RFC 3339 date-times. Written here rather than with std::get_time because that
// ignores offsets and fractions and depends on the C locale.
#include <chrono>
#include <cstdio>

#include "common/time_text.hpp"
#include "wis2mon/time.hpp"

namespace wis2mon {
namespace {

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
}

bool is_leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly n digits at s[pos]; false if any is not a digit or the text is short.
bool digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  unsigned v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  out = v;
  return true;
}

}  // namespace

Timestamp Timestamp::now() noexcept {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return Timestamp{ns / 1000000000, static_cast<std::int32_t>(ns % 1000000000)};
}

std::optional<Timestamp> parse_rfc3339(std::string_view s, Rfc3339Details* details) noexcept {
  // date-fullyear "-" date-month "-" date-mday "T" hh ":" mm ":" ss [frac] offset
  unsigned year, month, day, hour, minute, second;
  if (!digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, month) || s[7] != '-' ||
      !digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, hour) || s[13] != ':' ||
      !digits(s, 14, 2, minute) || s[16] != ':' || !digits(s, 17, 2, second))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;

  std::size_t pos = 19;
  std::int32_t nanos = 0;
  int frac_digits = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (frac_digits < 9) nanos = nanos * 10 + (s[pos] - '0');
      ++frac_digits;
      ++pos;
    }
    if (frac_digits == 0) return std::nullopt;
    for (int i = frac_digits; i < 9; ++i) nanos *= 10;
  }

  int offset = 0;
  bool utc = false;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    utc = true;
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    unsigned oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, om) ||
        oh > 23 || om > 59)
      return std::nullopt;
    offset = static_cast<int>(oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    utc = offset == 0;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;

  const std::int64_t secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second -
                            static_cast<std::int64_t>(offset) * 60;
  if (details) *details = Rfc3339Details{offset, utc, frac_digits};
  return Timestamp{secs, nanos};
}

std::optional<Timestamp> timestamp_from_utc(std::int64_t year, std::int64_t month, std::int64_t day, std::int64_t hour,
                                            std::int64_t minute, std::int64_t second) noexcept {
  if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || second < 0 || second > 59)
    return std::nullopt;
  if (day > days_in_month(year, static_cast<unsigned>(month))) return std::nullopt;
  return Timestamp{days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
                       hour * 3600 + minute * 60 + second,
                   0};
}

namespace detail {

std::size_t format_rfc3339_into(Timestamp t, char* buf, int fraction_digits) noexcept {
  std::int64_t days = t.seconds / 86400;
  std::int64_t rem = t.seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  std::size_t n = 0;
  const auto put2 = [&](unsigned v) {
    buf[n++] = static_cast<char>('0' + v / 10);
    buf[n++] = static_cast<char>('0' + v % 10);
  };
  if (y >= 0 && y <= 9999) {
    const auto yy = static_cast<unsigned>(y);
    put2(yy / 100);
    put2(yy % 100);
  } else {  // outside four digits: rare enough for snprintf
    n = static_cast<std::size_t>(std::snprintf(buf, rfc3339_buffer_size, "%04lld", static_cast<long long>(y)));
  }
  buf[n++] = '-';
  put2(m);
  buf[n++] = '-';
  put2(d);
  buf[n++] = 'T';
  put2(static_cast<unsigned>(rem / 3600));
  buf[n++] = ':';
  put2(static_cast<unsigned>(rem / 60 % 60));
  buf[n++] = ':';
  put2(static_cast<unsigned>(rem % 60));
  if (fraction_digits < 0)
    fraction_digits = t.nanos == 0 ? 0 : t.nanos % 1000000 == 0 ? 3 : t.nanos % 1000 == 0 ? 6 : 9;
  if (fraction_digits > 9) fraction_digits = 9;
  if (fraction_digits > 0) {
    buf[n++] = '.';
    auto nanos = static_cast<unsigned>(t.nanos < 0 ? 0 : t.nanos);
    char digits[9];
    for (int i = 8; i >= 0; --i) {
      digits[i] = static_cast<char>('0' + nanos % 10);
      nanos /= 10;
    }
    for (int i = 0; i < fraction_digits; ++i) buf[n++] = digits[i];
  }
  buf[n++] = 'Z';
  return n;
}

}  // namespace detail

std::string format_rfc3339(Timestamp t, int fraction_digits) {
  char buf[detail::rfc3339_buffer_size];
  return std::string(buf, detail::format_rfc3339_into(t, buf, fraction_digits));
}

}  // namespace wis2mon
