// wis2mon fetch [--out DIR] [--lenient|--strict] [--prefer cache|origin] FILE...
//
// Reads notifications, gathers the copies of each data item announced in them (origin and
// Global Caches), downloads every item once (inline content needs no network), verifies it,
// optionally stores it, and prints one line per notification.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>

#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "wis2mon/download.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon::cli {
namespace {

struct FetchArgs {
  std::string out;
  bool strict = false, lenient = false;
  std::string prefer = "cache";
  std::vector<std::string> preferred_caches;
  std::size_t max_in_flight = 64;
  std::string ca_file;
  std::vector<std::string> files;
};

struct Entry {
  std::string source;
  ParsedNotification parsed;
  std::string key;  // data item; "" when the notification is unusable
};

std::string sha512_base64(std::string_view data) {
  unsigned char d[64];
  detail::compute_digest("sha512", data.data(), data.size(), d);
  return detail::base64_encode({reinterpret_cast<char*>(d), 64});
}

struct Outcome {
  DownloadStatus status = DownloadStatus::invalid_notification;
  std::string url;  // "" when no URL served it (inline content, failure)
  std::uint64_t bytes = 0;
  std::string sha512, path, error;
};

void str_or_null(rapidjson::Writer<rapidjson::StringBuffer>& w, const std::string& s) {
  if (s.empty())
    w.Null();
  else
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

std::string line(const Entry& e, const Outcome& o) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("source");
  w.String(e.source.data(), static_cast<rapidjson::SizeType>(e.source.size()));
  w.Key("data_id");
  const auto id = e.parsed.notification.data_id();
  w.String(id.data(), static_cast<rapidjson::SizeType>(id.size()));
  w.Key("status");
  w.String(to_string(o.status));
  w.Key("url");
  str_or_null(w, o.url);
  w.Key("bytes");
  w.Uint64(o.bytes);
  w.Key("sha512");
  str_or_null(w, o.sha512);
  w.Key("path");
  str_or_null(w, o.path);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

int run_fetch(const FetchArgs& a) {
  ParseOptions po;
  po.mode = a.strict ? ValidationMode::strict : ValidationMode::lenient;
  SourcePolicy policy;
  policy.origin_first = a.prefer == "origin";
  policy.preferred_caches = a.preferred_caches;
  SourceSelector sources(policy);

  std::vector<Entry> entries;
  std::map<std::string, std::size_t> first_of;  // item key -> first entry announcing it
  for (const auto& file : a.files) {
    for_each_message(file, [&](std::size_t number, std::string_view text) {
      Entry e{file + ":" + std::to_string(number), Notification::parse(text, po), {}};
      if (e.parsed.valid()) e.key = sources.observe(e.parsed.notification);
      if (!e.key.empty()) first_of.try_emplace(e.key, entries.size());
      entries.push_back(std::move(e));
    });
  }

  DownloadOptions dopt;
  dopt.max_in_flight = a.max_in_flight;
  dopt.lenient_integrity = !a.strict;
  dopt.ca_file = a.ca_file;
  Downloader downloader(dopt);
  std::map<std::string, Outcome> outcomes;
  std::size_t waiting = 0;
  auto finish = [&](const std::string& key, Outcome o, std::string_view data) {
    if (o.status == DownloadStatus::ok && !a.out.empty()) {
      try {
        o.path = store_object(a.out, entries[first_of[key]].parsed.notification.data_id(), data).string();
      } catch (const Error& err) {
        o.status = DownloadStatus::storage_error;  // verified, but nothing stored: a failure of ours
        o.error = err.what();
      }
    }
    outcomes[key] = std::move(o);
  };
  for (const auto& [key, index] : first_of) {
    const Notification& n = entries[index].parsed.notification;
    if (n.content()) {  // inline: verify it and skip the network
      auto in = decode_inline_content(n, !a.strict);
      if (in.status == DownloadStatus::ok) {
        finish(key, Outcome{DownloadStatus::ok, "", in.data.size(), sha512_base64(in.data), "", ""}, in.data);
        continue;
      }
    }
    DownloadRequest r;
    r.urls = sources.candidates(key);
    if (const auto& in = n.integrity()) r.integrity = ExpectedDigest{std::string(in->method), std::string(in->value)};
    if (const Link* l = n.data_link(); l && l->length) r.expected_size = static_cast<std::uint64_t>(*l->length);
    ++waiting;
    downloader.submit(std::move(r), [&, key](DownloadResult res) {
      --waiting;
      Outcome o{res.status, res.status == DownloadStatus::ok ? res.url : "",  res.data.size(), res.sha512,
                "",         res.status == DownloadStatus::ok ? "" : res.error};
      finish(key, std::move(o), res.data);
    });
  }
  const auto started = std::chrono::steady_clock::now();
  auto last_report = started;
  while (waiting > 0) {
    downloader.poll(std::chrono::milliseconds(200));
    const auto now = std::chrono::steady_clock::now();
    if (now - last_report >= std::chrono::seconds(5)) {
      last_report = now;
      std::cerr << "wis2mon fetch: " << outcomes.size() << " of " << first_of.size() << " objects done\n";
    }
  }

  bool all_ok = true;
  for (const auto& e : entries) {
    Outcome o;
    if (!e.key.empty())
      o = outcomes[e.key];
    else if (e.parsed.valid())
      o.error = "the notification has no canonical or update link";
    else if (!e.parsed.report.errors().empty())
      o.error = e.parsed.report.errors().front().rule;
    all_ok = all_ok && o.status == DownloadStatus::ok;
    std::cout << line(e, o) << '\n';
    // The line's shape is fixed by the contract; the reason for a failure goes to stderr.
    if (o.status != DownloadStatus::ok && !o.error.empty())
      std::cerr << e.source << ": " << to_string(o.status) << ": " << o.error << '\n';
  }
  std::cerr << entries.size() << " notifications, " << first_of.size() << " data objects, "
            << std::count_if(outcomes.begin(), outcomes.end(),
                             [](const auto& kv) { return kv.second.status == DownloadStatus::ok; })
            << " fetched and verified\n";
  return all_ok ? kExitOk : kExitInvalid;
}

}  // namespace

void add_fetch_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<FetchArgs>();
  auto* cmd = app.add_subcommand("fetch", "Download and verify the data notifications point to");
  cmd->add_option("--out", args->out, "Store verified objects under this folder (paths from data_id)");
  auto* strict = cmd->add_flag("--strict", args->strict, "Standard notifications and base64 digests only");
  cmd->add_flag("--lenient", args->lenient, "Accept real-traffic habits such as hex digests (default)")
      ->excludes(strict);
  cmd->add_option("--prefer", args->prefer, "Try Global Cache copies or the origin first")
      ->check(CLI::IsMember({"cache", "origin"}));
  cmd->add_option("--cache", args->preferred_caches, "A Global Cache (centre id or host) to try first; repeatable");
  cmd->add_option("--max-in-flight", args->max_in_flight, "Downloads at once")->check(CLI::Range(1, 10000));
  cmd->add_option("--ca-file", args->ca_file, "Extra CA certificates (PEM) to trust");
  cmd->add_option("FILE", args->files, "Files of notifications, JSON or NDJSON ('-' reads stdin)")->required();
  cmd->callback([&action, args] { action = [args] { return run_fetch(*args); }; });
}

}  // namespace wis2mon::cli
