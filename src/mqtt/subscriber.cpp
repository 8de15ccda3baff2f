// MqttSubscriber and MqttPublisher on paho's MQTTAsync. See wis2mon/mqtt.hpp.
//
// Acknowledgement: paho acknowledges a QoS 1 message (PUBACK) after the message-arrived
// callback returns 1. The callback returns 1 only once the handler stored the message, so a
// message is never acknowledged unstored.
#include "common/ca_bundle.hpp"
#include "common/thread_name.hpp"
#include "wis2mon/mqtt.hpp"

#include <MQTTAsync.h>
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/curl.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/topic.hpp"

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

namespace detail {

// One broker connection: connecting with backoff, TLS, logging, and (for a subscriber) the
// subscriptions and messages; for a publisher, acknowledged publishing. MqttSubscriber and
// MqttPublisher each own one.
struct MqttSession {
  using Clock = std::chrono::steady_clock;

  BrokerOptions options;
  MqttHandler handler;
  BrokerAddress address;
  MQTTAsync client = nullptr;
  bool subscriber = false;
  // Under mu: the filters subscribed on every (re)connection (the configured ones, changed by
  // add_subscription / remove_subscription), those of the subscribeMany in flight (for its
  // error text), and filters removed while disconnected (unsubscribed at the next connection:
  // a persistent session still holds them at the broker).
  std::vector<std::string> live, in_flight;
  std::set<std::string> to_unsubscribe;
  mutable std::mutex mu;
  std::condition_variable changed;  // subscribed
  BrokerStats stats;
  bool subscribed = false;
  std::atomic<bool> stopping{false};

  // Connecting is ours, not paho's automatic reconnect: paho calls a connect's onFailure only
  // for the first failed attempt and never says whether a reconnect found the session, and
  // both are what an operator needs to hear. One thread makes the attempts, with backoff.
  std::thread connector;
  std::condition_variable wake;  // the connector: an attempt is due, or stop
  bool want_connect = false;     // an attempt should be made at next_attempt
  bool attempting = false;       // an attempt is in flight
  Clock::time_point next_attempt{};
  std::chrono::seconds backoff{1};
  std::string tls_errors;  // OpenSSL's words during the attempt in flight
  // Log lines of a failure that repeats: the first, then once a minute with the count.
  std::string last_failure;
  std::uint64_t failure_repeats = 0;
  Clock::time_point last_failure_logged{};
  MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;  // alive as long as the client

  void log(const std::string& line) const {
    if (!options.log) return;
    try {
      options.log("broker " + options.name + ": " + line);
    } catch (...) {
      // A log sink must not take the connection down.
    }
  }

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

  // ---- connecting (the connector thread) ----

  void run_connector() {
    std::unique_lock lock(mu);
    while (!stopping) {
      if (want_connect && !attempting && Clock::now() >= next_attempt) {
        want_connect = false;
        attempting = true;
        tls_errors.clear();
        lock.unlock();
        const int rc = connect_once();
        lock.lock();
        if (rc != MQTTASYNC_SUCCESS) {
          lock.unlock();
          attempt_failed(std::string("connect to ") + address.server_uri + ": " + MQTTAsync_strerror(rc));
          lock.lock();
        }
        continue;
      }
      if (want_connect && !attempting)
        wake.wait_until(lock, next_attempt);
      else
        wake.wait(lock);
    }
  }

  int connect_once() {
    const bool v5 = options.mqtt_version == 5;
    MQTTAsync_connectOptions c5 = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_connectOptions c3 = MQTTAsync_connectOptions_initializer;
    MQTTAsync_connectOptions& c = v5 ? c5 : c3;
    c.keepAliveInterval = static_cast<int>(options.keep_alive.count());
    if (v5)
      c.cleanstart = options.clean_start ? 1 : 0;
    else
      c.cleansession = options.clean_start ? 1 : 0;
    c.connectTimeout = 10;
    c.context = this;
    if (v5) {
      c.onSuccess5 = &MqttSession::on_connect5;
      c.onFailure5 = &MqttSession::on_connect_failure5;
    } else {
      c.onSuccess = &MqttSession::on_connect;
      c.onFailure = &MqttSession::on_connect_failure;
    }
    if (!options.username.empty()) c.username = options.username.c_str();
    if (!options.password.empty()) c.password = options.password.c_str();
    if (address.tls) c.ssl = &ssl;
    MQTTProperties props = MQTTProperties_initializer;
    if (v5 && !options.clean_start) {
      MQTTProperty p;
      p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
      p.value.integer4 = static_cast<unsigned int>(options.session_expiry.count());
      MQTTProperties_add(&props, &p);
      c.connectProperties = &props;  // paho keeps its own copy
    }
    const int rc = MQTTAsync_connect(client, &c);
    MQTTProperties_free(&props);
    return rc;
  }

