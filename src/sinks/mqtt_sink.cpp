// MqttSink on MqttPublisher: one publish_many per batch, one Delivery per record.
#include "wis2mon/sinks/mqtt.hpp"

#include <atomic>
#include <mutex>
#include <utility>

#include "wis2mon/error.hpp"

namespace wis2mon {

struct MqttSink::Impl {
  MqttSinkOptions options;
  BrokerOptions broker;
  std::string server;     // for messages: the URL without its credentials
  mutable std::mutex mu;  // the publisher is replaced by write() while healthcheck() reads it
  std::shared_ptr<MqttPublisher> publisher;
  std::shared_ptr<MqttPublisher> current() const {
    std::lock_guard lock(mu);
    return publisher;
  }
  std::atomic<bool> closed{false};
  bool waited = false;  // healthcheck's first call waits for the connection
};

namespace {

std::optional<std::string> text_field(const Record& r, const std::string& name) {
  const auto* v = r.get(name);
  if (!v || !std::holds_alternative<std::string>(*v)) return std::nullopt;
  return std::get<std::string>(*v);
}

}  // namespace

MqttSink::MqttSink(std::string name, MqttSinkOptions options) : Sink(std::move(name)), impl_(std::make_unique<Impl>()) {
  const auto bad = [this](const std::string& why) {
    throw Error(ErrorCode::invalid_argument, "mqtt sink '" + this->name() + "': " + why);
  };
  if (options.url.empty()) bad("no url");
  if (options.qos < 0 || options.qos > 1) bad("qos must be 0 or 1");
  if (options.topic_field.empty() && options.topic.empty()) bad("neither topic_field nor topic is set");
  if (options.topic.find_first_of("+#") != std::string::npos) bad("topic '" + options.topic + "' has a wildcard");
  BrokerOptions b;
  b.name = this->name();
  b.url = options.url;
  b.username = options.username;
  b.password = options.password;
  b.client_id = options.client_id;
  b.mqtt_version = options.mqtt_version;
  b.qos = options.qos;
  b.ca_file = options.ca_file;
  b.verify_tls = options.verify_tls;
  b.clean_start = true;  // nothing to keep: what is not acknowledged stays in the spool
  impl_->broker = b;
  impl_->publisher = std::make_shared<MqttPublisher>(std::move(b));  // checks the URL and version
  impl_->server = parse_broker_url(options.url).server_uri;
  impl_->options = std::move(options);
  impl_->publisher->start();
}

MqttSink::~MqttSink() {
  close();
}

std::vector<Delivery> MqttSink::write(const std::vector<Record>& batch) {
  const auto& o = impl_->options;
  std::vector<Delivery> out(batch.size());
  if (impl_->closed) {
    for (auto& d : out) d = {DeliveryStatus::retry, "sink closed"};
    return out;
  }
  std::vector<std::string> payloads(batch.size());
  std::vector<std::string> topics(batch.size());
  std::vector<std::pair<std::string_view, std::string_view>> messages;
  std::vector<std::size_t> index;  // message -> record
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto topic = text_field(batch[i], o.topic_field);
    if (!topic && !o.topic.empty()) topic = o.topic;
    if (!topic || topic->empty() || topic->find_first_of("+#") != std::string::npos) {
      out[i] = {DeliveryStatus::rejected, "no publishable topic in field '" + o.topic_field + "'" +
                                              (topic && !topic->empty() ? " (\"" + *topic + "\")" : "")};
      continue;
    }
    if (o.payload_field.empty()) {
      payloads[i] = batch[i].to_json();
    } else if (auto p = text_field(batch[i], o.payload_field)) {
      payloads[i] = std::move(*p);
    } else {
      out[i] = {DeliveryStatus::rejected, "no text in payload field '" + o.payload_field + "'"};
      continue;
    }
    topics[i] = std::move(*topic);
    messages.emplace_back(topics[i], payloads[i]);
    index.push_back(i);
  }
  if (messages.empty()) return out;
  // A sink just made, or a broker coming back: give the connection the batch's time first.
  const auto publisher = impl_->current();
  if (!publisher->stats().connected) publisher->wait_connected(o.timeout);
  const auto answers = publisher->publish_many(messages, o.timeout, o.retain);
  bool failed = false;
  for (std::size_t k = 0; k < answers.size(); ++k)
    if (!answers[k].empty()) {
      out[index[k]] = {DeliveryStatus::retry, answers[k]};
      failed = true;
    }
  // A message answered Retry must not go out later on its own: paho would still send the
  // ones it holds unacknowledged after a reconnect (a duplicate once the engine retries
  // them). A new client holds nothing; the old one is dropped with its queue.
  if (failed && !impl_->closed) {
    auto fresh = std::make_shared<MqttPublisher>(impl_->broker);
    fresh->start();
    std::shared_ptr<MqttPublisher> old;
    {
      std::lock_guard lock(impl_->mu);
      old = std::exchange(impl_->publisher, std::move(fresh));
    }
    old->stop(std::chrono::milliseconds(0));
  }
  return out;
}

SinkHealth MqttSink::healthcheck() {
  if (!impl_->waited) {
    impl_->waited = true;
    impl_->current()->wait_connected(std::chrono::seconds(5));
  }
  const auto s = impl_->current()->stats();
  if (s.connected) return {};
  return {false, "not connected to " + impl_->server + (s.last_error.empty() ? "" : ": " + s.last_error)};
}

void MqttSink::close() {
  if (impl_->closed.exchange(true)) return;
  impl_->current()->stop();
}

BrokerStats MqttSink::broker_stats() const {
  return impl_->current()->stats();
}

}  // namespace wis2mon
