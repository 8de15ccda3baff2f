// Verdicts on the reference data in ../shared/refdata/wis2, as its SOURCES.md gives them.
// Every test here skips when the folder is absent.
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fstream>
#include <map>

#include "support.hpp"
#include "wis2mon/dedup.hpp"
#include "wis2mon/notification.hpp"

using namespace wis2mon;
namespace fs = std::filesystem;

namespace {

ParsedNotification parse_file(const fs::path& p, ValidationMode mode = ValidationMode::lenient) {
  ParseOptions o;
  o.mode = mode;
  return Notification::parse(testing::read_file(p), o);
}

bool has_error(const ParsedNotification& p, const std::string& rule, const std::string& path = "*") {
  for (const auto& e : p.report.errors())
    if (e.rule == rule && (path == "*" || e.path == path)) return true;
  return false;
}

std::string describe(const ParsedNotification& p) {
  std::string s;
  for (const auto& e : p.report.errors()) s += e.path + " " + e.rule + ": " + e.message + "; ";
  return s;
}

}  // namespace

TEST_CASE("official WNM examples are valid (lenient)") {
  const auto root = testing::refdata();
  if (!root) return;  // reference data absent: nothing to check
  int n = 0;
  for (const auto& f : fs::directory_iterator(*root / "wis2/wnm/examples")) {
    const auto p = parse_file(f.path());
    INFO(f.path().filename().string(), " ", describe(p));
    CHECK(p.valid());
    ++n;
  }
  CHECK(n >= 7);
  // The EUMETSAT examples write the digest in hex: a warning in lenient, an error in strict.
  const auto eum = parse_file(*root / "wis2/wnm/examples/eumetsat-msg-seviri-core-notification.json");
  CHECK(eum.report.has("integrity.hex"));
  CHECK_FALSE(parse_file(*root / "wis2/wnm/examples/eumetsat-msg-seviri-core-notification.json", ValidationMode::strict)
                  .valid());
  // Examples 3 and 4 hold nothing the standard frowns on: valid in strict mode too.
  CHECK(parse_file(*root / "wis2/wnm/examples/example3.json", ValidationMode::strict).valid());
  CHECK(parse_file(*root / "wis2/wnm/examples/example4.json", ValidationMode::strict).valid());
  CHECK(parse_file(*root / "wis2/wnm/examples/example4.json").notification.operation() == Operation::deletion);
}

TEST_CASE("pywis-pubsub ETS messages get their verdicts") {
  const auto root = testing::refdata();
  if (!root) return;
  const fs::path ets = *root / "wis2/ets/pywis-pubsub";
  CHECK(parse_file(ets / "test_valid.json").valid());
  const auto invalid = parse_file(ets / "test_invalid.json");  // content without size
  CHECK(has_error(invalid, "required", "/properties/content/size"));
  const auto dt = parse_file(ets / "test_invalid_datetime.json");  // +01:00 and no pubtime
  CHECK(has_error(dt, "required", "/properties/pubtime"));
  CHECK(has_error(dt, "time.utc", "/properties/datetime"));
  CHECK(has_error(parse_file(ets / "test_invalid_uuid.json"), "id.uuid", "/id"));
  CHECK(has_error(parse_file(ets / "test_malformed.json"), "json.syntax"));
  const auto checksum = parse_file(ets / "test_valid_checksum.json");  // no datetime
  CHECK(has_error(checksum, "temporal.required"));
  CHECK(checksum.report.errors().size() == 1);
  const auto ci = parse_file(ets / "ci-example-message.json");  // non-UUID id, wcmp conformsTo
  CHECK(has_error(ci, "id.uuid"));
  CHECK(has_error(ci, "conformsTo.core"));
}