  // An attempt failed: say why (once a minute while it repeats), try again after the backoff.
  void attempt_failed(std::string why) {
    const auto now = Clock::now();
    bool say = false;
    std::uint64_t repeats = 0;
    {
      std::lock_guard lock(mu);
      if (!tls_errors.empty()) why += "; TLS: " + tls_errors;
      attempting = false;
      ++stats.failed_attempts;
      stats.last_error = why;
      if (why != last_failure || now - last_failure_logged >= std::chrono::minutes(1)) {
        say = true;
        repeats = why == last_failure ? failure_repeats : 0;
        last_failure = why;
        failure_repeats = 0;
        last_failure_logged = now;
      } else {
        ++failure_repeats;
      }
      if (!stopping) {
        want_connect = true;
        next_attempt = now + backoff;
        backoff = std::min(backoff * 2, std::max(options.reconnect_max, options.reconnect_min));
      }
    }
    wake.notify_all();
    if (say)
      log(why + (repeats ? " (" + std::to_string(repeats) + " more failed attempts since the last line)" : "") +
          "; trying again");
  }

  static int on_ssl_error(const char* text, std::size_t len, void* ctx) {
    auto* self = static_cast<MqttSession*>(ctx);
    std::string line(text, len);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    std::lock_guard lock(self->mu);
    if (self->tls_errors.size() < 1024) self->tls_errors += (self->tls_errors.empty() ? "" : "; ") + line;
    return 1;
  }

  // ---- paho callbacks (on paho's thread) ----

  void connected(bool session_present) {
    bool lost_session = false;
    {
      std::lock_guard lock(mu);
      lost_session = !options.clean_start && stats.connects > 0 && !session_present;
      stats.connected = true;
      ++stats.connects;
      if (lost_session) ++stats.sessions_lost;
      attempting = false;
      backoff = std::max(options.reconnect_min, std::chrono::seconds(1));
      last_failure.clear();
    }
    log("connected to " + address.server_uri +
        (options.clean_start ? ""
         : session_present   ? " (session present)"
                             : " (new session)"));
    if (lost_session)
      log("session lost: the broker no longer had this client's session, so messages published while it was "
          "away are gone from this broker");
    if (!stopping) {
      if (!subscriber)
        mark_subscribed();  // a publisher: ready once connected
      else
        subscribe();
    }
    if (options.on_connected) {
      try {
        options.on_connected(session_present && !options.clean_start);
      } catch (const std::exception& e) {
        log(std::string("on_connected: ") + e.what());
      }
    }
  }
  static void on_connect(void* ctx, MQTTAsync_successData* r) {
    static_cast<MqttSession*>(ctx)->connected(r && r->alt.connect.sessionPresent);
  }
  static void on_connect5(void* ctx, MQTTAsync_successData5* r) {
    static_cast<MqttSession*>(ctx)->connected(r && r->alt.connect.sessionPresent);
  }
  static void on_connect_failure(void* ctx, MQTTAsync_failureData* f) {
    static_cast<MqttSession*>(ctx)->attempt_failed(failure_text("connect", f));
  }
  static void on_connect_failure5(void* ctx, MQTTAsync_failureData5* f) {
    static_cast<MqttSession*>(ctx)->attempt_failed(failure_text("connect", f));
  }

