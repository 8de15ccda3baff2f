// MqttSubscriber on paho's MQTTAsync. See wis2mon/mqtt.hpp.
//
// Acknowledgement: paho acknowledges a QoS 1 message (PUBACK) after the message-arrived
// callback returns 1. The callback returns 1 only once the handler stored the message, so a
// message is never acknowledged unstored.
#include "wis2mon/mqtt.hpp"

#include <MQTTAsync.h>
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "common/curl.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon {

namespace {

std::string url_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* p = nullptr;
  if (curl_url_get(u, part, &p, flags) != CURLUE_OK || !p) return {};
  std::string s(p);
  curl_free(p);
  return s;
}

}  // namespace

BrokerAddress parse_broker_url(const std::string& url) {
  detail::curl_global_init_once();
  std::unique_ptr<CURLU, void (*)(CURLU*)> u(curl_url(), curl_url_cleanup);
  const auto bad = [&](const std::string& why) {
    throw Error(ErrorCode::invalid_argument, "broker URL '" + url + "': " + why);
  };
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
    bad("not a URL (mqtt://host[:port], mqtts://, ws://, wss://)");
  BrokerAddress a;
  const auto scheme = url_part(u.get(), CURLUPART_SCHEME);
  a.host = url_part(u.get(), CURLUPART_HOST);
  if (a.host.empty()) bad("no host");
  a.username = url_part(u.get(), CURLUPART_USER, CURLU_URLDECODE);
  a.password = url_part(u.get(), CURLUPART_PASSWORD, CURLU_URLDECODE);
  auto port = url_part(u.get(), CURLUPART_PORT);
  const auto path = url_part(u.get(), CURLUPART_PATH);
  std::string paho_scheme;
  if (scheme == "mqtt" || scheme == "tcp") {
    paho_scheme = "tcp";
    if (port.empty()) port = "1883";
  } else if (scheme == "mqtts" || scheme == "ssl") {
    paho_scheme = "ssl";
    a.tls = true;
    if (port.empty()) port = "8883";
  } else if (scheme == "ws") {
    paho_scheme = "ws";
    if (port.empty()) port = "80";
  } else if (scheme == "wss") {
    paho_scheme = "wss";
    a.tls = true;
    if (port.empty()) port = "443";
  } else {
    bad("unknown scheme '" + scheme + "' (mqtt, mqtts, ws, wss)");
  }
  const bool ipv6 = a.host.find(':') != std::string::npos && a.host.front() != '[';
  a.server_uri = paho_scheme + "://" + (ipv6 ? "[" + a.host + "]" : a.host) + ":" + port;
  if ((paho_scheme == "ws" || paho_scheme == "wss") && path != "/") a.server_uri += path;
  return a;
}

struct MqttSubscriber::Impl {
  BrokerOptions options;
  MqttHandler handler;
  BrokerAddress address;
  MQTTAsync client = nullptr;
  std::vector<char*> filters;  // C strings for subscribeMany
  std::vector<int> qos;
  mutable std::mutex mu;
  std::condition_variable changed;
  BrokerStats stats;
  bool subscribed = false;
  std::atomic<bool> stopping{false};

  void set_error(const std::string& e) {
    std::lock_guard lock(mu);
    stats.last_error = e;
  }

  static std::string failure_text(const char* what, int code, const char* message) {
    return std::string(what) + " failed (" + std::to_string(code) + (message ? std::string(", ") + message : "") + ")";
  }
  static std::string failure_text(const char* what, const MQTTAsync_failureData* f) {
    return failure_text(what, f ? f->code : -1, f ? f->message : nullptr);
  }
  static std::string failure_text(const char* what, const MQTTAsync_failureData5* f) {  // MQTT 5 adds a reason code
    return failure_text(what, f ? f->code : -1,
                        f ? (f->message ? f->message : MQTTReasonCode_toString(f->reasonCode)) : nullptr);
  }

  // ---- paho callbacks (on paho's thread) ----

  static void on_connected(void* ctx, char*) {
    auto* self = static_cast<Impl*>(ctx);
    {
      std::lock_guard lock(self->mu);
      self->stats.connected = true;
      ++self->stats.connects;
    }
    self->subscribe();
  }

  static void on_connection_lost(void* ctx, char* cause) {
    auto* self = static_cast<Impl*>(ctx);
    std::lock_guard lock(self->mu);
    self->stats.connected = false;
    self->subscribed = false;
    ++self->stats.connection_losses;
    self->stats.last_error = std::string("connection lost") + (cause ? std::string(": ") + cause : "");
  }

