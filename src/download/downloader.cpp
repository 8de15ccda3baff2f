// Downloader: one event-loop thread driving a libcurl multi handle.
//
// Requests enter through a locked inbox (curl_multi_wakeup interrupts the poll). The loop
// starts transfers while fewer than max_in_flight run; curl keeps at most max_per_host
// connections per host and reuses them (HTTP/2 multiplexing where offered). Bytes are hashed
// as they arrive; a finished transfer is verified, then either completed, retried later
// (retriable failures, full-jitter backoff), or moved on to the next candidate URL.
#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "common/ca_bundle.hpp"
#include "common/compat.hpp"
#include "common/curl.hpp"
#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "common/thread_name.hpp"
#include "download/url.hpp"
#include "wis2mon/download.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/version.hpp"

namespace wis2mon {

const char* to_string(DownloadStatus s) noexcept {
  switch (s) {
    case DownloadStatus::ok:
      return "ok";
    case DownloadStatus::not_found:
      return "not_found";
    case DownloadStatus::http_error:
      return "http_error";
    case DownloadStatus::timeout:
      return "timeout";
    case DownloadStatus::too_large:
      return "too_large";
    case DownloadStatus::integrity_failed:
      return "integrity_failed";
    case DownloadStatus::size_mismatch:
      return "size_mismatch";
    case DownloadStatus::refused:
      return "refused";
    case DownloadStatus::connection_error:
      return "connection_error";
    case DownloadStatus::invalid_notification:
      return "invalid_notification";
    case DownloadStatus::storage_error:
      return "storage_error";
  }
  return "unknown";
}

bool is_retriable(DownloadStatus s, long http_code) noexcept {
  switch (s) {
    case DownloadStatus::timeout:
    case DownloadStatus::connection_error:
      return true;
    case DownloadStatus::http_error:
      return http_code == 408 || http_code == 429 || http_code >= 500;
    default:
      return false;
  }
}

namespace {

using Clock = std::chrono::steady_clock;

// A temporary file holding the part of a body beyond the memory budget; closing deletes it.
struct CloseFile {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using SpillFile = std::unique_ptr<std::FILE, CloseFile>;

std::string scheme_of(std::string_view url) {
  const auto colon = url.find("://");
  std::string s(url.substr(0, colon == std::string_view::npos ? 0 : colon));
  for (auto& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return s;
}

}  // namespace

struct Downloader::Impl {
  struct Transfer {
    DownloadRequest request;
    std::optional<std::promise<DownloadResult>> promise;
    std::function<void(DownloadResult)> callback;
    DownloadResult result;
    std::optional<std::string> expected;  // raw digest to match
    std::size_t url_index = 0;
    int retries_on_url = 0;
    Clock::time_point submitted = Clock::now();
    Clock::time_point not_before{};
    std::optional<Clock::time_point> attempt_started;  // set when a request went out
    CURL* easy = nullptr;
    struct Impl* owner = nullptr;
    std::string body;                               // what is kept in memory (counted in Impl::buffered)
    SpillFile spill;                                // the rest, once the memory budget was reached
    std::uint64_t received = 0;                     // bytes of this attempt
    bool spill_failed = false;                      // the temporary file could not be written
    std::optional<detail::StreamingDigest> check;   // the notification's method
    std::optional<detail::StreamingDigest> sha512;  // what we report
    bool too_large = false;
    bool over_announced = false;  // more bytes than the notification announced
    std::uint64_t max_bytes = 0;
    char error[CURL_ERROR_SIZE] = {0};
  };
  using TransferPtr = std::unique_ptr<Transfer>;

  DownloadOptions options;
  CURLM* multi = nullptr;
  std::thread loop;
  std::atomic<bool> stopping{false};

  mutable std::mutex inbox_mutex;
  std::vector<TransferPtr> inbox;
  bool closed = false;  // guarded by inbox_mutex: no more requests are taken
  std::atomic<std::size_t> pending_count{0};

  // A result waiting for poll(): its data may still be partly in a temporary file, read back
  // only when it is handed over, so finished results count against the memory budget too.
  struct Done {
    std::function<void(DownloadResult)> callback;
    DownloadResult result;
    SpillFile spill;
    std::uint64_t counted = 0;  // bytes of result.data counted in `buffered`
  };
  std::mutex done_mutex;
  std::condition_variable done_cv;
  std::deque<Done> done;

  std::atomic<std::uint64_t> buffered{0}, peak{0}, spilled{0};

