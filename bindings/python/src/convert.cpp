#include "convert.hpp"

#include "wis2mon/error.hpp"
#include "wis2mon/time.hpp"

namespace wis2mon::python {

py::dict record_to_dict(const Record& r, bool with_table) {
  py::dict d;
  if (with_table) d["table"] = r.table();
  for (std::size_t i = 0; i < r.size(); ++i) {
    const auto& v = r.value(i);
    py::object o;
    switch (type_of(v)) {
      case FieldType::null:
        o = py::none();
        break;
      case FieldType::boolean:
        o = py::bool_(std::get<bool>(v));
        break;
      case FieldType::integer:
        o = py::int_(std::get<std::int64_t>(v));
        break;
      case FieldType::real:
        o = py::float_(std::get<double>(v));
        break;
      case FieldType::string:
        o = py::str(std::get<std::string>(v));
        break;
      case FieldType::time:
        o = py::str(format_rfc3339(std::get<Timestamp>(v)));
        break;
    }
    d[py::str(r.name(i))] = o;
  }
  return d;
}

py::list issues_to_list(const std::vector<ValidationIssue>& issues) {
  py::list out;
  for (const auto& i : issues) {
    py::dict d;
    d["path"] = i.path;
    d["rule"] = i.rule;
    d["message"] = i.message;
    out.append(d);
  }
  return out;
}

std::string bytes_of(const py::handle& data, const char* what) {
  if (py::isinstance<py::bytes>(data)) return std::string(py::reinterpret_borrow<py::bytes>(data));
  if (py::isinstance<py::str>(data)) return py::reinterpret_borrow<py::str>(data).cast<std::string>();
  if (py::isinstance<py::bytearray>(data) || py::isinstance<py::memoryview>(data)) {
    auto copy = py::reinterpret_steal<py::bytes>(PyBytes_FromObject(data.ptr()));
    if (!copy) throw py::error_already_set();
    return std::string(copy);
  }
  throw py::type_error(std::string(what) + " must be bytes or str, not " +
                       std::string(py::str(data.get_type().attr("__name__"))));
}

namespace {

const char* class_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument:
      return "InvalidArgumentError";
    case ErrorCode::io:
      return "FileError";
    case ErrorCode::parse:
      return "ParseError";
    case ErrorCode::not_found:
      return "NotFoundError";
    case ErrorCode::network:
      return "NetworkError";
    case ErrorCode::database:
      return "DatabaseError";
    case ErrorCode::unsupported:
      return "UnsupportedError";
    case ErrorCode::internal:
      return "InternalError";
  }
  return "Error";
}

}  // namespace

void register_errors(py::module_&) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      py::object cls = py::module_::import("wis2mon.errors").attr(class_for(e.code()));
      py::object exc = cls(e.what());
      exc.attr("retriable") = e.retriable();
      PyErr_SetObject(cls.ptr(), exc.ptr());
    }
  });
}

}  // namespace wis2mon::python
