// wis2mon sample: writes a generated notification stream (NDJSON) for demos and tests: real
// BUFR and CAP, official centre-ids, a "topic" member per line (so `wis2mon replay` routes
// it), the data inline unless --data-url points the links elsewhere.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "sample/generator.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon::cli {
namespace {

struct SampleArgs {
  std::size_t count = 1000;
  std::uint64_t seed = 42;
  double invalid = 0.05;
  double deviations = 0.0;
  std::string out = "-";
  std::string topics_out;
  std::string data_url;
  std::string data_dir;
  std::size_t stations = 1800;
  std::size_t centres = 8;
};

int run_sample(const SampleArgs& a) {
  detail::SampleOptions o;
  o.count = a.count;
  o.seed = a.seed;
  o.invalid_fraction = a.invalid;
  o.deviation_fraction = a.deviations;
  o.stations = a.stations;
  o.centres = a.centres;
  if (!a.data_url.empty()) {
    if (a.data_url.rfind("http://", 0) != 0 && a.data_url.rfind("https://", 0) != 0)
      throw Error(ErrorCode::invalid_argument, "--data-url must be an http:// or https:// URL, got " + a.data_url);
    o.data_url = a.data_url;
    while (o.data_url.size() > 1 && o.data_url.back() == '/') o.data_url.pop_back();
    o.inline_content = false;  // the data is fetched from there
  }
  const auto samples = detail::generate_samples(o);
  if (!a.data_dir.empty()) {
    namespace fs = std::filesystem;
    for (const auto& s : samples) {
      const fs::path file = fs::path(a.data_dir) / s.path;
      fs::create_directories(file.parent_path());
      std::ofstream f(file, std::ios::binary | std::ios::trunc);
      f.write(s.data.data(), static_cast<std::streamsize>(s.data.size()));
      if (!f) throw Error(ErrorCode::io, "cannot write " + file.string());
    }
  }
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (a.out != "-") {
    file.open(a.out, std::ios::binary | std::ios::trunc);
    if (!file) throw Error(ErrorCode::io, "cannot write " + a.out);
    out = &file;
  }
  std::size_t defects = 0, deviations = 0;
  for (const auto& s : samples) {
    *out << s.json << '\n';
    defects += !s.defect.empty();
    deviations += !s.deviation.empty();
  }
  out->flush();
  if (!*out) throw Error(ErrorCode::io, "error writing " + a.out);
  if (!a.topics_out.empty()) {
    std::ofstream t(a.topics_out, std::ios::trunc);
    for (const auto& s : samples) t << s.topic << '\n';
    if (!t) throw Error(ErrorCode::io, "error writing " + a.topics_out);
  }
  std::cerr << "wrote " << samples.size() << " notifications (" << defects << " with a deliberate defect, "
            << deviations << " with a real-traffic deviation) to " << (a.out == "-" ? "stdout" : a.out) << "\n";
  std::cerr << (o.inline_content ? "the data is inline; links point to " : "the data is not inline; links point to ")
            << o.data_url << (a.data_dir.empty() ? "" : ", objects written under " + a.data_dir) << "\n";
  return kExitOk;
}

}  // namespace

void add_sample_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<SampleArgs>();
  auto* cmd = app.add_subcommand(
      "sample", "Write a generated WIS2 notification stream as NDJSON: real BUFR and CAP, one topic member a line");
  cmd->add_option("--count", args->count, "Number of notifications")->check(CLI::Range(1, 100000000));
  cmd->add_option("--stations", args->stations, "Distinct stations of the surface observations (default 1800)")
      ->check(CLI::Range(1, 80000));  // blocks 10 to 98
  cmd->add_option("--centres", args->centres,
                  "Centres publishing (default 8: real centre-ids; more are named xx-sample-<n>)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--seed", args->seed, "Random seed (same seed, same stream)");
  cmd->add_option("--invalid", args->invalid, "Share of messages with a deliberate defect")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--deviations", args->deviations,
                  "Share of the other messages with a real-traffic deviation (hex or placeholder digest)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--out", args->out, "Output file ('-' for stdout)");
  cmd->add_option("--topics-out", args->topics_out, "Also write each message's topic, one a line");
  cmd->add_option("--data-url", args->data_url,
                  "Links point here (URL/PATH) and the data is not inline (default: inline, links to " +
                      std::string(detail::kSampleLocalDataUrl) + ")");
  cmd->add_option("--data-dir", args->data_dir, "Also write each data object to DIR/PATH, to serve at --data-url");
  cmd->callback([&action, args] { action = [args] { return run_sample(*args); }; });
}

}  // namespace wis2mon::cli
