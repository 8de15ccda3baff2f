// The Sensor Centre for Global Brokers' bookkeeping (WIS2 Guide 3.3.2.1) on a test clock: the
// per-broker metrics, and each message one broker did not deliver while another did.
#include <doctest/doctest.h>

#include <string>

#include "wis2mon/sensor.hpp"

using namespace wis2mon;

namespace {

const std::string kGb1 = "xx-one-global-broker", kGb2 = "xx-two-global-broker";
const std::string kSynop = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop";

std::string msg(int n) {
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", n);
  return R"({"id": ")" + std::string(id) + R"(", "properties": {"data_id": "x"}})";
}

const Timestamp kT0 = *parse_rfc3339("2026-11-30T06:00:00Z");
Timestamp at(int s) {
  return Timestamp{kT0.seconds + s, 0};
}

}  // namespace

TEST_CASE("scgb: per-broker metrics, and what one broker did not deliver within the window") {
  MetricsRegistry m;
  ScgbOptions o;
  o.centre_id = "xx-test-sensor-centre-global-broker";
  o.window = std::chrono::seconds(60);
  ScgbTracker sc(o, {kGb1, kGb2}, &m);
  const Labels gb2{{"centre_id", kGb2}, {"report_by", o.centre_id}};
  CHECK(m.value("wmo_wis2_scgb_connected_flag", gb2) == 0);  // known before any connection
  sc.on_connection(kGb1, true);
  sc.on_connection(kGb2, true);
  sc.on_connection(kGb2, false);
  CHECK(m.value("wmo_wis2_scgb_connected_flag", {{"centre_id", kGb1}, {"report_by", o.centre_id}}) == 1);
  CHECK(m.value("wmo_wis2_scgb_connected_flag", gb2) == 0);

  // Ten messages of de-dwd on broker 1; broker 2 drops 3, 6 and 9 (and delivers 1 late, at
  // 30 s: still within the window); one monitor message on broker 2 only.
  for (int i = 0; i < 10; ++i) {
    CHECK(sc.on_message(kGb1, kSynop, msg(i), at(i)));
    if (i % 3 != 0 || i == 0) CHECK(sc.on_message(kGb2, kSynop, msg(i), at(i + (i == 1 ? 30 : 0))));
  }
  CHECK(sc.on_message(kGb2, "monitor/a/wis2/xx-gm", msg(100), at(5)));
  CHECK_FALSE(sc.on_message(kGb1, kSynop, "not json", at(12)));            // counted, not compared
  CHECK_FALSE(sc.on_message("xx-unknown-broker", kSynop, msg(1), at(5)));  // not one of ours
  CHECK(sc.pending() == 11);

  const Labels l1{{"centre_id", kGb1}, {"report_by", o.centre_id}, {"topic", "origin/a/wis2/#"}};
  CHECK(m.value("wmo_wis2_scgb_messages_received_total", l1) == 11);  // the invalid one too
  CHECK(m.value("wmo_wis2_scgb_messages_published_total", l1) == 11);
  CHECK(m.value("wmo_wis2_scgb_last_message_timestamp_seconds", l1) == static_cast<double>(at(12).seconds));
  CHECK(m.value("wmo_wis2_scgb_messages_received_total",
                {{"centre_id", kGb2}, {"report_by", o.centre_id}, {"topic", "monitor/a/wis2/#"}}) == 1);

  CHECK(sc.advance(at(59)) == 0);  // nothing is a minute old yet
  CHECK(sc.advance(at(70)) == 11);
  CHECK(sc.pending() == 0);
  CHECK(m.value("wis2mon_scgb_messages_union_total", {{"centre_id", "de-dwd"}}) == 10);
  CHECK(m.value("wis2mon_scgb_messages_missing_total", {{"global_broker", kGb2}, {"centre_id", "de-dwd"}}) == 3);
  CHECK(m.value("wis2mon_scgb_messages_missing_total", {{"global_broker", kGb1}, {"centre_id", "de-dwd"}}) == 0);
  CHECK(m.value("wis2mon_scgb_messages_missing_total", {{"global_broker", kGb1}, {"centre_id", "xx-gm"}}) == 1);

  CHECK_THROWS(ScgbTracker(ScgbOptions{}, {kGb1}, nullptr));
  CHECK_THROWS(ScgbTracker(o, {}, nullptr));
}
