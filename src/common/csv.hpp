// A small RFC 4180 CSV reader (quoted fields, doubled quotes, CRLF) for the WTH tables.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace wis2mon::detail {

using CsvRow = std::vector<std::string>;

/// Splits CSV text into rows of fields. Blank lines are skipped; a UTF-8 BOM is ignored.
std::vector<CsvRow> parse_csv(std::string_view text);

}  // namespace wis2mon::detail