  static void on_connection_lost(void* ctx, char* cause) {
    auto* self = static_cast<MqttSession*>(ctx);
    const std::string why = std::string("connection lost") + (cause ? std::string(": ") + cause : "");
    {
      std::lock_guard lock(self->mu);
      self->stats.connected = false;
      self->subscribed = false;
      ++self->stats.connection_losses;
      self->stats.last_error = why;
      if (!self->stopping) {
        self->want_connect = true;
        self->next_attempt = Clock::now() + std::max(self->options.reconnect_min, std::chrono::seconds(1));
      }
    }
    self->wake.notify_all();
    if (!self->stopping) self->log(why + "; reconnecting");
  }

  // MQTT 5: the broker closed the connection and said why (e.g. "Session taken over" when
  // another client connects with the same client id).
  static void on_disconnected(void* ctx, MQTTProperties*, enum MQTTReasonCodes code) {
    auto* self = static_cast<MqttSession*>(ctx);
    const std::string why = std::string("the broker closed the connection: ") + MQTTReasonCode_toString(code);
    self->set_error(why);
    if (!self->stopping) self->log(why);
  }

  static int on_message(void* ctx, char* topic, int topic_len, MQTTAsync_message* m) {
    auto* self = static_cast<MqttSession*>(ctx);
    if (!self->handler) {  // a publisher subscribes to nothing; nothing to hand over
      MQTTAsync_freeMessage(&m);
      MQTTAsync_free(topic);
      return 1;
    }
    const std::size_t len = topic_len > 0 ? static_cast<std::size_t>(topic_len) : std::char_traits<char>::length(topic);
    MqttMessage msg{self->options.name, std::string_view(topic, len),
                    std::string_view(static_cast<const char*>(m->payload), static_cast<std::size_t>(m->payloadlen)),
                    m->qos, m->dup != 0};
    // Until the handler stores it: retried here, with a growing pause, which also holds
    // back the next messages (backpressure). Returning 0 is no refusal: paho then keeps the
    // message in its own memory and acknowledges it all the same (MQTTProtocol_handlePublishes
    // sends PUBACK after the callback whatever it answers). It is done only when stopping,
    // where the monitor lifts backpressure first (Spool::admit_all) so it does not happen.
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

  void subscription_failed(const std::string& why) {
    set_error(why);
    log(why);
  }
  static void on_subscribed(void* ctx, MQTTAsync_successData*) { static_cast<MqttSession*>(ctx)->mark_subscribed(); }
  static void on_subscribed5(void* ctx, MQTTAsync_successData5* r) {
    auto* self = static_cast<MqttSession*>(ctx);
    // MQTT 5 reports a reason code per filter; 0..2 are the granted QoS.
    if (r) {
      const int n = r->alt.sub.reasonCodeCount;
      const MQTTReasonCodes* codes = n > 1 ? r->alt.sub.reasonCodes : &r->reasonCode;
      for (int i = 0; i < n; ++i)
        if (codes[i] > MQTTREASONCODE_GRANTED_QOS_2) {
          std::string filter = "?";
          {
            std::lock_guard lock(self->mu);
            if (static_cast<std::size_t>(i) < self->in_flight.size())
              filter = self->in_flight[static_cast<std::size_t>(i)];
          }
          self->subscription_failed("subscription to " + filter + " refused: " + MQTTReasonCode_toString(codes[i]));
          return;
        }
    }
    self->mark_subscribed();
  }
  static void on_subscribe_failure(void* ctx, MQTTAsync_failureData* f) {
    static_cast<MqttSession*>(ctx)->subscription_failed(failure_text("subscribe", f));
  }
  static void on_subscribe_failure5(void* ctx, MQTTAsync_failureData5* f) {
    static_cast<MqttSession*>(ctx)->subscription_failed(failure_text("subscribe", f));
  }

  void mark_subscribed() {
    {
      std::lock_guard lock(mu);
      subscribed = true;
    }
    changed.notify_all();
  }

  void subscribe() {
    std::vector<std::string> now, gone;
    {
      std::lock_guard lock(mu);
      now = in_flight = live;
      gone.assign(to_unsubscribe.begin(), to_unsubscribe.end());
      to_unsubscribe.clear();
    }
    for (const auto& f : gone) {  // removed while away (paho copies the filter)
      const int rc = MQTTAsync_unsubscribe(client, f.c_str(), nullptr);
      if (rc != MQTTASYNC_SUCCESS) log("unsubscribe " + f + ": " + MQTTAsync_strerror(rc));
    }
    if (now.empty()) return mark_subscribed();  // every filter removed at run time
    // paho takes char* const* and copies the strings; it does not write through them.
    std::vector<char*> filters;
    for (auto& f : now) filters.push_back(f.data());
    std::vector<int> qos(filters.size(), options.qos);
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    r.context = this;
    if (options.mqtt_version == 5) {
      r.onSuccess5 = &MqttSession::on_subscribed5;
      r.onFailure5 = &MqttSession::on_subscribe_failure5;
    } else {
      r.onSuccess = &MqttSession::on_subscribed;
      r.onFailure = &MqttSession::on_subscribe_failure;
    }
    const int rc = MQTTAsync_subscribeMany(client, static_cast<int>(filters.size()), filters.data(), qos.data(), &r);
    if (rc != MQTTASYNC_SUCCESS) subscription_failed(failure_text("subscribe", rc, MQTTAsync_strerror(rc)));
  }

  // ---- subscriptions changed at run time ----

  // One request waiting for the broker's answer. paho's context is a heap copy of the
  // shared_ptr, freed by the callback: a request that timed out here is still answered safely.
  struct CallWait {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::string error;
  };
  static void finish_call(void* ctx, std::string error) {
    auto* holder = static_cast<std::shared_ptr<CallWait>*>(ctx);
    {
      std::lock_guard lock((*holder)->mu);
      (*holder)->done = true;
      (*holder)->error = std::move(error);
    }
    (*holder)->cv.notify_all();
    delete holder;
  }
  static void call_ok(void* ctx, MQTTAsync_successData*) { finish_call(ctx, ""); }
  static void call_ok5(void* ctx, MQTTAsync_successData5* r) {
    // Reason codes of 0x80 and above refuse (a subscription's 0..2 are the granted QoS).
    std::string error;
    if (r) {
      const int n = r->alt.sub.reasonCodeCount;
      const MQTTReasonCodes* codes = n > 1 ? r->alt.sub.reasonCodes : &r->reasonCode;
      for (int i = 0; i < std::max(n, 1); ++i)
        if (codes[i] >= MQTTREASONCODE_UNSPECIFIED_ERROR) error = MQTTReasonCode_toString(codes[i]);
    }
    finish_call(ctx, error.empty() ? "" : "refused: " + error);
  }
  static void call_failed(void* ctx, MQTTAsync_failureData* f) { finish_call(ctx, failure_text("request", f)); }
  static void call_failed5(void* ctx, MQTTAsync_failureData5* f) { finish_call(ctx, failure_text("request", f)); }

  // Sends one subscribe (or unsubscribe) of `filter` and waits for the answer.
  std::string call(bool subscribe_it, const std::string& filter, std::chrono::milliseconds timeout) {
    auto wait = std::make_shared<CallWait>();
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    r.context = new std::shared_ptr<CallWait>(wait);
    if (options.mqtt_version == 5) {
      r.onSuccess5 = &MqttSession::call_ok5;
      r.onFailure5 = &MqttSession::call_failed5;
    } else {
      r.onSuccess = &MqttSession::call_ok;
      r.onFailure = &MqttSession::call_failed;
    }
    const int rc = subscribe_it ? MQTTAsync_subscribe(client, filter.c_str(), options.qos, &r)
                                : MQTTAsync_unsubscribe(client, filter.c_str(), &r);
    if (rc != MQTTASYNC_SUCCESS) {
      delete static_cast<std::shared_ptr<CallWait>*>(r.context);
      return MQTTAsync_strerror(rc);
    }
    std::unique_lock lock(wait->mu);
    if (!wait->cv.wait_for(lock, timeout, [&] { return wait->done; }))
      return "no answer from the broker within " + std::to_string(timeout.count()) + " ms";
    return wait->error;
  }

  std::string change(bool add, const std::string& filter, std::chrono::milliseconds timeout) {
    std::string why;
    if (!is_valid_filter(filter, &why)) return "invalid filter " + filter + ": " + why;
    if (filter.rfind("$share/", 0) == 0 && options.mqtt_version != 5) return "shared subscriptions need MQTT 5";
    {
      std::lock_guard lock(mu);
      const auto it = std::find(live.begin(), live.end(), filter);
      if (add == (it != live.end())) return "";  // already so
      if (add) {
        live.push_back(filter);
        to_unsubscribe.erase(filter);
      } else {
        live.erase(it);
        to_unsubscribe.insert(filter);  // sent now if connected, else at the next connection
      }
    }
    if (!MQTTAsync_isConnected(client)) return "";  // the next connection applies it
    auto error = call(add, filter, timeout);
    if (error.empty() && !add) {
      std::lock_guard lock(mu);
      to_unsubscribe.erase(filter);
    }
    if (!error.empty()) log((add ? "subscribe " : "unsubscribe ") + filter + ": " + error);
    return error;
  }

  // ---- publishing (MqttPublisher) ----

  // One message waiting for the broker's answer; paho's context for its callbacks. Owned by
  // `waits` until the answer comes (a wait that timed out stays until then or destroy).
  struct CallAnswers {
    std::size_t answered = 0;  // answers to one publish_all call's messages (under mu)
  };
  struct PublishWait {
    MqttSession* session = nullptr;
    std::uint64_t key = 0;
    std::shared_ptr<CallAnswers> call;
    bool done = false;
    bool abandoned = false;
    std::string error;  // empty: acknowledged
  };
  std::map<std::uint64_t, std::unique_ptr<PublishWait>> waits;
  std::uint64_t next_key = 0;
  std::condition_variable answered;

  static void finish(void* ctx, std::string error) {
    auto* wait = static_cast<PublishWait*>(ctx);
    MqttSession* self = wait->session;
    const std::uint64_t key = wait->key;
    {
      std::lock_guard lock(self->mu);
      const auto it = self->waits.find(key);
      if (it == self->waits.end()) return;
      if (error.empty()) ++self->stats.messages;
      if (it->second->call) ++it->second->call->answered;
      if (it->second->abandoned) {
        self->waits.erase(it);  // nobody waits for it any more
      } else {
        it->second->done = true;
        it->second->error = std::move(error);
      }
    }
    self->answered.notify_all();
  }
  static void on_published(void* ctx, MQTTAsync_successData*) { finish(ctx, ""); }
  static void on_published5(void* ctx, MQTTAsync_successData5* r) {
    // A PUBACK with a reason code of 0x80 or more is a refusal (not authorized, quota, ...).
    if (r && r->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR)
      finish(ctx, std::string("refused by the broker: ") + MQTTReasonCode_toString(r->reasonCode));
    else
      finish(ctx, "");
  }
  static void on_publish_failure(void* ctx, MQTTAsync_failureData* f) { finish(ctx, failure_text("publish", f)); }
  static void on_publish_failure5(void* ctx, MQTTAsync_failureData5* f) { finish(ctx, failure_text("publish", f)); }

  // Sends every message, then waits for each answer until the deadline. One answer per
  // message: "" when the broker acknowledged it (QoS 1: PUBACK; QoS 0: written out).
  std::vector<std::string> publish_all(const std::vector<std::pair<std::string_view, std::string_view>>& messages,
                                       int message_qos, bool retain, std::chrono::milliseconds timeout) {
    std::vector<std::string> out(messages.size());
    std::vector<std::uint64_t> keys(messages.size(), 0);
    const auto deadline = Clock::now() + timeout;
    // At most kWindow messages of this call in flight: paho queues what goes past the broker's
    // receive maximum (mosquitto: 20) and then sends it slowly (MQTT 5: ~50 ms a message).
    constexpr std::size_t kWindow = 16;
    auto call = std::make_shared<CallAnswers>();
    std::size_t sent = 0;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      PublishWait* wait = nullptr;
      {
        std::unique_lock lock(mu);
        answered.wait_until(lock, deadline, [&] { return sent - call->answered < kWindow; });
        if (!stats.connected) {
          out[i] = "not connected" + (stats.last_error.empty() ? std::string() : " (" + stats.last_error + ")");
          continue;
        }
        keys[i] = ++next_key;
        auto made = std::make_unique<PublishWait>();
        made->session = this;
        made->key = keys[i];
        made->call = call;
        ++sent;
        wait = made.get();
        waits.emplace(keys[i], std::move(made));
      }
      MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
      r.context = wait;
      if (options.mqtt_version == 5) {
        r.onSuccess5 = &MqttSession::on_published5;
        r.onFailure5 = &MqttSession::on_publish_failure5;
      } else {
        r.onSuccess = &MqttSession::on_published;
        r.onFailure = &MqttSession::on_publish_failure;
      }
      MQTTAsync_message m = MQTTAsync_message_initializer;
      m.payload = const_cast<char*>(messages[i].second.data());  // paho copies it
      m.payloadlen = static_cast<int>(messages[i].second.size());
      m.qos = message_qos;
      m.retained = retain ? 1 : 0;
      const std::string topic(messages[i].first);
      // Should paho still refuse (another caller's messages in flight), send again shortly.
      int rc = MQTTAsync_sendMessage(client, topic.c_str(), &m, &r);
      while (rc == MQTTASYNC_MAX_BUFFERED_MESSAGES && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        rc = MQTTAsync_sendMessage(client, topic.c_str(), &m, &r);
      }
      if (rc != MQTTASYNC_SUCCESS) {
        std::lock_guard lock(mu);
        waits.erase(keys[i]);  // paho will not call back for it
        keys[i] = 0;
        --sent;
        out[i] = failure_text("publish", rc, MQTTAsync_strerror(rc));
      }
    }
    std::unique_lock lock(mu);
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (keys[i] == 0) continue;
      const auto it = waits.find(keys[i]);
      answered.wait_until(lock, deadline, [&] { return it->second->done; });
      if (it->second->done) {
        out[i] = std::move(it->second->error);
        waits.erase(it);
      } else {
        it->second->abandoned = true;  // its callback removes it later
        out[i] = "no acknowledgement from the broker within " + std::to_string(timeout.count()) + " ms";
      }
    }
    return out;
  }

