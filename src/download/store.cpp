// Safe storage of downloaded objects under a cache directory.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "common/file.hpp"
#include "download/object_store.hpp"
#include "wis2mon/download.hpp"
#include "wis2mon/error.hpp"

namespace fs = std::filesystem;

namespace wis2mon {
namespace {

constexpr std::size_t kMaxSegmentBytes = 200;
constexpr std::size_t kMaxSegments = 32;

bool safe_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '+' || c == '=' || c == ',' || c == '@';
}

std::string short_hash(std::string_view s) {
  unsigned char d[64];
  detail::compute_digest("sha256", s.data(), s.size(), d);
  return detail::hex_encode({reinterpret_cast<const char*>(d), 4});
}

}  // namespace

// Files and folders never share a name, so no data_id's file is another's folder ("c/a/b"
// and "c/a/b/c"): a file name always holds a '.' or ends in '~', a folder name holds no '.'
// or ends in '~' ('~' is never kept from the id, so it only appears as this marker). The
// usual ids (folders without dots, a file name with an extension) keep their own path.
std::string storage_path_for(std::string_view data_id) {
  std::vector<std::string> segs;
  bool changed = false;  // any change means a hash suffix, so distinct ids stay distinct
  std::size_t segments = 0;
  for (std::size_t start = 0; start <= data_id.size();) {
    const auto slash = std::min(data_id.find('/', start), data_id.size());
    const std::string_view raw = data_id.substr(start, slash - start);
    start = slash + 1;
    if (raw.empty()) {  // a leading '/' (absolute path), '//' or a trailing '/'
      changed = true;
      continue;
    }
    if (segments == kMaxSegments) {  // deeper ids keep their first levels; the hash tells them apart
      changed = true;
      break;
    }
    std::string seg;
    for (unsigned char c : raw) seg += safe_char(c) ? static_cast<char>(c) : '_';  // never '~'
    if (seg == "." || seg == "..") seg = "_";
    if (seg.size() > kMaxSegmentBytes) seg.resize(kMaxSegmentBytes);
    changed = changed || seg != raw;
    segs.push_back(std::move(seg));
    ++segments;
  }
  if (segs.empty()) segs.emplace_back("_");
  if (changed) segs.back() += "_" + short_hash(data_id);
  std::string path;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const bool file = i + 1 == segs.size();
    const bool dotted = segs[i].find('.') != std::string::npos;
    path += segs[i];
    if (file != dotted) path += '~';  // a file without a dot, a folder with one
    if (!file) path += '/';
  }
  return path;
}

fs::path detail::store_object_file(const fs::path& dir, std::string_view data_id, std::string_view bytes,
                                   bool fsync_object,
                                   const std::function<void(int fd, const fs::path& target)>& before_rename) {
  const fs::path target = dir / storage_path_for(data_id);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) throw Error(ErrorCode::io, "cannot create " + target.parent_path().string() + ": " + ec.message());
  // A hidden temporary name in the same folder, so the rename is atomic.
  const fs::path tmp =
      target.parent_path() / ("." + target.filename().string() + ".part-" + std::to_string(std::random_device{}()));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(ErrorCode::io, "cannot create " + tmp.string());
  bool ok = true;
  std::string failure;
  try {
    detail::write_all(fd, bytes, tmp);
    if (before_rename) before_rename(fd, target);
  } catch (const std::exception& e) {
    ok = false;
    failure = e.what();
  }
  // Without fsync the rename still shows readers only whole objects; fsync is for power loss.
  if (fsync_object) ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (ok) fs::rename(tmp, target, ec);
  if (!ok || ec) {
    fs::remove(tmp, ec);
    throw Error(ErrorCode::io, "cannot write " + target.string() + (failure.empty() ? "" : ": " + failure));
  }
  if (fsync_object) {  // the folder entry too, or the renamed name may be lost
    const int dfd = ::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const bool synced = dfd >= 0 && ::fsync(dfd) == 0;
    if (dfd >= 0) ::close(dfd);
    if (!synced) throw Error(ErrorCode::io, "cannot sync " + target.parent_path().string());
  }
  return target;
}

fs::path store_object(const fs::path& dir, std::string_view data_id, std::string_view bytes, bool fsync_object) {
  return detail::store_object_file(dir, data_id, bytes, fsync_object, {});
}

}  // namespace wis2mon