  // Owned by the loop thread only.
  std::deque<TransferPtr> waiting;
  std::vector<TransferPtr> delayed;  // retries waiting for their backoff
  std::vector<TransferPtr> active;
  std::mt19937_64 rng{std::random_device{}()};

  explicit Impl(DownloadOptions o) : options(std::move(o)) {
    detail::curl_global_init_once();
    if (options.user_agent.empty()) options.user_agent = std::string("libwis2mon/") + version_string;
    if (options.max_in_flight == 0) options.max_in_flight = 1;
    multi = curl_multi_init();
    if (!multi) throw Error(ErrorCode::network, "curl_multi_init failed");
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(options.max_per_host));
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(options.max_in_flight));
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    loop = std::thread([this] {
      detail::name_this_thread("wis2mon-download");
      run();
    });
  }

  ~Impl() {
    stop();
    curl_multi_cleanup(multi);
  }

  void stop() {
    if (stopping.exchange(true)) return;
    curl_multi_wakeup(multi);
    if (loop.joinable()) loop.join();
  }

  void enqueue(TransferPtr t) {
    {
      std::lock_guard lock(inbox_mutex);
      if (!closed) {
        ++pending_count;
        inbox.push_back(std::move(t));
      }
    }
    if (t) {  // not taken: the downloader is closed
      t->result.status = DownloadStatus::connection_error;
      t->result.error = "downloader closed";
      deliver(std::move(t));
      return;
    }
    curl_multi_wakeup(multi);
  }

  // Checks a request before it goes anywhere: an unusable one is answered at once.
  void dispatch(TransferPtr t) {
    auto& r = t->request;
    t->result.status = DownloadStatus::invalid_notification;  // unless it gets going below
    if (r.urls.empty()) {
      t->result.error = "no URL to download from";
      return deliver(std::move(t));
    }
    if (r.integrity) {
      t->expected = detail::decode_digest_value(r.integrity->method, r.integrity->value,
                                                options.lenient_integrity && !r.strict_integrity);
      if (!t->expected) {
        t->result.error = "integrity " + r.integrity->method + " value '" + r.integrity->value +
                          "' cannot be used to verify anything";
        return deliver(std::move(t));
      }
    }
    enqueue(std::move(t));
  }

  void deliver(TransferPtr t) {
    auto& r = t->result;
    r.tag = t->request.tag;
    r.retriable = is_retriable(r.status, r.http_code);
    r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t->submitted);
    const std::uint64_t counted = r.data.size();
    Done d{std::move(t->callback), std::move(r), std::move(t->spill), counted};
    if (t->promise) {
      hand_over(d);
      t->promise->set_value(std::move(d.result));
    } else if (d.callback) {
      std::lock_guard lock(done_mutex);
      done.push_back(std::move(d));
      done_cv.notify_one();
    } else {
      hand_over(d);
    }
  }

  // The result's data whole in memory (the spilled part read back); it leaves the budget.
  void hand_over(Done& d) {
    if (d.spill) {
      std::rewind(d.spill.get());
      char block[65536];
      for (std::size_t n; (n = std::fread(block, 1, sizeof block, d.spill.get())) > 0;) d.result.data.append(block, n);
      d.spill.reset();
    }
    buffered -= d.counted;
    d.counted = 0;
  }

  // ---- memory budget (bodies are written on the loop thread only) ----

  static SpillFile open_spill(const std::filesystem::path& dir) {
    const std::string where = dir.empty() ? std::filesystem::temp_directory_path().string() : dir.string();
    int fd = ::open(where.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);  // never has a name
    if (fd < 0) {
      std::string name = where + "/wis2mon-download-XXXXXX";
      fd = ::mkostemp(name.data(), O_CLOEXEC);
      if (fd >= 0) ::unlink(name.c_str());
    }
    if (fd < 0) return nullptr;
    std::FILE* f = ::fdopen(fd, "w+b");
    if (!f) ::close(fd);
    return SpillFile(f);
  }

  bool keep(Transfer& t, const char* data, std::size_t len) {
    if (!t.spill && buffered.load() + len <= options.max_buffered_bytes) {
      t.body.append(data, len);
      const auto now = buffered += len;
      for (auto p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
      }
      return true;
    }
    if (!t.spill) {
      t.spill = open_spill(options.spill_dir);
      if (!t.spill) return false;
      ++spilled;
    }
    return std::fwrite(data, 1, len, t.spill.get()) == len;
  }