  static int on_message(void* ctx, char* topic, int topic_len, MQTTAsync_message* m) {
    auto* self = static_cast<Impl*>(ctx);
    const std::size_t len = topic_len > 0 ? static_cast<std::size_t>(topic_len) : std::char_traits<char>::length(topic);
    MqttMessage msg{self->options.name, std::string_view(topic, len),
                    std::string_view(static_cast<const char*>(m->payload), static_cast<std::size_t>(m->payloadlen)),
                    m->qos, m->dup != 0};
    // Until the handler stores it: retried here, with a growing pause, which also holds
    // back the next messages (backpressure). Returning 0 would make paho offer it again only
    // when the next packet arrives, so that is kept for shutdown: unacknowledged, the broker
    // delivers it again in the next session.
    auto pause = std::chrono::milliseconds(50);
    for (;;) {
      bool stored = false;
      try {
        stored = self->handler(msg);
      } catch (const std::exception& e) {
        self->set_error(std::string("message handler: ") + e.what());
      } catch (...) {
        self->set_error("message handler threw");
      }
      if (stored) break;
      {
        std::lock_guard lock(self->mu);
        ++self->stats.refused;
      }
      if (self->stopping) return 0;
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(2000));
    }
    {
      std::lock_guard lock(self->mu);
      ++self->stats.messages;
      self->stats.bytes += static_cast<std::uint64_t>(m->payloadlen);
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
  }

  static void on_connect_failure(void* ctx, MQTTAsync_failureData* f) {
    static_cast<Impl*>(ctx)->set_error(failure_text("connect", f));
  }
  static void on_connect_failure5(void* ctx, MQTTAsync_failureData5* f) {
    static_cast<Impl*>(ctx)->set_error(failure_text("connect", f));
  }

  static void on_subscribed(void* ctx, MQTTAsync_successData*) { static_cast<Impl*>(ctx)->mark_subscribed(); }
  static void on_subscribed5(void* ctx, MQTTAsync_successData5* r) {
    auto* self = static_cast<Impl*>(ctx);
    // MQTT 5 reports a reason code per filter; 0..2 are the granted QoS.
    if (r) {
      const int n = r->alt.sub.reasonCodeCount;
      const MQTTReasonCodes* codes = n > 1 ? r->alt.sub.reasonCodes : &r->reasonCode;
      for (int i = 0; i < n; ++i)
        if (codes[i] > MQTTREASONCODE_GRANTED_QOS_2) {
          self->set_error(std::string("subscription refused: ") + MQTTReasonCode_toString(codes[i]));
          return;
        }
    }
    self->mark_subscribed();
  }
  static void on_subscribe_failure(void* ctx, MQTTAsync_failureData* f) {
    static_cast<Impl*>(ctx)->set_error(failure_text("subscribe", f));
  }
  static void on_subscribe_failure5(void* ctx, MQTTAsync_failureData5* f) {
    static_cast<Impl*>(ctx)->set_error(failure_text("subscribe", f));
  }

  void mark_subscribed() {
    {
      std::lock_guard lock(mu);
      subscribed = true;
    }
    changed.notify_all();
  }

  void subscribe() {
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    r.context = this;
    if (options.mqtt_version == 5) {
      r.onSuccess5 = &Impl::on_subscribed5;
      r.onFailure5 = &Impl::on_subscribe_failure5;
    } else {
      r.onSuccess = &Impl::on_subscribed;
      r.onFailure = &Impl::on_subscribe_failure;
    }
    const int rc = MQTTAsync_subscribeMany(client, static_cast<int>(filters.size()), filters.data(), qos.data(), &r);
    if (rc != MQTTASYNC_SUCCESS) set_error(failure_text("subscribe", rc, MQTTAsync_strerror(rc)));
  }
};