  // Checks and takes the options; creates the paho client (does not connect).
  void init(BrokerOptions given, MqttHandler message_handler, const char* who) {
    const auto bad = [who](const std::string& why) {
      throw Error(ErrorCode::invalid_argument, std::string(who) + ": " + why);
    };
    if (given.mqtt_version != 3 && given.mqtt_version != 5) bad("mqtt_version must be 3 (3.1.1) or 5");
    if (given.qos < 0 || given.qos > 2) bad("qos must be 0, 1 or 2");
    address = parse_broker_url(given.url);
    if (given.name.empty()) given.name = address.host;
    if (given.client_id.empty()) {
      std::random_device rd;
      given.client_id = "wis2mon-" + std::to_string(rd()) + std::to_string(rd());
    }
    if (given.username.empty()) given.username = address.username;
    if (given.password.empty()) given.password = address.password;
    for (const auto& f : given.subscriptions)
      if (f.rfind("$share/", 0) == 0 && given.mqtt_version != 5) bad("shared subscriptions need MQTT 5: " + f);
    options = std::move(given);
    live = options.subscriptions;
    handler = std::move(message_handler);
    if (address.tls) {
      // No ca_file: the system's bundle, found (common/ca_bundle.hpp), not paho's compiled-in path.
      const std::string& ca = options.ca_file.empty() ? detail::system_ca_file() : options.ca_file;
      if (!ca.empty()) ssl.trustStore = ca.c_str();
      ssl.enableServerCertAuth = options.verify_tls ? 1 : 0;
      ssl.verify = options.verify_tls ? 1 : 0;  // the host name too
      ssl.ssl_error_cb = &MqttSession::on_ssl_error;
      ssl.ssl_error_context = this;
    }
    MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
    create.MQTTVersion = options.mqtt_version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    const int rc = MQTTAsync_createWithOptions(&client, address.server_uri.c_str(), options.client_id.c_str(),
                                               MQTTCLIENT_PERSISTENCE_NONE, nullptr, &create);
    if (rc != MQTTASYNC_SUCCESS)
      bad("cannot create a client for " + address.server_uri + ": " + MQTTAsync_strerror(rc));
    MQTTAsync_setCallbacks(client, this, &MqttSession::on_connection_lost, &MqttSession::on_message, nullptr);
    if (options.mqtt_version == 5) MQTTAsync_setDisconnected(client, this, &MqttSession::on_disconnected);
  }

