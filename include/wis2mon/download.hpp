// Downloading WIS2 data: concurrent, cache-aware, verified.
//
//   wis2mon::Downloader dl;                       // one event-loop thread (libcurl multi)
//   wis2mon::DownloadRequest req;
//   req.urls = {cache_url, origin_url};           // tried in this order, falling back
//   req.integrity = {{"sha512", value_from_notification}};
//   auto result = dl.fetch(std::move(req)).get(); // or submit(req, callback) + poll()
//   if (result.status == wis2mon::DownloadStatus::ok) use(result.data);
//
// Nothing is ever returned or stored that failed verification. Callbacks given to submit()
// run on the thread that calls poll(), never on the downloader's own thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wis2mon/config.hpp"
#include "wis2mon/export.hpp"
#include "wis2mon/metrics.hpp"
#include "wis2mon/notification.hpp"

namespace wis2mon {

/// What happened to a download. Values are stable (they appear in `wis2mon fetch` output).
enum class DownloadStatus {
  ok,
  not_found,             ///< HTTP 404 or 410
  http_error,            ///< any other HTTP status >= 400 (see http_code)
  timeout,               ///< connect, total or low-speed timeout
  too_large,             ///< over the size limit (announced or while streaming)
  integrity_failed,      ///< the digest does not match the notification
  size_mismatch,         ///< the byte count does not match the notification
  refused,               ///< scheme or redirect rules said no (file://, redirect loops ...)
  connection_error,      ///< DNS, connect, TLS or transfer failure
  invalid_notification,  ///< nothing to download from (no usable link, bad content)
  storage_error,         ///< downloaded and verified, but it could not be stored (disk full, permissions)
};

WIS2MON_API const char* to_string(DownloadStatus s) noexcept;

/// Retrying the same URL later may help: timeouts, connection errors, HTTP 408/429/5xx.
WIS2MON_API bool is_retriable(DownloadStatus s, long http_code) noexcept;

struct DownloadOptions {
  std::size_t max_in_flight = 256;  ///< transfers running at once, all hosts together
  std::size_t max_per_host = 16;    ///< connections per host (HTTP/2 multiplexes over them)
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds total_timeout{120000};  ///< one attempt, start to end
  /// Abort an attempt that moves fewer than low_speed_bytes per second for low_speed_time.
  long low_speed_bytes = 512;
  std::chrono::seconds low_speed_time{20};
  std::uint64_t max_object_bytes = 64ull << 20;  ///< larger objects are refused (too_large)
  /// Bytes of objects held in memory by the downloader, all transfers together (bodies
  /// arriving, and results waiting for poll()). Beyond it a body goes on in an unnamed
  /// temporary file, read back only when poll() hands the result over: a hostile or simply
  /// busy set of data servers costs this much memory, not max_in_flight x max_object_bytes.
  std::uint64_t max_buffered_bytes = 256ull << 20;
  /// Where those temporary files go (empty: the system's temporary directory).
  std::filesystem::path spill_dir;
  bool allow_ftp = false;                      ///< also ftp:// and sftp:// (off: only http and https)
  long max_redirects = 5;                      ///< redirects never change the scheme
  bool verify_tls = true;                      ///< check the server's certificate (system CA store)
  std::string ca_file;                         ///< extra CA bundle (PEM) to trust, e.g. a test CA
  int max_retries = 3;                         ///< retries of a retriable failure, per URL
  std::chrono::milliseconds retry_base{200};   ///< backoff: full jitter up to base * 2^attempt
  std::chrono::milliseconds retry_max{10000};  ///< cap of one backoff
  /// Accept hex digests (seen in real traffic) as well as the standard base64.
  bool lenient_integrity = true;
  std::string user_agent;  ///< default "libwis2mon/<version>"
  /// Where to count downloads (per data server: attempts, errors, bytes, latency, status
  /// flag; per centre: the WIS2 Global Cache metrics). Not owned; must outlive the Downloader.
  MetricsRegistry* metrics = nullptr;
};

/// The digest a download must have, as written in the notification.
struct ExpectedDigest {
  std::string method;  ///< sha256, sha384, sha512, sha3-256, sha3-384, sha3-512
  std::string value;   ///< base64 (hex too when lenient_integrity)
};

struct DownloadRequest {
  std::vector<std::string> urls;  ///< candidates, tried in order until one verifies
  std::optional<ExpectedDigest> integrity;
  std::optional<std::uint64_t> expected_size;  ///< link length / content.size
  /// Give up (status of the last failure) once this much time has passed since submit,
  /// retries included. Zero: no deadline beyond the per-attempt timeouts.
  std::chrono::milliseconds deadline{0};
  std::uint64_t tag = 0;  ///< yours, copied into the result
  std::string centre_id;  ///< the data's centre, for the centre_id label of the metrics
  /// Only ask whether the object is there (HTTP HEAD): no body, no size or digest check; the
  /// result is ok for a 2xx answer (http_code says which). A Sensor Centre's link check.
  bool head_only = false;
  /// The Global Cache downloading it (its centre-id), for the report_by label of the
  /// wmo_wis2_gc_* metrics (WIS2 Metric Hierarchy, gc.csv); empty: no such label.
  std::string report_by;
  /// Base64 digests of the data only, as the standard says, whatever the downloader's
  /// lenient_integrity: the strict mode (`wis2mon fetch --strict`).
  bool strict_integrity = false;
};

struct DownloadAttempt {
  std::string url;
  DownloadStatus status;
  long http_code;
};

struct DownloadResult {
  DownloadStatus status = DownloadStatus::invalid_notification;
  long http_code = 0;                     ///< of the last attempt (0 when no HTTP answer)
  bool retriable = false;                 ///< of the final status
  std::string url;                        ///< the URL that served the object (or the last one tried)
  std::string data;                       ///< the verified bytes (empty unless ok)
  std::string sha512;                     ///< base64 SHA-512 of data (empty unless ok)
  std::string error;                      ///< human-readable reason when not ok
  std::vector<DownloadAttempt> attempts;  ///< every attempt, in order
  std::chrono::milliseconds elapsed{0};
  std::uint64_t tag = 0;
};

class WIS2MON_API Downloader {
 public:
  /// Starts the event-loop thread. Throws Error when libcurl cannot be set up.
  explicit Downloader(DownloadOptions options = {});
  /// Stops: unfinished downloads complete with connection_error ("downloader closed").
  ~Downloader();
  Downloader(const Downloader&) = delete;
  Downloader& operator=(const Downloader&) = delete;

