// The C API (include/wis2mon.h) over the C++ library. Every entry point runs its body inside
// guard(), which turns any exception into a status code and the thread's last-error message:
// nothing thrown crosses the C boundary.
#include "wis2mon.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "common/json_text.hpp"
#include "wis2mon/decode/bufr.hpp"
#include "wis2mon/decode/cap.hpp"
#include "wis2mon/download.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/monitor.hpp"
#include "wis2mon/notification.hpp"
#include "wis2mon/record.hpp"
#include "wis2mon/time.hpp"
#include "wis2mon/topic.hpp"
#include "wis2mon/version.hpp"
#include "wis2mon/wme.hpp"

using namespace wis2mon;

// ---- handles --------------------------------------------------------------------------------

struct wis2mon_notification {
  ParsedNotification parsed;
  std::string topic;
  mutable std::map<std::string, std::string> text;  // fields handed out as C strings
};

struct wis2mon_record {
  const Record* record = nullptr;
  Record owned{std::string()};                       // when the record belongs to a list
  mutable std::map<std::size_t, std::string> times;  // RFC 3339 text of time fields
  mutable std::string json;
  mutable bool has_json = false;
};

struct wis2mon_records {
  std::vector<std::unique_ptr<wis2mon_record>> records;
  std::vector<std::pair<int, std::string>> errors;  // message index, message
};

struct wis2mon_downloader {
  explicit wis2mon_downloader(DownloadOptions o) : downloader(std::move(o)) {}
  Downloader downloader;
};

struct wis2mon_download {
  DownloadResult result;
};

// The Monitor keeps its own lifecycle (start/stop serialised, Error(state) when not allowed,
// which guard() turns into WIS2MON_ESTATE): nothing to track here.
struct wis2mon_monitor {
  std::unique_ptr<Monitor> monitor;
};

namespace {

thread_local std::string t_last_error;

int fail(int code, std::string message) {
  t_last_error = std::move(message);
  return code;
}

// Runs body (returning a status); any exception becomes a status and the last error.
template <class F>
int guard(const char* where, F&& body) noexcept {
  try {
    return body();
  } catch (const Error& e) {
    return fail(-static_cast<int>(e.code()), std::string(where) + ": " + e.what());
  } catch (const std::bad_alloc&) {
    return fail(WIS2MON_ENOMEM, std::string(where) + ": out of memory");
  } catch (const std::exception& e) {
    return fail(WIS2MON_EINTERNAL, std::string(where) + ": " + e.what());
  } catch (...) {
    return fail(WIS2MON_EINTERNAL, std::string(where) + ": unknown exception");
  }
}

int null_argument(const char* where, const char* name) {
  return fail(WIS2MON_EINVAL, std::string(where) + ": " + name + " is NULL");
}

char* copy_out(const std::string& s) {
  auto* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) throw std::bad_alloc();
  std::memcpy(p, s.data(), s.size() + 1);
  return p;
}

ValidationMode mode_of(int mode) {
  if (mode != WIS2MON_LENIENT && mode != WIS2MON_STRICT)
    throw Error(ErrorCode::invalid_argument, "mode must be WIS2MON_LENIENT or WIS2MON_STRICT");
  return mode == WIS2MON_STRICT ? ValidationMode::strict : ValidationMode::lenient;
}

std::unique_ptr<wis2mon_record> own_record(Record r) {
  auto out = std::make_unique<wis2mon_record>();
  out->owned = std::move(r);
  out->record = &out->owned;
  return out;
}

void fill_value(const wis2mon_record& r, std::size_t i, wis2mon_value* value) {
  *value = wis2mon_value{WIS2MON_FIELD_NULL, 0, 0, 0.0, nullptr};
  const FieldValue& v = r.record->value(i);
  switch (type_of(v)) {
    case FieldType::null:
      break;
    case FieldType::boolean:
      value->type = WIS2MON_FIELD_BOOL;
      value->boolean = std::get<bool>(v) ? 1 : 0;
      break;
    case FieldType::integer:
      value->type = WIS2MON_FIELD_INT;
      value->integer = std::get<std::int64_t>(v);
      value->real = static_cast<double>(value->integer);
      break;
    case FieldType::real:
      value->type = WIS2MON_FIELD_REAL;
      value->real = std::get<double>(v);
      break;
    case FieldType::string:
      value->type = WIS2MON_FIELD_STRING;
      value->string = std::get<std::string>(v).c_str();
      break;
    case FieldType::time: {
      auto& text = r.times[i];
      if (text.empty()) text = format_rfc3339(std::get<Timestamp>(v));
      value->type = WIS2MON_FIELD_TIME;
      value->string = text.c_str();
      break;
    }
  }
}

