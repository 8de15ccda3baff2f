// wis2mon report availability: the availability figures a monitor stored, as a person reads
// them (a table, worst first) or as JSON lines / CSV for other programs.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "wis2mon/availability.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon::cli {
namespace {

struct ReportArgs {
  std::string db, stations, period = "day", from, to, format = "table";
};

std::string number(std::optional<double> v, const char* format = "%.1f") {
  if (!v) return "";
  char b[32];
  std::snprintf(b, sizeof b, format, *v);
  return b;
}

std::string unit_of(const AvailabilityReportRow& r) {
  return r.kind == "station" ? r.wigos_station_identifier : r.centre_id;
}

std::string json_line(const AvailabilityReportRow& r, const std::string& period) {
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  const auto str = [&](const char* k, const std::string& v) {
    w.Key(k);
    w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
  };
  const auto opt = [&](const char* k, const std::optional<double>& v) {
    w.Key(k);
    if (v)
      w.Double(*v);
    else
      w.Null();
  };
  w.StartObject();
  str("kind", r.kind);
  if (r.kind == "station") str("wigos_station_identifier", r.wigos_station_identifier);
  if (!r.centre_id.empty()) str("centre_id", r.centre_id);
  if (!r.name.empty()) str("name", r.name);
  if (!r.country.empty()) str("country", r.country);
  str("period", period);
  str("period_start", format_rfc3339(r.period_start, 0));
  w.Key("expected");
  w.Int64(r.expected);
  w.Key("received");
  w.Int64(r.received);
  w.Key("late");
  w.Int64(r.late);
  opt("percentage", r.percentage);
  if (r.kind == "centre") {
    w.Key("messages");
    w.Int64(r.messages);
    opt("latency_data_to_pubtime_s", r.latency_data_to_pubtime_s);
    opt("latency_pubtime_to_receipt_s", r.latency_pubtime_to_receipt_s);
  } else {
    str("last_seen", r.last_seen);
    str("silent_since", r.silent_since);
  }
  w.EndObject();
  return b.GetString();
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

int run_report(const ReportArgs& a) {
  AvailabilityReportOptions o;
  o.period = a.period;
  o.stations = a.stations;
  for (const auto& [text, slot] : {std::pair{a.from, &o.from}, std::pair{a.to, &o.to}}) {
    if (text.empty()) continue;
    *slot = parse_report_time(text);
    if (!*slot) {
      std::cerr << "wis2mon report availability: '" << text << "' is not a date (2026-11-30) or an RFC 3339 time\n";
      return kExitUsage;
    }
  }
  std::vector<AvailabilityReportRow> rows;
  try {
    rows = availability_report(a.db, o);
  } catch (const Error& e) {
    std::cerr << "wis2mon report availability: " << e.what() << "\n";
    return kExitUsage;
  }
  if (a.format == "json") {
    for (const auto& r : rows) std::cout << json_line(r, a.period) << "\n";
    return kExitOk;
  }
  if (a.format == "csv") {
    std::cout << "kind,id,name,country,centre_id,period_start,expected,received,late,percentage,messages,"
                 "latency_data_to_pubtime_s,latency_pubtime_to_receipt_s,last_seen,silent_since\n";
    for (const auto& r : rows)
      std::cout << r.kind << "," << csv_cell(unit_of(r)) << "," << csv_cell(r.name) << "," << csv_cell(r.country) << ","
                << csv_cell(r.centre_id) << "," << format_rfc3339(r.period_start, 0) << "," << r.expected << ","
                << r.received << "," << r.late << "," << number(r.percentage) << "," << r.messages << ","
                << number(r.latency_data_to_pubtime_s) << "," << number(r.latency_pubtime_to_receipt_s) << ","
                << r.last_seen << "," << r.silent_since << "\n";
    return kExitOk;
  }
  if (rows.empty()) {
    std::cout << "no availability figures in " << a.db << (a.from.empty() && a.to.empty() ? "" : " in that range")
              << "\n";
    return kExitOk;
  }
  std::printf("%-20s %-7s %-22s %-20s %-8s %8s %8s %5s %7s %9s  %s\n", "PERIOD", "KIND", "ID", "NAME", "COUNTRY",
              "EXPECTED", "RECEIVED", "LATE", "%", "LATENCY", "SILENT SINCE");
  for (const auto& r : rows) {
    // Latency: data time to receipt for a centre (both stages summed), in seconds.
    std::optional<double> latency;
    if (r.latency_data_to_pubtime_s || r.latency_pubtime_to_receipt_s)
      latency = r.latency_data_to_pubtime_s.value_or(0) + r.latency_pubtime_to_receipt_s.value_or(0);
    std::printf("%-20s %-7s %-22s %-20.20s %-8.8s %8lld %8lld %5lld %7s %9s  %s\n",
                format_rfc3339(r.period_start, 0).c_str(), r.kind.c_str(), unit_of(r).c_str(), r.name.c_str(),
                r.country.c_str(), static_cast<long long>(r.expected), static_cast<long long>(r.received),
                static_cast<long long>(r.late), number(r.percentage).c_str(),
                latency ? (number(latency, "%.0f") + "s").c_str() : "", r.silent_since.c_str());
  }
  return kExitOk;
}

}  // namespace

void add_report_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<ReportArgs>();
  auto* report = app.add_subcommand("report", "Reports from what a monitor stored");
  report->require_subcommand(1);
  auto* av = report->add_subcommand(
      "availability", "Expected and received reports per station and per centre, worst first (docs/sensor-centre.md)");
  av->add_option("--db", args->db, "SQLite database the monitor's availability_sinks write")->required();
  av->add_option("--stations", args->stations, "Station list CSV: listed stations without any report are shown too");
  av->add_option("--period", args->period, "hour, day (default) or week")
      ->check(CLI::IsMember({"hour", "day", "week"}));
  av->add_option("--from", args->from, "First hour (2026-11-30 or an RFC 3339 time)");
  av->add_option("--to", args->to, "End of the range, exclusive");
  av->add_option("--format", args->format, "table (default), json (one object per line) or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}));
  av->callback([&action, args] { action = [args] { return run_report(*args); }; });
}

}  // namespace wis2mon::cli
