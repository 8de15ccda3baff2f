// Reading notification files: one JSON message, or NDJSON (one message a line).
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace wis2mon::cli {

/// Calls on_message(line_number, text) for every message in the file ("-" is stdin).
/// A file whose first non-blank line is a complete JSON value is NDJSON; otherwise the whole
/// file is one message (numbered by its first non-blank line). Throws Error(io) when the
/// file cannot be read.
void for_each_message(const std::string& file, const std::function<void(std::size_t, std::string_view)>& on_message);

}  // namespace wis2mon::cli
