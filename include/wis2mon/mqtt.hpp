// MqttSubscriber: one broker connection on paho-mqtt-c (MQTTAsync) that hands each message to
// a handler and acknowledges it only when the handler says it is safely stored.
//
// MQTT 3.1.1 and 5; mqtt://, mqtts:// (TLS, server verified), ws:// and wss:// URLs;
// persistent sessions (clean start off; session expiry for MQTT 5) with QoS 1, so messages
// published while the subscriber is away are kept by the broker; MQTT 5 shared subscriptions
// ($share/<group>/<filter>); automatic reconnection with backoff. Several brokers: one
// subscriber each, with the same subscriptions.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wis2mon/export.hpp"

namespace wis2mon {

struct BrokerOptions {
  std::string name;  ///< label for logs and metrics; empty: the host
  /// The centre-id of the Global Broker this connection reaches, for a Sensor Centre for
  /// Global Brokers (MonitorOptions::scgb); empty: the name.
  std::string global_broker;
  /// mqtt://[user:pass@]host[:port] (1883), mqtts://... (8883), ws://host[:port]/path,
  /// wss://host[:port]/path (443).
  std::string url;
  std::string client_id;  ///< empty: "wis2mon-" + random; a persistent session needs a fixed one
  std::string username;   ///< overrides the URL's
  std::string password;
  int mqtt_version = 5;      ///< 5, or 3 for 3.1.1
  bool clean_start = false;  ///< false: a persistent session (the broker keeps QoS 1 messages)
  std::chrono::seconds session_expiry{std::chrono::hours(24)};  ///< MQTT 5: how long the broker keeps it
  std::vector<std::string> subscriptions;                       ///< topic filters, "$share/g/..." allowed
  int qos = 1;
  std::string ca_file;  ///< CA bundle for mqtts/wss; empty: the system's
  bool verify_tls = true;
  std::chrono::seconds keep_alive{30};
  std::chrono::seconds reconnect_min{1};
  std::chrono::seconds reconnect_max{60};
  /// Where connection events go, each with its reason: connected (session present or new),
  /// a failed attempt (paho's reason and OpenSSL's verification error), a lost connection, a
  /// lost session, a refused subscription. A failure that repeats is logged again at most
  /// once a minute, with the count. Empty: not logged (BrokerStats::last_error still says it).
  std::function<void(std::string_view)> log;
  /// Called after each successful connection (on paho's thread: return quickly) with whether
  /// the broker still had this client's session. false on a first connection, after the broker
  /// forgot the session (expired, restarted without persistence), and always with clean_start:
  /// what was published meanwhile is gone from this broker (the monitor then backfills it from
  /// a replay service).
  std::function<void(bool session_present)> on_connected;
};

struct MqttMessage {
  const std::string& broker;  ///< BrokerOptions::name
  std::string_view topic;
  std::string_view payload;
  int qos = 0;
  bool duplicate = false;  ///< the broker says it may have been delivered before
};

/// Returns true once the message is stored (it is then acknowledged). false (or an exception)
/// means not stored: the same message is offered again after a pause that grows to 2 s, and
/// later messages wait; at shutdown it stays unacknowledged, so the broker sends it again.
using MqttHandler = std::function<bool(const MqttMessage&)>;

struct BrokerStats {
  bool connected = false;
  std::uint64_t messages = 0;  ///< acknowledged
  std::uint64_t bytes = 0;     ///< payload bytes acknowledged
  std::uint64_t refused = 0;   ///< times the handler answered false
  std::uint64_t connects = 0;
  std::uint64_t connection_losses = 0;
  std::uint64_t failed_attempts = 0;  ///< connection attempts that failed
  std::uint64_t sessions_lost = 0;    ///< reconnects where the broker no longer had our session
  std::string last_error;
};

class WIS2MON_API MqttSubscriber {
 public:
  /// Checks the options (throws Error(invalid_argument) for a bad URL or version); does not
  /// connect yet.
  MqttSubscriber(BrokerOptions options, MqttHandler handler);
  ~MqttSubscriber();  ///< stop()
  MqttSubscriber(const MqttSubscriber&) = delete;
  MqttSubscriber& operator=(const MqttSubscriber&) = delete;

  /// Starts connecting in the background; subscribes on every (re)connection.
  void start();
  /// Disconnects (waiting up to timeout for in-flight work) and stops reconnecting.
  void stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  /// Waits until connected and subscribed; false on timeout.
  bool wait_subscribed(std::chrono::milliseconds timeout);

  const BrokerOptions& options() const noexcept;
  BrokerStats stats() const;

  /// The filters subscribed now and on every reconnection: the configured ones, changed by
  /// add_subscription and remove_subscription.
  std::vector<std::string> subscriptions() const;
  /// Subscribes to one more filter: at once when connected (waiting up to `timeout` for the
  /// broker's answer), and on every reconnection. "" when done (or subscribed already), else
  /// why not (an invalid filter, the broker's refusal, no answer).
  std::string add_subscription(const std::string& filter,
                               std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  /// Unsubscribes from a filter: at once when connected, else at the next connection (a
  /// persistent session keeps it at the broker until then). "" when done (or not subscribed).
  std::string remove_subscription(const std::string& filter,
                                  std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Publishes to one broker, connection options as the subscriber's (3.1.1/5, TLS, credentials,
/// reconnection with backoff; `subscriptions` are ignored). publish() returns once the broker
/// acknowledged the message (QoS 1: its PUBACK), so a caller can drop its own copy then: the
/// monitor's MQTT sink answers Delivered only after that, and the spool keeps the entry until.
/// Thread-safe.
class WIS2MON_API MqttPublisher {
 public:
  /// Checks the options (throws Error(invalid_argument)); does not connect yet.
  explicit MqttPublisher(BrokerOptions options);
  ~MqttPublisher();  ///< stop()
  MqttPublisher(const MqttPublisher&) = delete;
  MqttPublisher& operator=(const MqttPublisher&) = delete;

  void start();  ///< starts connecting in the background (and reconnecting)
  void stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  bool wait_connected(std::chrono::milliseconds timeout);

  /// Publishes at the options' QoS and waits for the acknowledgement. Returns "" when the
  /// broker acknowledged it, else why not (not connected, refused, no answer in time).
  std::string publish(std::string_view topic, std::string_view payload,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  /// Sends all, then waits for every answer (one string per message, "" = acknowledged).
  std::vector<std::string> publish_many(const std::vector<std::pair<std::string_view, std::string_view>>& messages,
                                        std::chrono::milliseconds timeout = std::chrono::milliseconds(10000),
                                        bool retain = false);

  const BrokerOptions& options() const noexcept;
  BrokerStats stats() const;  ///< messages: acknowledged publications

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The paho server URI for a user URL ("mqtt://h" -> "tcp://h:1883"), with user and password
/// taken out of it. Throws Error(invalid_argument) for an unknown scheme or no host.
struct BrokerAddress {
  std::string server_uri;
  std::string username;
  std::string password;
  bool tls = false;
  std::string host;
};
WIS2MON_API BrokerAddress parse_broker_url(const std::string& url);

}  // namespace wis2mon
