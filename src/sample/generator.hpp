// Generates realistic WIS2 notification streams for the demo, tests and benchmarks: surface
// observations with inline BUFR-like content, CAP warnings, metadata, the same data seen
// via origin and caches, and a share of deliberately invalid messages of known kinds.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace wis2mon::detail {

struct SampleMessage {
  std::string topic;
  std::string json;
  std::string defect;     ///< "" for a valid message, else the rule the message breaks
  std::string deviation;  ///< "" or a real-traffic habit (lenient: warning; strict: error)
};

struct SampleOptions {
  std::size_t count = 1000;
  std::uint64_t seed = 42;
  double invalid_fraction = 0.05;   ///< share of messages with one deliberate defect
  double deviation_fraction = 0.0;  ///< share of the others with one real-traffic deviation
  bool inline_content = true;       ///< surface observations carry their data inline
};

std::vector<SampleMessage> generate_samples(const SampleOptions& options);

/// A random version-4 UUID string from `rng` (reproducible for a seed).
std::string random_uuid(std::mt19937_64& rng);

}  // namespace wis2mon::detail