  // Drops what an attempt received (a failure, or a fresh start).
  void release(Transfer& t) {
    buffered -= t.body.size();
    t.body.clear();
    t.body.shrink_to_fit();
    t.spill.reset();
    t.received = 0;
    t.spill_failed = false;
  }

  // Counts the request out before delivering it, so whoever sees the result also sees the
  // count without it.
  void complete(TransferPtr t) {
    --pending_count;
    deliver(std::move(t));
  }

  static size_t on_write(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t len = size * n;
    if (t->received + len > t->max_bytes) {
      (t->request.expected_size && t->received + len > *t->request.expected_size ? t->over_announced : t->too_large) =
          true;
      return 0;  // makes curl stop with CURLE_WRITE_ERROR
    }
    if (!t->owner->keep(*t, data, len)) {
      t->spill_failed = true;
      return 0;
    }
    t->received += len;
    if (t->check) t->check->update(data, len);
    if (t->sha512) t->sha512->update(data, len);
    return len;
  }

  // Starts the current URL of t, or settles t when its URL cannot be used.
  void start(TransferPtr t) {
    const std::string& url = t->request.urls[t->url_index];
    const std::string scheme = scheme_of(url);
    const bool allowed =
        scheme == "http" || scheme == "https" || (options.allow_ftp && (scheme == "ftp" || scheme == "sftp"));
    if (!allowed) {
      t->result.error = "scheme '" + scheme + "' is not allowed";
      return settle(std::move(t), DownloadStatus::refused, 0);
    }
    CURL* e = curl_easy_init();
    if (!e) {
      t->result.error = "curl_easy_init failed";
      return settle(std::move(t), DownloadStatus::connection_error, 0);
    }
    t->easy = e;
    t->attempt_started = Clock::now();
    t->owner = this;
    release(*t);
    t->too_large = false;
    t->over_announced = false;
    t->error[0] = '\0';
    // A server sending more than the notification announced (content.size, the link's length)
    // is cut off there: an endless body for a 1,000-byte object costs 1,000 bytes, not the cap.
    t->max_bytes = t->request.expected_size
                       ? std::min<std::uint64_t>(options.max_object_bytes, *t->request.expected_size)
                       : options.max_object_bytes;
    t->sha512.emplace("sha512");
    t->check.reset();
    if (t->request.integrity && t->request.integrity->method != "sha512")
      t->check.emplace(t->request.integrity->method);
    const std::string protocols = options.allow_ftp ? "http,https,ftp,sftp" : "http,https";
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    if (t->request.head_only) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    detail::curl_allow_protocols(e, protocols);
    // Redirects: a few, and never to another scheme (no https -> http, no file://).
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, options.max_redirects);
    detail::curl_allow_redirect_protocols(e, scheme);
    curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);  // credentials stay with their host
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout.count()));
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, options.low_speed_bytes);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.low_speed_time.count()));
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_object_bytes));
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, options.verify_tls ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, options.verify_tls ? 2L : 0L);
    // No ca_file: the system's bundle, found (common/ca_bundle.hpp), not curl's compiled-in path.
    const std::string& ca = options.ca_file.empty() ? detail::system_ca_file() : options.ca_file;
    if (!ca.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, ca.c_str());
    curl_easy_setopt(e, CURLOPT_USERAGENT, options.user_agent.c_str());
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    // HTTP/2 is only negotiated over TLS: waiting for a connection that might multiplex
    // makes sense for https, and would serialise plain-HTTP transfers.
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, scheme == "https" ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // gzip/deflate transfer encodings decoded
    if (curl_multi_add_handle(multi, e) != CURLM_OK) {
      curl_easy_cleanup(e);
      t->easy = nullptr;
      t->result.error = "curl_multi_add_handle failed";
      return settle(std::move(t), DownloadStatus::connection_error, 0);
    }
    active.push_back(std::move(t));
  }

  DownloadStatus classify(Transfer& t, CURLcode rc, long code) {
    switch (rc) {
      case CURLE_OK:
        break;
      case CURLE_OPERATION_TIMEDOUT:
        return DownloadStatus::timeout;
      case CURLE_FILESIZE_EXCEEDED:
        return DownloadStatus::too_large;
      case CURLE_WRITE_ERROR:
        if (t.over_announced) {
          t.result.error = "the server sent more than the " + std::to_string(*t.request.expected_size) +
                           " bytes the notification announced";
          return DownloadStatus::size_mismatch;
        }
        if (t.spill_failed) {
          t.result.error = "cannot write a temporary file for the body (download.spill_dir)";
          return DownloadStatus::storage_error;
        }
        return t.too_large ? DownloadStatus::too_large : DownloadStatus::connection_error;
      case CURLE_TOO_MANY_REDIRECTS:
        return DownloadStatus::refused;
      case CURLE_UNSUPPORTED_PROTOCOL:
        // A redirect to a scheme we do not follow; without a redirect, curl means a garbled
        // response (e.g. a reused connection holding a previous reply's excess bytes).
        return code >= 300 && code < 400 ? DownloadStatus::refused : DownloadStatus::connection_error;
      default:
        return DownloadStatus::connection_error;
    }
    if (code == 404 || code == 410) return DownloadStatus::not_found;
    if (code >= 400 || (code >= 300 && code < 400)) return DownloadStatus::http_error;
    if (t.request.head_only) return DownloadStatus::ok;  // nothing was downloaded to check
    if (t.request.expected_size && t.received != *t.request.expected_size) {
      t.result.error = "received " + std::to_string(t.received) + " bytes, the notification says " +
                       std::to_string(*t.request.expected_size);
      return DownloadStatus::size_mismatch;
    }
    std::string sha512 = t.sha512->finish();
    if (t.expected) {
      const std::string actual = t.check ? t.check->finish() : sha512;
      if (actual != *t.expected) {
        t.result.error = "the " + t.request.integrity->method + " digest does not match the notification";
        return DownloadStatus::integrity_failed;
      }
    }
    t.result.sha512 = detail::base64_encode(sha512);
    return DownloadStatus::ok;
  }

  void finished(CURL* e, CURLcode rc) {
    auto it = std::find_if(active.begin(), active.end(), [e](const TransferPtr& t) { return t->easy == e; });
    if (it == active.end()) return;
    TransferPtr t = std::move(*it);
    active.erase(it);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_multi_remove_handle(multi, e);
    curl_easy_cleanup(e);
    t->easy = nullptr;
    const DownloadStatus status = classify(*t, rc, code);
    if (status != DownloadStatus::ok && t->result.error.empty())
      t->result.error = t->error[0] ? t->error : (code ? "HTTP " + std::to_string(code) : curl_easy_strerror(rc));
    settle(std::move(t), status, code);
  }

  void count(const Transfer& t, DownloadStatus status, long code) {
    MetricsRegistry* m = options.metrics;
    if (!m || !t.attempt_started) return;  // no request went out
    const Labels server{{"server", detail::url_host(t.request.urls[t.url_index])}};
    Labels centre;
    if (!t.request.centre_id.empty()) centre = {{"centre_id", t.request.centre_id}};
    if (!t.request.report_by.empty()) centre.emplace_back("report_by", t.request.report_by);
    m->counter("wis2mon_downloads_total", server).inc();
    m->histogram("wis2mon_download_duration_seconds", server)
        .observe(std::chrono::duration<double>(Clock::now() - *t.attempt_started).count());
    // The server answered (even 404 or bad data) unless the transfer itself failed.
    m->gauge("wmo_wis2_gc_dataserver_status_flag", server).set(code > 0 ? 1 : 0);
    if (t.request.head_only) return;  // a link check, not a download of the centre's data
    // The centre's failure series exist at 0 from its first download on: Prometheus' increase()
    // cannot see the first failure of a series that appears with it.
    auto& centre_errors = m->counter("wmo_wis2_gc_downloaded_errors_total", centre);
    auto& integrity_failures = m->counter("wmo_wis2_gc_integrity_failed_total", centre);
    if (status == DownloadStatus::ok) {
      m->counter("wis2mon_download_bytes_total", server).inc(static_cast<double>(t.received));
      m->counter("wmo_wis2_gc_downloaded_total", centre).inc();
      m->gauge("wmo_wis2_gc_last_download_timestamp_seconds", centre)
          .set(static_cast<double>(Timestamp::now().seconds));
      return;
    }
    Labels error = server;
    error.emplace_back("status", to_string(status));
    m->counter("wis2mon_download_errors_total", error).inc();
    centre_errors.inc();
    if (status == DownloadStatus::integrity_failed) integrity_failures.inc();
  }

  // Records an attempt's outcome, then completes, retries or falls back to the next URL.
  void settle(TransferPtr t, DownloadStatus status, long code) {
    count(*t, status, code);
    t->attempt_started.reset();
    auto& r = t->result;
    r.attempts.push_back({t->request.urls[t->url_index], status, code});
    r.status = status;
    r.http_code = code;
    r.url = t->request.urls[t->url_index];
    if (status == DownloadStatus::ok) {
      r.data = std::move(t->body);  // still counted in `buffered` until it is handed over
      t->body = std::string();
      r.error.clear();
      return complete(std::move(t));
    }
    release(*t);  // nothing unverified is kept
    const auto now = Clock::now();
    const bool past_deadline = t->request.deadline.count() > 0 && now - t->submitted >= t->request.deadline;
    if (past_deadline) return complete(std::move(t));
    if (is_retriable(status, code) && t->retries_on_url < options.max_retries) {
      // Full jitter: a uniform wait in [0, min(cap, base * 2^retry)].
      const auto ceiling = std::min<std::int64_t>(options.retry_max.count(), options.retry_base.count()
                                                                                 << std::min(t->retries_on_url, 20));
      const auto wait = std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(0, ceiling)(rng));
      ++t->retries_on_url;
      t->not_before = now + wait;
      if (t->request.deadline.count() > 0) t->not_before = std::min(t->not_before, t->submitted + t->request.deadline);
      r.error.clear();
      delayed.push_back(std::move(t));
      return;
    }
    if (t->url_index + 1 < t->request.urls.size()) {  // fall back to the next candidate
      ++t->url_index;
      t->retries_on_url = 0;
      r.error.clear();
      waiting.push_back(std::move(t));
      return;
    }
    complete(std::move(t));
  }

  void run() {
    while (!stopping) {
      {
        std::lock_guard lock(inbox_mutex);
        for (auto& t : inbox) waiting.push_back(std::move(t));
        inbox.clear();
      }
      const auto now = Clock::now();
      for (auto it = delayed.begin(); it != delayed.end();) {
        if ((*it)->not_before <= now) {
          waiting.push_back(std::move(*it));
          it = delayed.erase(it);
        } else {
          ++it;
        }
      }
      while (!waiting.empty() && active.size() < options.max_in_flight) {
        TransferPtr t = std::move(waiting.front());
        waiting.pop_front();
        start(std::move(t));
      }
      int running = 0;
      curl_multi_perform(multi, &running);
      int left = 0;
      while (CURLMsg* m = curl_multi_info_read(multi, &left))
        if (m->msg == CURLMSG_DONE) finished(m->easy_handle, m->data.result);
      // Settling may have queued fallbacks: come straight back for them.
      if (!waiting.empty() && active.size() < options.max_in_flight) continue;
      // Sleep until curl has work, a retry is due, or a request arrives (wakeup).
      auto next_due = Clock::now() + std::chrono::seconds(1);
      for (const auto& t : delayed) next_due = std::min(next_due, t->not_before);
      const auto wait_ms = std::max<long>(
          0, static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(next_due - Clock::now()).count()));
      curl_multi_poll(multi, nullptr, 0, static_cast<int>(std::min<long>(wait_ms, 1000)), nullptr);
    }
    // Closing: everything unfinished completes as a connection error.
    for (auto& t : active) {
      curl_multi_remove_handle(multi, t->easy);
      curl_easy_cleanup(t->easy);
      t->easy = nullptr;
    }
    std::lock_guard lock(inbox_mutex);
    closed = true;
    for (auto* list : {&active, &delayed, &inbox}) {
      for (auto& t : *list) {
        t->result.status = DownloadStatus::connection_error;
        t->result.error = "downloader closed";
        complete(std::move(t));
      }
      list->clear();
    }
    for (auto& t : waiting) {
      t->result.status = DownloadStatus::connection_error;
      t->result.error = "downloader closed";
      complete(std::move(t));
    }
    waiting.clear();
  }
};