  /// Queues a download; the future is fulfilled from the downloader's thread.
  std::future<DownloadResult> fetch(DownloadRequest request);
  /// The data a notification announces: its inline content when that decodes and verifies
  /// (ready at once, url "inline"), else a download of its data link (download_request_for).
  /// Without either the result is invalid_notification, ready at once.
  std::future<DownloadResult> fetch(const Notification& n);
  /// The same in a validation mode: strict verifies inline content and downloads against
  /// base64 digests only (strict_integrity), as `wis2mon fetch --strict` does.
  std::future<DownloadResult> fetch(const Notification& n, ValidationMode mode);
  /// Queues a download; on_done runs later inside poll() on the caller's thread.
  void submit(DownloadRequest request, std::function<void(DownloadResult)> on_done);
  /// Runs the callbacks of finished downloads (waiting up to `wait` for one); returns how
  /// many ran.
  std::size_t poll(std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  /// Downloads queued or running.
  std::size_t pending() const;
  /// Memory held for objects in flight (see DownloadOptions::max_buffered_bytes).
  struct Memory {
    std::uint64_t buffered_bytes = 0;       ///< now
    std::uint64_t peak_buffered_bytes = 0;  ///< the most so far
    std::uint64_t spilled_transfers = 0;    ///< bodies that went on in a temporary file
  };
  Memory memory() const;
  /// Stops the loop (idempotent); see the destructor.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Where a copy of a data item was announced.
/// A request for the data a notification links to: its data link (canonical, else the first
/// usable one), its integrity and announced length. No URLs when it has no data link.
/// (A Monitor also tries the other copies it saw of the same data; see SourceSelector.)
WIS2MON_API DownloadRequest download_request_for(const Notification& n);

enum class SourceKind { origin, cache };

/// The download options' keys (config file section `download`, the C API's downloader
/// options, Python's Downloader keywords), bound to DownloadOptions: one spelling and one unit
/// each (durations as "10s"/"250ms" or a number of seconds).
WIS2MON_API const ConfigBinding<DownloadOptions>& download_options_config();

struct SourcePolicy {
  /// Try cache copies before the origin (the default), or the origin first.
  bool origin_first = false;
  /// Global Caches to try before any other cache, by centre id (properties.global-cache or
  /// topic level 4) or by URL host, in this order.
  std::vector<std::string> preferred_caches;
  /// Data items remembered at most (the oldest is forgotten first).
  std::size_t capacity = 100000;
};

/// Collects, per data item (data_id + pubtime), the URLs its notifications announced (the
/// origin's and each Global Cache's) and orders them by policy, so that a download can fall
/// back from one copy to the next. A notification with `cache: false` pins its item to the
/// origin. Not thread-safe: use it from one thread.
class WIS2MON_API SourceSelector {
 public:
  explicit SourceSelector(SourcePolicy policy = {});
  ~SourceSelector();
  SourceSelector(SourceSelector&&) noexcept;
  SourceSelector& operator=(SourceSelector&&) noexcept;

  /// Records a notification's data link; `topic` (if known) tells origin from cache by its
  /// channel, else the presence of properties.global-cache does. Returns the item's key, or
  /// "" when the notification has no data link.
  std::string observe(const Notification& n, std::string_view topic = {});
  /// The item's URLs in the order to try them (empty for an unknown key).
  std::vector<std::string> candidates(const std::string& key) const;
  /// Which kind of source a URL of the item is (origin when unknown).
  SourceKind kind_of(const std::string& key, std::string_view url) const;
  std::size_t size() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The outcome of using a notification's inline content instead of the network.
struct InlineContentResult {
  DownloadStatus status = DownloadStatus::invalid_notification;
  std::string data;  ///< decoded (and gunzipped) bytes, when ok
  std::string error;
};

/// Decodes properties.content (utf-8, base64, or gzip = base64 of gzip data) and verifies it
/// against integrity and content.size. max_bytes bounds the decompressed size.
WIS2MON_API InlineContentResult decode_inline_content(const Notification& n, bool lenient_integrity = true,
                                                      std::uint64_t max_bytes = 64ull << 20);

/// A relative path for storing an object under a cache directory, derived from data_id:
/// '/'-separated segments kept, anything unsafe ('..', '.', empty segments, control
/// characters, '\\', ':' and other specials) replaced by '_', segments cut to 200 bytes; when
/// sanitising changed anything, an 8-hex-digit hash of the data_id is appended so that
/// different ids never collide. Never absolute, never escapes the directory.
WIS2MON_API std::string storage_path_for(std::string_view data_id);

/// Writes verified bytes to dir/storage_path_for(data_id): into a temporary file in the same
/// folder first, renamed into place when complete, so readers never see half an object.
/// Returns the final path. Throws Error(io) on failure (and leaves no temporary file).
/// fsync_object: flush the object and its folder to disk first (survives power loss; one
/// disk flush per object). Without it a crashed process still never leaves half an object.
WIS2MON_API std::filesystem::path store_object(const std::filesystem::path& dir, std::string_view data_id,
                                               std::string_view bytes, bool fsync_object = false);

}  // namespace wis2mon
