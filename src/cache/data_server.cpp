// The Global Cache's data server on libmicrohttpd, and the store's content types and expiry.
#include <fcntl.h>
#include <microhttpd.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <thread>
#include <vector>

#include "common/http_daemon.hpp"
#include "download/object_store.hpp"
#include "wis2mon/cache.hpp"
#include "wis2mon/error.hpp"

namespace fs = std::filesystem;

namespace wis2mon {
namespace {

constexpr unsigned kIdleTimeoutSeconds = 30;
constexpr unsigned kMaxConnections = 8192;  // the Guide: at least 1,000 simultaneous downloads
constexpr unsigned kThreads = 4;

// An object's content type: the extended attribute, else the hidden file next to it.
constexpr const char* kTypeAttribute = "user.wis2mon.content_type";

// The hidden file holding an object's content type: ".<name>.type" next to it.
fs::path type_file(const fs::path& object) {
  return object.parent_path() / ("." + object.filename().string() + ".type");
}

std::string content_type_of(int fd, const fs::path& object) {
  char buf[256];
  const auto n = ::fgetxattr(fd, kTypeAttribute, buf, sizeof buf);
  if (n > 0) return std::string(buf, static_cast<std::size_t>(n));
  std::string type = "application/octet-stream";
  if (std::ifstream t(type_file(object)); t) std::getline(t, type);
  return type;
}

// A request path the store can hold: segments of safe characters, none hidden, no "..".
bool safe_path(std::string_view url) {
  if (url.size() < 2 || url.front() != '/') return false;
  std::size_t start = 1;
  while (start <= url.size()) {
    const auto slash = std::min(url.find('/', start), url.size());
    const auto seg = url.substr(start, slash - start);
    if (seg.empty() || seg.front() == '.') return false;  // "", ".", "..", hidden and temporary files
    for (unsigned char c : seg)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '+' || c == '=' || c == ',' || c == '@' || c == '~'))
        return false;
    start = slash + 1;
  }
  return true;
}

std::string http_date(std::time_t t) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// "bytes=a-b", "bytes=a-", "bytes=-n": one range, as [first, last]. false: not one we honour
// (several ranges, another unit): the whole object is sent. unsatisfiable: a 416.
bool parse_range(const char* header, std::uint64_t size, std::uint64_t& first, std::uint64_t& last,
                 bool& unsatisfiable) {
  unsatisfiable = false;
  std::string_view h(header);
  if (h.substr(0, 6) != "bytes=" || h.find(',') != std::string_view::npos) return false;
  h.remove_prefix(6);
  const auto dash = h.find('-');
  if (dash == std::string_view::npos) return false;
  const auto number = [](std::string_view s, std::uint64_t& out) {
    if (s.empty() || s.size() > 19) return false;
    out = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      out = out * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return true;
  };
  std::uint64_t a = 0, b = 0;
  const bool has_a = number(h.substr(0, dash), a), has_b = number(h.substr(dash + 1), b);
  if (!has_a && !has_b) return false;
  if (!has_a) {  // the last b bytes
    if (b == 0 || size == 0) return unsatisfiable = true, true;
    first = b >= size ? 0 : size - b;
    last = size - 1;
    return true;
  }
  if (a >= size || (has_b && b < a)) return unsatisfiable = true, true;
  first = a;
  last = has_b ? std::min(b, size - 1) : size - 1;
  return true;
}

}  // namespace

struct CacheDataServer::Impl {
  fs::path root;  // canonical
  MHD_Daemon* daemon = nullptr;
  int port = 0;

  static MHD_Result text(MHD_Connection* c, unsigned status, const std::string& body) {
    MHD_Response* r =
        MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    const MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
  }

