#include "cli/report_json.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace wis2mon::cli {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void issues(Writer& w, const std::vector<ValidationIssue>& list) {
  w.StartArray();
  for (const auto& i : list) {
    w.StartObject();
    w.Key("path");
    str(w, i.path);
    w.Key("rule");
    str(w, i.rule);
    w.Key("message");
    str(w, i.message);
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace

std::string report_json(std::string_view key, std::string_view name, const ValidationReport& report) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  str(w, key);
  str(w, name);
  w.Key("valid");
  w.Bool(report.valid());
  w.Key("errors");
  issues(w, report.errors());
  w.Key("warnings");
  issues(w, report.warnings());
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

std::string report_text(std::string_view name, const ValidationReport& report) {
  std::string out(name);
  out += report.valid() ? ": valid\n" : ": INVALID\n";
  for (const auto& e : report.errors())
    out +=
        "  error   " + (e.path.empty() ? std::string("(message)") : e.path) + " [" + e.rule + "] " + e.message + "\n";
  for (const auto& w : report.warnings())
    out +=
        "  warning " + (w.path.empty() ? std::string("(message)") : w.path) + " [" + w.rule + "] " + w.message + "\n";
  return out;
}

}  // namespace wis2mon::cli
