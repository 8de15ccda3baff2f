// libFuzzer target: topic parsing/validation, filter validation and matching, and the
// Router must agree with the single-filter matcher on any input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "wis2mon/topic.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // First line: a filter; the rest: a topic.
  const auto nl = input.find('\n');
  const std::string_view filter = input.substr(0, nl);
  const std::string_view topic = nl == std::string_view::npos ? input : input.substr(nl + 1);

  (void)wis2mon::validate_topic(topic);
  (void)wis2mon::validate_topic(topic, {wis2mon::ValidationMode::strict, nullptr});
  const wis2mon::Topic t(topic);
  (void)t.sub_topic();
  if (wis2mon::is_valid_filter(filter)) {
    wis2mon::Router router;
    router.add(filter);
    const bool routed = !router.match(topic).empty();
    if (routed != wis2mon::topic_matches(filter, topic)) __builtin_trap();
  }
  return 0;
}
