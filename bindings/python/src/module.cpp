// wis2mon._wis2mon: the C++ library for Python. The Pythonic surface (keyword defaults,
// docstrings, errors) lives in the wis2mon package; this module stays close to the C++ API.
// The GIL is released around anything that can block (decoding, downloads, the monitor).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "convert.hpp"
#include "sample/demo_stream.hpp"
#include "wis2mon/availability.hpp"
#include "wis2mon/decode/bufr.hpp"
#include "wis2mon/decode/cap.hpp"
#include "wis2mon/download.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/notification.hpp"
#include "wis2mon/object_store.hpp"
#include "wis2mon/time.hpp"
#include "wis2mon/topic.hpp"
#include "wis2mon/version.hpp"
#include "wis2mon/wme.hpp"

namespace py = pybind11;
using namespace wis2mon;
using wis2mon::python::bytes_of;
using wis2mon::python::issues_to_list;

namespace {

ValidationMode mode_of(const std::string& mode) {
  if (mode == "lenient") return ValidationMode::lenient;
  if (mode == "strict") return ValidationMode::strict;
  throw Error(ErrorCode::invalid_argument, "mode must be 'lenient' or 'strict', not '" + mode + "'");
}

py::object text_or_none(std::string_view s) {
  return s.empty() ? py::object(py::none()) : py::object(py::str(std::string(s)));
}

py::object time_or_none(const std::optional<Timestamp>& t) {
  return t ? py::object(py::str(format_rfc3339(*t))) : py::object(py::none());
}

// A parsed notification with the bytes it came from (for to_dict).
struct PyNotification {
  ParsedNotification parsed;
  ValidationMode mode = ValidationMode::lenient;  // of parse(): fetch follows it
  py::bytes raw;                                  // the message as given (str input as UTF-8); shared, not copied
  std::string topic;
};

struct PyDownloader {
  explicit PyDownloader(DownloadOptions o) : downloader(std::make_unique<Downloader>(std::move(o))) {}
  std::unique_ptr<Downloader> downloader;
  Downloader& get() {
    if (!downloader) throw Error(ErrorCode::invalid_argument, "Downloader: closed");
    return *downloader;
  }
};

// A download of `item`: a URL (with an optional (method, value) integrity), or a
// notification (inline content or its data link, see Downloader::fetch).
// strict: None follows the notification's parse mode (lenient for a URL); strict, as `wis2mon
// fetch --strict`, refuses a notification that is not valid by the standard and verifies
// against base64 digests only.
std::future<DownloadResult> start_fetch(Downloader& d, const py::handle& item, const py::object& integrity,
                                        const py::object& strict) {
  if (py::isinstance<PyNotification>(item)) {
    const auto& n = item.cast<const PyNotification&>();
    const bool is_strict = strict.is_none() ? n.mode == ValidationMode::strict : strict.cast<bool>();
    if (is_strict) {
      // Validity as the standard has it: the notification parsed again in strict mode when it
      // was parsed lenient (its errors may differ).
      ParsedNotification checked = n.parsed;
      if (n.mode != ValidationMode::strict) {
        ParseOptions o;
        o.mode = ValidationMode::strict;
        o.topic = n.topic;
        char* buffer = nullptr;
        Py_ssize_t size = 0;
        PyBytes_AsStringAndSize(n.raw.ptr(), &buffer, &size);
        checked = Notification::parse(std::string_view(buffer, static_cast<std::size_t>(size)), o);
      }
      if (!checked.valid()) {
        const auto& e = checked.report.errors().front();
        throw Error(ErrorCode::invalid_argument, "strict fetch of a notification that is not valid: " + e.path + ": " +
                                                     e.message + " (" + e.rule + ")");
      }
    }
    return d.fetch(n.parsed.notification, is_strict ? ValidationMode::strict : ValidationMode::lenient);
  }
  if (!py::isinstance<py::str>(item))
    throw Error(ErrorCode::invalid_argument, "fetch takes a Notification or a URL (str), not " +
                                                 std::string(py::str(py::type::of(item).attr("__name__"))));
  DownloadRequest req;
  req.urls.push_back(item.cast<std::string>());
  req.strict_integrity = !strict.is_none() && strict.cast<bool>();
  if (!integrity.is_none()) {
    const auto pair = integrity.cast<std::pair<std::string, std::string>>();
    req.integrity = ExpectedDigest{pair.first, pair.second};
  }
  return d.fetch(std::move(req));
}

// A notification without anything to download is the caller's mistake in Python: raise.
DownloadResult checked(DownloadResult r) {
  if (r.status == DownloadStatus::invalid_notification && r.url.empty() && r.attempts.empty())
    throw Error(ErrorCode::invalid_argument, r.error);
  return r;
}

}  // namespace

