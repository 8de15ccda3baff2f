// libFuzzer target: any bytes through the hardened CAP parser (every alert of the document,
// strict and lenient) and its JSON and record output.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/encoding.hpp"
#include "wis2mon/decode/cap.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto result = wis2mon::decode_cap(input);
  if (!result.valid() && result.errors.empty()) __builtin_trap();
  (void)result.to_records();
  if (!wis2mon::detail::is_valid_utf8(result.to_json())) __builtin_trap();
  wis2mon::CapOptions strict;
  strict.mode = wis2mon::ValidationMode::strict;
  const auto document = wis2mon::decode_cap_document(input, strict);
  // An invalid document names why: its own error or an alert's.
  if (!document.valid() && document.errors.empty()) {
    bool explained = false;
    for (const auto& alert : document.alerts) explained = explained || !alert.errors.empty();
    if (!explained) __builtin_trap();
  }
  (void)document.to_records();
  if (!wis2mon::detail::is_valid_utf8(document.to_json())) __builtin_trap();
  return 0;
}
