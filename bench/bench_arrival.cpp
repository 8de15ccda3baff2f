// The arrival path alone: how fast a backlog queued at the broker for a persistent session
// comes in through MqttSubscriber when the handler (a) stores nothing, (b) appends to the
// Spool (its journal), (c) commits each message to SQLite (what the spool did before its
// journal), next to mosquitto_sub draining the same backlog in the same run. It shows the
// ceiling a monitor's drain can reach on this machine before any pipeline work.
//
//   bench_arrival DIR [--messages N]
//
// Prints one JSON object: messages/s of each, and each as a ratio of mosquitto_sub.
#include <sqlite3.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <thread>

#include "local_broker.hpp"
#include "wis2mon/mqtt.hpp"
#include "wis2mon/spool.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  bench::LocalBroker broker;
  if (!broker.start("bench_arrival", argc, argv, 30000)) return 2;
  const auto& [dir, count, port, pub, sub, host, process] = broker;
  const std::string topic = "origin/a/wis2/xx-bench/data/core/weather/surface-based-observations/synop";
  {
    // A notification-sized payload (about 720 bytes).
    std::ofstream out(dir / "stream.txt");
    for (std::size_t i = 0; i < count; ++i)
      out << R"({"id":"bench-)" << i << R"(","type":"Feature","properties":{"data_id":"xx-bench/)" << i
          << R"(","pubtime":"2026-11-30T00:00:00Z"},"pad":")" << std::string(620, 'x') << "\"}\n";
  }
  const auto publish_all = [&] {
    if (bench::run_command(pub + host + " -q 1 -t '" + topic + "' -l < " + (dir / "stream.txt").string()) != 0)
      throw std::runtime_error("mosquitto_pub failed");
  };

  // Each consumer: subscribe once (the broker then queues for its session), publish the
  // stream, time the consumer emptying it.
  const std::string sub_session = sub + host + " -V mqttv311 -q 1 -c -i bench-arrival-sub -t 'origin/a/wis2/#'";
  bench::run_command(sub_session + " -E");
  publish_all();
  auto t0 = Clock::now();
  if (bench::run_command(sub_session + " -C " + std::to_string(count) + " > /dev/null") != 0)
    throw std::runtime_error("mosquitto_sub");
  const double sub_rate = static_cast<double>(count) / std::chrono::duration<double>(Clock::now() - t0).count();

  const auto drain = [&](const std::string& id, const std::function<bool(const wis2mon::MqttMessage&)>& store) {
    std::atomic<std::size_t> got{0};
    Clock::time_point first{}, last{};
    wis2mon::BrokerOptions b;
    b.name = "local";
    b.url = "mqtt://127.0.0.1:" + std::to_string(port);
    b.client_id = id;
    b.subscriptions = {"origin/a/wis2/#"};
    const auto handler = [&](const wis2mon::MqttMessage& m) {
      if (!store(m)) return false;
      const auto now = Clock::now();
      const std::size_t n = got.load() + 1;  // one thread (paho's) counts
      if (n == 1) first = now;
      if (n == count) last = now;
      got.store(n);  // after the times: the main thread reads them once it sees the count
      return true;
    };
    {
      wis2mon::MqttSubscriber s(b, [](const wis2mon::MqttMessage&) { return true; });  // the session
      s.start();
      if (!s.wait_subscribed(10s)) throw std::runtime_error("cannot subscribe");
      s.stop();
    }
    publish_all();
    wis2mon::MqttSubscriber s(b, handler);
    t0 = Clock::now();
    s.start();
    while (got < count) {
      std::this_thread::sleep_for(5ms);
      if (Clock::now() - t0 > 300s) throw std::runtime_error(id + ": timed out");
    }
    s.stop();
    // From the first message on: connecting is not draining (mosquitto_sub's time includes
    // its start, so this favours nobody but the subscriber; the difference is milliseconds).
    return static_cast<double>(count - 1) / std::chrono::duration<double>(last - first).count();
  };

  const double null_rate = drain("bench-arrival-null", [](const wis2mon::MqttMessage&) { return true; });

  wis2mon::SpoolOptions so;
  so.path = dir / "spool.db";
  wis2mon::Spool spool(so);
  const double spool_rate = drain("bench-arrival-spool", [&](const wis2mon::MqttMessage& m) {
    spool.append(m.broker, m.topic, m.payload);
    return true;
  });

  // The spool before its journal: one SQLite commit (WAL, synchronous=NORMAL) per message.
  sqlite3* db = nullptr;
  sqlite3_open((dir / "commit.db").c_str(), &db);
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE spool (id INTEGER PRIMARY KEY "
               "AUTOINCREMENT, source TEXT, topic TEXT, payload BLOB, received TEXT, attempts INTEGER DEFAULT 0)",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO spool (source, topic, payload, received) VALUES (?, ?, ?, ?)", -1, &insert,
                     nullptr);
  const double commit_rate = drain("bench-arrival-commit", [&](const wis2mon::MqttMessage& m) {
    sqlite3_bind_text(insert, 1, m.broker.data(), static_cast<int>(m.broker.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert, 2, m.topic.data(), static_cast<int>(m.topic.size()), SQLITE_STATIC);
    sqlite3_bind_blob(insert, 3, m.payload.data(), static_cast<int>(m.payload.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert, 4, "2026-11-30T00:00:00.000000000Z", -1, SQLITE_STATIC);
    const bool ok = sqlite3_step(insert) == SQLITE_DONE;
    sqlite3_reset(insert);
    return ok;
  });
  sqlite3_finalize(insert);
  sqlite3_close(db);

  std::printf(
      "{\"messages\": %zu, \"mosquitto_sub_per_s\": %.0f, \"subscriber_only_per_s\": %.0f, \"subscriber_only_ratio\": "
      "%.2f, \"spool_journal_per_s\": %.0f, \"spool_journal_ratio\": %.2f, \"sqlite_commit_each_per_s\": %.0f, "
      "\"sqlite_commit_each_ratio\": %.2f}\n",
      count, sub_rate, null_rate, null_rate / sub_rate, spool_rate, spool_rate / sub_rate, commit_rate,
      commit_rate / sub_rate);
  return 0;
}
