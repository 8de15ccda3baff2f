// DirectoryUploader: one thread, one file at a time, removed only once acknowledged.
#include "objstore/uploader.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <vector>

#include "common/thread_name.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon::detail {

namespace fs = std::filesystem;

std::string content_type_for(const fs::path& file) {
  const auto name = file.filename().string();
  const auto ends = [&name](std::string_view s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".gz")) return "application/gzip";
  if (ends(".ndjson")) return "application/x-ndjson";
  if (ends(".json")) return "application/json";
  return "application/octet-stream";
}

DirectoryUploader::DirectoryUploader(fs::path root, S3Location location, S3ClientOptions options,
                                     std::string thread_name)
    : root_(std::move(root)),
      location_(std::move(location)),
      options_(std::move(options)),
      thread_name_(std::move(thread_name)) {
  // What a previous run finished but did not upload goes first, oldest name first.
  std::vector<fs::path> found;
  std::error_code ec;
  if (fs::exists(root_, ec))
    for (auto it = fs::recursive_directory_iterator(root_, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      const auto name = it->path().filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file()) found.push_back(it->path());
    }
  std::sort(found.begin(), found.end());
  queue_.assign(found.begin(), found.end());
  thread_ = std::thread([this] { run(); });
}

DirectoryUploader::~DirectoryUploader() {
  stop();
}

void DirectoryUploader::add(const fs::path& file) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(file);
  }
  cv_.notify_all();
}

bool DirectoryUploader::drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return (queue_.empty() && !busy_) || stopping_; }) && queue_.empty() &&
         !busy_;
}

void DirectoryUploader::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::size_t DirectoryUploader::pending() const {
  std::lock_guard lock(mu_);
  return queue_.size() + (busy_ ? 1 : 0);
}

std::uint64_t DirectoryUploader::uploaded() const {
  std::lock_guard lock(mu_);
  return uploaded_;
}

std::uint64_t DirectoryUploader::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

std::string DirectoryUploader::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

std::string DirectoryUploader::key_for(const fs::path& file) const {
  return location_.key(file.lexically_relative(root_).generic_string());
}

bool DirectoryUploader::upload_one(const fs::path& file) {
  struct stat before {};
  if (::stat(file.c_str(), &before) != 0) return false;  // uploaded and removed already: nothing to do
  if (!client_) client_ = std::make_unique<S3Client>(location_.bucket, options_);
  client_->put_file(key_for(file), file, content_type_for(file));
  // Acknowledged: only now the local copy goes, then the folders it leaves empty. Unless the
  // file was replaced meanwhile (a newer version of a stored object, renamed over it): that
  // one was queued when it was written and goes up on its turn.
  struct stat after {};
  if (::stat(file.c_str(), &after) != 0 || after.st_ino != before.st_ino ||
      after.st_mtim.tv_sec != before.st_mtim.tv_sec || after.st_mtim.tv_nsec != before.st_mtim.tv_nsec ||
      after.st_size != before.st_size)
    return true;
  std::error_code ec;
  fs::remove(file, ec);
  for (auto dir = file.parent_path(); dir != root_ && dir.string().size() > root_.string().size();
       dir = dir.parent_path())
    if (!fs::remove(dir, ec)) break;  // not empty (or in use): stop climbing
  return true;
}

void DirectoryUploader::run() {
  name_this_thread(thread_name_);
  auto backoff = std::chrono::milliseconds(1000);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (queue_.empty()) {
      cv_.notify_all();  // drain() waiters
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      continue;
    }
    const fs::path file = queue_.front();
    busy_ = true;
    lock.unlock();
    std::string error;
    bool sent = false;
    try {
      sent = upload_one(file);
    } catch (const std::exception& ex) {
      error = ex.what();
    }
    lock.lock();
    busy_ = false;
    if (error.empty()) {
      queue_.pop_front();
      if (sent) ++uploaded_;
      last_error_.clear();
      backoff = std::chrono::milliseconds(1000);
      cv_.notify_all();
      continue;
    }
    // Kept at the head of the queue: files go up in order, and none is skipped.
    ++failures_;
    last_error_ = error;
    cv_.notify_all();
    cv_.wait_for(lock, backoff, [this] { return stopping_; });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(60000));
  }
  cv_.notify_all();
}

}  // namespace wis2mon::detail
