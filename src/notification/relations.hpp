// Link relations of WNM 1.x: the short names and the URIs the standard spells out.
#pragma once

#include <string_view>

#include "wis2mon/notification.hpp"

namespace wis2mon::detail {

inline bool is_update_rel(std::string_view rel) {
  return rel == "update" || rel == rel_update_uri;
}
inline bool is_deletion_rel(std::string_view rel) {
  return rel == "deletion" || rel == rel_deletion_uri;
}

}  // namespace wis2mon::detail
