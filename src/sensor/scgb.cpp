// The Sensor Centre for Global Brokers' bookkeeping (WIS2 Guide 3.3.2.1): the per-broker
// metrics, and which broker did not deliver a message the others did. A message is known by
// its id (Global Brokers republish it unchanged); each is held, with the set of brokers that
// delivered it, for the window after it was first seen.
#include <rapidjson/document.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "wis2mon/error.hpp"
#include "wis2mon/sensor.hpp"
#include "wis2mon/topic.hpp"

namespace wis2mon {
namespace {

std::int64_t to_ms(Timestamp t) {
  return t.seconds * 1000 + t.nanos / 1000000;
}

// The subscription a topic came through (Guide 3.3.2.1: origin/a/wis2/#, cache/a/wis2/#,
// monitor/a/wis2/#): the `topic` label, so that its values stay few.
std::string subscription_of(std::string_view topic) {
  const auto slash = topic.find('/');
  return std::string(topic.substr(0, slash)) + "/a/wis2/#";
}

// The message's id, read without building a notification (WNMs and WMEs both have one).
std::string id_of(std::string_view message) {
  rapidjson::Document d;
  d.Parse(message.data(), message.size());
  if (d.HasParseError() || !d.IsObject()) return {};
  const rapidjson::Value& root = d;
  const auto it = root.FindMember("id");
  if (it == root.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

struct Seen {
  std::string centre_id;
  std::int64_t first = 0;
  std::uint64_t brokers = 0;  // bit i: global_brokers[i] delivered it
};

}  // namespace

struct ScgbTracker::Impl {
  ScgbOptions o;
  std::vector<std::string> brokers;
  MetricsRegistry* metrics;
  mutable std::mutex mu;
  std::unordered_map<std::string, Seen> seen;              // by message id
  std::deque<std::pair<std::int64_t, std::string>> order;  // (first seen, id), oldest first

  int index_of(std::string_view broker) const {
    const auto it = std::find(brokers.begin(), brokers.end(), broker);
    return it == brokers.end() ? -1 : static_cast<int>(it - brokers.begin());
  }
  Labels broker_labels(std::string_view broker) const {
    return {{"centre_id", std::string(broker)}, {"report_by", o.centre_id}};
  }
};

ScgbTracker::ScgbTracker(ScgbOptions options, std::vector<std::string> global_brokers, MetricsRegistry* metrics)
    : impl_(std::make_unique<Impl>()) {
  if (options.centre_id.empty()) throw Error(ErrorCode::invalid_argument, "ScgbTracker: centre_id is required");
  if (global_brokers.empty() || global_brokers.size() > 64)
    throw Error(ErrorCode::invalid_argument, "ScgbTracker: between 1 and 64 Global Brokers");
  impl_->o = std::move(options);
  impl_->brokers = std::move(global_brokers);
  impl_->metrics = metrics;
  if (metrics)  // known from the start: a broker never reached shows 0, not nothing
    for (const auto& b : impl_->brokers) metrics->gauge("wmo_wis2_scgb_connected_flag", impl_->broker_labels(b));
}

ScgbTracker::~ScgbTracker() = default;

void ScgbTracker::on_connection(std::string_view global_broker, bool connected) {
  if (impl_->metrics)
    impl_->metrics->gauge("wmo_wis2_scgb_connected_flag", impl_->broker_labels(global_broker)).set(connected ? 1 : 0);
}

bool ScgbTracker::on_message(std::string_view global_broker, std::string_view topic, std::string_view message,
                             Timestamp received) {
  return on_message_id(global_broker, topic, id_of(message), received);
}

bool ScgbTracker::on_message_id(std::string_view global_broker, std::string_view topic, std::string_view message_id,
                                Timestamp received) {
  auto& m = *impl_;
  if (m.metrics) {
    // Guide 3.3.2.1: each message received increments the counter and sets the timestamp.
    Labels l = m.broker_labels(global_broker);
    l.emplace_back("topic", subscription_of(topic));
    m.metrics->counter("wmo_wis2_scgb_messages_received_total", l).inc();
    m.metrics->counter("wmo_wis2_scgb_messages_published_total", l).inc();
    m.metrics->gauge("wmo_wis2_scgb_last_message_timestamp_seconds", l).set(static_cast<double>(received.seconds));
  }
  const int index = m.index_of(global_broker);
  if (index < 0 || message_id.empty()) return false;
  std::string id(message_id);
  std::lock_guard lock(m.mu);
  auto [it, fresh] = m.seen.try_emplace(id);
  if (fresh) {
    it->second.centre_id = std::string(Topic(topic).centre_id());
    it->second.first = to_ms(received);
    m.order.emplace_back(it->second.first, std::move(id));
    if (m.metrics) m.metrics->counter("wis2mon_scgb_messages_union_total", {{"centre_id", it->second.centre_id}}).inc();
  }
  it->second.brokers |= std::uint64_t{1} << index;
  return true;
}

std::size_t ScgbTracker::advance(Timestamp now) {
  auto& m = *impl_;
  std::lock_guard lock(m.mu);
  const std::int64_t cutoff = to_ms(now) - static_cast<std::int64_t>(m.o.window.count()) * 1000;
  std::size_t closed = 0;
  while (!m.order.empty() && m.order.front().first <= cutoff) {
    const auto it = m.seen.find(m.order.front().second);
    m.order.pop_front();
    if (it == m.seen.end()) continue;
    for (std::size_t b = 0; b < m.brokers.size(); ++b)
      if (m.metrics && !(it->second.brokers & (std::uint64_t{1} << b)))
        m.metrics
            ->counter("wis2mon_scgb_messages_missing_total",
                      {{"global_broker", m.brokers[b]}, {"centre_id", it->second.centre_id}})
            .inc();
    m.seen.erase(it);
    ++closed;
  }
  return closed;
}

std::size_t ScgbTracker::pending() const {
  std::lock_guard lock(impl_->mu);
  return impl_->seen.size();
}

}  // namespace wis2mon
