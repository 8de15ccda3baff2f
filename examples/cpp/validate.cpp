// Validate a notification from C++ and look at what it says.
//   example_validate [FILE]   (without FILE a built-in message is used)
#include <wis2mon/notification.hpp>
#include <wis2mon/version.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

int main(int argc, char** argv) {
  std::string message =
      R"({"id":"31e9d66a-cd83-4174-9429-b932f1abcdef","version":"v04","type":"Feature","geometry":null,)"
      R"("properties":{"pubtime":"2022-11-20T16:40:37.123456789Z","datetime":"2022-11-11T11:11:11Z",)"
      R"("data_id":"data/data-123/items/abc","metadata_id":"urn:wmo:md:test:x",)"
      R"("integrity":{"method":"sha256","value":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}},)"
      R"("links":[{"href":"https://example.org/abc.txt","rel":"canonical"}]})";
  if (argc > 1) {
    std::ifstream in(argv[1], std::ios::binary);
    if (!in) {
      std::cerr << "cannot open " << argv[1] << "\n";
      return 2;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    message = ss.str();
  }
  std::cout << "libwis2mon " << wis2mon::version_string << "\n";
  for (auto mode : {wis2mon::ValidationMode::lenient, wis2mon::ValidationMode::strict}) {
    wis2mon::ParseOptions options;
    options.mode = mode;
    const auto parsed = wis2mon::Notification::parse(message, options);
    std::cout << (mode == wis2mon::ValidationMode::strict ? "strict: " : "lenient: ")
              << (parsed.valid() ? "valid" : "invalid") << "\n";
    for (const auto& e : parsed.report.errors())
      std::cout << "  error   " << e.path << " [" << e.rule << "] " << e.message << "\n";
    for (const auto& w : parsed.report.warnings())
      std::cout << "  warning " << w.path << " [" << w.rule << "] " << w.message << "\n";
    if (parsed.json_ok) std::cout << "  data_id " << parsed.notification.data_id() << "\n";
  }
  // The built-in message is valid when lenient (with warnings: the deprecated version, a hex
  // digest) and invalid when strict (the standard wants the digest in base64).
  return argc > 1 ? 0 : (wis2mon::Notification::parse(message).valid() ? 0 : 1);
}