TEST_CASE("real captures validate in lenient mode, negatives fail for their named reason") {
  const auto root = testing::refdata();
  if (!root) return;
  const fs::path dir = *root / "wis2/captures/kurt-hectic-wis2observationsprocessing/notifications";
  const std::map<std::string, std::pair<std::string, std::string>> negatives = {
      {"notiifcation_invalid.aa.json", {"required", "/properties/pubtime"}},
      {"notiifcation_invalid2.aa.json", {"data_id.empty", "/properties/data_id"}},
      {"notiifcation_invalid3.aa.json", {"required", "/properties/data_id"}},
      {"notiifcation_invalid_integrity.aa.json", {"integrity.mismatch", "/properties/integrity/value"}},
      {"notiifcation_invalid_integrity_method.aa.json", {"integrity.method", "/properties/integrity/method"}},
      {"notiifcation_invalid_length.aa.json", {"content.size", "/properties/content/size"}},
  };
  int valid = 0;
  for (const auto& f : fs::directory_iterator(dir)) {
    const auto name = f.path().filename().string();
    const auto p = parse_file(f.path());
    INFO(name, " ", describe(p));
    if (auto it = negatives.find(name); it != negatives.end()) {
      CHECK(has_error(p, it->second.first, it->second.second));
    } else {
      CHECK(p.valid());
      CHECK(p.report.has("version.deprecated"));  // 2024 traffic still says version: v04
      // which the schema allows: deprecated, not wrong, in strict mode too.
      const auto strict = parse_file(f.path(), ValidationMode::strict);
      CHECK(strict.valid());
      CHECK(strict.report.has("version.deprecated"));
      ++valid;
    }
  }
  CHECK(valid == 24);
  for (const char* f :
       {"ifremer-argo/IOPX01_LFVX_251403-msg-notification.json", "ifremer-argo/core-metadata-msg-notification.json"})
    CHECK(parse_file(*root / "wis2/captures" / f).valid());
  const auto both =
      parse_file(*root / "wis2/captures/wis2-monitor-events/pl-imgw-wnm-canonical-plus-update-2026-06-14.json");
  CHECK(both.valid());
  CHECK(both.report.has("links.mixed_relations"));
  CHECK(both.notification.geometry().point.height == 106);
}

TEST_CASE("real JSONL captures (Kinesis test records) validate in lenient mode") {
  const auto root = testing::refdata();
  if (!root) return;
  std::map<std::string, int> counts;
  for (const char* f : {"surface-obs.jsonl", "swic-cap.jsonl", "notifications.jsonl"}) {
    std::ifstream in(*root / "wis2/captures/kurt-hectic-wis2_mon_poc-2023" / f);
    std::string line;
    while (std::getline(in, line)) {
      rapidjson::Document d;
      d.Parse(line.c_str());
      REQUIRE(d.HasMember("message"));
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      d["message"].Accept(w);
      const auto p = Notification::parse(std::string_view(buf.GetString(), buf.GetSize()));
      INFO(f, " ", describe(p));
      CHECK(p.valid());
      counts[f] += p.valid();
      // Hex digests of the inline BUFR verify (a wrong one would be an error).
      if (std::string(f) != "swic-cap.jsonl") CHECK(p.report.has("integrity.hex"));
    }
  }
  CHECK(counts["surface-obs.jsonl"] == 50);
  CHECK(counts["swic-cap.jsonl"] == 36);
  CHECK(counts["notifications.jsonl"] == 8);
}

TEST_CASE("the same message relayed by three caches is one message to dedup") {
  const auto root = testing::refdata();
  if (!root) return;
  const fs::path dir = *root / "wis2/captures/kurt-hectic-wis2observationsprocessing/notifications";
  Deduplicator dedup(DedupPolicy::message_id, std::make_shared<MemoryDedupStore>());
  int fresh = 0, dupes = 0;
  for (const char* f : {"notiifcation.bm.json", "notiifcation.bm_cache2.json", "notiifcation.bm_cache3.json"}) {
    const auto p = parse_file(dir / f);
    REQUIRE(p.valid());
    if (dedup.check(p.notification) == DedupVerdict::duplicate)
      ++dupes;
    else
      ++fresh, dedup.record(p.notification);
  }
  CHECK(fresh == 1);
  CHECK(dupes == 2);
}
