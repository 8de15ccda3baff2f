// A sink kind of one's own, from outside the library: each record as one JSON line appended
// to a file. Registered once, config files can say `type: jsonl_file` with its own key `path`
// (checked like a built-in's); the engine in front of it (batching, retries, dead letters)
// comes with every sink. docs/architecture.md walks through it.
#pragma once

#include <wis2mon/sink.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

class JsonlFileSink : public wis2mon::Sink {
 public:
  JsonlFileSink(std::string name, std::string path) : Sink(std::move(name)), path_(std::move(path)) {}

  // Delivered only once the lines are flushed to the file; a failed write is Retry (the
  // engine tries again later, then dead-letters).
  std::vector<wis2mon::Delivery> write(const std::vector<wis2mon::Record>& batch) override {
    std::FILE* f = std::fopen(path_.c_str(), "a");
    if (!f)
      return std::vector<wis2mon::Delivery>(batch.size(), {wis2mon::DeliveryStatus::retry, "cannot open " + path_});
    bool ok = true;
    for (const auto& r : batch) ok = ok && std::fprintf(f, "%s\n", r.to_json().c_str()) > 0;
    ok = std::fflush(f) == 0 && ok;
    std::fclose(f);
    if (!ok)
      return std::vector<wis2mon::Delivery>(batch.size(), {wis2mon::DeliveryStatus::retry, "cannot write " + path_});
    return std::vector<wis2mon::Delivery>(batch.size());
  }

  // Called at start and every health_interval, on another thread than write().
  wis2mon::SinkHealth healthcheck() override {
    std::FILE* f = std::fopen(path_.c_str(), "a");
    if (!f) return {false, "cannot open " + path_ + " for appending"};
    std::fclose(f);
    return {};
  }

  // The kind: its name, its own keys (the engine's come on top) and how to make one.
  static wis2mon::SinkKind kind() {
    return {"jsonl_file",
            "each record as a JSON line appended to a file",
            wis2mon::ConfigTable("jsonl_file", {{"path", wis2mon::ConfigType::string, "", "the file", true}}),
            [](const std::string& name, const wis2mon::ConfigValues& config) {
              return std::make_shared<JsonlFileSink>(name, config.text("path"));
            },
            {}};
  }

 private:
  std::string path_;
};