  void start() {
    if (connector.joinable()) return;  // started already
    stopping = false;
    {
      std::lock_guard lock(mu);
      want_connect = true;
      next_attempt = Clock::now();
      backoff = std::max(options.reconnect_min, std::chrono::seconds(1));
    }
    connector = std::thread([this] {
      detail::name_this_thread("wis2mon-connect");
      run_connector();
    });
  }

  void stop(std::chrono::milliseconds timeout) {
    if (!client || stopping.exchange(true)) return;
    {
      std::lock_guard lock(mu);
      want_connect = false;
    }
    wake.notify_all();
    if (connector.joinable()) connector.join();
    MQTTAsync_disconnectOptions o5 = MQTTAsync_disconnectOptions_initializer5;
    MQTTAsync_disconnectOptions o3 = MQTTAsync_disconnectOptions_initializer;
    MQTTAsync_disconnectOptions& o = options.mqtt_version == 5 ? o5 : o3;
    o.timeout = static_cast<int>(timeout.count());
    MQTTAsync_disconnect(client, &o);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (MQTTAsync_isConnected(client) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::lock_guard lock(mu);
    stats.connected = false;
    subscribed = false;
  }

  ~MqttSession() {
    stop(std::chrono::milliseconds(2000));
    if (client) MQTTAsync_destroy(&client);  // no callback after this: `waits` can go
  }
};

}  // namespace detail

