#pragma once

#include <string>
#include <string_view>

#include "wis2mon/notification.hpp"

namespace wis2mon::cli {

/// One output line: {"<key>": "<name>", "valid": …, "errors": […], "warnings": […]}.
std::string report_json(std::string_view key, std::string_view name, const ValidationReport& report);

/// Human-readable form: "<name>: valid|INVALID" then one indented line per finding.
std::string report_text(std::string_view name, const ValidationReport& report);

}  // namespace wis2mon::cli