DownloadRequest request_for(const char* url, const char* method, const char* value) {
  if (!url || !*url) throw Error(ErrorCode::invalid_argument, "url is NULL or empty");
  if ((method == nullptr) != (value == nullptr))
    throw Error(ErrorCode::invalid_argument, "integrity method and value go together (both or neither)");
  DownloadRequest req;
  req.urls.emplace_back(url);
  if (method) req.integrity = ExpectedDigest{method, value};
  return req;
}

// The options JSON through the download options' config table: the keys and units of the
// config file's `download` section (durations as "10s"/"250ms" or numbers of seconds).
DownloadOptions downloader_options(const char* json) {
  DownloadOptions o;
  if (!json || !*json) return o;
  rapidjson::Document d;
  detail::parse_json_text(d, json);
  if (d.HasParseError() || !d.IsObject()) throw Error(ErrorCode::parse, "downloader options: not a JSON object");
  std::map<std::string, std::string> user;
  const rapidjson::Value& object = d;  // const iteration: no C++20 reversed-operator ambiguity
  for (const auto& m : object.GetObject()) {
    const std::string key = m.name.GetString();
    const rapidjson::Value& v = m.value;
    if (v.IsString())
      user[key] = v.GetString();
    else if (v.IsBool())
      user[key] = v.GetBool() ? "true" : "false";
    else if (v.IsInt64())
      user[key] = std::to_string(v.GetInt64());
    else if (v.IsNumber())
      user[key] = detail::config_real_text(v.GetDouble());
    else
      throw Error(ErrorCode::invalid_argument, "downloader options: " + key + " must be a string, number or boolean");
  }
  download_options_config().apply_user(user, o);
  return o;
}

}  // namespace

