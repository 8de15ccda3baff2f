// NdjsonSink: JSON lines in time-partitioned files, a local stand-in for a buffered delivery
// stream (Kinesis Firehose to S3).
//
// Layout: <root>/<table>/YYYY/MM/DD/HH/<name>-<YYYYmmddTHHMMSSZ>-<n>.ndjson[.gz], the hour being
// the UTC time the file was opened. A file is written under a hidden temporary name
// (".<final name>.tmp") and renamed when closed, so a reader listing the tree never sees half a
// file. Files are closed (rotated) when they reach rotate_bytes, when they are rotate_age old
// (checked on each write and on flush), on a new hour, and on close().
//
// Object storage: with url "s3://bucket/prefix" each closed file is uploaded to
// <prefix>/<table>/YYYY/MM/DD/HH/<file name> (the same layout) by a background thread and
// removed locally once the store acknowledged it; root is then the local staging folder
// (default ./wis2mon-staging/<sink name>). Records are Delivered once durable there; a file
// whose upload fails stays and is retried (1 s doubling to 60 s), also after a restart.
// Large files go up in parts (multipart upload). See docs/sinks.md.
//
// Durability: each write() appends its lines, flushes (gzip: a sync flush) and fsyncs the
// temporary file before answering Delivered. A temporary file left by a crash is completed
// at the next start (cut at the last whole line, gzip re-encoded) and renamed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "wis2mon/export.hpp"
#include "wis2mon/sink.hpp"

namespace wis2mon {

struct NdjsonSinkOptions {
  std::filesystem::path root;           ///< the prefix every table directory lives under
  std::string file_prefix = "wis2mon";  ///< first part of each file name
  bool gzip = false;
  std::uint64_t rotate_bytes = 64u * 1024u * 1024u;  ///< uncompressed bytes per file
  std::chrono::milliseconds rotate_age{std::chrono::minutes(5)};
  /// Records of table "notifications" that carry a "raw" string field (the notification as
  /// received) also have that text written as-is under <root>/raw/...
  bool raw_copy = false;
  /// Records of table "errors" (what failed to process, and why) go under this prefix
  /// instead of <root>/errors (empty: <root>/errors).
  std::filesystem::path errors_root;
  bool fsync = true;  ///< off: faster, but Delivered survives a process crash, not a power cut

  /// "s3://bucket/prefix": upload each closed file there (empty: keep the files under root).
  std::string url;
  std::string endpoint;  ///< S3-compatible server, e.g. "http://127.0.0.1:9000" (empty: AWS)
  std::string region;    ///< empty: AWS_REGION, AWS_DEFAULT_REGION, the AWS config, us-east-1
  std::uint64_t multipart_threshold = 16u * 1024u * 1024u;  ///< larger files go up in parts
  std::uint64_t part_bytes = 8u * 1024u * 1024u;            ///< S3: at least 5 MiB
  /// close() waits this long for the uploads in flight; the rest go at the next start.
  std::chrono::milliseconds upload_drain{std::chrono::seconds(30)};
};

class WIS2MON_API NdjsonSink : public Sink {
 public:
  /// Creates the root and completes any temporary file a previous run left behind.
  NdjsonSink(std::string name, NdjsonSinkOptions options);
  ~NdjsonSink() override;

  std::vector<Delivery> write(const std::vector<Record>& batch) override;
  /// Closes files that reached rotate_age; data is already durable.
  void flush() override;
  SinkHealth healthcheck() override;
  /// Closes (renames) every open file. Idempotent.
  void close() override;

  /// Files completed at start-up from a previous run's temporary files.
  std::size_t recovered_files() const noexcept;
  /// Bytes of JSON written so far (uncompressed).
  std::uint64_t bytes_written() const noexcept;
  /// With a url: files uploaded (and removed locally) so far, and files waiting to go up.
  std::uint64_t uploaded_files() const noexcept;
  std::size_t pending_uploads() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wis2mon
