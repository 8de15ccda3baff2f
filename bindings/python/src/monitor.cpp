// The Monitor for Python. Python callables are callback sinks: the monitor hands their records
// over inside poll()/run()/drain()/close() on the calling thread, which holds the GIL only
// while a callable runs. A callable's exception answers Retry for the rest of its batch (so
// nothing is lost) and is raised again from the call that ran it.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <exception>
#include <memory>
#include <string>

#include "convert.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/monitor.hpp"

namespace wis2mon::python {

namespace {

// The Monitor keeps its own lifecycle (wis2mon.StateError when a call is not allowed).
struct PyMonitor {
  std::unique_ptr<Monitor> monitor;
  // The first exception a Python sink raised since the last call that ran sinks.
  std::exception_ptr sink_error;

  Monitor& get() { return *monitor; }
  void start() {
    py::gil_scoped_release release;
    monitor->start();  // idempotent while running
  }
  void raise_sink_error() {
    if (auto e = std::exchange(sink_error, nullptr)) std::rethrow_exception(e);
  }
};

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds < 0 ? 0 : seconds * 1000));
}

}  // namespace

void bind_monitor(py::module_& m) {
  py::class_<PyMonitor>(m, "Monitor")
      .def(py::init([](const std::string& config_text, const std::string& config_file) {
             auto pm = std::make_unique<PyMonitor>();
             const MonitorConfig config = !config_file.empty()   ? load_monitor_config(config_file)
                                          : !config_text.empty() ? parse_monitor_config(config_text, "config")
                                                                 : default_monitor_config();
             pm->monitor = std::make_unique<Monitor>(config);
             return pm;
           }),
           py::arg("config_text") = "", py::arg("config_file") = "")
      .def("add_sink",
           [](PyMonitor& pm, const std::string& name, py::function callable) {
             PyMonitor* self = &pm;
             // The C++ side copies the callback on threads without the GIL: share one Python
             // reference instead, released with the GIL held.
             std::shared_ptr<py::function> shared(new py::function(std::move(callable)), [](py::function* f) {
               py::gil_scoped_acquire gil;
               delete f;
             });
             pm.get().add_callback_sink(name, [self, shared](const std::vector<Record>& batch) {
               const py::function& fn = *shared;
               py::gil_scoped_acquire gil;
               std::vector<Delivery> answer;
               answer.reserve(batch.size());
               RecordConverter to_dict(true);
               for (const auto& record : batch) {
                 if (self->sink_error) {  // an earlier record failed: the rest waits for the next call
                   answer.push_back({DeliveryStatus::retry, "an earlier record of the batch raised"});
                   continue;
                 }
                 try {
                   py::object result = fn(to_dict(record));
                   if (!result.is_none() && !result.cast<bool>())
                     answer.push_back({DeliveryStatus::rejected, "the sink returned False"});
                   else
                     answer.push_back({DeliveryStatus::delivered, ""});
                 } catch (py::error_already_set&) {
                   self->sink_error = std::current_exception();
                   answer.push_back({DeliveryStatus::retry, "the sink raised"});
                 }
               }
               return answer;
             });
           })
      .def("start", [](PyMonitor& pm) { pm.start(); })
      .def("push",
           [](PyMonitor& pm, const std::string& topic, const py::object& payload) {
             pm.start();
             const std::string bytes = bytes_of(payload, "payload");
             py::gil_scoped_release release;
             pm.get().push(topic, bytes, "python");
           })
      .def(
          "poll",
          [](PyMonitor& pm, double timeout) {
            pm.start();
            std::size_t n = 0;
            {
              py::gil_scoped_release release;
              n = pm.get().poll(millis(timeout));
            }
            pm.raise_sink_error();
            return n;
          },
          py::arg("timeout") = 0.0)
      .def(
          "drain",
          [](PyMonitor& pm, double timeout) {
            pm.start();
            // In slices, so Ctrl-C and a sink's exception are seen while waiting.
            const auto until = std::chrono::steady_clock::now() + millis(timeout);
            for (;;) {
              bool done = false;
              {
                py::gil_scoped_release release;
                done = pm.get().drain(std::chrono::milliseconds(100));
              }
              pm.raise_sink_error();
              if (PyErr_CheckSignals() != 0) throw py::error_already_set();
              if (done) return true;
              if (std::chrono::steady_clock::now() >= until) return false;
            }
          },
          py::arg("timeout") = 60.0)
      .def(
          "run",
          [](PyMonitor& pm, double duration) {
            pm.start();
            const bool forever = duration <= 0;
            const auto until = std::chrono::steady_clock::now() + millis(duration);
            while (forever || std::chrono::steady_clock::now() < until) {
              {
                py::gil_scoped_release release;
                pm.get().poll(std::chrono::milliseconds(100));
              }
              pm.raise_sink_error();
              if (PyErr_CheckSignals() != 0) throw py::error_already_set();  // Ctrl-C
            }
          },
          py::arg("duration") = 0.0)
      .def("stats",
           [](PyMonitor& pm) { return py::module_::import("json").attr("loads")(to_json(pm.monitor->stats())); })
      .def(
          "dead_letters",
          [](PyMonitor& pm, std::size_t limit, const std::string& sink) {
            return py::module_::import("json").attr("loads")(to_json(pm.monitor->dead_letters(limit, sink)));
          },
          py::arg("limit") = 1000, py::arg("sink") = "")
      .def(
          "retry_dead_letters",
          [](PyMonitor& pm, const std::string& sink) { return pm.monitor->retry_dead_letters(sink); },
          py::arg("sink") = "")
      .def(
          "purge_dead_letters",
          [](PyMonitor& pm, const std::string& sink) { return pm.monitor->purge_dead_letters(sink); },
          py::arg("sink") = "")
      .def("metrics_text", [](PyMonitor& pm) { return pm.monitor->metrics_text(); })
      .def_property_readonly("metrics_port", [](PyMonitor& pm) { return pm.monitor->metrics_port(); })
      .def_property_readonly("closed", [](PyMonitor& pm) { return pm.monitor->state() == MonitorState::stopped; })
      .def("close", [](PyMonitor& pm) {
        if (pm.monitor->state() == MonitorState::stopped) return;
        {
          py::gil_scoped_release release;
          pm.monitor->stop();
        }
        pm.raise_sink_error();
      });
}

}  // namespace wis2mon::python