extern "C" {

// ---- library --------------------------------------------------------------------------------

const char* wis2mon_version(void) {
  return WIS2MON_VERSION_STRING;
}

const char* wis2mon_strerror(int code) {
  switch (code) {
    case WIS2MON_OK:
      return "ok";
    case WIS2MON_EINVAL:
      return "invalid argument";
    case WIS2MON_EIO:
      return "input/output error";
    case WIS2MON_EPARSE:
      return "malformed configuration or table";
    case WIS2MON_ENOTFOUND:
      return "not found";
    case WIS2MON_ENETWORK:
      return "network error";
    case WIS2MON_EDATABASE:
      return "database error";
    case WIS2MON_EUNSUPPORTED:
      return "not supported by this build";
    case WIS2MON_EINTERNAL:
      return "internal error";
    case WIS2MON_ENOMEM:
      return "out of memory";
    case WIS2MON_ERANGE:
      return "index out of range";
    case WIS2MON_ESTATE:
      return "not allowed in this state";
    case WIS2MON_ETIMEDOUT:
      return "timed out";
    default:
      return "unknown status code";
  }
}

const char* wis2mon_last_error(void) {
  return t_last_error.c_str();
}

void wis2mon_free(void* p) {
  std::free(p);
}

// ---- notifications ----------------------------------------------------------------------------

int wis2mon_notification_parse(const char* data, size_t size, int mode, const char* topic, wis2mon_notification** out) {
  static constexpr const char* where = "wis2mon_notification_parse";
  if (!out) return null_argument(where, "out");
  *out = nullptr;
  if (!data && size > 0) return null_argument(where, "data");
  return guard(where, [&] {
    auto n = std::make_unique<wis2mon_notification>();
    if (topic) n->topic = topic;
    ParseOptions po;
    po.mode = mode_of(mode);
    po.topic = n->topic;
    n->parsed = Notification::parse(std::string_view(data ? data : "", size), po);
    *out = n.release();
    return WIS2MON_OK;
  });
}

void wis2mon_notification_destroy(wis2mon_notification* n) {
  delete n;
}

int wis2mon_notification_valid(const wis2mon_notification* n) {
  if (!n) return null_argument("wis2mon_notification_valid", "n");
  return n->parsed.valid() ? 1 : 0;
}

size_t wis2mon_notification_issue_count(const wis2mon_notification* n, int warnings) {
  if (!n) return 0;
  return warnings ? n->parsed.report.warnings().size() : n->parsed.report.errors().size();
}

int wis2mon_notification_issue(const wis2mon_notification* n, int warnings, size_t index, const char** path,
                               const char** rule, const char** message) {
  static constexpr const char* where = "wis2mon_notification_issue";
  if (!n) return null_argument(where, "n");
  const auto& list = warnings ? n->parsed.report.warnings() : n->parsed.report.errors();
  if (index >= list.size())
    return fail(WIS2MON_ERANGE,
                std::string(where) + ": index " + std::to_string(index) + " of " + std::to_string(list.size()));
  if (path) *path = list[index].path.c_str();
  if (rule) *rule = list[index].rule.c_str();
  if (message) *message = list[index].message.c_str();
  return WIS2MON_OK;
}

const char* wis2mon_notification_get(const wis2mon_notification* n, const char* field) {
  if (!n || !field) {
    fail(WIS2MON_EINVAL, "wis2mon_notification_get: n or field is NULL");
    return nullptr;
  }
  const char* result = nullptr;
  const int rc = guard("wis2mon_notification_get", [&] {
    const std::string f = field;
    const auto* entry = find_notification_field(f);
    if (!entry) return fail(WIS2MON_ENOTFOUND, "wis2mon_notification_get: no field '" + f + "'");
    auto v = field_text(entry->value(n->parsed.notification));
    if (!v) return fail(WIS2MON_ENOTFOUND, "wis2mon_notification_get: the message has no " + f);
    auto& slot = n->text[f];
    slot = std::move(*v);
    result = slot.c_str();
    return WIS2MON_OK;
  });
  return rc == WIS2MON_OK ? result : nullptr;
}

int wis2mon_notification_report_json(const wis2mon_notification* n, char** out) {
  static constexpr const char* where = "wis2mon_notification_report_json";
  if (!out) return null_argument(where, "out");
  *out = nullptr;
  if (!n) return null_argument(where, "n");
  return guard(where, [&] {
    *out = copy_out(to_json(n->parsed.report));
    return WIS2MON_OK;
  });
}

// ---- topics -----------------------------------------------------------------------------------

int wis2mon_topic_validate(const char* topic, int mode, int* valid, char** report) {
  static constexpr const char* where = "wis2mon_topic_validate";
  if (report) *report = nullptr;
  if (!topic) return null_argument(where, "topic");
  if (!valid) return null_argument(where, "valid");
  return guard(where, [&] {
    TopicValidationOptions o;
    o.mode = mode_of(mode);
    const auto r = validate_topic(topic, o);
    *valid = r.valid() ? 1 : 0;
    if (report) *report = copy_out(to_json(r));
    return WIS2MON_OK;
  });
}

int wis2mon_wme_validate(const char* json, int mode, int* valid, char** report) {
  static constexpr const char* where = "wis2mon_wme_validate";
  if (report) *report = nullptr;
  if (!json) return null_argument(where, "json");
  if (!valid) return null_argument(where, "valid");
  return guard(where, [&] {
    const auto r = validate_wme(json, mode_of(mode));
    *valid = r.valid() ? 1 : 0;
    if (report) *report = copy_out(to_json(r));
    return WIS2MON_OK;
  });
}

int wis2mon_topic_match(const char* filter, const char* topic, int* matches) {
  static constexpr const char* where = "wis2mon_topic_match";
  if (!filter) return null_argument(where, "filter");
  if (!topic) return null_argument(where, "topic");
  if (!matches) return null_argument(where, "matches");
  return guard(where, [&] {
    if (std::string why; !is_valid_filter(filter, &why))
      return fail(WIS2MON_EINVAL, std::string(where) + ": filter '" + filter + "' " + why);
    *matches = topic_matches(filter, topic) ? 1 : 0;
    return WIS2MON_OK;
  });
}

// ---- records and decoders ---------------------------------------------------------------------

int wis2mon_decode_bufr(const void* data, size_t size, wis2mon_records** out) {
  static constexpr const char* where = "wis2mon_decode_bufr";
  if (!out) return null_argument(where, "out");
  *out = nullptr;
  if (!data && size > 0) return null_argument(where, "data");
  return guard(where, [&] {
    auto result = decode_bufr(std::string_view(static_cast<const char*>(data ? data : ""), size));
    auto list = std::make_unique<wis2mon_records>();
    for (auto& r : result.records) list->records.push_back(own_record(std::move(r)));
    for (auto& e : result.errors) list->errors.emplace_back(e.message_index, std::move(e.message));
    *out = list.release();
    return WIS2MON_OK;
  });
}

int wis2mon_decode_cap(const void* data, size_t size, wis2mon_records** out, char** alert_json) {
  static constexpr const char* where = "wis2mon_decode_cap";
  if (alert_json) *alert_json = nullptr;
  if (!out) return null_argument(where, "out");
  *out = nullptr;
  if (!data && size > 0) return null_argument(where, "data");
  return guard(where, [&] {
    const auto result = decode_cap(std::string_view(static_cast<const char*>(data ? data : ""), size));
    auto list = std::make_unique<wis2mon_records>();
    for (auto& r : result.to_records()) list->records.push_back(own_record(std::move(r)));
    for (const auto& e : result.errors) list->errors.emplace_back(0, e.message);
    if (alert_json) *alert_json = copy_out(result.to_json());
    *out = list.release();
    return WIS2MON_OK;
  });
}

int wis2mon_decode_cap_document(const void* data, size_t size, int mode, wis2mon_records** out, char** document_json) {
  static constexpr const char* where = "wis2mon_decode_cap_document";
  if (document_json) *document_json = nullptr;
  if (!out) return null_argument(where, "out");
  *out = nullptr;
  if (!data && size > 0) return null_argument(where, "data");
  if (mode != WIS2MON_LENIENT && mode != WIS2MON_STRICT)
    return fail(WIS2MON_EINVAL, std::string(where) + ": mode must be WIS2MON_LENIENT or WIS2MON_STRICT");
  return guard(where, [&] {
    CapOptions options;
    options.mode = mode == WIS2MON_STRICT ? ValidationMode::strict : ValidationMode::lenient;
    const auto doc = decode_cap_document(std::string_view(static_cast<const char*>(data ? data : ""), size), options);
    auto list = std::make_unique<wis2mon_records>();
    for (auto& r : doc.to_records()) list->records.push_back(own_record(std::move(r)));
    for (const auto& e : doc.errors) list->errors.emplace_back(0, e.message);
    for (const auto& a : doc.alerts)
      for (const auto& e : a.errors) list->errors.emplace_back(a.position, e.message);
    if (document_json) *document_json = copy_out(doc.to_json());
    *out = list.release();
    return WIS2MON_OK;
  });
}

void wis2mon_records_destroy(wis2mon_records* r) {
  delete r;
}

size_t wis2mon_records_count(const wis2mon_records* r) {
  return r ? r->records.size() : 0;
}

const wis2mon_record* wis2mon_records_at(const wis2mon_records* r, size_t index) {
  if (!r || index >= r->records.size()) {
    fail(r ? WIS2MON_ERANGE : WIS2MON_EINVAL, "wis2mon_records_at: no record " + std::to_string(index));
    return nullptr;
  }
  return r->records[index].get();
}

size_t wis2mon_records_error_count(const wis2mon_records* r) {
  return r ? r->errors.size() : 0;
}

const char* wis2mon_records_error(const wis2mon_records* r, size_t index, int* message_index) {
  if (!r || index >= r->errors.size()) {
    fail(r ? WIS2MON_ERANGE : WIS2MON_EINVAL, "wis2mon_records_error: no error " + std::to_string(index));
    return nullptr;
  }
  if (message_index) *message_index = r->errors[index].first;
  return r->errors[index].second.c_str();
}

const char* wis2mon_record_table(const wis2mon_record* r) {
  return r ? r->record->table().c_str() : nullptr;
}

size_t wis2mon_record_field_count(const wis2mon_record* r) {
  return r ? r->record->size() : 0;
}

int wis2mon_record_field(const wis2mon_record* r, size_t index, const char** name, wis2mon_value* value) {
  static constexpr const char* where = "wis2mon_record_field";
  if (!r) return null_argument(where, "r");
  if (index >= r->record->size())
    return fail(WIS2MON_ERANGE,
                std::string(where) + ": index " + std::to_string(index) + " of " + std::to_string(r->record->size()));
  return guard(where, [&] {
    if (name) *name = r->record->name(index).c_str();
    if (value) fill_value(*r, index, value);
    return WIS2MON_OK;
  });
}

int wis2mon_record_get(const wis2mon_record* r, const char* name, wis2mon_value* value) {
  static constexpr const char* where = "wis2mon_record_get";
  if (!r) return null_argument(where, "r");
  if (!name) return null_argument(where, "name");
  return guard(where, [&] {
    const auto i = r->record->schema()->index_of(name);
    if (!i) return fail(WIS2MON_ENOTFOUND, std::string(where) + ": no field '" + name + "'");
    if (value) fill_value(*r, *i, value);
    return WIS2MON_OK;
  });
}

const char* wis2mon_record_json(const wis2mon_record* r) {
  if (!r) {
    fail(WIS2MON_EINVAL, "wis2mon_record_json: r is NULL");
    return nullptr;
  }
  const int rc = guard("wis2mon_record_json", [&] {
    if (!r->has_json) {
      r->json = r->record->to_json();
      r->has_json = true;
    }
    return WIS2MON_OK;
  });
  return rc == WIS2MON_OK ? r->json.c_str() : nullptr;
}

// ---- downloads --------------------------------------------------------------------------------

int wis2mon_downloader_new(const char* options_json, wis2mon_downloader** out) {
  static constexpr const char* where = "wis2mon_downloader_new";
  if (!out) return null_argument(where, "out");
  *out = nullptr;
  return guard(where, [&] {
    *out = new wis2mon_downloader(downloader_options(options_json));
    return WIS2MON_OK;
  });
}

void wis2mon_downloader_destroy(wis2mon_downloader* d) {
  if (!d) return;
  guard("wis2mon_downloader_destroy", [&] {
    d->downloader.close();
    return WIS2MON_OK;
  });
  delete d;
}

int wis2mon_downloader_fetch(wis2mon_downloader* d, const char* url, const char* integrity_method,
                             const char* integrity_value, wis2mon_download** out) {
  static constexpr const char* where = "wis2mon_downloader_fetch";
  if (!out) return null_argument(where, "out");
  *out = nullptr;
  if (!d) return null_argument(where, "d");
  return guard(where, [&] {
    auto future = d->downloader.fetch(request_for(url, integrity_method, integrity_value));
    *out = new wis2mon_download{future.get()};
    return WIS2MON_OK;
  });
}

int wis2mon_downloader_fetch_notification(wis2mon_downloader* d, const wis2mon_notification* n,
                                          wis2mon_download** out) {
  static constexpr const char* where = "wis2mon_downloader_fetch_notification";
  if (!out) return null_argument(where, "out");
  *out = nullptr;
  if (!d) return null_argument(where, "d");
  if (!n) return null_argument(where, "n");
  return guard(where, [&] {
    *out = new wis2mon_download{d->downloader.fetch(n->parsed.notification).get()};
    return WIS2MON_OK;
  });
}

int wis2mon_downloader_submit(wis2mon_downloader* d, const char* url, const char* integrity_method,
                              const char* integrity_value, wis2mon_download_cb callback, void* user_data) {
  static constexpr const char* where = "wis2mon_downloader_submit";
  if (!d) return null_argument(where, "d");
  if (!callback) return null_argument(where, "callback");
  return guard(where, [&] {
    d->downloader.submit(request_for(url, integrity_method, integrity_value), [callback, user_data](DownloadResult r) {
      callback(new wis2mon_download{std::move(r)}, user_data);
    });
    return WIS2MON_OK;
  });
}

int wis2mon_downloader_poll(wis2mon_downloader* d, int timeout_ms, size_t* completed, size_t* pending) {
  static constexpr const char* where = "wis2mon_downloader_poll";
  if (completed) *completed = 0;
  if (!d) return null_argument(where, "d");
  return guard(where, [&] {
    const auto n = d->downloader.poll(std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms));
    if (completed) *completed = n;
    if (pending) *pending = d->downloader.pending();
    return WIS2MON_OK;
  });
}