PYBIND11_MODULE(_wis2mon, m) {
  m.doc() = "libwis2mon's C++ core (use the wis2mon package)";
  m.attr("__version__") = WIS2MON_VERSION_STRING;
  wis2mon::python::register_errors(m);

  // ---- notifications ----------------------------------------------------------------------
  py::class_<PyNotification> notification(
      m, "Notification",
      "A WIS2 Notification Message, parsed and validated: Notification.parse(data, mode, topic). Its "
      "fields are properties (str or None; times as UTC RFC 3339); valid, errors and warnings say what "
      "validation found.");
  // The flat fields (id, data_id, pubtime, ...) from the library's one table: str or None.
  for (const auto& field : notification_fields()) {
    if (std::string_view(field.name) == "operation") continue;  // below: a str even when unknown
    const auto get = field.value;
    notification.def_property_readonly(
        field.name,
        [get](const PyNotification& n) -> py::object {
          const auto text = field_text(get(n.parsed.notification));
          return text ? py::object(py::str(*text)) : py::object(py::none());
        },
        ("The notification's " + std::string(field.name) +
         " (str, or None when absent; times as UTC RFC 3339; docs/validation.md)")
            .c_str());
  }
  notification
      .def_static(
          "parse",
          [](const py::object& data, const std::string& mode, const py::object& topic) {
            auto n = std::make_unique<PyNotification>();
            if (py::isinstance<py::bytes>(data))
              n->raw = py::reinterpret_borrow<py::bytes>(data);
            else
              n->raw = py::bytes(bytes_of(data, "data"));
            if (!topic.is_none()) n->topic = topic.cast<std::string>();
            ParseOptions o;
            o.mode = mode_of(mode);
            n->mode = o.mode;
            o.topic = n->topic;
            char* buffer = nullptr;
            Py_ssize_t size = 0;
            PyBytes_AsStringAndSize(n->raw.ptr(), &buffer, &size);
            n->parsed = Notification::parse(std::string_view(buffer, static_cast<std::size_t>(size)), o);
            return n;
          },
          py::arg("data"), py::arg("mode") = "lenient", py::arg("topic") = py::none(),
          "Parses and validates a notification (bytes or str); mode lenient or strict; topic: where it was "
          "published (its checks join the validation)")
      .def_property_readonly(
          "valid", [](const PyNotification& n) { return n.parsed.valid(); }, "True when validation found no error")
      .def_property_readonly(
          "is_json", [](const PyNotification& n) { return n.parsed.json_ok; }, "True when the bytes are a JSON object")
      .def_property_readonly(
          "errors", [](const PyNotification& n) { return issues_to_list(n.parsed.report.errors()); },
          "Validation errors: dicts with path, rule and message")
      .def_property_readonly(
          "warnings", [](const PyNotification& n) { return issues_to_list(n.parsed.report.warnings()); },
          "Validation warnings: dicts with path, rule and message")
      .def_property_readonly(
          "raw", [](const PyNotification& n) { return n.raw; }, "The bytes as received")
      .def_property_readonly(
          "topic", [](const PyNotification& n) { return text_or_none(n.topic); }, "The topic given to parse(), or None")
      .def_property_readonly(
          "cache", [](const PyNotification& n) { return n.parsed.notification.cache(); },
          "properties.cache (True when absent)")
      .def_property_readonly(
          "operation",
          [](const PyNotification& n) {
            // "unknown" rather than None: Python callers compare strings.
            return to_string(n.parsed.notification.operation());
          },
          "new, update, deletion (from the links' rel), or unknown")
      .def_property_readonly(
          "integrity",
          [](const PyNotification& n) -> py::object {
            const auto& i = n.parsed.notification.integrity();
            if (!i) return py::none();
            py::dict d;
            d["method"] = std::string(i->method);
            d["value"] = std::string(i->value);
            return d;
          },
          "properties.integrity as a dict (method, value), or None")
      .def_property_readonly(
          "links",
          [](const PyNotification& n) {
            py::list out;
            for (const auto& l : n.parsed.notification.links()) {
              py::dict d;
              d["href"] = std::string(l.href);
              d["rel"] = std::string(l.rel);
              d["type"] = text_or_none(l.type);
              d["title"] = text_or_none(l.title);
              d["length"] = l.length ? py::object(py::int_(*l.length)) : py::object(py::none());
              out.append(d);
            }
            return out;
          },
          "The links: dicts with href, rel, type, title, length")
      .def_property_readonly(
          "size_bytes", [](const PyNotification& n) { return n.parsed.notification.size_bytes(); },
          "The announced size of the data in bytes (0 when unknown)")
      .def(
          "inline_data",
          [](const PyNotification& n) -> py::object {
            if (!n.parsed.notification.content()) return py::none();
            auto r = decode_inline_content(n.parsed.notification);
            if (r.status != DownloadStatus::ok) throw Error(ErrorCode::invalid_argument, "inline content: " + r.error);
            return py::bytes(r.data);
          },
          "The inline content (properties.content) decoded and verified, or None without one; "
          "InvalidArgumentError when it does not verify")
      .def(
          "to_dict",
          [](const PyNotification& n) -> py::object {
            if (!n.parsed.json_ok) throw Error(ErrorCode::parse, "to_dict: the message is not a JSON object");
            return py::module_::import("json").attr("loads")(n.raw);
          },
          "The message as a dict (ParseError when it is not a JSON object)")
      .def(
          "get",
          [](const PyNotification& n, const std::string& name, const py::object& default_value) -> py::object {
            if (!n.parsed.json_ok) return default_value;
            py::dict d = py::module_::import("json").attr("loads")(n.raw);
            if (d.contains("properties") && py::isinstance<py::dict>(d["properties"])) {
              py::dict props = d["properties"];
              if (props.contains(name)) return props[py::str(name)];
            }
            return d.contains(name) ? py::object(d[py::str(name)]) : default_value;
          },
          py::arg("name"), py::arg("default") = py::none(),
          "A member of properties (or of the message itself) by name, as JSON gives it; default when absent")
      .def("__repr__", [](const PyNotification& n) {
        return "<wis2mon.Notification " + std::string(n.parsed.notification.data_id()) +
               (n.parsed.valid() ? " valid>"
                                 : " invalid (" + std::to_string(n.parsed.report.errors().size()) + " errors)>");
      });

  // ---- topics -------------------------------------------------------------------------------
  py::class_<TopicHierarchy, std::shared_ptr<TopicHierarchy>>(m, "TopicHierarchy")
      .def_static(
          "load", [](const std::string& path) { return std::make_shared<TopicHierarchy>(TopicHierarchy::load(path)); },
          py::arg("path"))
      .def_static("default_location", [] { return TopicHierarchy::default_location().string(); })
      .def_property_readonly("centre_count", &TopicHierarchy::centre_count)
      .def_property_readonly("sub_topic_count", &TopicHierarchy::sub_topic_count);
  m.def(
      "topic_validate",
      [](const std::string& topic, const std::string& mode, const std::shared_ptr<TopicHierarchy>& hierarchy) {
        TopicValidationOptions o;
        o.mode = mode_of(mode);
        o.hierarchy = hierarchy.get();
        const auto r = validate_topic(topic, o);
        return py::make_tuple(r.valid(), issues_to_list(r.errors()), issues_to_list(r.warnings()));
      },
      py::arg("topic"), py::arg("mode") = "lenient", py::arg("hierarchy") = nullptr);
  m.def(
      "topic_match",
      [](const std::string& filter, const std::string& topic) {
        if (std::string why; !is_valid_filter(filter, &why))
          throw Error(ErrorCode::invalid_argument, "filter '" + filter + "' " + why);
        return topic_matches(filter, topic);
      },
      py::arg("filter"), py::arg("topic"));
  m.def(
      "is_valid_filter", [](const std::string& filter) { return is_valid_filter(filter); }, py::arg("filter"));

  // ---- WIS2 Monitoring Events and the Sensor Centres' figures ------------------------------
  m.def(
      "validate_wme",
      [](const std::string& json, const std::string& mode) {
        const auto r = validate_wme(json, mode_of(mode));
        return py::make_tuple(r.valid(), issues_to_list(r.errors()), issues_to_list(r.warnings()));
      },
      py::arg("json"), py::arg("mode") = "lenient");
  m.def(
      "availability_report",
      [](const std::string& db, const std::string& period, const std::string& since, const std::string& until,
         const std::string& stations) {
        AvailabilityReportOptions o;
        o.period = period;
        o.stations = stations;
        for (const auto& [text, slot] : {std::pair{since, &o.from}, std::pair{until, &o.to}}) {
          if (text.empty()) continue;
          *slot = parse_report_time(text);
          if (!*slot) throw Error(ErrorCode::invalid_argument, "'" + text + "' is not a date or an RFC 3339 time");
        }
        std::vector<AvailabilityReportRow> rows;
        {
          py::gil_scoped_release release;
          rows = availability_report(db, o);
        }
        py::list out;
        const auto opt = [](const std::optional<double>& v) { return v ? py::object(py::float_(*v)) : py::none(); };
        for (const auto& r : rows) {
          py::dict d;
          d["kind"] = r.kind;
          if (r.kind == "station") d["wigos_station_identifier"] = r.wigos_station_identifier;
          d["centre_id"] = r.centre_id;
          d["name"] = r.name;
          d["country"] = r.country;
          d["period"] = period;
          d["period_start"] = format_rfc3339(r.period_start, 0);
          d["expected"] = r.expected;
          d["received"] = r.received;
          d["late"] = r.late;
          d["percentage"] = opt(r.percentage);
          d["messages"] = r.messages;
          d["latency_data_to_pubtime_s"] = opt(r.latency_data_to_pubtime_s);
          d["latency_pubtime_to_receipt_s"] = opt(r.latency_pubtime_to_receipt_s);
          d["last_seen"] = r.last_seen;
          d["silent_since"] = r.silent_since;
          out.append(d);
        }
        return out;
      },
      py::arg("db"), py::arg("period") = "day", py::arg("since") = "", py::arg("until") = "", py::arg("stations") = "");

  // ---- decoders -----------------------------------------------------------------------------
  m.def(
      "decode_bufr",
      [](const py::object& data) {
        const std::string bytes = bytes_of(data, "data");
        BufrResult result;
        {
          py::gil_scoped_release release;
          result = decode_bufr(bytes);
        }
        py::list records, errors, warnings;
        wis2mon::python::RecordConverter to_dict(false);
        for (const auto& r : result.records) records.append(to_dict(r));
        for (const auto& e : result.errors) {
          py::dict d;
          d["message_index"] = e.message_index;
          d["error"] = e.message;
          errors.append(d);
        }
        for (const auto& w : result.warnings) {
          py::dict d;
          d["message_index"] = w.message_index;
          d["warning"] = w.message;
          warnings.append(d);
        }
        return py::make_tuple(records, errors, warnings);
      },
      py::arg("data"));
  // (JSON of the result, its records as dicts, its issues), decoded without the GIL. Issues as
  // notification ones ({path, rule, message}): (errors, warnings) of an alert; of a document,
  // (errors, warnings, [(errors, warnings) per alert]).
  const auto cap_decoder = [](auto decode) {
    return [decode](const py::object& data, bool strict) {
      const std::string bytes = bytes_of(data, "data");
      CapOptions options;
      options.mode = strict ? ValidationMode::strict : ValidationMode::lenient;
      std::string json;
      std::vector<Record> rows;
      decltype(decode(bytes, options)) result;
      {
        py::gil_scoped_release release;
        result = decode(bytes, options);
        json = result.to_json();
        rows = result.to_records();
      }
      py::list records;
      wis2mon::python::RecordConverter to_dict(true);
      for (const auto& r : rows) records.append(to_dict(r));
      py::tuple issues;
      if constexpr (std::is_same_v<decltype(result), CapDocument>) {
        py::list alerts;
        for (const auto& a : result.alerts)
          alerts.append(py::make_tuple(issues_to_list(a.errors), issues_to_list(a.warnings)));
        issues = py::make_tuple(issues_to_list(result.errors), issues_to_list(result.warnings), alerts);
      } else {
        issues = py::make_tuple(issues_to_list(result.errors), issues_to_list(result.warnings));
      }
      return py::make_tuple(json, records, issues);
    };
  };
  m.def("object_storage_supported", &wis2mon::object_storage_supported,
        "True when this build can sign S3 requests (ndjson sink url, pipeline store_url).");
  m.def("decode_cap", cap_decoder([](const std::string& b, const CapOptions& o) { return decode_cap(b, o); }),
        py::arg("data"), py::arg("strict") = false);
  m.def("decode_cap_document",
        cap_decoder([](const std::string& b, const CapOptions& o) { return decode_cap_document(b, o); }),
        py::arg("data"), py::arg("strict") = false);

  // ---- downloads ----------------------------------------------------------------------------
  py::class_<DownloadResult>(m, "DownloadResult",
                             "What Downloader.fetch got: status, the verified data, and each attempt")
      .def_property_readonly(
          "status", [](const DownloadResult& r) { return std::string(to_string(r.status)); },
          "ok, or why not (not_found, http_error, integrity_mismatch, timeout, ...; docs/download.md)")
      .def_property_readonly(
          "ok", [](const DownloadResult& r) { return r.status == DownloadStatus::ok; }, "True when status is ok")
      .def_readonly("http_code", &DownloadResult::http_code, "The last HTTP status code (0: none)")
      .def_readonly("retriable", &DownloadResult::retriable, "True when trying again later may succeed")
      .def_readonly("url", &DownloadResult::url, "The URL the data came from (or the last one tried)")
      .def_property_readonly(
          "data", [](const DownloadResult& r) { return py::bytes(r.data); }, "The data, verified (empty unless ok)")
      .def_readonly("error", &DownloadResult::error, "Why it failed, in words")
      .def_property_readonly(
          "elapsed", [](const DownloadResult& r) { return static_cast<double>(r.elapsed.count()) / 1000.0; },
          "Seconds from the first attempt to the answer")
      .def_property_readonly(
          "attempts",
          [](const DownloadResult& r) {
            py::list out;
            for (const auto& a : r.attempts)
              out.append(py::make_tuple(a.url, std::string(to_string(a.status)), a.http_code));
            return out;
          },
          "Each attempt: (url, status, http_code)")
      .def("__repr__", [](const DownloadResult& r) {
        return "<wis2mon.DownloadResult " + std::string(to_string(r.status)) + " " + r.url + " " +
               std::to_string(r.data.size()) + " bytes>";
      });

  py::class_<PyDownloader>(m, "Downloader",
                           "Cache-aware, verified, concurrent downloads; keywords are the config file's download keys "
                           "(docs/download.md)")
      // Keywords are the config file's `download` keys, through the same table (seconds as
      // numbers, or "250ms"-style strings).
      .def(py::init([](const py::kwargs& kwargs) {
        std::map<std::string, std::string> user;
        for (const auto& [key, value] : kwargs) {
          const auto name = py::cast<std::string>(key);
          if (py::isinstance<py::bool_>(value))
            user[name] = py::cast<bool>(value) ? "true" : "false";
          else if (py::isinstance<py::int_>(value))
            user[name] = std::to_string(py::cast<long long>(value));
          else if (py::isinstance<py::float_>(value))
            user[name] = detail::config_real_text(py::cast<double>(value));
          else if (py::isinstance<py::str>(value))
            user[name] = py::cast<std::string>(value);
          else
            throw Error(ErrorCode::invalid_argument, "Downloader: " + name + " must be a str, int, float or bool");
        }
        DownloadOptions o;
        download_options_config().apply_user(user, o);
        return std::make_unique<PyDownloader>(std::move(o));
      }))
      .def(
          "fetch",
          [](PyDownloader& d, const py::object& item, const py::object& integrity, const py::object& strict) {
            auto future = start_fetch(d.get(), item, integrity, strict);
            py::gil_scoped_release release;
            return checked(future.get());
          },
          py::arg("item"), py::arg("integrity") = py::none(), py::arg("strict") = py::none(),
          "Downloads a Notification's data (cache-aware, verified against its integrity) or a URL "
          "(integrity: {method, value} to verify); a DownloadResult, never an exception for a failed download. "
          "strict (default: the mode the notification was parsed in) is `wis2mon fetch --strict`: a "
          "notification not valid by the standard raises InvalidArgumentError, digests must be base64 of the data")
      .def(
          "fetch_many",
          [](PyDownloader& d, const py::iterable& items, const py::object& strict) {
            std::vector<std::future<DownloadResult>> futures;
            for (const auto& item : items) futures.push_back(start_fetch(d.get(), item, py::none(), strict));
            std::vector<DownloadResult> out;
            py::gil_scoped_release release;
            for (auto& f : futures) out.push_back(checked(f.get()));
            return out;
          },
          py::arg("items"), py::arg("strict") = py::none(),
          "fetch for many items at once, concurrently; the results in the items' order")
      .def(
          "close",
          [](PyDownloader& d) {
            py::gil_scoped_release release;
            d.downloader.reset();
          },
          "Stops the downloader (waiting for transfers in progress); later fetches raise")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyDownloader& d, const py::args&) {
        py::gil_scoped_release release;
        d.downloader.reset();
      });

  // For tests, benchmarks and examples: one generated surface observation as BUFR (ecCodes),
  // the same encoder `wis2mon demo` publishes with.
  m.def(
      "_sample_synop_bufr",
      [](int block, int station, const std::string& name, double air_temperature, double pressure, int hour) {
        detail::SynopValues v;
        v.block = block;
        v.station = station;
        v.name = name;
        v.lat = 47.5;
        v.lon = 23.5;
        v.height = 216;
        v.hour = hour;
        v.air_temperature = air_temperature;
        v.dewpoint = air_temperature - 5;
        v.pressure = pressure;
        v.msl_pressure = pressure + 2000;
        v.wind_direction = 270;
        v.wind_speed = 4.5;
        return py::bytes(detail::encode_synop_bufr(v));
      },
      py::arg("block"), py::arg("station"), py::arg("name") = "TEST", py::arg("air_temperature") = 280.0,
      py::arg("pressure") = 98000.0, py::arg("hour") = 12);

  wis2mon::python::bind_monitor(m);
}