MqttSubscriber::MqttSubscriber(BrokerOptions options, MqttHandler handler) : impl_(std::make_unique<Impl>()) {
  auto& d = *impl_;
  const auto bad = [](const std::string& why) { throw Error(ErrorCode::invalid_argument, "MQTT subscriber: " + why); };
  if (options.mqtt_version != 3 && options.mqtt_version != 5) bad("mqtt_version must be 3 (3.1.1) or 5");
  if (options.subscriptions.empty()) bad("no subscriptions");
  if (options.qos < 0 || options.qos > 2) bad("qos must be 0, 1 or 2");
  if (!handler) bad("no message handler");
  d.address = parse_broker_url(options.url);
  if (options.name.empty()) options.name = d.address.host;
  if (options.client_id.empty()) {
    std::random_device rd;
    options.client_id = "wis2mon-" + std::to_string(rd()) + std::to_string(rd());
  }
  if (options.username.empty()) options.username = d.address.username;
  if (options.password.empty()) options.password = d.address.password;
  for (const auto& f : options.subscriptions)
    if (f.rfind("$share/", 0) == 0 && options.mqtt_version != 5) bad("shared subscriptions need MQTT 5: " + f);
  d.options = std::move(options);
  // paho takes char* const*; it does not write through them.
  for (auto& f : d.options.subscriptions) {
    d.filters.push_back(f.data());
    d.qos.push_back(d.options.qos);
  }
  d.handler = std::move(handler);

  MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
  create.MQTTVersion = d.options.mqtt_version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
  const int rc = MQTTAsync_createWithOptions(&d.client, d.address.server_uri.c_str(), d.options.client_id.c_str(),
                                             MQTTCLIENT_PERSISTENCE_NONE, nullptr, &create);
  if (rc != MQTTASYNC_SUCCESS)
    bad("cannot create a client for " + d.address.server_uri + ": " + MQTTAsync_strerror(rc));
  MQTTAsync_setCallbacks(d.client, &d, &Impl::on_connection_lost, &Impl::on_message, nullptr);
  MQTTAsync_setConnected(d.client, &d, &Impl::on_connected);
}

MqttSubscriber::~MqttSubscriber() {
  stop();
  if (impl_->client) MQTTAsync_destroy(&impl_->client);
}

void MqttSubscriber::start() {
  auto& d = *impl_;
  d.stopping = false;
  const bool v5 = d.options.mqtt_version == 5;
  MQTTAsync_connectOptions c5 = MQTTAsync_connectOptions_initializer5;
  MQTTAsync_connectOptions c3 = MQTTAsync_connectOptions_initializer;
  MQTTAsync_connectOptions& c = v5 ? c5 : c3;
  c.keepAliveInterval = static_cast<int>(d.options.keep_alive.count());
  if (v5)
    c.cleanstart = d.options.clean_start ? 1 : 0;
  else
    c.cleansession = d.options.clean_start ? 1 : 0;
  c.automaticReconnect = 1;  // also retries a first connect that fails (broker down at start; tested)
  c.minRetryInterval = static_cast<int>(std::max<std::int64_t>(1, d.options.reconnect_min.count()));
  c.maxRetryInterval = static_cast<int>(std::max<std::int64_t>(c.minRetryInterval, d.options.reconnect_max.count()));
  c.connectTimeout = 10;
  c.context = &d;
  if (v5)
    c.onFailure5 = &Impl::on_connect_failure5;
  else
    c.onFailure = &Impl::on_connect_failure;
  if (!d.options.username.empty()) c.username = d.options.username.c_str();
  if (!d.options.password.empty()) c.password = d.options.password.c_str();
  MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
  if (d.address.tls) {
    if (!d.options.ca_file.empty()) ssl.trustStore = d.options.ca_file.c_str();
    ssl.enableServerCertAuth = d.options.verify_tls ? 1 : 0;
    ssl.verify = d.options.verify_tls ? 1 : 0;  // the host name too
    c.ssl = &ssl;
  }
  MQTTProperties props = MQTTProperties_initializer;
  if (v5 && !d.options.clean_start) {
    MQTTProperty p;
    p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
    p.value.integer4 = static_cast<unsigned int>(d.options.session_expiry.count());
    MQTTProperties_add(&props, &p);
    c.connectProperties = &props;  // paho keeps its own copy
  }
  const int rc = MQTTAsync_connect(d.client, &c);
  MQTTProperties_free(&props);
  if (rc != MQTTASYNC_SUCCESS)
    throw Error(ErrorCode::network, "MQTT connect to " + d.address.server_uri + ": " + MQTTAsync_strerror(rc));
}

void MqttSubscriber::stop(std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  if (!d.client || d.stopping.exchange(true)) return;
  MQTTAsync_disconnectOptions o5 = MQTTAsync_disconnectOptions_initializer5;
  MQTTAsync_disconnectOptions o3 = MQTTAsync_disconnectOptions_initializer;
  MQTTAsync_disconnectOptions& o = d.options.mqtt_version == 5 ? o5 : o3;
  o.timeout = static_cast<int>(timeout.count());
  MQTTAsync_disconnect(d.client, &o);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (MQTTAsync_isConnected(d.client) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::lock_guard lock(d.mu);
  d.stats.connected = false;
  d.subscribed = false;
}

bool MqttSubscriber::wait_subscribed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->subscribed; });
}

const BrokerOptions& MqttSubscriber::options() const noexcept {
  return impl_->options;
}

BrokerStats MqttSubscriber::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

}  // namespace wis2mon
