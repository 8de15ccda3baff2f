// MqttSink: publishes each record as an MQTT message (the monitor's "MQTT republish" sink, and
// the Global Cache's way out). Delivered only once the broker acknowledged the message (QoS 1:
// its PUBACK), so the spool entry a record came from is kept until then: a crash republishes
// at least once and loses nothing.
//
// The topic comes from a record field (default `topic`), or else from the fixed `topic`
// option; the payload from another field, or the record as JSON when none is named. A record
// without a usable topic (none, empty, or holding an MQTT wildcard) is Rejected; a broker that
// is down or slow answers Retry.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "wis2mon/export.hpp"
#include "wis2mon/mqtt.hpp"
#include "wis2mon/sink.hpp"

namespace wis2mon {

struct MqttSinkOptions {
  std::string url;        ///< mqtt://, mqtts://, ws://, wss:// (user:password@ allowed)
  std::string username;   ///< overrides the URL's
  std::string password;   ///< overrides the URL's (`${ENV}` in a config file reads the environment)
  std::string client_id;  ///< empty: a random one
  int mqtt_version = 5;   ///< 5, or 3 for 3.1.1
  int qos = 1;            ///< 1: Delivered means the broker acknowledged it; 0: written to the socket
  std::string ca_file;    ///< CA bundle for mqtts/wss; empty: the system's
  bool verify_tls = true;
  std::string topic_field = "topic";  ///< the record field holding each message's topic
  std::string topic;                  ///< the topic of records without that field (empty: none)
  std::string payload_field;          ///< the field holding the payload text; empty: the record as JSON
  bool retain = false;
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};  ///< for the acknowledgements of one batch
};

class WIS2MON_API MqttSink : public Sink {
 public:
  /// Checks the options (throws Error(invalid_argument)) and starts connecting.
  MqttSink(std::string name, MqttSinkOptions options);
  ~MqttSink() override;

  std::vector<Delivery> write(const std::vector<Record>& batch) override;
  /// Connected: ok (the first call waits up to 5 s for the connection).
  SinkHealth healthcheck() override;
  void close() override;

  BrokerStats broker_stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wis2mon
