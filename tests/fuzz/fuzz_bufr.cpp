// libFuzzer target: any bytes through the BUFR decoder (framing, ecCodes, record building).
// Every outcome must be records or per-message errors; the records must be valid UTF-8 JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/encoding.hpp"
#include "wis2mon/decode/bufr.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto result = wis2mon::decode_bufr(input);
  if (result.records.empty() && result.errors.empty()) __builtin_trap();
  for (const auto& rec : result.records)
    if (!wis2mon::detail::is_valid_utf8(rec.to_json())) __builtin_trap();
  return 0;
}
