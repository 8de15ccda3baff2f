// A writer the crash tests kill mid-batch: writes numbered batches to a sink and prints
// "acked <batch>" after each batch the sink answered Delivered for every record.
//   sink_writer sqlite|ndjson|ndjson-gz PATH RECORDS_PER_BATCH
// With kind "spool" it appends messages to a Spool at PATH and prints "acked <id>" after
// each append returned (the point where a subscriber acknowledges to the broker).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "wis2mon/sinks/ndjson.hpp"
#include "wis2mon/sinks/sqlite.hpp"
#include "wis2mon/spool.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: sink_writer sqlite|ndjson|ndjson-gz PATH RECORDS_PER_BATCH\n";
    return 2;
  }
  const std::string kind = argv[1];
  const int per_batch = std::atoi(argv[3]);
  if (kind == "spool") {
    wis2mon::Spool spool({argv[2]});
    const std::string body(700, 'm');
    for (std::int64_t n = 1;; ++n) {
      const auto id = spool.append("crash", "origin/a/wis2/x/data", body + std::to_string(n));
      std::printf("acked %lld\n", static_cast<long long>(id));
      std::fflush(stdout);
    }
  }
  std::shared_ptr<wis2mon::Sink> sink;
  if (kind == "sqlite") {
    wis2mon::SqliteSinkOptions o;
    o.path = argv[2];
    sink = std::make_shared<wis2mon::SqliteSink>("crash", o);
  } else {
    wis2mon::NdjsonSinkOptions o;
    o.root = argv[2];
    o.gzip = kind == "ndjson-gz";
    o.rotate_bytes = 1u << 30;
    sink = std::make_shared<wis2mon::NdjsonSink>("crash", o);
  }
  const auto schema =
      std::make_shared<const wis2mon::RecordSchema>("crash_rows", std::vector<std::string>{"batch", "seq", "payload"});
  const std::string payload(200, 'x');
  for (std::int64_t batch = 1;; ++batch) {
    std::vector<wis2mon::Record> records;
    for (int i = 0; i < per_batch; ++i) {
      wis2mon::Record r(schema);
      r.value(0) = batch;
      r.value(1) = std::int64_t{i};
      r.value(2) = payload;
      records.push_back(std::move(r));
    }
    const auto answers = sink->write(records);
    bool all = true;
    for (const auto& a : answers) all = all && a.status == wis2mon::DeliveryStatus::delivered;
    if (all) std::printf("acked %lld\n", static_cast<long long>(batch));
    std::fflush(stdout);
  }
}
