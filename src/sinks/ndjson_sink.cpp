// NdjsonSink: time-partitioned JSON-lines files, temp name until closed, fsync per batch.
#include "wis2mon/sinks/ndjson.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <random>

#include "common/file.hpp"
#include "objstore/uploader.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string errno_text(const std::string& what, const fs::path& p) {
  return what + " " + p.string() + ": " + std::strerror(errno);
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// "YYYY/MM/DD/HH" and "YYYYmmddTHHMMSSZ" of a wall-clock time.
struct TimeParts {
  std::string hour_dir;
  std::string stamp;
};
TimeParts time_parts(std::int64_t seconds) {
  std::tm tm{};
  const std::time_t t = static_cast<std::time_t>(seconds);
  gmtime_r(&t, &tm);
  char dir[32], stamp[32];
  std::strftime(dir, sizeof dir, "%Y/%m/%d/%H", &tm);
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  return {dir, stamp};
}

// One file being written under its temporary name.
class OpenFile {
 public:
  OpenFile(const fs::path& dir, const std::string& final_name, bool gzip, std::string hour = {})
      : final_(dir / final_name),
        temp_(dir / ("." + final_name + ".tmp")),
        gzip_(gzip),
        hour_(std::move(hour)),
        opened_(Clock::now()) {
    fs::create_directories(dir);
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(ErrorCode::io, errno_text("create", temp_), true);
    if (gzip_) {
      const int dup_fd = ::dup(fd_);
      gz_ = dup_fd >= 0 ? gzdopen(dup_fd, "wb") : nullptr;
      if (!gz_) {
        if (dup_fd >= 0) ::close(dup_fd);
        ::close(fd_);
        throw Error(ErrorCode::io, "gzip stream for " + temp_.string(), true);
      }
    }
  }
  ~OpenFile() {
    if (gz_) gzclose(gz_);
    if (fd_ >= 0) ::close(fd_);
  }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;

  // Appends and makes it durable (fsync) when asked.
  void append(const std::string& text, bool sync) {
    if (gzip_) {
      if (!text.empty() && gzwrite(gz_, text.data(), static_cast<unsigned>(text.size())) == 0)
        throw Error(ErrorCode::io, "gzip write to " + temp_.string(), true);
      if (gzflush(gz_, Z_SYNC_FLUSH) != Z_OK) throw Error(ErrorCode::io, "gzip flush of " + temp_.string(), true);
    } else {
      detail::write_all(fd_, text, temp_);
    }
    if (sync && ::fsync(fd_) != 0) throw Error(ErrorCode::io, errno_text("fsync", temp_), true);
    bytes_ += text.size();
  }

  // Completes the file and gives it its final name.
  void finish(bool sync) {
    if (gz_) {
      const int rc = gzclose(gz_);
      gz_ = nullptr;
      if (rc != Z_OK) throw Error(ErrorCode::io, "gzip close of " + temp_.string(), true);
    }
    if (sync && ::fsync(fd_) != 0) throw Error(ErrorCode::io, errno_text("fsync", temp_), true);
    ::close(fd_);
    fd_ = -1;
    fs::rename(temp_, final_);
    if (sync) fsync_dir(final_.parent_path());
  }

  std::uint64_t bytes() const noexcept { return bytes_; }
  const fs::path& final_path() const noexcept { return final_; }
  Clock::time_point opened() const noexcept { return opened_; }
  const std::string& hour() const noexcept { return hour_; }  // "YYYY/MM/DD/HH" it belongs to

 private:
  fs::path final_, temp_;
  bool gzip_;
  std::string hour_;
  int fd_ = -1;
  gzFile gz_ = nullptr;
  std::uint64_t bytes_ = 0;
  Clock::time_point opened_;
};