void wis2mon_download_destroy(wis2mon_download* r) {
  delete r;
}

int wis2mon_download_status(const wis2mon_download* r) {
  if (!r) return null_argument("wis2mon_download_status", "r");
  return static_cast<int>(r->result.status);
}

const char* wis2mon_download_status_text(const wis2mon_download* r) {
  return r ? to_string(r->result.status) : nullptr;
}

long wis2mon_download_http_code(const wis2mon_download* r) {
  return r ? r->result.http_code : 0;
}

const char* wis2mon_download_url(const wis2mon_download* r) {
  return r ? r->result.url.c_str() : nullptr;
}

const void* wis2mon_download_data(const wis2mon_download* r, size_t* size) {
  if (size) *size = r ? r->result.data.size() : 0;
  return r ? r->result.data.data() : nullptr;
}

const char* wis2mon_download_error(const wis2mon_download* r) {
  return r ? r->result.error.c_str() : nullptr;
}

// ---- the monitor ------------------------------------------------------------------------------

int wis2mon_monitor_new(const char* config_text, wis2mon_monitor** out) {
  static constexpr const char* where = "wis2mon_monitor_new";
  if (!out) return null_argument(where, "out");
  *out = nullptr;
  return guard(where, [&] {
    const auto config = config_text && *config_text ? parse_monitor_config(config_text) : default_monitor_config();
    auto m = std::make_unique<wis2mon_monitor>();
    m->monitor = std::make_unique<Monitor>(config);
    *out = m.release();
    return WIS2MON_OK;
  });
}

