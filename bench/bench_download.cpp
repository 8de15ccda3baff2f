// Verified downloads/s from bench_data_server: every object's sha512 is checked.
//   bench_download URL_BASE [--count 20000] [--in-flight 1000] [--size 10240]
// Prints one JSON object.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench_objects.hpp"
#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "wis2mon/download.hpp"

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const std::string base = argv[1];
  std::size_t count = 20000, in_flight = 1000, size = 10240;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--count")) count = std::strtoul(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--in-flight")) in_flight = std::strtoul(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--size")) size = std::strtoul(argv[i + 1], nullptr, 10);
  }
  // The expected digests, as notifications would carry them (computed before the clock starts).
  std::vector<std::string> digests(count);
  for (std::size_t n = 0; n < count; ++n) {
    const std::string obj = bench::object_bytes(n, size);
    unsigned char d[64];
    wis2mon::detail::compute_digest("sha512", obj.data(), obj.size(), d);
    digests[n] = wis2mon::detail::base64_encode({reinterpret_cast<char*>(d), 64});
  }
  wis2mon::DownloadOptions o;
  o.max_in_flight = in_flight;
  o.max_per_host = in_flight;
  wis2mon::Downloader dl(o);
  std::size_t done = 0, ok = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t n = 0; n < count; ++n) {
    wis2mon::DownloadRequest r;
    r.urls = {base + "/obj/" + std::to_string(n)};
    r.integrity = wis2mon::ExpectedDigest{"sha512", digests[n]};
    r.expected_size = size;
    dl.submit(std::move(r), [&](wis2mon::DownloadResult res) {
      ++done;
      ok += res.status == wis2mon::DownloadStatus::ok;
    });
  }
  while (done < count) dl.poll(std::chrono::milliseconds(100));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "{\"objects\": %zu, \"verified\": %zu, \"in_flight\": %zu, \"seconds\": %.2f, \"verified_per_s\": %.0f}\n", count,
      ok, in_flight, secs, static_cast<double>(ok) / secs);
  return ok == count ? 0 : 1;
}