// Reads what a crashed run's gzip temporary file holds (up to the last sync flush).
std::string read_gzip_prefix(const fs::path& p) {
  std::string out;
  gzFile gz = gzopen(p.c_str(), "rb");
  if (!gz) return out;
  char buf[65536];
  for (;;) {
    const int n = gzread(gz, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  gzclose(gz);
  return out;
}

// Completes one ".<name>.tmp" left by a crash: keeps whole lines only, renames.
bool recover(const fs::path& temp) {
  const auto fname = temp.filename().string();
  const auto final_name = fname.substr(1, fname.size() - 1 - 4);
  const bool gz = final_name.size() > 3 && final_name.compare(final_name.size() - 3, 3, ".gz") == 0;
  std::string data = gz ? read_gzip_prefix(temp) : detail::read_file(temp);
  const auto last_newline = data.rfind('\n');
  data.resize(last_newline == std::string::npos ? 0 : last_newline + 1);
  if (data.empty()) {
    fs::remove(temp);
    return false;
  }
  {
    OpenFile f(temp.parent_path(), "recovered-" + final_name, gz);
    f.append(data, true);
    f.finish(true);
  }
  fs::rename(temp.parent_path() / ("recovered-" + final_name), temp.parent_path() / final_name);
  fs::remove(temp);
  fsync_dir(temp.parent_path());
  return true;
}

}  // namespace

struct NdjsonSink::Impl {
  NdjsonSinkOptions opt;
  std::mutex mu;
  std::map<std::string, std::unique_ptr<OpenFile>> files;  // by stream (table, "raw", "errors")
  std::uint64_t sequence = 0;
  std::uint64_t bytes = 0;
  std::size_t recovered = 0;
  bool closed = false;
  std::unique_ptr<detail::DirectoryUploader> uploader;  // with a url: closed files go up, then away
  // With a url, "<8 hex>-" unique to this sink's run: an uploaded file is gone locally, so a
  // restart in the same second, or another monitor with the same file_prefix, must not reuse
  // its name (the object would be overwritten).
  std::string run_token;

  // Gives a file its final name and, with object storage, queues it for upload.
  void finish(OpenFile& f) {
    f.finish(opt.fsync);
    if (uploader) uploader->add(f.final_path());
  }

  fs::path base_for(const std::string& stream) const {
    if (stream == "errors") return opt.errors_root.empty() ? opt.root / "errors" : opt.errors_root;
    return opt.root / stream;
  }

  void recover_all() {
    for (const auto& base : {opt.root, opt.errors_root}) {
      if (base.empty() || !fs::exists(base)) continue;
      std::vector<fs::path> temps;
      for (const auto& e : fs::recursive_directory_iterator(base)) {
        const auto n = e.path().filename().string();
        if (e.is_regular_file() && n.size() > 5 && n[0] == '.' && n.compare(n.size() - 4, 4, ".tmp") == 0)
          temps.push_back(e.path());
      }
      for (const auto& t : temps)
        if (recover(t)) ++recovered;
    }
  }

  OpenFile& file_for(const std::string& stream, const TimeParts& now) {
    auto& f = files[stream];
    if (f &&
        (f->hour() != now.hour_dir || f->bytes() >= opt.rotate_bytes || Clock::now() - f->opened() >= opt.rotate_age)) {
      finish(*f);
      f.reset();
    }
    if (!f) {
      const auto dir = base_for(stream) / now.hour_dir;
      const std::string ext = opt.gzip ? ".ndjson.gz" : ".ndjson";
      for (;;) {
        const auto name = opt.file_prefix + "-" + now.stamp + "-" + run_token + std::to_string(++sequence) + ext;
        if (!fs::exists(dir / name)) {
          f = std::make_unique<OpenFile>(dir, name, opt.gzip, now.hour_dir);
          break;
        }
      }
    }
    return *f;
  }

  static std::string one_line(std::string text) {
    // JSON whitespace may hold newlines; inside strings they cannot occur in valid JSON.
    for (auto& c : text)
      if (c == '\n' || c == '\r') c = ' ';
    return text;
  }

  std::vector<Delivery> write(const std::vector<Record>& batch) {
    std::vector<Delivery> out(batch.size());
    std::lock_guard lock(mu);
    if (closed) {
      for (auto& d : out) d = {DeliveryStatus::retry, "sink closed"};
      return out;
    }
    // Group lines per stream, keeping batch order within each file.
    std::map<std::string, std::string> lines;
    std::map<std::string, std::vector<std::size_t>> members;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto& r = batch[i];
      const auto& table = r.table();
      if (table.empty() || table.find('/') != std::string::npos || table.find('\\') != std::string::npos ||
          table == "." || table == ".." || table == "raw") {
        out[i] = {DeliveryStatus::rejected, "table name '" + table + "' cannot be a directory name"};
        continue;
      }
      auto& text = lines[table];
      text += r.to_json();
      text += '\n';
      members[table].push_back(i);
      if (opt.raw_copy && table == "notifications")
        if (const auto* raw = r.get("raw"); raw && type_of(*raw) == FieldType::string) {
          lines["raw"] += one_line(std::get<std::string>(*raw)) + "\n";
          members["raw"].push_back(i);
        }
    }
    const auto now = time_parts(Timestamp::now().seconds);
    for (const auto& [stream, text] : lines) {
      try {
        auto& f = file_for(stream, now);
        f.append(text, opt.fsync);
        bytes += text.size();
        if (f.bytes() >= opt.rotate_bytes || Clock::now() - f.opened() >= opt.rotate_age) close_file(stream);
      } catch (const std::exception& e) {
        // The file may hold part of these lines: close it off so a retry starts a clean one.
        files.erase(stream);
        for (const auto i : members[stream]) out[i] = {DeliveryStatus::retry, e.what()};
      }
    }
    return out;
  }

  // Closes a full or old file right away, so its final name appears without waiting for
  // the next write. The lines are durable already: if the rename fails, the temporary file
  // stays and is completed at the next start.
  void close_file(const std::string& stream) {
    auto& f = files[stream];
    try {
      if (f) finish(*f);
    } catch (const std::exception&) {
    }
    f.reset();
  }

  void rotate_old() {
    for (auto& [stream, f] : files)
      if (f && Clock::now() - f->opened() >= opt.rotate_age) {
        finish(*f);
        f.reset();
      }
  }

  void close_all() {
    for (auto& [stream, f] : files)
      if (f) {
        finish(*f);
        f.reset();
      }
    files.clear();
  }
};