Downloader::Downloader(DownloadOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Downloader::~Downloader() = default;

DownloadRequest download_request_for(const Notification& n) {
  DownloadRequest req;
  if (const Link* link = n.data_link()) {
    req.urls.emplace_back(link->href);
    if (link->length && *link->length >= 0) req.expected_size = static_cast<std::uint64_t>(*link->length);
  }
  if (n.integrity())
    req.integrity = ExpectedDigest{std::string(n.integrity()->method), std::string(n.integrity()->value)};
  return req;
}

std::future<DownloadResult> Downloader::fetch(DownloadRequest request) {
  auto t = std::make_unique<Impl::Transfer>();
  t->request = std::move(request);
  auto future = t->promise.emplace().get_future();
  impl_->dispatch(std::move(t));
  return future;
}

std::future<DownloadResult> Downloader::fetch(const Notification& n) {
  return fetch(n, ValidationMode::lenient);
}

std::future<DownloadResult> Downloader::fetch(const Notification& n, ValidationMode mode) {
  const bool strict = mode == ValidationMode::strict;
  const auto ready = [](DownloadResult r) {
    std::promise<DownloadResult> p;
    p.set_value(std::move(r));
    return p.get_future();
  };
  if (n.content()) {
    auto inline_data =
        decode_inline_content(n, impl_->options.lenient_integrity && !strict, impl_->options.max_object_bytes);
    if (inline_data.status == DownloadStatus::ok) {
      DownloadResult r;
      r.status = DownloadStatus::ok;
      r.url = "inline";
      r.data = std::move(inline_data.data);
      return ready(std::move(r));
    }
  }
  auto request = download_request_for(n);
  request.strict_integrity = strict;
  if (request.urls.empty()) {
    DownloadResult r;
    r.error = "the notification has no data link";
    return ready(std::move(r));
  }
  return fetch(std::move(request));
}

void Downloader::submit(DownloadRequest request, std::function<void(DownloadResult)> on_done) {
  auto t = std::make_unique<Impl::Transfer>();
  t->request = std::move(request);
  t->callback = std::move(on_done);
  impl_->dispatch(std::move(t));
}

std::size_t Downloader::poll(std::chrono::milliseconds wait) {
  std::deque<Impl::Done> ready;
  {
    std::unique_lock lock(impl_->done_mutex);
    if (impl_->done.empty() && wait.count() > 0)
      impl_->done_cv.wait_for(lock, wait, [this] { return !impl_->done.empty(); });
    ready.swap(impl_->done);
  }
  // One at a time: a spilled body comes back into memory only for its own callback.
  for (auto& d : ready) {
    impl_->hand_over(d);
    d.callback(std::move(d.result));
  }
  return ready.size();
}

Downloader::Memory Downloader::memory() const {
  return {impl_->buffered.load(), impl_->peak.load(), impl_->spilled.load()};
}

std::size_t Downloader::pending() const {
  return impl_->pending_count.load();
}

void Downloader::close() {
  impl_->stop();
}

const ConfigBinding<DownloadOptions>& download_options_config() {
  static const auto b =
      ConfigBinding<DownloadOptions>("download")
          .add("max_in_flight", &DownloadOptions::max_in_flight, "transfers at once, all hosts together",
               ConfigLimits::at_least(1))
          .add("max_per_host", &DownloadOptions::max_per_host, "connections per host", ConfigLimits::at_least(1))
          .add("connect_timeout", &DownloadOptions::connect_timeout, "connect timeout of one attempt",
               ConfigLimits::at_least(1))
          .add("total_timeout", &DownloadOptions::total_timeout, "time limit of one attempt", ConfigLimits::at_least(1))
          .add("max_retries", &DownloadOptions::max_retries, "retries of a passing failure, per URL",
               ConfigLimits::between(0, 100))
          .add("retry_base", &DownloadOptions::retry_base, "backoff: full jitter up to retry_base * 2^attempt")
          .add("retry_max", &DownloadOptions::retry_max, "cap of one backoff")
          .add("max_buffered_bytes", &DownloadOptions::max_buffered_bytes,
               "bytes of objects in flight kept in memory; the rest goes to temporary files")
          .add("spill_dir", &DownloadOptions::spill_dir, "where those temporary files go (empty: the system's)")
          .add("max_object_bytes", &DownloadOptions::max_object_bytes, "larger objects are refused",
               ConfigLimits::at_least(1))
          .add("verify_tls", &DownloadOptions::verify_tls, "check servers' certificates")
          .add("ca_file", &DownloadOptions::ca_file, "extra CA bundle (PEM) to trust")
          .add("allow_ftp", &DownloadOptions::allow_ftp, "also ftp:// and sftp:// links")
          .add("lenient_integrity", &DownloadOptions::lenient_integrity,
               "also accept hex digests and digests of the compressed bytes")
          .add("user_agent", &DownloadOptions::user_agent, "User-Agent header (empty: libwis2mon/<version>)");
  return b;
}

}  // namespace wis2mon