int wis2mon_monitor_new_from_file(const char* path, wis2mon_monitor** out) {
  static constexpr const char* where = "wis2mon_monitor_new_from_file";
  if (!out) return null_argument(where, "out");
  *out = nullptr;
  if (!path) return null_argument(where, "path");
  return guard(where, [&] {
    auto m = std::make_unique<wis2mon_monitor>();
    m->monitor = std::make_unique<Monitor>(load_monitor_config(path));
    *out = m.release();
    return WIS2MON_OK;
  });
}

int wis2mon_monitor_close(wis2mon_monitor* m) {
  static constexpr const char* where = "wis2mon_monitor_close";
  if (!m) return null_argument(where, "m");
  return guard(where, [&] {
    m->monitor->stop();  // idempotent
    return WIS2MON_OK;
  });
}

void wis2mon_monitor_destroy(wis2mon_monitor* m) {
  if (!m) return;
  wis2mon_monitor_close(m);
  guard("wis2mon_monitor_destroy", [&] {
    m->monitor.reset();
    return WIS2MON_OK;
  });
  delete m;
}

int wis2mon_monitor_add_callback_sink(wis2mon_monitor* m, const char* name, wis2mon_record_cb callback,
                                      void* user_data) {
  static constexpr const char* where = "wis2mon_monitor_add_callback_sink";
  if (!m) return null_argument(where, "m");
  if (!name) return null_argument(where, "name");
  if (!callback) return null_argument(where, "callback");
  return guard(where, [&] {
    m->monitor->add_callback_sink(name, [callback, user_data](const std::vector<Record>& batch) {
      std::vector<Delivery> answer;
      answer.reserve(batch.size());
      for (const auto& record : batch) {
        wis2mon_record view;
        view.record = &record;
        const int rc = callback(&view, user_data);
        if (rc == WIS2MON_DELIVERED)
          answer.push_back({DeliveryStatus::delivered, ""});
        else if (rc == WIS2MON_RETRY)
          answer.push_back({DeliveryStatus::retry, "callback asked to retry"});
        else
          answer.push_back({DeliveryStatus::rejected, "callback rejected the record (" + std::to_string(rc) + ")"});
      }
      return answer;
    });
    return WIS2MON_OK;
  });
}

