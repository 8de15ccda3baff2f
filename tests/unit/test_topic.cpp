#include <doctest/doctest.h>
#include <zip.h>

#include <fstream>

#include "support.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/notification.hpp"
#include "wis2mon/topic.hpp"

using namespace wis2mon;
namespace fs = std::filesystem;

namespace {

const char* kSynop = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop";

bool fails_with(std::string_view topic, const std::string& rule, const TopicValidationOptions& o = {}) {
  const auto r = validate_topic(topic, o);
  for (const auto& e : r.errors())
    if (e.rule == rule) return true;
  return false;
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// A small WTH tree written by the test (same layout as the official repository).
fs::path make_tree(const fs::path& root) {
  write(root / "centre-id.csv",
        "Name,Description,Source,Status\nde-dwd,Deutscher Wetterdienst,,Operational\n"
        "ca-eccc-msc,\"Environment and Climate Change Canada, MSC\",,Operational\n");
  write(root / "earth-system-discipline/index.csv", "Name,Description,Source,Status\nweather,Weather,,Operational\n");
  write(root / "earth-system-discipline/weather/index.csv",
        "Name,Description,Source,Status\nsurface-based-observations,x,,Operational\nexperimental,x,,Operational\n"
        "space-based-observations,x,,Operational\n");
  write(root / "earth-system-discipline/weather/surface-based-observations/index.csv",
        "Name,Description,Source,Status\nsynop,Surface observations,,Operational\ntemp,Upper air,,Operational\n");
  write(root / "earth-system-discipline/weather/space-based-observations/index-flat.csv",
        "satellite,instrument,satellite-description,instrument-description,Status\nmetop-b,iasi,a,b,Operational\n");
  return root;
}

}  // namespace

TEST_CASE("Topic splits levels") {
  const Topic t(kSynop);
  CHECK(t.depth() == 9);
  CHECK(t.channel() == "origin");
  CHECK(t.version() == "a");
  CHECK(t.system() == "wis2");
  CHECK(t.centre_id() == "de-dwd");
  CHECK(t.notification_type() == "data");
  CHECK(t.data_policy() == "core");
  CHECK(t.discipline() == "weather");
  CHECK(t.sub_topic() == "surface-based-observations/synop");
  CHECK(t.level(10).empty());
  CHECK(t.level(0).empty());
}

TEST_CASE("centre-id form") {
  for (const char* ok :
       {"de-dwd", "ca-eccc-msc", "int-eumetsat", "de-dwd-test", "data-metoffice-noaa-global-cache", "us-noaa-synoptic"})
    CHECK(is_valid_centre_id_form(ok));
  for (const char* bad : {"dwd", "DE-DWD", "d-dwd", "de-", "de--dwd", "de-dwd-", "de_dwd", "1e-dwd", "de-dw d", ""})
    CHECK_FALSE(is_valid_centre_id_form(bad));
}

TEST_CASE("topic validation: fixed levels and publication rules") {
  CHECK(validate_topic(kSynop).valid());
  CHECK(validate_topic("cache/a/wis2/de-dwd/data/recommended/climate/anything").valid());
  CHECK(validate_topic("origin/a/wis2/de-dwd/metadata").valid());
  CHECK(fails_with("", "topic.empty"));
  CHECK(fails_with("origin/a/wis2/de-dwd/data/core/weather/+", "topic.wildcard"));
  CHECK(fails_with("origin/a/wis2/de-dwd/data/core/weather/#", "topic.wildcard"));
  CHECK(fails_with("origin/a/wis2//data/core/weather/x", "topic.level_empty"));
  CHECK(fails_with("origin/a/wis2/de-dwd/data/core/weather/x/", "topic.level_empty"));
  CHECK(fails_with("origin/a/wis2/de dwd/data/core/weather/x", "topic.characters"));
  CHECK(fails_with("source/a/wis2/de-dwd/data/core/weather/x", "topic.channel"));
  CHECK(fails_with("origin/b/wis2/de-dwd/data/core/weather/x", "topic.version"));
  CHECK(fails_with("origin/a/wis3/de-dwd/data/core/weather/x", "topic.system"));
  CHECK(fails_with("origin/a/wis2/swe/smhi/data/core/weather/x", "topic.centre_id"));
  CHECK(fails_with("origin/a/wis2/de-dwd/product/core/weather/x", "topic.notification_type"));
  CHECK(fails_with("origin/a/wis2/de-dwd/data/open/weather/x", "topic.data_policy"));
  CHECK(fails_with("origin/a/wis2/de-dwd/data/core/astrology/x", "topic.discipline"));
  // Data is published at level 8 or deeper; metadata at level 5 exactly.
  CHECK(fails_with("origin/a/wis2/de-dwd/data/core/weather", "topic.depth"));
  CHECK(fails_with("origin/a/wis2/de-dwd/metadata/core", "topic.depth"));
  CHECK(fails_with("origin/a/wis2", "topic.depth"));
  for (const auto& d : earth_system_disciplines())
    CHECK(validate_topic("origin/a/wis2/de-dwd/data/core/" + d + "/x").valid());
}

TEST_CASE("topic validation: uppercase GTS-style topics are lenient deviations") {
  const std::string upper = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/SYNOP";
  const auto lenient = validate_topic(upper);
  CHECK(lenient.valid());
  CHECK(lenient.has("topic.case"));
  CHECK_FALSE(validate_topic(upper, {ValidationMode::strict, nullptr}).valid());
}

TEST_CASE("topic hierarchy from a CSV tree written by the test") {
  testing::TempDir tmp;
  const auto h = TopicHierarchy::load(make_tree(tmp.path / "tree"));
  CHECK(h.has_centres());
  CHECK(h.centre_count() == 2);
  CHECK(h.is_known_centre("de-dwd"));
  CHECK(h.is_known_centre("de-dwd-test"));
  CHECK_FALSE(h.is_known_centre("fr-meteo-france"));
  using S = TopicHierarchy::PathStatus;
  CHECK(h.sub_topic_status({"weather", "surface-based-observations", "synop"}) == S::known);
  CHECK(h.sub_topic_status({"weather", "surface-based-observations", "metar"}) == S::unknown);
  CHECK(h.sub_topic_status({"weather", "surface-based-observations", "synop", "extra"}) == S::beyond_leaf);
  CHECK(h.sub_topic_status({"weather", "experimental", "anything", "goes"}) == S::experimental);
  CHECK(h.sub_topic_status({"weather", "space-based-observations", "metop-b", "iasi"}) == S::known);

  const TopicValidationOptions lenient{ValidationMode::lenient, &h};
  const TopicValidationOptions strict{ValidationMode::strict, &h};
  CHECK(validate_topic(kSynop, strict).valid());
  CHECK(validate_topic("origin/a/wis2/de-dwd/data/core/weather/experimental/my/new/thing", strict).valid());
  const std::string unknown_centre = "origin/a/wis2/xx-nowhere/data/core/weather/surface-based-observations/synop";
  CHECK(validate_topic(unknown_centre, lenient).has("topic.centre_id_unknown"));
  CHECK(validate_topic(unknown_centre, lenient).valid());
  CHECK(fails_with(unknown_centre, "topic.centre_id_unknown", strict));
  const std::string unknown_sub = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/metar";
  CHECK(validate_topic(unknown_sub, lenient).valid());
  CHECK(fails_with(unknown_sub, "topic.sub_topic", strict));
  CHECK(fails_with(std::string(kSynop) + "/deeper", "topic.sub_topic", strict));
}

TEST_CASE("topic hierarchy from a bundle zip written by the test") {
  testing::TempDir tmp;
  const fs::path zip_path = tmp.path / "wth-bundle.zip";
  int err = 0;
  zip_t* z = zip_open(zip_path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  REQUIRE(z);
  const std::string centres = "Name,Description\nde-dwd,DWD\n";
  const std::string disciplines =
      "Name\nweather\nweather/surface-based-observations\nweather/surface-based-observations/synop\n";
  zip_file_add(z, "wth-bundle/centre-id.csv", zip_source_buffer(z, centres.data(), centres.size(), 0), 0);
  zip_file_add(z, "wth-bundle/earth-system-discipline.csv",
               zip_source_buffer(z, disciplines.data(), disciplines.size(), 0), 0);
  REQUIRE(zip_close(z) == 0);
  const auto h = TopicHierarchy::load(zip_path);
  CHECK(h.centre_count() == 1);
  CHECK(h.sub_topic_status({"weather", "surface-based-observations", "synop"}) == TopicHierarchy::PathStatus::known);
  CHECK(h.sub_topic_status({"weather", "prediction"}) == TopicHierarchy::PathStatus::unknown);
}

TEST_CASE("topic hierarchy load errors are clear") {
  testing::TempDir tmp;
  CHECK_THROWS_AS(TopicHierarchy::load(tmp.path / "missing"), Error);
  CHECK_THROWS_AS(TopicHierarchy::load(tmp.path), Error);  // empty folder: no tables
  write(tmp.path / "junk.zip", "this is not a zip");
  CHECK_THROWS_AS(TopicHierarchy::load(tmp.path / "junk.zip"), Error);
}

TEST_CASE("the official topic hierarchy tables load") {
  const auto root = testing::refdata();
  if (!root) return;
  const fs::path dir = *root / "wis2/topic-hierarchy";
  // The repository tree and the flattened list agree.
  const auto tree = TopicHierarchy::load(dir / "topic-hierarchy");
  const auto flat = TopicHierarchy::load(dir);
  CHECK(tree.centre_count() == 167);
  CHECK(flat.centre_count() == 167);
  CHECK(flat.sub_topic_count() >= 1308);
  CHECK(tree.sub_topic_count() == flat.sub_topic_count());
  const TopicValidationOptions strict{ValidationMode::strict, &tree};
  CHECK(validate_topic("origin/a/wis2/ca-eccc-msc/data/core/weather/surface-based-observations/synop", strict).valid());
  CHECK(validate_topic(
            "cache/a/wis2/int-eumetsat/data/core/weather/prediction/forecast/medium-range/deterministic/global", strict)
            .valid());
  CHECK(validate_topic("origin/a/wis2/ca-eccc-msc/data/core/weather/advisories-warnings", strict).valid());
  CHECK_FALSE(
      validate_topic("origin/a/wis2/ca-eccc-msc/data/core/weather/prediction/forecast/ultra-range", strict).valid());
}

TEST_CASE("topic validation: a topic must be valid UTF-8, in both modes") {
  const std::string bad = "origin/a/wis2/de-dwd/data/core/weather/\xff";
  for (const auto mode : {ValidationMode::lenient, ValidationMode::strict}) {
    TopicValidationOptions o;
    o.mode = mode;
    const auto r = validate_topic(bad, o);
    CHECK_FALSE(r.valid());
    CHECK(r.has("topic.utf8"));
  }
  CHECK(validate_topic("origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop").valid());
  // The report's JSON stays valid UTF-8 when it names such a topic.
  const auto json = to_json(validate_topic(bad), "topic", bad);
  CHECK(json.find('\xff') == std::string::npos);
}

TEST_CASE("topic validation: a level is lowercase letters, digits and hyphens; nothing else, in either mode") {
  const std::string base = "origin/a/wis2/ch-meteoswiss/data/core/weather/surface-based-observations/";
  CHECK(validate_topic(base + "synop-2").valid());  // digits and hyphens
  for (const auto& [topic, shown] :
       {std::pair{base + "synop/WIGOS_0-20000-0-63708_20260811T100000.bufr4", "'_'"},  // a Global Cache URL path
        std::pair{std::string("origin/a/wis2/ch-meteoswiss/data/core/weather/experimental/my.topic"), "'.'"},
        std::pair{base + "syn_op", "'_'"}, std::pair{base + "synop:1", "':'"}, std::pair{base + "syn~op", "'~'"},
        std::pair{base + "sÿnop", "a non-ASCII character"}}) {
    CAPTURE(topic);
    for (const auto mode : {ValidationMode::lenient, ValidationMode::strict}) {
      const auto r = validate_topic(topic, {mode, nullptr});
      CHECK_FALSE(r.valid());
      REQUIRE(r.has("topic.level_characters"));
      bool named = false;
      for (const auto& issue : r.errors())
        named = named || issue.message.find(std::string("holds ") + shown) != std::string::npos;
      CHECK(named);
    }
  }
  // Upper case stays a lenient-mode deviation (GTS transitions), not a character error.
  const auto upper = validate_topic(base + "SYNOP");
  CHECK(upper.valid());
  CHECK_FALSE(upper.has("topic.level_characters"));
}
