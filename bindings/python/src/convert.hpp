// Shared by the binding's files: C++ values to Python objects, and wis2mon::Error to the
// wis2mon.errors classes.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "wis2mon/notification.hpp"
#include "wis2mon/record.hpp"

namespace wis2mon::python {

namespace py = pybind11;

/// {field: value} with Python types (None, bool, int, float, str; times as RFC 3339 str),
/// plus "table" when with_table.
py::dict record_to_dict(const Record& r, bool with_table);

/// The same for many records: field names become Python strings once per schema, not once
/// per record (most of the cost of a 2,000-subset BUFR message in Python).
class RecordConverter {
 public:
  explicit RecordConverter(bool with_table) : with_table_(with_table) {}
  py::dict operator()(const Record& r);

 private:
  bool with_table_;
  const RecordSchema* schema_ = nullptr;
  std::vector<py::object> keys_;
  py::object table_key_ = py::str("table");
  py::object table_;
};
py::list issues_to_list(const std::vector<ValidationIssue>& issues);
/// The bytes of a bytes, bytearray, memoryview or str (UTF-8) argument.
std::string bytes_of(const py::handle& data, const char* what);
/// Installs the translator from wis2mon::Error to wis2mon.errors.* classes.
void register_errors(py::module_& m);

void bind_monitor(py::module_& m);

}  // namespace wis2mon::python
