#include "convert.hpp"

#include "wis2mon/error.hpp"
#include "wis2mon/time.hpp"

namespace wis2mon::python {

namespace {

py::object value_to_python(const FieldValue& v) {
  switch (type_of(v)) {
    case FieldType::null:
      return py::none();
    case FieldType::boolean:
      return py::bool_(std::get<bool>(v));
    case FieldType::integer:
      return py::int_(std::get<std::int64_t>(v));
    case FieldType::real:
      return py::float_(std::get<double>(v));
    case FieldType::string:
      return py::str(std::get<std::string>(v));
    case FieldType::time:
      return py::str(format_rfc3339(std::get<Timestamp>(v)));
  }
  return py::none();
}

}  // namespace

py::dict record_to_dict(const Record& r, bool with_table) {
  return RecordConverter(with_table)(r);
}

py::dict RecordConverter::operator()(const Record& r) {
  if (r.schema().get() != schema_) {
    schema_ = r.schema().get();
    keys_.clear();
    for (const auto& name : schema_->names()) {
      PyObject* key = PyUnicode_FromStringAndSize(name.data(), static_cast<Py_ssize_t>(name.size()));
      if (!key) throw py::error_already_set();
      PyUnicode_InternInPlace(&key);
      keys_.push_back(py::reinterpret_steal<py::object>(key));
    }
    table_ = py::str(schema_->table());
  }
  py::dict d;
  if (with_table_ && PyDict_SetItem(d.ptr(), table_key_.ptr(), table_.ptr()) != 0) throw py::error_already_set();
  for (std::size_t i = 0; i < r.size() && i < keys_.size(); ++i) {
    const py::object value = value_to_python(r.value(i));
    if (PyDict_SetItem(d.ptr(), keys_[i].ptr(), value.ptr()) != 0) throw py::error_already_set();
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
    case ErrorCode::state:
      return "StateError";
    case ErrorCode::timeout:
      return "TimeoutError";
  }
  return "Error";
}

void raise(const char* class_name, const std::string& message, bool retriable) {
  py::object cls = py::module_::import("wis2mon.errors").attr(class_name);
  // A message may quote the caller's bytes, which need not be UTF-8.
  const py::str text = py::reinterpret_steal<py::str>(
      PyUnicode_DecodeUTF8(message.data(), static_cast<Py_ssize_t>(message.size()), "replace"));
  py::object exc = cls(text);
  exc.attr("retriable") = retriable;
  PyErr_SetObject(cls.ptr(), exc.ptr());
}

}  // namespace

void register_errors(py::module_&) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      raise(class_for(e.code()), e.what(), e.retriable());
    } catch (const py::cast_error& e) {
      // An argument of the wrong type deep in a call (integrity not a pair, ...): the caller's
      // mistake, not pybind's RuntimeError. (Before builtin_exception: cast_error is one.)
      raise("InvalidArgumentError", std::string("wrong argument type: ") + e.what(), false);
    } catch (const py::builtin_exception&) {
      throw;  // TypeError, ValueError, ... raised on purpose: pybind's own translator
    } catch (const std::bad_alloc&) {
      throw;  // MemoryError
    } catch (const std::exception& e) {
      // Anything else from C++ (a library's own exception): still a wis2mon.Error.
      raise("InternalError", e.what(), false);
    }
  });
}

}  // namespace wis2mon::python