NdjsonSink::NdjsonSink(std::string name, NdjsonSinkOptions options)
    : Sink(std::move(name)), impl_(std::make_unique<Impl>()) {
  std::optional<S3Location> location;
  if (!options.url.empty()) {
    location = S3Location::parse(options.url);
    if (!object_storage_supported())
      throw Error(ErrorCode::unsupported, "ndjson sink '" + this->name() + "': " + options.url +
                                              ": this build's libcurl cannot sign S3 requests (needs 7.87 or newer)");
    if (!options.errors_root.empty())
      throw Error(ErrorCode::invalid_argument,
                  "ndjson sink '" + this->name() + "': with a url, errors go under <url>/errors (no errors_root)");
    // Files are finished locally first; a staging folder by default.
    if (options.root.empty()) options.root = fs::path("wis2mon-staging") / this->name();
  }
  if (options.root.empty())
    throw Error(ErrorCode::invalid_argument, "ndjson sink '" + this->name() + "': no root (or url)");
  if (options.file_prefix.empty() || options.file_prefix.find('/') != std::string::npos)
    throw Error(ErrorCode::invalid_argument, "ndjson sink '" + this->name() + "': bad file prefix");
  if (options.rotate_bytes == 0) options.rotate_bytes = 1;
  impl_->opt = std::move(options);
  std::error_code ec;
  fs::create_directories(impl_->opt.root, ec);
  if (ec) throw Error(ErrorCode::io, "cannot create " + impl_->opt.root.string() + ": " + ec.message());
  impl_->recover_all();
  if (location) {
    S3ClientOptions s3;
    s3.endpoint = impl_->opt.endpoint;
    s3.region = impl_->opt.region;
    s3.multipart_threshold = std::max(impl_->opt.multipart_threshold, impl_->opt.part_bytes);
    s3.part_bytes = impl_->opt.part_bytes;
    std::random_device random;
    char token[16];
    std::snprintf(token, sizeof token, "%08x-", static_cast<unsigned>(random()));
    impl_->run_token = token;
    impl_->uploader =
        std::make_unique<detail::DirectoryUploader>(impl_->opt.root, *location, std::move(s3), "wis2mon-ndjson-up");
  }
}

NdjsonSink::~NdjsonSink() {
  try {
    close();
  } catch (...) {
    // Temporary files stay and are completed at the next start.
  }
}

std::vector<Delivery> NdjsonSink::write(const std::vector<Record>& batch) {
  return impl_->write(batch);
}

void NdjsonSink::flush() {
  std::lock_guard lock(impl_->mu);
  if (!impl_->closed) impl_->rotate_old();
}

SinkHealth NdjsonSink::healthcheck() {
  std::lock_guard lock(impl_->mu);
  if (impl_->closed) return {false, "closed"};
  if (::access(impl_->opt.root.c_str(), W_OK) != 0) return {false, errno_text("cannot write", impl_->opt.root)};
  if (impl_->uploader) {
    const auto waiting = std::to_string(impl_->uploader->pending()) + " file(s) waiting";
    if (const auto error = impl_->uploader->last_error(); !error.empty())
      return {false, impl_->opt.url + ": " + error + " (" + waiting + ", kept in " + impl_->opt.root.string() + ")"};
    return {true, impl_->opt.url + " (" + waiting + ")"};
  }
  return {true, impl_->opt.root.string()};
}

void NdjsonSink::close() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->closed) return;
    impl_->closed = true;
    impl_->close_all();
  }
  // Outside the lock: health checks may run meanwhile. What is not up in time stays on disk
  // and goes first at the next start.
  if (impl_->uploader) {
    impl_->uploader->drain(impl_->opt.upload_drain);
    impl_->uploader->stop();
  }
}

std::uint64_t NdjsonSink::uploaded_files() const noexcept {
  return impl_->uploader ? impl_->uploader->uploaded() : 0;
}

std::size_t NdjsonSink::pending_uploads() const noexcept {
  return impl_->uploader ? impl_->uploader->pending() : 0;
}

std::size_t NdjsonSink::recovered_files() const noexcept {
  return impl_->recovered;
}

std::uint64_t NdjsonSink::bytes_written() const noexcept {
  return impl_->bytes;
}

}  // namespace wis2mon
