// wis2mon topic validate | topic match | topics sync
#include <curl/curl.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/report_text.hpp"
#include "common/compat.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/topic.hpp"

namespace fs = std::filesystem;

namespace wis2mon::cli {
namespace {

constexpr const char* kBundleUrl = "https://wmo-im.github.io/wis2-topic-hierarchy/wth-bundle.zip";

struct TopicArgs {
  bool strict = false;
  std::string hierarchy;
  std::string format = "json";
  std::vector<std::string> topics;
  std::string filter, topic;
  std::string url = kBundleUrl, out;
};

// The hierarchy to check membership against: --hierarchy, else the synced bundle if any.
std::unique_ptr<TopicHierarchy> load_hierarchy(const std::string& path) {
  if (!path.empty()) return std::make_unique<TopicHierarchy>(TopicHierarchy::load(path));
  const auto fallback = TopicHierarchy::default_location();
  std::error_code ec;
  if (fs::exists(fallback, ec)) return std::make_unique<TopicHierarchy>(TopicHierarchy::load(fallback));
  return nullptr;
}

int run_topic_validate(const TopicArgs& a) {
  const auto hierarchy = load_hierarchy(a.hierarchy);
  const TopicValidationOptions options{a.strict ? ValidationMode::strict : ValidationMode::lenient, hierarchy.get()};
  bool any_invalid = false;
  for (const auto& t : a.topics) {
    auto report = validate_topic(t, options);
    // Without the tables only the form and the fixed levels were checked: say so, so that a
    // "valid" is not read as "a known centre and sub-topic".
    if (!hierarchy)
      report.add_warning("", "topic.hierarchy_unchecked",
                         "centre-id and sub-topics not checked against the WIS2 Topic Hierarchy: no tables "
                         "(wis2mon topics sync, or --hierarchy)");
    any_invalid = any_invalid || !report.valid();
    std::cout << (a.format == "json" ? to_json(report, "topic", t) + "\n" : report_text(t, report));
  }
  return any_invalid ? kExitInvalid : kExitOk;
}

int run_topic_match(const TopicArgs& a) {
  std::string why;
  if (!is_valid_filter(a.filter, &why)) {
    std::cerr << "wis2mon topic match: invalid filter '" << a.filter << "': " << why << "\n";
    return kExitUsage;
  }
  return topic_matches(a.filter, a.topic) ? kExitOk : kExitInvalid;
}

size_t write_to_file(char* data, size_t size, size_t n, void* user) {
  return std::fwrite(data, size, n, static_cast<FILE*>(user));
}

// Downloads the bundle to a temporary file, checks that it loads, then renames it into place
// so that a failed download never replaces a good copy.
int run_topics_sync(const TopicArgs& a) {
  const fs::path dest = a.out.empty() ? TopicHierarchy::default_location() : fs::path(a.out);
  fs::create_directories(dest.parent_path().empty() ? fs::path(".") : dest.parent_path());
  const fs::path tmp = dest.string() + ".part";
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(tmp.c_str(), "wb"), &std::fclose);
  if (!f) throw Error(ErrorCode::io, "cannot write " + tmp.string());
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), &curl_easy_cleanup);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl.get(), CURLOPT_URL, a.url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &write_to_file);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, f.get());
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 5L);
  detail::curl_allow_protocols(curl.get(), "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 15L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, errbuf);
  std::cerr << "wis2mon topics sync: downloading " << a.url << "\n";
  const CURLcode rc = curl_easy_perform(curl.get());
  f.reset();
  if (rc != CURLE_OK) {
    fs::remove(tmp);
    std::cerr << "wis2mon topics sync: download failed: " << (errbuf[0] ? errbuf : curl_easy_strerror(rc)) << "\n";
    return kExitUsage;
  }
  try {
    const auto h = TopicHierarchy::load(tmp);
    fs::rename(tmp, dest);
    std::cout << "saved " << dest.string() << ": " << h.centre_count() << " centres, " << h.sub_topic_count()
              << " sub-topics\n";
  } catch (const Error& e) {
    fs::remove(tmp);
    std::cerr << "wis2mon topics sync: the download is not a usable bundle: " << e.what() << "\n";
    return kExitUsage;
  }
  return kExitOk;
}

}  // namespace

void add_topic_commands(CLI::App& app, Action& action) {
  auto args = std::make_shared<TopicArgs>();
  auto* topic = app.add_subcommand("topic", "Validate and match WIS2 topics");
  topic->require_subcommand(1);

  auto* validate = topic->add_subcommand("validate", "Validate publication topics against the WIS2 Topic Hierarchy");
  validate->add_flag("--strict", args->strict, "Membership failures and uppercase levels are errors");
  validate->add_option("--hierarchy", args->hierarchy,
                       "Folder of WTH CSV tables or the bundle zip (default: the synced bundle, if any)");
  validate->add_option("--format", args->format, "Output format (default json)")
      ->check(CLI::IsMember({"text", "json"}));
  validate->add_option("TOPIC", args->topics, "Topics to validate")->required();
  validate->callback([&action, args] { action = [args] { return run_topic_validate(*args); }; });

  auto* match = topic->add_subcommand("match", "Exit 0 when the MQTT filter matches the topic, 1 otherwise");
  match->add_option("FILTER", args->filter, "MQTT filter ('+', '#', $share/<group>/ allowed)")->required();
  match->add_option("TOPIC", args->topic, "Topic")->required();
  match->callback([&action, args] { action = [args] { return run_topic_match(*args); }; });

  auto* topics = app.add_subcommand("topics", "Manage the WIS2 Topic Hierarchy tables");
  topics->require_subcommand(1);
  auto* sync = topics->add_subcommand("sync", "Download the official topic hierarchy bundle (needs internet)");
  sync->add_option("--url", args->url, "Bundle URL");
  sync->add_option("--out", args->out,
                   "Where to save it (default: " + TopicHierarchy::default_location().string() + ")");
  sync->callback([&action, args] { action = [args] { return run_topics_sync(*args); }; });
}

}  // namespace wis2mon::cli
