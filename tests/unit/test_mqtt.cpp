// MQTT subscriber against a real mosquitto started by the test: MQTT 5 and 3.1.1, persistent
// sessions, a broker restart mid-stream, a refused message offered again, shared
// subscriptions, and messages straight into the spool.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "child_process.hpp"
#include "mosquitto_server.hpp"
#include "support.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/mqtt.hpp"
#include "wis2mon/sink.hpp"
#include "wis2mon/spool.hpp"

using namespace wis2mon;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> payloads(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back("{\"n\":" + std::to_string(i) + "}");
  return out;
}

// What a subscriber received, in order.
struct Inbox {
  std::mutex mu;
  std::vector<std::string> payloads;
  std::vector<std::string> topics;
  MqttHandler handler() {
    return [this](const MqttMessage& m) {
      std::lock_guard lock(mu);
      payloads.emplace_back(m.payload);
      topics.emplace_back(m.topic);
      return true;
    };
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return payloads.size();
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = 20s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (size() < n && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(5ms);
    return size() >= n;
  }
};

BrokerOptions options_for(const testing::MosquittoServer& broker, std::vector<std::string> subs, int version = 5) {
  BrokerOptions o;
  o.name = "local";
  o.url = broker.url();
  o.subscriptions = std::move(subs);
  o.mqtt_version = version;
  o.reconnect_min = 1s;
  o.reconnect_max = 2s;
  return o;
}

}  // namespace

TEST_CASE("broker URLs: schemes, default ports, credentials out of the URL") {
  auto a = parse_broker_url("mqtt://everyone:p%40ss@globalbroker.meteo.fr");
  CHECK(a.server_uri == "tcp://globalbroker.meteo.fr:1883");
  CHECK(a.username == "everyone");
  CHECK(a.password == "p@ss");
  CHECK_FALSE(a.tls);
  a = parse_broker_url("mqtts://gb.example.org");
  CHECK(a.server_uri == "ssl://gb.example.org:8883");
  CHECK(a.tls);
  CHECK(parse_broker_url("wss://gb.example.org/mqtt").server_uri == "wss://gb.example.org:443/mqtt");
  CHECK(parse_broker_url("mqtt://127.0.0.1:18830").server_uri == "tcp://127.0.0.1:18830");
  CHECK_THROWS_AS(parse_broker_url("http://gb.example.org"), Error);
  CHECK_THROWS_AS(parse_broker_url("not a url"), Error);
  BrokerOptions o;
  o.url = "mqtt://h";
  CHECK_THROWS_AS(MqttSubscriber(o, [](const MqttMessage&) { return true; }), Error);  // no subscriptions
  o.subscriptions = {"$share/g/#"};
  o.mqtt_version = 3;
  CHECK_THROWS_AS(MqttSubscriber(o, [](const MqttMessage&) { return true; }), Error);  // shared needs 5
}

TEST_CASE("mqtt: every message arrives once and in order, MQTT 5 and 3.1.1") {
  if (!testing::have_mosquitto()) return;
  testing::MosquittoServer broker;
  for (const int version : {5, 3}) {
    INFO("MQTT version " << version);
    Inbox inbox;
    MqttSubscriber sub(options_for(broker, {"origin/a/wis2/+/data/#"}, version), inbox.handler());
    sub.start();
    REQUIRE(sub.wait_subscribed(10s));
    REQUIRE(broker.publish("origin/a/wis2/de-dwd/data/core/weather", payloads(0, 500)));
    REQUIRE(broker.publish("cache/a/wis2/de-dwd/data/core/weather", payloads(0, 5)));  // not subscribed
    REQUIRE(inbox.wait_for(500));
    std::this_thread::sleep_for(200ms);
    CHECK(inbox.payloads == payloads(0, 500));
    CHECK(inbox.topics[0] == "origin/a/wis2/de-dwd/data/core/weather");
    const auto s = sub.stats();
    CHECK(s.connected);
    CHECK(s.messages == 500);
    CHECK(s.bytes > 500 * 7);
    sub.stop();
    CHECK_FALSE(sub.stats().connected);
  }
}

