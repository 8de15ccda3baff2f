// Generates realistic WIS2 notification streams for `wis2mon sample`, tests and benchmarks:
// surface observations carrying real BUFR (encoded with ecCodes), CAP warnings (libxml2),
// discovery metadata, from centres of the official centre-id table, each line with its topic,
// and a share of deliberately invalid messages of known kinds. The data is inline by default;
// links never leave the machine unless a data URL is given.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace wis2mon::detail {

struct SampleMessage {
  std::string topic;
  std::string json;       ///< the notification, with a top-level "topic" member
  std::string defect;     ///< "" for a valid message, else the rule the message breaks
  std::string deviation;  ///< "" or a real-traffic habit (lenient: warning; strict: error)
  std::string path;       ///< where the data object lives under the data URL (and a data dir)
  std::string data;       ///< the data object: BUFR, CAP XML or a metadata record
};

/// Where the links of generated messages point when no data URL is given: this machine.
inline constexpr const char* kSampleLocalDataUrl = "http://127.0.0.1:8000";

struct SampleOptions {
  std::size_t count = 1000;
  std::uint64_t seed = 42;
  double invalid_fraction = 0.05;              ///< share of messages with one deliberate defect
  double deviation_fraction = 0.0;             ///< share of the others with one real-traffic deviation
  bool inline_content = true;                  ///< the data travels in the message (properties.content)
  std::string data_url = kSampleLocalDataUrl;  ///< links are data_url + "/" + path
  /// Distinct stations the surface observations come from (WIGOS ids 0-20000-0-BBSSS, blocks
  /// from 10, 900 stations a block; at most 80,000); each message places its station at a random position.
  std::size_t stations = 1800;
  /// Centres publishing: the first 8 are sample_centre_ids(), more are "xx-sample-<n>" (the
  /// form of a centre-id, in no table).
  std::size_t centres = 8;
};

std::vector<SampleMessage> generate_samples(const SampleOptions& options);

/// The centres the generators publish as: ids of the official centre-id table.
const std::array<const char*, 8>& sample_centre_ids();

/// A random version-4 UUID string from `rng` (reproducible for a seed).
std::string random_uuid(std::mt19937_64& rng);

}  // namespace wis2mon::detail
