// Notification parse+validate throughput on one core.
//   bench_validate [NDJSON_FILE] [--seconds S]
// Without a file it generates the sample stream (wis2mon sample) itself. Prints one JSON
// object: messages/s with full validation, without inline-content verification, and for a
// bare RapidJSON DOM parse of the same bytes (the floor any validator pays).
#include <rapidjson/document.h>
#include <rapidjson/reader.h>

#include <cstdio>
#include <cstring>
#include <iostream>

#include "bench_common.hpp"
#include "sample/generator.hpp"
#include "wis2mon/notification.hpp"

int main(int argc, char** argv) {
  std::string file;
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = std::atof(argv[++i]);
    else
      file = argv[i];
  }
  std::vector<std::string> messages;
  if (file.empty()) {
    wis2mon::detail::SampleOptions o;
    o.count = 20000;
    for (auto& s : wis2mon::detail::generate_samples(o)) messages.push_back(std::move(s.json));
  } else {
    messages = bench::read_lines(file);
  }
  if (messages.empty()) {
    std::cerr << "no messages\n";
    return 2;
  }
  std::size_t bytes = 0;
  for (const auto& m : messages) bytes += m.size();

  std::size_t valid = 0;
  auto run = [&](const wis2mon::ParseOptions& o) {
    return bench::rate(
               [&](std::size_t) {
                 valid = 0;
                 for (const auto& m : messages) valid += wis2mon::Notification::parse(m, o).valid();
               },
               seconds) *
           static_cast<double>(messages.size());
  };
  wis2mon::ParseOptions full;
  const double full_rate = run(full);
  const std::size_t valid_full = valid;
  wis2mon::ParseOptions no_content;
  no_content.verify_inline_content = false;
  const double no_content_rate = run(no_content);
  wis2mon::ParseOptions strict;
  strict.mode = wis2mon::ValidationMode::strict;
  const double strict_rate = run(strict);

  std::size_t objects = 0;
  const double dom_rate = bench::rate(
                              [&](std::size_t) {
                                objects = 0;
                                for (const auto& m : messages) {
                                  rapidjson::Document d;
                                  d.Parse(m.data(), m.size());
                                  objects += d.IsObject();
                                }
                              },
                              seconds) *
                          static_cast<double>(messages.size());

  // The ceiling of any RapidJSON-based validator: an in-situ SAX parse that does nothing
  // with what it reads (the copy it needs is included).
  std::vector<std::string> work = messages;
  const double sax_rate = bench::rate(
                              [&](std::size_t) {
                                for (std::size_t i = 0; i < messages.size(); ++i) {
                                  work[i] = messages[i];
                                  rapidjson::BaseReaderHandler<> null_handler;
                                  rapidjson::Reader reader;
                                  rapidjson::InsituStringStream in(work[i].data());
                                  reader.Parse<rapidjson::kParseInsituFlag>(in, null_handler);
                                }
                              },
                              seconds) *
                          static_cast<double>(messages.size());

  std::printf(
      "{\"messages\": %zu, \"avg_bytes\": %.0f, \"valid\": %zu, \"validate_per_s\": %.0f, "
      "\"validate_strict_per_s\": %.0f, \"validate_no_inline_verify_per_s\": %.0f, \"rapidjson_dom_parse_per_s\": "
      "%.0f, "
      "\"rapidjson_sax_null_per_s\": %.0f, \"validate_mb_per_s\": %.1f}\n",
      messages.size(), static_cast<double>(bytes) / static_cast<double>(messages.size()), valid_full, full_rate,
      strict_rate, no_content_rate, dom_rate, sax_rate,
      full_rate * static_cast<double>(bytes) / static_cast<double>(messages.size()) / 1e6);
  return objects == 0 ? 1 : 0;
}