struct MqttSubscriber::Impl : detail::MqttSession {};
struct MqttPublisher::Impl : detail::MqttSession {};

MqttSubscriber::MqttSubscriber(BrokerOptions options, MqttHandler handler) : impl_(std::make_unique<Impl>()) {
  if (options.subscriptions.empty()) throw Error(ErrorCode::invalid_argument, "MQTT subscriber: no subscriptions");
  if (!handler) throw Error(ErrorCode::invalid_argument, "MQTT subscriber: no message handler");
  impl_->subscriber = true;
  impl_->init(std::move(options), std::move(handler), "MQTT subscriber");
}

std::vector<std::string> MqttSubscriber::subscriptions() const {
  std::lock_guard lock(impl_->mu);
  return impl_->live;
}

std::string MqttSubscriber::add_subscription(const std::string& filter, std::chrono::milliseconds timeout) {
  return impl_->change(true, filter, timeout);
}

std::string MqttSubscriber::remove_subscription(const std::string& filter, std::chrono::milliseconds timeout) {
  return impl_->change(false, filter, timeout);
}

MqttSubscriber::~MqttSubscriber() = default;

void MqttSubscriber::start() {
  impl_->start();
}

void MqttSubscriber::stop(std::chrono::milliseconds timeout) {
  impl_->stop(timeout);
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

MqttPublisher::MqttPublisher(BrokerOptions options) : impl_(std::make_unique<Impl>()) {
  options.subscriptions.clear();
  impl_->init(std::move(options), nullptr, "MQTT publisher");
}

MqttPublisher::~MqttPublisher() = default;

void MqttPublisher::start() {
  impl_->start();
}

void MqttPublisher::stop(std::chrono::milliseconds timeout) {
  impl_->stop(timeout);
}

bool MqttPublisher::wait_connected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->subscribed; });
}

std::string MqttPublisher::publish(std::string_view topic, std::string_view payload,
                                   std::chrono::milliseconds timeout) {
  return impl_->publish_all({{topic, payload}}, impl_->options.qos, false, timeout).front();
}

std::vector<std::string> MqttPublisher::publish_many(
    const std::vector<std::pair<std::string_view, std::string_view>>& messages, std::chrono::milliseconds timeout,
    bool retain) {
  return impl_->publish_all(messages, impl_->options.qos, retain, timeout);
}

const BrokerOptions& MqttPublisher::options() const noexcept {
  return impl_->options;
}

BrokerStats MqttPublisher::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

}  // namespace wis2mon
