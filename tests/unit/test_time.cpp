#include <doctest/doctest.h>

#include "wis2mon/time.hpp"

using namespace wis2mon;

TEST_CASE("RFC 3339 parsing") {
  Rfc3339Details d;
  auto t = parse_rfc3339("2024-05-29T08:41:00Z", &d);
  REQUIRE(t);
  CHECK(t->seconds == 1716972060);
  CHECK(t->nanos == 0);
  CHECK(d.utc);
  CHECK(d.fraction_digits == 0);

  t = parse_rfc3339("2022-03-20T04:50:18.314854383Z", &d);
  REQUIRE(t);
  CHECK(t->nanos == 314854383);
  CHECK(d.fraction_digits == 9);

  t = parse_rfc3339("2022-03-20T04:45:00+01:00", &d);
  REQUIRE(t);
  CHECK_FALSE(d.utc);
  CHECK(d.offset_minutes == 60);
  CHECK(t->seconds == parse_rfc3339("2022-03-20T03:45:00Z")->seconds);

  CHECK(parse_rfc3339("2024-02-29T00:00:00Z"));        // leap year
  CHECK_FALSE(parse_rfc3339("2023-02-29T00:00:00Z"));  // not a leap year
  CHECK_FALSE(parse_rfc3339("2024-13-01T00:00:00Z"));
  CHECK_FALSE(parse_rfc3339("2024-01-01 00:00:00Z"));
  CHECK_FALSE(parse_rfc3339("2024-01-01T00:00:00"));  // no offset
  CHECK_FALSE(parse_rfc3339("2024-01-01T00:00:00.Z"));
  CHECK_FALSE(parse_rfc3339("2024-01-01T24:00:00Z"));
  CHECK_FALSE(parse_rfc3339("2024-01-01T00:00:00Zjunk"));
  CHECK_FALSE(parse_rfc3339(""));
  CHECK(parse_rfc3339("1969-12-31T23:59:59Z")->seconds == -1);
}

TEST_CASE("RFC 3339 formatting round-trips") {
  for (const char* s : {"2024-05-29T08:41:00Z", "2022-03-20T04:50:18.314Z", "2022-03-20T04:50:18.314854Z",
                        "2022-03-20T04:50:18.314854383Z", "1901-01-01T00:00:00Z", "2400-02-29T23:59:59Z"}) {
    auto t = parse_rfc3339(s);
    REQUIRE(t);
    CHECK(format_rfc3339(*t) == s);
  }
  CHECK(format_rfc3339(Timestamp{0, 5000000}, 0) == "1970-01-01T00:00:00Z");
  CHECK(format_rfc3339(Timestamp{0, 5000000}, 6) == "1970-01-01T00:00:00.005000Z");
  CHECK(format_rfc3339(Timestamp{-1, 0}) == "1969-12-31T23:59:59Z");
  CHECK(format_rfc3339(Timestamp{0, 7}, 12) == "1970-01-01T00:00:00.000000007Z");  // at most nine digits
  CHECK(format_rfc3339(Timestamp{253402300800, 0}) == "10000-01-01T00:00:00Z");    // past four-digit years
}

TEST_CASE("timestamp_from_utc builds instants and refuses impossible dates") {
  using wis2mon::timestamp_from_utc;
  REQUIRE(timestamp_from_utc(2023, 3, 21, 11, 55, 0));
  CHECK(wis2mon::format_rfc3339(*timestamp_from_utc(2023, 3, 21, 11, 55, 0)) == "2023-03-21T11:55:00Z");
  CHECK(timestamp_from_utc(2024, 2, 29, 0, 0, 0));
  CHECK_FALSE(timestamp_from_utc(2023, 2, 29, 0, 0, 0));
  CHECK_FALSE(timestamp_from_utc(2023, 13, 1, 0, 0, 0));
  CHECK_FALSE(timestamp_from_utc(2023, 1, 1, 24, 0, 0));
  CHECK_FALSE(timestamp_from_utc(2023, 1, 1, 0, 60, 0));
  CHECK_FALSE(timestamp_from_utc(0, 1, 1, 0, 0, 0));
}
