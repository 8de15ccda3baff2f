// SourceSelector: the candidate copies of each data item, in policy order.
#include <algorithm>
#include <deque>
#include <unordered_map>

#include "download/url.hpp"
#include "wis2mon/download.hpp"
#include "wis2mon/topic.hpp"

namespace wis2mon {

struct SourceSelector::Impl {
  struct Source {
    std::string url;
    SourceKind kind;
    std::string cache_id;  // centre id of the Global Cache, when known
  };
  struct Item {
    std::vector<Source> sources;  // in the order announced
    bool origin_only = false;     // some notification said cache: false
  };
  SourcePolicy policy;
  std::unordered_map<std::string, Item> items;
  std::deque<std::string> order;  // oldest first, for the capacity bound

  // Lower ranks are tried first.
  int rank(const Source& s) const {
    const auto& pref = policy.preferred_caches;
    if (s.kind == SourceKind::origin) return policy.origin_first ? 0 : static_cast<int>(pref.size()) + 2;
    const std::string host = detail::url_host(s.url);
    for (std::size_t i = 0; i < pref.size(); ++i)
      if (pref[i] == s.cache_id || pref[i] == host) return static_cast<int>(i) + 1;
    return static_cast<int>(pref.size()) + 1;
  }
};

SourceSelector::SourceSelector(SourcePolicy policy) : impl_(std::make_unique<Impl>()) {
  impl_->policy = std::move(policy);
  if (impl_->policy.capacity == 0) impl_->policy.capacity = 1;
}
SourceSelector::~SourceSelector() = default;
SourceSelector::SourceSelector(SourceSelector&&) noexcept = default;
SourceSelector& SourceSelector::operator=(SourceSelector&&) noexcept = default;

std::string SourceSelector::observe(const Notification& n, std::string_view topic) {
  const Link* link = n.data_link();
  if (!link || link->href.empty()) return {};
  std::string key = std::string(n.data_id()) + "|" + std::string(n.pubtime_text());
  auto [it, fresh] = impl_->items.try_emplace(key);
  if (fresh) {
    impl_->order.push_back(key);
    while (impl_->items.size() > impl_->policy.capacity && !impl_->order.empty()) {
      impl_->items.erase(impl_->order.front());
      impl_->order.pop_front();
    }
    it = impl_->items.find(key);
  }
  auto& item = it->second;
  Impl::Source source{std::string(link->href), SourceKind::origin, std::string(n.global_cache())};
  if (!topic.empty()) {
    const Topic t(topic);
    if (t.channel() == "cache") {
      source.kind = SourceKind::cache;
      if (source.cache_id.empty()) source.cache_id = std::string(t.centre_id());
    }
  } else if (!source.cache_id.empty()) {
    source.kind = SourceKind::cache;
  }
  if (!n.cache()) item.origin_only = true;
  const bool known =
      std::any_of(item.sources.begin(), item.sources.end(), [&](const Impl::Source& s) { return s.url == source.url; });
  if (!known) item.sources.push_back(std::move(source));
  return key;
}

std::vector<std::string> SourceSelector::candidates(const std::string& key) const {
  auto it = impl_->items.find(key);
  if (it == impl_->items.end()) return {};
  std::vector<Impl::Source> sources = it->second.sources;
  // cache: false means the data stays with its producer: origin copies go first whatever
  // the policy (caches relay such messages with the origin's link anyway).
  const bool origin_first = impl_->policy.origin_first || it->second.origin_only;
  std::stable_sort(sources.begin(), sources.end(), [&](const Impl::Source& x, const Impl::Source& y) {
    if (origin_first && x.kind != y.kind) return x.kind == SourceKind::origin;
    return impl_->rank(x) < impl_->rank(y);
  });
  std::vector<std::string> urls;
  for (auto& s : sources) urls.push_back(std::move(s.url));
  return urls;
}

SourceKind SourceSelector::kind_of(const std::string& key, std::string_view url) const {
  auto it = impl_->items.find(key);
  if (it != impl_->items.end())
    for (const auto& s : it->second.sources)
      if (s.url == url) return s.kind;
  return SourceKind::origin;
}

std::size_t SourceSelector::size() const noexcept {
  return impl_->items.size();
}

}  // namespace wis2mon
