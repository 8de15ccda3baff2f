// Deduplicator and the in-memory store.
#include <deque>
#include <mutex>
#include <unordered_map>

#include "common/compat.hpp"
#include "wis2mon/dedup.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon {

struct MemoryDedupStore::Impl {
  struct Entry {
    Timestamp value;
    std::int64_t expires;
    std::uint64_t generation;  // matches the FIFO element that is current for this key
  };
  struct Transparent {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::int64_t ttl;
  std::size_t capacity;
  std::mutex mutex;
  std::unordered_map<std::string, Entry, Transparent, std::equal_to<>> map;
  // Insertion order, for expiry and eviction; entries with an old generation are stale.
  std::deque<std::pair<std::string, std::uint64_t>> fifo;
  std::uint64_t next_generation = 0;
  std::size_t evictions = 0;

  void drop_front() {
    auto& [key, gen] = fifo.front();
    auto it = map.find(key);
    if (it != map.end() && it->second.generation == gen) map.erase(it);
    fifo.pop_front();
  }
};

MemoryDedupStore::MemoryDedupStore(std::chrono::seconds ttl, std::size_t capacity) : impl_(std::make_unique<Impl>()) {
  if (capacity == 0) throw Error(ErrorCode::invalid_argument, "dedup capacity must be at least 1");
  impl_->ttl = ttl.count();
  impl_->capacity = capacity;
}
MemoryDedupStore::~MemoryDedupStore() = default;

std::optional<Timestamp> MemoryDedupStore::get(std::string_view key, Timestamp now) {
  std::lock_guard lock(impl_->mutex);
  auto it = detail::find_key(impl_->map, key);
  if (it == impl_->map.end() || it->second.expires <= now.seconds) return std::nullopt;
  return it->second.value;
}

void MemoryDedupStore::put(std::string_view key, Timestamp value, Timestamp now) {
  std::lock_guard lock(impl_->mutex);
  auto& s = *impl_;
  const auto gen = s.next_generation++;
  auto it = detail::find_key(s.map, key);
  if (it != s.map.end()) {
    it->second = {value, now.seconds + s.ttl, gen};
  } else {
    while (s.map.size() >= s.capacity && !s.fifo.empty()) {
      const auto before = s.map.size();
      s.drop_front();
      s.evictions += s.map.size() < before;
    }
    s.map.emplace(std::string(key), Impl::Entry{value, now.seconds + s.ttl, gen});
  }
  s.fifo.emplace_back(std::string(key), gen);
  // Re-put keys leave stale FIFO elements behind; drop them all once they outnumber the
  // live ones (amortised O(1): after a compaction the FIFO holds at most `capacity`).
  if (s.fifo.size() > 2 * s.capacity + 16) {
    std::deque<std::pair<std::string, std::uint64_t>> live;
    for (auto& e : s.fifo) {
      auto m = s.map.find(e.first);
      if (m != s.map.end() && m->second.generation == e.second) live.push_back(std::move(e));
    }
    s.fifo.swap(live);
  }
}

std::size_t MemoryDedupStore::purge_expired(Timestamp now) {
  std::lock_guard lock(impl_->mutex);
  auto& s = *impl_;
  const auto before = s.map.size();
  // Same TTL for every entry, so the FIFO is also in expiry order.
  while (!s.fifo.empty()) {
    auto it = s.map.find(s.fifo.front().first);
    const bool current = it != s.map.end() && it->second.generation == s.fifo.front().second;
    if (current && it->second.expires > now.seconds) break;
    s.drop_front();
  }
  return before - s.map.size();
}

std::size_t MemoryDedupStore::size() {
  std::lock_guard lock(impl_->mutex);
  return impl_->map.size();
}

std::size_t MemoryDedupStore::evictions() const noexcept {
  return impl_->evictions;
}

const char* to_string(DedupVerdict v) noexcept {
  switch (v) {
    case DedupVerdict::new_item:
      return "new";
    case DedupVerdict::update:
      return "update";
    case DedupVerdict::duplicate:
      return "duplicate";
  }
  return "unknown";
}

Deduplicator::Deduplicator(DedupPolicy policy, std::shared_ptr<DedupStore> store, std::chrono::seconds max_pubtime_skew)
    : policy_(policy), store_(std::move(store)), max_pubtime_skew_(max_pubtime_skew) {
  if (!store_) throw Error(ErrorCode::invalid_argument, "Deduplicator needs a store");
}

std::string Deduplicator::key(const Notification& n, DedupPolicy policy) {
  return std::string(policy == DedupPolicy::message_id ? n.id() : n.data_id());
}

DedupVerdict Deduplicator::check(const Notification& n, Timestamp now) {
  const std::string k = key(n, policy_);
  if (k.empty()) return DedupVerdict::new_item;  // nothing to compare on; let validation judge it
  const auto seen = store_->get(k, now);
  if (!seen) return DedupVerdict::new_item;
  if (policy_ == DedupPolicy::message_id) return DedupVerdict::duplicate;
  const Operation op = n.operation();
  if (n.pubtime() && *seen < *n.pubtime() &&
      (newer_pubtime_is_update_ || op == Operation::update || op == Operation::deletion))
    return DedupVerdict::update;
  return DedupVerdict::duplicate;
}

void Deduplicator::record(const Notification& n, Timestamp now) {
  const std::string k = key(n, policy_);
  if (k.empty()) return;
  Timestamp value = n.pubtime().value_or(now);
  // A pubtime far in the future counts as now: any genuine later update still wins.
  if (max_pubtime_skew_.count() > 0 && value.seconds - now.seconds > max_pubtime_skew_.count()) value = now;
  if (policy_ == DedupPolicy::data_id_pubtime)
    store_->put_unless_newer(k, value, now);  // recording an older copy late must not roll it back
  else
    store_->put(k, value, now);
}

}  // namespace wis2mon
