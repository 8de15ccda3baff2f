#pragma once

#include <string>
#include <string_view>

#include "wis2mon/notification.hpp"

namespace wis2mon::cli {

// The JSON form is the library's to_json(report, key, name) (notification.hpp).

/// Human-readable form: "<name>: valid|INVALID" then one indented line per finding.
std::string report_text(std::string_view name, const ValidationReport& report);

}  // namespace wis2mon::cli