int wis2mon_monitor_start(wis2mon_monitor* m) {
  if (!m) return null_argument("wis2mon_monitor_start", "m");
  return guard("wis2mon_monitor_start", [&] {
    m->monitor->start();
    return WIS2MON_OK;
  });
}

int wis2mon_monitor_push(wis2mon_monitor* m, const char* topic, const char* payload, size_t size) {
  static constexpr const char* where = "wis2mon_monitor_push";
  if (!m) return null_argument(where, "m");
  if (!topic) return null_argument(where, "topic");
  if (!payload && size > 0) return null_argument(where, "payload");
  return guard(where, [&] {
    m->monitor->start();  // push, poll and drain start a monitor not yet running
    m->monitor->push(topic, std::string_view(payload ? payload : "", size));
    return WIS2MON_OK;
  });
}

int wis2mon_monitor_poll(wis2mon_monitor* m, int timeout_ms, size_t* handled) {
  static constexpr const char* where = "wis2mon_monitor_poll";
  if (handled) *handled = 0;
  if (!m) return null_argument(where, "m");
  return guard(where, [&] {
    m->monitor->start();  // push, poll and drain start a monitor not yet running
    const auto n = m->monitor->poll(std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms));
    if (handled) *handled = n;
    return WIS2MON_OK;
  });
}

