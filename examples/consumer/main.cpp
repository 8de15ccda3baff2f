// Built against an installed libwis2mon as C++17 (scripts/test.sh checks install + find_package).
#include <wis2mon/notification.hpp>
#include <wis2mon/topic.hpp>
#include <wis2mon/version.hpp>

#include <iostream>

int main() {
  const auto r = wis2mon::validate_topic("origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop");
  std::cout << "wis2mon " << wis2mon::version_string << ": topic " << (r.valid() ? "valid" : "invalid") << "\n";
  return r.valid() && wis2mon::topic_matches("origin/#", "origin/a") ? 0 : 1;
}
