// InfluxSink: line protocol over HTTP with libcurl. See wis2mon/sinks/influxdb.hpp.
#include "wis2mon/sinks/influxdb.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <mutex>

#include "common/ca_bundle.hpp"
#include "common/compat.hpp"
#include "common/curl.hpp"
#include "common/time_text.hpp"
#include "wis2mon/decoder.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/time.hpp"
#include "wis2mon/version.hpp"

namespace wis2mon {

std::map<std::string, InfluxTableSpec> influx_builtin_tables() {
  std::map<std::string, InfluxTableSpec> tables;
  for (const auto& s : known_record_schemas())
    tables.emplace(s->table(), InfluxTableSpec{s->table(), s->hints().tags, {}, s->hints().time_field});
  return tables;
}

namespace {

// Line protocol has no escape for line breaks outside string fields, so they become spaces.
bool is_line_break(char c) {
  return c == '\n' || c == '\r';
}

// Measurement: comma and space escaped.
void put_measurement(std::string& out, std::string_view s) {
  for (char c : s) {
    if (c == ',' || c == ' ') out += '\\';
    out += is_line_break(c) ? ' ' : c;
  }
}

// Tag keys, tag values and field keys: comma, equals and space escaped. A backslash is taken
// literally, except that one at the very end would escape the separator after it; InfluxDB
// has no way to write that, so trailing backslashes are left out.
void put_key(std::string& out, std::string_view s) {
  while (!s.empty() && s.back() == '\\') s.remove_suffix(1);
  for (char c : s) {
    if (c == ',' || c == '=' || c == ' ') out += '\\';
    out += is_line_break(c) ? ' ' : c;
  }
}

// String field values: inside double quotes, with quote and backslash escaped.
void put_string_field(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

template <typename T>
void put_number(std::string& out, T v) {
  char buf[32];
  std::to_chars_result r;
  if constexpr (std::is_floating_point_v<T>)
    r = detail::double_to_chars(buf, buf + sizeof buf, v);
  else
    r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Text of a value used as a tag; empty for null.
std::string tag_text(const FieldValue& v) {
  switch (type_of(v)) {
    case FieldType::null:
      return {};
    case FieldType::boolean:
      return std::get<bool>(v) ? "true" : "false";
    case FieldType::integer:
      return std::to_string(std::get<std::int64_t>(v));
    case FieldType::real: {
      std::string s;
      put_number(s, std::get<double>(v));
      return s;
    }
    case FieldType::string:
      return std::get<std::string>(v);
    case FieldType::time:
      return format_rfc3339(std::get<Timestamp>(v));
  }
  return {};
}

// Appends "key=value" for a field; false when the value is not writable (null, NaN, inf).
bool put_field(std::string& out, const std::string& key, const FieldValue& v, bool first) {
  const auto type = type_of(v);
  if (type == FieldType::null) return false;
  if (type == FieldType::real && !std::isfinite(std::get<double>(v))) return false;
  if (!first) out += ',';
  put_key(out, key);
  out += '=';
  switch (type) {
    case FieldType::boolean:
      out += std::get<bool>(v) ? "true" : "false";
      break;
    case FieldType::integer:
      put_number(out, std::get<std::int64_t>(v));
      out += 'i';
      break;
    case FieldType::real:
      put_number(out, std::get<double>(v));  // "3" is a float to InfluxDB; only "3i" is an integer
      break;
    case FieldType::string:
      put_string_field(out, std::get<std::string>(v));
      break;
    case FieldType::time: {
      char text[detail::rfc3339_buffer_size];
      put_string_field(out, {text, detail::format_rfc3339_into(std::get<Timestamp>(v), text)});
      break;
    }
    case FieldType::null:
      break;
  }
  return true;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

bool influx_line(const Record& record, const InfluxTableSpec& spec, std::string& out, std::string& error) {
  const auto start = out.size();
  const auto fail = [&](std::string why) {
    out.resize(start);
    error = std::move(why);
    return false;
  };
  put_measurement(out, spec.measurement.empty() ? record.table() : spec.measurement);
  if (out.size() == start) return fail("empty measurement name");

  // Tags sorted by key: what InfluxDB stores, and cheaper for it to index.
  std::vector<std::pair<std::string_view, std::string>> tags;
  tags.reserve(spec.tags.size());
  for (const auto& name : spec.tags) {
    const FieldValue* v = record.get(name);
    if (!v) continue;
    auto text = tag_text(*v);
    while (!text.empty() && text.back() == '\\') text.pop_back();
    if (!text.empty()) tags.emplace_back(name, std::move(text));
  }
  std::sort(tags.begin(), tags.end());
  for (const auto& [key, text] : tags) {
    out += ',';
    put_key(out, key);
    out += '=';
    put_key(out, text);
  }

  out += ' ';
  bool first = true;
  if (spec.fields.empty()) {
    for (std::size_t i = 0; i < record.size(); ++i) {
      const auto& name = record.name(i);
      if (name == spec.time_field || contains(spec.tags, name)) continue;
      if (put_field(out, name, record.value(i), first)) first = false;
    }
  } else {
    for (const auto& name : spec.fields)
      if (const FieldValue* v = record.get(name); v && put_field(out, name, *v, first)) first = false;
  }
  if (first) return fail("no field values to write");

  if (!spec.time_field.empty()) {
    const FieldValue* v = record.get(spec.time_field);
    std::optional<Timestamp> t;
    if (v && type_of(*v) == FieldType::time) t = std::get<Timestamp>(*v);
    if (v && type_of(*v) == FieldType::string) t = parse_rfc3339(std::get<std::string>(*v));
    if (!t) return fail("time field '" + spec.time_field + "' is missing or not a time");
    // Nanoseconds since 1970 in a signed 64-bit integer: 1677-09-21 to 2262-04-11.
    constexpr std::int64_t limit = std::numeric_limits<std::int64_t>::max() / 1000000000 - 1;
    if (t->seconds > limit || t->seconds < -limit) return fail("time field '" + spec.time_field + "' is out of range");
    out += ' ';
    put_number(out, t->seconds * 1000000000 + t->nanos);
  }
  out += '\n';
  return true;
}

struct InfluxSink::Impl {
  InfluxSinkOptions options;
  std::string write_url;
  std::string ping_url;
  std::map<std::string, InfluxTableSpec> tables;
  InfluxTableSpec fallback;  // tables not in the map whose schema gives no hints

  // The options' override_all, over a table's spec.
  void apply_override(InfluxTableSpec& spec) const {
    if (!options.override_all) return;
    const auto& over = *options.override_all;
    if (!over.measurement.empty()) spec.measurement = over.measurement;
    if (!over.tags.empty()) spec.tags = over.tags;
    if (!over.fields.empty()) spec.fields = over.fields;
    if (!over.time_field.empty()) spec.time_field = over.time_field;
  }

  // A table neither configured nor known takes its producer's hints (learned once).
  const InfluxTableSpec& spec_for(const Record& r) {
    if (const auto it = tables.find(r.table()); it != tables.end()) return it->second;
    const auto& h = r.schema()->hints();
    if (h.tags.empty() && h.time_field.empty()) return fallback;
    InfluxTableSpec spec{r.table(), h.tags, {}, h.time_field};
    apply_override(spec);
    return tables.emplace(r.table(), std::move(spec)).first->second;
  }
  std::mutex mutex;  // write(), healthcheck() and close() may come from different threads
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;
  bool closed = false;
  InfluxSinkStats stats;
  char error[CURL_ERROR_SIZE] = {};

  struct Reply {
    bool answered = false;  // false: no HTTP answer (connect failure, timeout)
    long status = 0;
    std::string body;
    std::string failure;  // curl's message when not answered
  };

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* body = static_cast<std::string*>(user);
    if (body->size() < 4096) body->append(data, std::min<std::size_t>(size * n, 4096 - body->size()));
    return size * n;
  }

  std::string escape(const std::string& s) {
    char* e = curl_easy_escape(curl, s.c_str(), static_cast<int>(s.size()));
    if (!e) throw Error(ErrorCode::internal, "curl_easy_escape failed");
    std::string r(e);
    curl_free(e);
    return r;
  }

  void open() {
    detail::curl_global_init_once();
    curl = curl_easy_init();
    if (!curl) throw Error(ErrorCode::network, "curl_easy_init failed");
    std::string base = options.url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    if (options.api == InfluxApi::v1) {
      write_url = base + "/write?db=" + escape(options.database) + "&precision=ns";
      if (!options.retention_policy.empty()) write_url += "&rp=" + escape(options.retention_policy);
    } else {
      write_url =
          base + "/api/v2/write?org=" + escape(options.org) + "&bucket=" + escape(options.bucket) + "&precision=ns";
      headers = curl_slist_append(headers, ("Authorization: Token " + options.token).c_str());
    }
    ping_url = base + "/ping";
    headers = curl_slist_append(headers, "Content-Type: text/plain; charset=utf-8");
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip for big batches
    // What every request shares, set once; the handle keeps its connection between requests.
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    detail::curl_allow_protocols(curl, "http,https");
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options.verify_tls ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options.verify_tls ? 2L : 0L);
    const std::string& ca = options.ca_file.empty() ? detail::system_ca_file() : options.ca_file;
    if (!ca.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca.c_str());
    curl_easy_setopt(curl, CURLOPT_USERAGENT, (std::string("libwis2mon/") + version_string).c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Impl::on_body);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (options.api == InfluxApi::v1 && !options.username.empty()) {
      curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
      curl_easy_setopt(curl, CURLOPT_USERNAME, options.username.c_str());
      curl_easy_setopt(curl, CURLOPT_PASSWORD, options.password.c_str());
    }
  }

  Reply request(const std::string* body) {
    Reply reply;
    error[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, body ? write_url.c_str() : ping_url.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
    if (!body) {
      curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(curl, CURLOPT_POST, 1L);
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
      ++stats.requests;
      stats.bytes_sent += body->size();
    }
    const CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
      reply.failure = error[0] ? error : curl_easy_strerror(rc);
      return reply;
    }
    reply.answered = true;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
    return reply;
  }

  static std::string describe(const Reply& r) {
    if (!r.answered) return "InfluxDB not reached: " + r.failure;
    std::string body = r.body;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    return "InfluxDB answered " + std::to_string(r.status) + (body.empty() ? "" : ": " + body);
  }

  // Sends lines[first, last) (indices into the batch in idx) and fills their answers; splits
  // the range when the server refuses some line of it.
  void send(const std::vector<std::string>& lines, const std::vector<std::size_t>& idx, std::size_t first,
            std::size_t last, std::vector<Delivery>& answers) {
    std::string body;
    std::size_t bytes = 0;
    for (std::size_t i = first; i < last; ++i) bytes += lines[i].size();
    body.reserve(bytes);
    for (std::size_t i = first; i < last; ++i) body += lines[i];
    const Reply reply = request(&body);
    const auto answer_all = [&](DeliveryStatus status, const std::string& reason) {
      for (std::size_t i = first; i < last; ++i) answers[idx[i]] = {status, reason};
    };
    if (reply.answered && reply.status >= 200 && reply.status < 300) {
      answer_all(DeliveryStatus::delivered, {});
      stats.points_written += last - first;
      return;
    }
    const long s = reply.status;
    if (!reply.answered || s >= 500 || s == 408 || s == 429 || s < 200 || (s >= 300 && s < 400)) {
      answer_all(DeliveryStatus::retry, describe(reply));
      return;
    }
    const bool some_line_refused = s == 400 || s == 413 || s == 422;
    if (some_line_refused && last - first > 1) {
      const auto mid = first + (last - first) / 2;
      send(lines, idx, first, mid, answers);
      send(lines, idx, mid, last, answers);
      return;
    }
    answer_all(DeliveryStatus::rejected, describe(reply));
  }
};

InfluxSink::InfluxSink(std::string name, InfluxSinkOptions options)
    : Sink(std::move(name)), impl_(std::make_unique<Impl>()) {
  auto& o = options;
  const auto bad = [&](const std::string& why) { throw Error(ErrorCode::invalid_argument, "influxdb sink: " + why); };
  if (o.url.rfind("http://", 0) != 0 && o.url.rfind("https://", 0) != 0) bad("url must start with http:// or https://");
  if (o.api == InfluxApi::v1 && o.database.empty()) bad("database is required for the 1.x API");
  if (o.api == InfluxApi::v2 && (o.org.empty() || o.bucket.empty())) bad("org and bucket are required for the 2.x API");
  if (o.timeout.count() <= 0) bad("timeout must be positive");
  impl_->tables = influx_builtin_tables();
  for (const auto& [table, spec] : o.tables) {
    if (spec.measurement.find_first_of("\r\n") != std::string::npos)
      bad("measurement of '" + table + "' has a line break");
    impl_->tables[table] = spec;
  }
  impl_->options = std::move(options);
  for (auto& [table, spec] : impl_->tables) impl_->apply_override(spec);
  impl_->apply_override(impl_->fallback);
  impl_->open();
}

InfluxSink::~InfluxSink() {
  if (impl_->curl) curl_easy_cleanup(impl_->curl);
  curl_slist_free_all(impl_->headers);
}

std::vector<Delivery> InfluxSink::write(const std::vector<Record>& batch) {
  std::lock_guard lock(impl_->mutex);
  std::vector<Delivery> answers(batch.size());
  if (impl_->closed) {
    for (auto& a : answers) a = {DeliveryStatus::retry, "sink is closed"};
    return answers;
  }
  std::vector<std::string> lines;
  std::vector<std::size_t> idx;  // lines[i] is batch[idx[i]]
  lines.reserve(batch.size());
  idx.reserve(batch.size());
  std::string error;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    std::string line;
    if (influx_line(batch[i], impl_->spec_for(batch[i]), line, error)) {
      lines.push_back(std::move(line));
      idx.push_back(i);
    } else {
      answers[i] = {DeliveryStatus::rejected, error};
    }
  }
  if (!lines.empty()) impl_->send(lines, idx, 0, lines.size(), answers);
  return answers;
}

SinkHealth InfluxSink::healthcheck() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->closed) return {false, "closed"};
  const auto reply = impl_->request(nullptr);
  if (reply.answered && reply.status == 204) return {};
  return {false, Impl::describe(reply)};
}

void InfluxSink::close() {
  std::lock_guard lock(impl_->mutex);
  impl_->closed = true;  // every write already waited for its answer: nothing to flush
}

InfluxSinkStats InfluxSink::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

}  // namespace wis2mon
