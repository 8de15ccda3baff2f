// DirectoryUploader: the way out of a local directory into object storage. Files handed to it
// (and, at start, every finished file already in the directory: a previous run's leftovers)
// are uploaded one at a time in order, each under the key <prefix>/<path relative to the
// directory>, and removed locally only after the store acknowledged the upload. A failed
// upload is retried (1 s doubling to 60 s) until it goes through; an upload repeated after a
// crash or a lost answer writes the same key again, so each file ends up as one object.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "wis2mon/object_store.hpp"

namespace wis2mon::detail {

class DirectoryUploader {
 public:
  /// Starts the upload thread. Hidden files (".name") are never uploaded: they are files
  /// still being written.
  DirectoryUploader(std::filesystem::path root, S3Location location, S3ClientOptions options,
                    std::string thread_name = "wis2mon-upload");
  ~DirectoryUploader();
  DirectoryUploader(const DirectoryUploader&) = delete;
  DirectoryUploader& operator=(const DirectoryUploader&) = delete;

  /// Queues a finished file under root for upload.
  void add(const std::filesystem::path& file);
  /// Waits until every queued file is uploaded, or the time is up; true when all are.
  bool drain(std::chrono::milliseconds timeout);
  /// Stops the thread after the upload in progress; what is left stays on disk for the next start.
  void stop();

  std::size_t pending() const;
  std::uint64_t uploaded() const;
  std::uint64_t failures() const;  ///< failed attempts (each is retried)
  std::string last_error() const;  ///< of the latest attempt; empty after a success
  /// The key a file under root is uploaded to.
  std::string key_for(const std::filesystem::path& file) const;

 private:
  void run();
  bool upload_one(const std::filesystem::path& file);  // false: the file was gone (nothing sent)

  std::filesystem::path root_;
  S3Location location_;
  S3ClientOptions options_;
  std::unique_ptr<S3Client> client_;  // made on the thread's first use: credentials may be absent at start
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::filesystem::path> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  std::uint64_t uploaded_ = 0, failures_ = 0;
  std::string last_error_;
  std::string thread_name_;
  std::thread thread_;
};

/// The content type an object of this file name is given.
std::string content_type_for(const std::filesystem::path& file);

}  // namespace wis2mon::detail