int wis2mon_monitor_drain(wis2mon_monitor* m, int timeout_ms) {
  static constexpr const char* where = "wis2mon_monitor_drain";
  if (!m) return null_argument(where, "m");
  return guard(where, [&] {
    m->monitor->start();  // push, poll and drain start a monitor not yet running
    if (!m->monitor->drain(std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms)))
      return fail(WIS2MON_ETIMEDOUT,
                  std::string(where) + ": work still pending after " + std::to_string(timeout_ms) + " ms");
    return WIS2MON_OK;
  });
}

int wis2mon_monitor_stats_json(const wis2mon_monitor* m, char** out) {
  static constexpr const char* where = "wis2mon_monitor_stats_json";
  if (!out) return null_argument(where, "out");
  *out = nullptr;
  if (!m) return null_argument(where, "m");
  return guard(where, [&] {
    *out = copy_out(to_json(m->monitor->stats()));
    return WIS2MON_OK;
  });
}

int wis2mon_monitor_dead_letters_json(const wis2mon_monitor* m, size_t limit, const char* sink, char** out) {
  static constexpr const char* where = "wis2mon_monitor_dead_letters_json";
  if (!out) return null_argument(where, "out");
  *out = nullptr;
  if (!m) return null_argument(where, "m");
  return guard(where, [&] {
    *out = copy_out(to_json(m->monitor->dead_letters(limit, sink ? sink : "")));
    return WIS2MON_OK;
  });
}

int wis2mon_monitor_retry_dead_letters(wis2mon_monitor* m, const char* sink, size_t* count) {
  static constexpr const char* where = "wis2mon_monitor_retry_dead_letters";
  if (count) *count = 0;
  if (!m) return null_argument(where, "m");
  return guard(where, [&] {
    const auto n = m->monitor->retry_dead_letters(sink ? sink : "");
    if (count) *count = n;
    return WIS2MON_OK;
  });
}

int wis2mon_monitor_purge_dead_letters(wis2mon_monitor* m, const char* sink, size_t* count) {
  static constexpr const char* where = "wis2mon_monitor_purge_dead_letters";
  if (count) *count = 0;
  if (!m) return null_argument(where, "m");
  return guard(where, [&] {
    const auto n = m->monitor->purge_dead_letters(sink ? sink : "");
    if (count) *count = n;
    return WIS2MON_OK;
  });
}

int wis2mon_monitor_metrics_text(wis2mon_monitor* m, char** out) {
  static constexpr const char* where = "wis2mon_monitor_metrics_text";
  if (!out) return null_argument(where, "out");
  *out = nullptr;
  if (!m) return null_argument(where, "m");
  return guard(where, [&] {
    *out = copy_out(m->monitor->metrics_text());
    return WIS2MON_OK;
  });
}

}  // extern "C"
