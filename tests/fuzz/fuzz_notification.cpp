// libFuzzer target: notification parsing and validation must never crash, hang or read out
// of bounds, whatever the bytes. Also exercises the model accessors on what was parsed.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "wis2mon/dedup.hpp"
#include "wis2mon/notification.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (auto mode : {wis2mon::ValidationMode::lenient, wis2mon::ValidationMode::strict}) {
    wis2mon::ParseOptions options;
    options.mode = mode;
    const auto parsed = wis2mon::Notification::parse(bytes, options);
    const auto& n = parsed.notification;
    (void)n.operation();
    (void)n.data_link();
    (void)wis2mon::Deduplicator::key(n, wis2mon::DedupPolicy::data_id_pubtime);
    for (const auto& e : parsed.report.errors())
      if (e.rule.empty()) __builtin_trap();  // every finding names its rule
  }
  return 0;
}