  MHD_Result serve(MHD_Connection* c, const char* url) {
    if (!safe_path(url)) return text(c, MHD_HTTP_NOT_FOUND, "not found\n");
    const fs::path file = root / std::string_view(url).substr(1);
    // Symbolic links never lead out of the store: the real path must stay under it.
    std::error_code ec;
    const fs::path real = fs::canonical(file, ec);
    if (ec || real.native().compare(0, root.native().size() + 1, root.native() + "/") != 0)
      return text(c, MHD_HTTP_NOT_FOUND, "not found\n");
    const int fd = ::open(real.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return text(c, MHD_HTTP_NOT_FOUND, "not found\n");
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {  // folders: no listing
      ::close(fd);
      return text(c, MHD_HTTP_NOT_FOUND, "not found\n");
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    char etag[64];
    std::snprintf(etag, sizeof etag, "\"%llx-%llx\"", static_cast<unsigned long long>(size),
                  static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ull +
                      static_cast<unsigned long long>(st.st_mtim.tv_nsec));
    const std::string type = content_type_of(fd, real);
    const auto common = [&](MHD_Response* r) {
      MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type.c_str());
      MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
      MHD_add_response_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, http_date(st.st_mtim.tv_sec).c_str());
      MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    };
    if (const char* inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
        inm && std::strstr(inm, etag)) {
      ::close(fd);
      MHD_Response* r = MHD_create_response_from_buffer(0, nullptr, MHD_RESPMEM_PERSISTENT);
      common(r);
      const MHD_Result ok = MHD_queue_response(c, MHD_HTTP_NOT_MODIFIED, r);
      MHD_destroy_response(r);
      return ok;
    }
    std::uint64_t first = 0, last = size ? size - 1 : 0;
    bool unsatisfiable = false;
    const char* range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    const bool partial = range && parse_range(range, size, first, last, unsatisfiable);
    if (partial && unsatisfiable) {
      ::close(fd);
      MHD_Response* r = MHD_create_response_from_buffer(0, nullptr, MHD_RESPMEM_PERSISTENT);
      common(r);
      MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, ("bytes */" + std::to_string(size)).c_str());
      const MHD_Result ok = MHD_queue_response(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
      MHD_destroy_response(r);
      return ok;
    }
    const std::uint64_t length = partial ? last - first + 1 : size;
    // The file goes out with sendfile; MHD closes fd with the response.
    MHD_Response* r = MHD_create_response_from_fd_at_offset64(length, fd, partial ? first : 0);
    if (!r) {
      ::close(fd);
      return MHD_NO;
    }
    common(r);
    if (partial)
      MHD_add_response_header(
          r, MHD_HTTP_HEADER_CONTENT_RANGE,
          ("bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(size)).c_str());
    const MHD_Result ok = MHD_queue_response(c, partial ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
  }

  static MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                               const char*, size_t* upload_size, void**) {
    if (*upload_size != 0) {
      *upload_size = 0;
      return MHD_YES;
    }
    if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0)
      return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or HEAD only\n");
    try {
      return static_cast<Impl*>(cls)->serve(c, url);
    } catch (const std::exception& e) {
      return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, std::string(e.what()) + "\n");
    }
  }
};

CacheDataServer::CacheDataServer(CacheDataServerOptions o) : impl_(std::make_unique<Impl>()) {
  auto& d = *impl_;
  std::error_code ec;
  fs::create_directories(o.root, ec);
  d.root = fs::canonical(o.root, ec);
  if (ec) throw Error(ErrorCode::io, "cache data server: no store directory " + o.root.string() + ": " + ec.message());
  d.daemon = detail::start_http_daemon("cache data server", o.host, o.port, &Impl::on_request, &d,
                                       {kThreads, kIdleTimeoutSeconds, kMaxConnections}, d.port);
}

CacheDataServer::~CacheDataServer() {
  if (impl_->daemon) MHD_stop_daemon(impl_->daemon);
}

int CacheDataServer::port() const noexcept {
  return impl_->port;
}

fs::path store_cache_object(const fs::path& root, std::string_view data_id, std::string_view bytes,
                            std::string_view content_type, bool fsync_object) {
  return detail::store_object_file(root, data_id, bytes, fsync_object, [&](int fd, const fs::path& target) {
    if (content_type.empty()) return;
    if (::fsetxattr(fd, kTypeAttribute, content_type.data(), content_type.size(), 0) == 0) {
      std::error_code ec;
      fs::remove(type_file(target), ec);  // an older object's type file would otherwise win
      return;
    }
    if (errno != ENOTSUP && errno != EPERM)
      throw Error(ErrorCode::io, std::string("setxattr: ") + std::strerror(errno));
    write_cache_content_type(target, content_type);
  });
}

void write_cache_content_type(const fs::path& object, std::string_view content_type) {
  std::error_code ec;
  fs::create_directories(object.parent_path(), ec);
  const fs::path tmp = type_file(object).string() + ".part";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content_type << "\n";
    if (!out) throw Error(ErrorCode::io, "cannot write " + tmp.string());
  }
  fs::rename(tmp, type_file(object), ec);
  if (ec) throw Error(ErrorCode::io, "cannot write " + type_file(object).string() + ": " + ec.message());
}

std::size_t expire_cache_objects(const fs::path& root, std::chrono::seconds retention, std::size_t step) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return 0;
  const auto cutoff = fs::file_time_type::clock::now() - retention;
  std::size_t deleted = 0, in_step = 0;
  std::vector<fs::path> folders;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const auto& entry = *it;
    if (entry.is_directory(ec)) {
      folders.push_back(entry.path());
      continue;
    }
    const auto name = entry.path().filename().string();
    if (!entry.is_regular_file(ec) || name.empty() || name.front() == '.')
      continue;  // content types go with their object
    if (entry.last_write_time(ec) >= cutoff || ec) continue;
    fs::remove(type_file(entry.path()), ec);
    if (fs::remove(entry.path(), ec)) ++deleted;
    if (++in_step >= step) {  // in steps: the disk and the monitor's other threads get a turn
      in_step = 0;
      std::this_thread::yield();
    }
  }
  // Emptied folders, deepest first.
  for (auto f = folders.rbegin(); f != folders.rend(); ++f)
    if (fs::is_empty(*f, ec) && !ec) fs::remove(*f, ec);
  return deleted;
}

}  // namespace wis2mon
