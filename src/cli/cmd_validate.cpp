// wis2mon validate [--strict|--lenient] [--format text|json] [--topic TOPIC] FILE...
// Notifications (WNM) and WIS2 Monitoring Events (WME), told apart by the CloudEvents
// specversion member.
#include <chrono>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/report_text.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/notification.hpp"
#include "wis2mon/topic.hpp"
#include "wis2mon/wme.hpp"

namespace wis2mon::cli {
namespace {

struct ValidateArgs {
  bool strict = false;
  bool lenient = false;
  std::string format = "text";
  std::string topic;
  std::vector<std::string> files;
};

int run_validate(const ValidateArgs& a) {
  ParseOptions options;
  options.mode = a.strict ? ValidationMode::strict : ValidationMode::lenient;
  options.topic = a.topic;
  const bool json = a.format == "json";
  std::size_t total = 0, invalid = 0, warned = 0;
  ValidationReport topic_report;
  if (!a.topic.empty()) topic_report = validate_topic(a.topic, {options.mode, nullptr});
  bool io_error = false;
  std::string out;
  // Long runs report progress on stderr every few seconds.
  const auto started = std::chrono::steady_clock::now();
  auto last_report = started;
  for (const auto& file : a.files) {
    try {
      const std::size_t before = total;
      for_each_message(file, [&](std::size_t line, std::string_view text) {
        // A WIS2 Monitoring Event (a CloudEvent: it has specversion) is validated as one; its
        // monitor/a/wis2/... topic is not a notification topic.
        ValidationReport report;
        if (looks_like_wme(text)) {
          report = validate_wme(text, options.mode);
        } else {
          report = Notification::parse(text, options).report;
          // Findings about the topic the messages arrived on belong to every message.
          for (const auto& e : topic_report.errors()) report.add_error("", e.rule, "topic: " + e.message);
          for (const auto& w : topic_report.warnings()) report.add_warning("", w.rule, "topic: " + w.message);
        }
        const std::string source = file + ":" + std::to_string(line);
        ++total;
        invalid += !report.valid();
        warned += !report.warnings().empty();
        out = json ? to_json(report, "source", source) + "\n" : report_text(source, report);
        std::cout << out;
        if (total % 4096 == 0) {
          const auto now = std::chrono::steady_clock::now();
          if (now - last_report >= std::chrono::seconds(5)) {
            last_report = now;
            const double secs = std::chrono::duration<double>(now - started).count();
            std::cerr << "wis2mon validate: " << total << " messages, " << invalid << " invalid ("
                      << static_cast<long long>(static_cast<double>(total) / secs) << "/s)\n";
          }
        }
      });
      if (total == before) {
        // A file with no message at all is a finding too: it never passes as "all valid".
        ValidationReport empty;
        empty.add_error("", "input.empty", "no message in the file");
        const std::string source = file + ":0";
        ++total;
        ++invalid;
        std::cout << (json ? to_json(empty, "source", source) + "\n" : report_text(source, empty));
      }
    } catch (const Error& e) {
      std::cerr << "wis2mon validate: " << e.what() << "\n";
      io_error = true;
    }
  }
  std::cout.flush();
  (json ? std::cerr : std::cout) << total << " messages: " << total - invalid << " valid, " << invalid << " invalid, "
                                 << warned << " with warnings (" << (a.strict ? "strict" : "lenient") << " mode)\n";
  if (io_error) return kExitUsage;
  return invalid ? kExitInvalid : kExitOk;
}

}  // namespace

void add_validate_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<ValidateArgs>();
  auto* cmd = app.add_subcommand("validate",
                                 "Validate WIS2 notification messages and monitoring events (JSON or NDJSON files)");
  auto* strict = cmd->add_flag("--strict", args->strict, "The WNM standard to the letter");
  cmd->add_flag("--lenient", args->lenient, "Accept what real traffic sends, with warnings (default)")
      ->excludes(strict);
  cmd->add_option("--format", args->format, "Output format")->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--topic", args->topic, "The topic the messages arrived on (checked too)");
  cmd->add_option("FILE", args->files, "Files to validate ('-' reads stdin)")->required();
  cmd->callback([&action, args] { action = [args] { return run_validate(*args); }; });
}

}  // namespace wis2mon::cli