TEST_CASE("mqtt: a persistent session gets what was published while away; a broker restart loses nothing") {
  if (!testing::have_mosquitto()) return;
  testing::MosquittoServer broker;
  auto o = options_for(broker, {"origin/a/wis2/#"});
  o.client_id = "wis2mon-test-persistent";
  Inbox inbox;
  {
    MqttSubscriber sub(o, inbox.handler());
    sub.start();
    REQUIRE(sub.wait_subscribed(10s));
    REQUIRE(broker.publish("origin/a/wis2/x/data", payloads(0, 100)));
    REQUIRE(inbox.wait_for(100));
    sub.stop();
  }
  REQUIRE(broker.publish("origin/a/wis2/x/data", payloads(100, 300)));  // nobody connected
  MqttSubscriber sub(o, inbox.handler());
  sub.start();
  REQUIRE(inbox.wait_for(300));
  REQUIRE(sub.wait_subscribed(10s));

  // The broker goes away and comes back (its persistence keeps the session).
  broker.stop();
  std::this_thread::sleep_for(300ms);
  CHECK_FALSE(sub.stats().connected);
  broker.start();
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (!sub.stats().connected && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(20ms);
  REQUIRE(sub.stats().connected);
  REQUIRE(sub.wait_subscribed(10s));
  REQUIRE(broker.publish("origin/a/wis2/x/data", payloads(300, 400)));
  const auto has_last = [&] {
    std::lock_guard lock(inbox.mu);
    return std::find(inbox.payloads.begin(), inbox.payloads.end(), "{\"n\":399}") != inbox.payloads.end();
  };
  const auto last_deadline = std::chrono::steady_clock::now() + 20s;
  while (!has_last() && std::chrono::steady_clock::now() < last_deadline) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(200ms);
  std::lock_guard inbox_lock(inbox.mu);
  // At least once: a restarted mosquitto sends again what its saved state had not seen
  // acknowledged, so repeats may follow; the first copies are all there, in order.
  std::vector<std::string> first;
  std::set<std::string> seen;
  for (const auto& x : inbox.payloads)
    if (seen.insert(x).second) first.push_back(x);
  CHECK(first == payloads(0, 400));
  CHECK(sub.stats().connection_losses >= 1);
  CHECK(sub.stats().connects >= 2);
}

TEST_CASE("mqtt: a broker that is down at start is tried again until it is up") {
  if (!testing::have_mosquitto()) return;
  testing::MosquittoServer broker;
  broker.stop();
  Inbox inbox;
  MqttSubscriber sub(options_for(broker, {"t/#"}), inbox.handler());
  sub.start();
  std::this_thread::sleep_for(1500ms);
  CHECK_FALSE(sub.stats().connected);
  CHECK_FALSE(sub.stats().last_error.empty());
  broker.start();
  REQUIRE(sub.wait_subscribed(20s));
  REQUIRE(broker.publish("t/a", payloads(0, 20)));
  REQUIRE(inbox.wait_for(20));
  CHECK(inbox.payloads == payloads(0, 20));
}

// Log lines a subscriber wrote.
struct LogLines {
  std::mutex mu;
  std::vector<std::string> lines;
  std::function<void(std::string_view)> sink() {
    return [this](std::string_view l) {
      std::lock_guard lock(mu);
      lines.emplace_back(l);
    };
  }
  std::size_t count(const std::string& part) {
    std::lock_guard lock(mu);
    std::size_t n = 0;
    for (const auto& l : lines) n += l.find(part) != std::string::npos;
    return n;
  }
  bool wait_for(const std::string& part, std::chrono::milliseconds timeout = 10s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (count(part) == 0 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
    return count(part) > 0;
  }
  std::string all() {
    std::lock_guard lock(mu);
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }
};

TEST_CASE("mqtt: connection trouble is logged with its reason: refused, unknown host, TLS to a plain port") {
  const int closed_port = testing::free_port();
  LogLines refused;
  BrokerOptions o;
  o.name = "nobody";
  o.url = "mqtt://127.0.0.1:" + std::to_string(closed_port);
  o.subscriptions = {"t/#"};
  o.reconnect_min = 1s;
  o.reconnect_max = 1s;
  o.log = refused.sink();
  Inbox inbox;
  {
    MqttSubscriber sub(o, inbox.handler());
    sub.start();
    REQUIRE(refused.wait_for("connect failed"));
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (sub.stats().failed_attempts < 3 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(20ms);
    CHECK(sub.stats().failed_attempts >= 3);  // paho's own reconnect reported only the first
    INFO(refused.all());
    CHECK(refused.count("broker nobody: connect failed") == 1);  // the same reason again: once a minute
    CHECK(refused.count("trying again") == 1);
    CHECK(sub.stats().last_error.find("connect failed") != std::string::npos);
  }

  LogLines unknown;
  o.url = "mqtt://no-such-host.invalid:1883";
  o.log = unknown.sink();
  {
    MqttSubscriber sub(o, inbox.handler());
    sub.start();
    REQUIRE(unknown.wait_for("connect failed"));
  }

  if (!testing::have_mosquitto()) return;
  testing::MosquittoServer broker;
  LogLines tls;
  o.url = "mqtts://127.0.0.1:" + std::to_string(broker.port());  // TLS to a plain MQTT port
  o.log = tls.sink();
  {
    MqttSubscriber sub(o, inbox.handler());
    sub.start();
    REQUIRE(tls.wait_for("connect failed"));
    INFO(tls.all());
    CHECK((tls.count("TLS") + tls.count("SSL")) > 0);
  }
}

TEST_CASE("mqtt: connects, lost connections and a lost session are logged") {
  if (!testing::have_mosquitto()) return;
  testing::MosquittoServer broker;
  auto o = options_for(broker, {"t/#"});
  o.client_id = "wis2mon-test-sessions";
  LogLines log;
  o.log = log.sink();
  Inbox inbox;
  MqttSubscriber sub(o, inbox.handler());
  sub.start();
  REQUIRE(sub.wait_subscribed(10s));
  CHECK(log.count("broker local: connected to tcp://127.0.0.1:" + std::to_string(broker.port()) + " (new session)") ==
        1);
  // A plain broker restart keeps the session (mosquitto saves it on SIGTERM).
  broker.stop();
  broker.start();
  REQUIRE(log.wait_for("(session present)", 20s));
  INFO(log.all());
  CHECK(log.count("connection lost") >= 1);
  CHECK(sub.stats().sessions_lost == 0);
  // The broker forgets everything while we are away: the reconnect says the session is gone.
  broker.restart_forgetting();
  REQUIRE(log.wait_for("session lost", 20s));
  CHECK(sub.stats().sessions_lost == 1);
}

TEST_CASE("mqtt: a message the handler cannot store is offered again, not lost") {
  if (!testing::have_mosquitto()) return;
  testing::MosquittoServer broker;
  std::mutex mu;
  std::vector<std::string> got;
  int refusals = 0;
  MqttSubscriber sub(options_for(broker, {"t/#"}), [&](const MqttMessage& m) {
    std::lock_guard lock(mu);
    if (m.payload == "{\"n\":3}" && refusals < 2) {
      ++refusals;  // e.g. the spool's disk is full for a moment
      return false;
    }
    got.emplace_back(m.payload);
    return true;
  });
  sub.start();
  REQUIRE(sub.wait_subscribed(10s));
  REQUIRE(broker.publish("t/a", payloads(0, 10)));
  const auto end = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (got.size() >= 10 || std::chrono::steady_clock::now() > end) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard lock(mu);
  std::string seen;
  for (const auto& g : got) seen += g + " ";
  INFO("received: " << seen << " refusals " << refusals);
  CHECK(got == payloads(0, 10));
  CHECK(sub.stats().refused == 2);
}

TEST_CASE("mqtt: two subscribers on one shared subscription split the stream") {
  if (!testing::have_mosquitto()) return;
  testing::MosquittoServer broker;
  Inbox a, b;
  MqttSubscriber sa(options_for(broker, {"$share/monitors/origin/a/wis2/#"}), a.handler());
  MqttSubscriber sb(options_for(broker, {"$share/monitors/origin/a/wis2/#"}), b.handler());
  sa.start();
  sb.start();
  REQUIRE(sa.wait_subscribed(10s));
  REQUIRE(sb.wait_subscribed(10s));
  REQUIRE(broker.publish("origin/a/wis2/x/data", payloads(0, 400)));
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (a.size() + b.size() < 400 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(200ms);
  std::multiset<std::string> all(a.payloads.begin(), a.payloads.end());
  all.insert(b.payloads.begin(), b.payloads.end());
  const auto expected = payloads(0, 400);
  CHECK(all == std::multiset<std::string>(expected.begin(), expected.end()));  // nothing lost or doubled
  CHECK(a.size() > 0);
  CHECK(b.size() > 0);
}

TEST_CASE("mqtt: messages go into the spool before they are acknowledged") {
  if (!testing::have_mosquitto()) return;
  testing::MosquittoServer broker;
  testing::TempDir dir;
  Spool spool({dir.path / "spool.db"});
  MqttSubscriber sub(options_for(broker, {"origin/#"}), [&](const MqttMessage& m) {
    spool.append(m.broker, m.topic, m.payload);
    return true;
  });
  sub.start();
  REQUIRE(sub.wait_subscribed(10s));
  REQUIRE(broker.publish("origin/a/wis2/x/data", payloads(0, 200)));
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (spool.stats().stored < 200 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
  const auto entries = spool.take(1000);
  REQUIRE(entries.size() == 200);
  CHECK(entries[199].payload == "{\"n\":199}");
  CHECK(entries[0].source == "local");
  CHECK(entries[0].topic == "origin/a/wis2/x/data");
}

TEST_CASE("mqtt publisher: each message is acknowledged, then arrives once and in order; MQTT 5 and 3.1.1") {
  if (!testing::have_mosquitto()) return;
  testing::MosquittoServer broker;
  for (const int version : {5, 3}) {
    INFO("MQTT version " << version);
    Inbox inbox;
    MqttSubscriber sub(options_for(broker, {"cache/a/wis2/#"}, version), inbox.handler());
    sub.start();
    REQUIRE(sub.wait_subscribed(10s));
    auto po = options_for(broker, {}, version);
    po.name = "out";
    MqttPublisher pub(po);
    pub.start();
    REQUIRE(pub.wait_connected(10s));
    const auto texts = payloads(0, 300);
    std::vector<std::pair<std::string_view, std::string_view>> batch;
    for (const auto& t : texts) batch.emplace_back("cache/a/wis2/de-dwd/data/core/weather", t);
    const auto answers = pub.publish_many(batch);
    CHECK(answers == std::vector<std::string>(300, ""));
    CHECK(pub.publish("cache/a/wis2/de-dwd/metadata", "{\"n\":300}").empty());
    CHECK(pub.stats().messages == 301);
    REQUIRE(inbox.wait_for(301));
    std::this_thread::sleep_for(200ms);
    auto expected = texts;
    expected.push_back("{\"n\":300}");
    CHECK(inbox.payloads == expected);
    CHECK(inbox.topics.back() == "cache/a/wis2/de-dwd/metadata");
    pub.stop();
    sub.stop();
  }
}

TEST_CASE("mqtt publisher: without a connection it answers at once, and publishes again once reconnected") {
  if (!testing::have_mosquitto()) return;
  testing::MosquittoServer broker;
  Inbox inbox;
  MqttSubscriber sub(options_for(broker, {"out/#"}), inbox.handler());
  sub.start();
  REQUIRE(sub.wait_subscribed(10s));
  std::vector<std::string> lines;
  std::mutex lines_mu;
  auto po = options_for(broker, {});
  po.log = [&](std::string_view l) {
    std::lock_guard lock(lines_mu);
    lines.emplace_back(l);
  };
  MqttPublisher pub(po);
  // Not started: not connected, said at once.
  const auto start = std::chrono::steady_clock::now();
  CHECK(pub.publish("out/x", "early").rfind("not connected", 0) == 0);
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  pub.start();
  REQUIRE(pub.wait_connected(10s));
  CHECK(pub.publish("out/x", "one").empty());
  // "one" must have gone through before the broker stops: otherwise it is in flight at the
  // stop and may come again after the restart (QoS 1 redelivery), which is not what this tests.
  REQUIRE(inbox.wait_for(1));
  std::this_thread::sleep_for(100ms);  // and its PUBACK reached the publisher
  broker.stop();
  const auto down = std::chrono::steady_clock::now() + 10s;
  while (pub.stats().connected && std::chrono::steady_clock::now() < down) std::this_thread::sleep_for(20ms);
  CHECK_FALSE(pub.publish("out/x", "lost?").empty());  // refused, so the caller keeps it
  broker.start();
  const auto up = std::chrono::steady_clock::now() + 20s;
  while (!pub.stats().connected && std::chrono::steady_clock::now() < up) std::this_thread::sleep_for(20ms);
  REQUIRE(pub.stats().connected);
  CHECK(pub.publish("out/x", "two").empty());
  REQUIRE(inbox.wait_for(2));
  std::this_thread::sleep_for(200ms);
  {
    std::lock_guard inbox_lock(inbox.mu);
    std::string got;
    for (const auto& p : inbox.payloads) got += p + ";";
    INFO("received: " << got);
    CHECK(inbox.payloads == std::vector<std::string>{"one", "two"});
  }
  CHECK(pub.stats().connection_losses >= 1);
  std::lock_guard lock(lines_mu);
  CHECK(std::any_of(lines.begin(), lines.end(),
                    [](const std::string& l) { return l.find("connection lost") != std::string::npos; }));
}

TEST_CASE(
    "mqtt sink: a record is Delivered once the broker acknowledged it; bad topics are Rejected, a down broker Retry") {
  if (!testing::have_mosquitto()) return;
  testing::MosquittoServer broker;
  Inbox inbox;
  MqttSubscriber sub(options_for(broker, {"cache/#"}), inbox.handler());
  sub.start();
  REQUIRE(sub.wait_subscribed(10s));
  const auto sink = make_sink(
      "mqtt", "republish",
      sink_config_table("mqtt").validate({{"url", broker.url()}, {"payload_field", "message"}, {"timeout", "3s"}}));
  CHECK(sink->healthcheck().ok);
  const auto schema =
      std::make_shared<const RecordSchema>("outbox", std::vector<std::string>{"topic", "message", "note"});
  const auto record = [&](FieldValue topic, FieldValue message) {
    return Record(schema, {std::move(topic), std::move(message), std::string("x")});
  };
  std::vector<Record> batch;
  for (int i = 0; i < 50; ++i)
    batch.push_back(record(std::string("cache/a/wis2/de-dwd/data/core/weather"), "{\"n\":" + std::to_string(i) + "}"));
  batch.push_back(record(FieldValue(), std::string("no topic")));
  batch.push_back(record(std::string("cache/a/wis2/+/data"), std::string("a wildcard")));
  batch.push_back(record(std::string("cache/a/wis2/de-dwd/metadata"), FieldValue()));
  const auto answers = sink->write(batch);
  REQUIRE(answers.size() == 53);
  for (int i = 0; i < 50; ++i) CHECK(answers[i].status == DeliveryStatus::delivered);
  for (int i = 50; i < 53; ++i) CHECK(answers[i].status == DeliveryStatus::rejected);
  CHECK(answers[50].reason == "no publishable topic in field 'topic'");
  CHECK(answers[51].reason == "no publishable topic in field 'topic' (\"cache/a/wis2/+/data\")");
  CHECK(answers[52].reason == "no text in payload field 'message'");
  REQUIRE(inbox.wait_for(50));
  std::this_thread::sleep_for(200ms);
  CHECK(inbox.payloads == payloads(0, 50));
  // Without payload_field the record goes as JSON.
  const auto as_json = make_sink("mqtt", "json", sink_config_table("mqtt").validate({{"url", broker.url()}}));
  CHECK(as_json->healthcheck().ok);  // waits for the connection (a write before it answers Retry)
  CHECK(as_json->write({record(std::string("cache/x"), std::string("m"))})[0].status == DeliveryStatus::delivered);
  REQUIRE(inbox.wait_for(51));
  CHECK(inbox.payloads.back() == R"({"topic":"cache/x","message":"m","note":"x"})");
  // The broker goes away: Retry with the reason, and unhealthy; back: delivered again.
  broker.stop();
  const auto down = std::chrono::steady_clock::now() + 10s;
  while (sink->healthcheck().ok && std::chrono::steady_clock::now() < down) std::this_thread::sleep_for(20ms);
  CHECK_FALSE(sink->healthcheck().ok);
  CHECK(sink->healthcheck().message.find("not connected to tcp://127.0.0.1:") == 0);
  const auto retry = sink->write({record(std::string("cache/y"), std::string("later"))});
  CHECK(retry[0].status == DeliveryStatus::retry);
  CHECK(retry[0].reason.rfind("not connected", 0) == 0);
  broker.start();
  const auto up = std::chrono::steady_clock::now() + 20s;
  while (!sink->healthcheck().ok && std::chrono::steady_clock::now() < up) std::this_thread::sleep_for(20ms);
  CHECK(sink->write({record(std::string("cache/y"), std::string("later"))})[0].status == DeliveryStatus::delivered);
  REQUIRE(inbox.wait_for(52));
  CHECK(inbox.payloads.back() == "later");
  sink->close();
  CHECK(sink->write({record(std::string("cache/z"), std::string("closed"))})[0].status == DeliveryStatus::retry);
  // The options are checked when the sink is made.
  CHECK_THROWS_AS(make_sink("mqtt", "bad", sink_config_table("mqtt").validate({{"url", "http://x"}})), Error);
  CHECK_THROWS_AS(sink_config_table("mqtt").validate({{"url", broker.url()}, {"qos", "2"}}), Error);
}
