#include "common/ca_bundle.hpp"

#include <cstdlib>
#include <fstream>

namespace wis2mon::detail {

std::string find_ca_file(const char* env_file, const std::vector<std::string>& candidates) {
  if (env_file != nullptr && *env_file != '\0') return env_file;
  for (const auto& file : candidates)
    if (std::ifstream(file).good()) return file;
  return {};
}

const std::string& system_ca_file() {
  static const std::string file = find_ca_file(std::getenv("SSL_CERT_FILE"), known_ca_files());
  return file;
}

}  // namespace wis2mon::detail
