#include "cli/report_text.hpp"

namespace wis2mon::cli {

std::string report_text(std::string_view name, const ValidationReport& report) {
  std::string out(name);
  out += report.valid() ? ": valid\n" : ": INVALID\n";
  for (const auto& e : report.errors())
    out +=
        "  error   " + (e.path.empty() ? std::string("(message)") : e.path) + " [" + e.rule + "] " + e.message + "\n";
  for (const auto& w : report.warnings())
    out +=
        "  warning " + (w.path.empty() ? std::string("(message)") : w.path) + " [" + w.rule + "] " + w.message + "\n";
  return out;
}

}  // namespace wis2mon::cli
