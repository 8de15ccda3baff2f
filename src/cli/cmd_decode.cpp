// wis2mon decode bufr FILE...   one JSON object per subset (or per failed message), a line
// wis2mon decode cap [--strict] FILE...  one alert object per alert (an EDXL-DE envelope
//                                        holds several), a line
//
// Exit codes: 0 all decoded, 1 some message failed (BUFR) or some alert is not valid CAP,
// 2 usage error or a file that cannot be read.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <iostream>

#include "cli/commands.hpp"
#include "common/file.hpp"
#include "wis2mon/decode/bufr.hpp"
#include "wis2mon/decode/cap.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon::cli {
namespace {

std::string json_string(std::string_view s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return {buf.GetString(), buf.GetSize()};
}

// {"source": "...", <the object's members>}
std::string with_source(const std::string& source, const std::string& object_json) {
  std::string out = "{\"source\":" + json_string(source);
  if (object_json.size() > 2) out += ',';
  out.append(object_json, 1, std::string::npos);
  return out;
}

std::string error_line(const std::string& source, int message_index, const std::string& error) {
  return "{\"source\":" + json_string(source) + ",\"message_index\":" + std::to_string(message_index) +
         ",\"error\":" + json_string(error) + "}";
}

int decode_bufr_files(const std::vector<std::string>& files) {
  int rc = kExitOk;
  for (const auto& file : files) {
    BufrResult result;
    try {
      result = decode_bufr_file(file);
    } catch (const Error& e) {
      std::cerr << "wis2mon: " << e.what() << "\n";
      rc = kExitUsage;
      continue;
    }
    // Records and errors in message order.
    std::size_t e = 0;
    for (const auto& rec : result.records) {
      const auto* idx = rec.get("message_index");
      const auto index = idx ? std::get<std::int64_t>(*idx) : 0;
      for (; e < result.errors.size() && result.errors[e].message_index < index; ++e)
        std::cout << error_line(file, result.errors[e].message_index, result.errors[e].message) << "\n";
      std::cout << with_source(file, rec.to_json()) << "\n";
    }
    for (; e < result.errors.size(); ++e)
      std::cout << error_line(file, result.errors[e].message_index, result.errors[e].message) << "\n";
    for (const auto& w : result.warnings)
      std::cerr << "wis2mon: " << file << ": message " << w.message_index << ": " << w.message << "\n";
    if (!result.ok() && rc == kExitOk) rc = kExitInvalid;
  }
  return rc;
}

int decode_cap_files(const std::vector<std::string>& files, bool strict) {
  int rc = kExitOk;
  CapOptions options;
  options.mode = strict ? ValidationMode::strict : ValidationMode::lenient;
  for (const auto& file : files) {
    std::string xml;
    try {
      xml = detail::read_file(file);
    } catch (const Error& e) {
      std::cerr << "wis2mon: " << e.what() << "\n";
      rc = kExitUsage;
      continue;
    }
    auto doc = decode_cap_document(xml, options);
    if (doc.alerts.empty()) {  // not XML, no alert: one line saying so, as for a bad alert
      CapResult none;
      none.errors = doc.errors;
      none.warnings = doc.warnings;
      std::cout << with_source(file, "{\"container\":\"\"," + none.to_json().substr(1)) << "\n";
    }
    for (auto& alert : doc.alerts) {
      for (const auto& w : doc.warnings) alert.warnings.push_back(w);
      std::cout << with_source(file, "{\"container\":" + json_string(doc.container) + "," + alert.to_json().substr(1))
                << "\n";
    }
    if (!doc.valid() && rc == kExitOk) rc = kExitInvalid;
  }
  return rc;
}

}  // namespace

void add_decode_commands(CLI::App& app, Action& action) {
  auto* decode = app.add_subcommand("decode", "Decode data files into records (JSON lines)");
  decode->require_subcommand(1);

  static std::vector<std::string> bufr_files, cap_files;
  static bool cap_strict = false;
  auto* bufr = decode->add_subcommand("bufr", "BUFR surface observations: one JSON object per subset");
  bufr->add_option("files", bufr_files, "BUFR files (GTS bulletins and concatenated messages are fine)")
      ->required()
      ->check(CLI::ExistingFile);
  bufr->callback([&action] { action = [] { return decode_bufr_files(bufr_files); }; });

  auto* cap =
      decode->add_subcommand("cap", "CAP 1.2/1.1 alerts: one alert object per alert (an envelope holds several)");
  cap->add_option("files", cap_files, "CAP XML files (a lone alert, or an EDXL-DE envelope or other container)")
      ->required()
      ->check(CLI::ExistingFile);
  cap->add_flag("--strict", cap_strict, "CAP to the letter: a time without its zone offset is an error, not a warning");
  cap->callback([&action] { action = [] { return decode_cap_files(cap_files, cap_strict); }; });
}

}  // namespace wis2mon::cli
