#pragma once

#include <string_view>

namespace wis2mon::detail {
/// The filter without a "$share/<group>/" prefix (empty when the prefix is malformed).
std::string_view strip_share(std::string_view filter) noexcept;
}  // namespace wis2mon::detail
