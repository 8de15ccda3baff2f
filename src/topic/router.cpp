// Router: a trie of filter levels. Each node has exact-level children, one '+' child, and
// the ids of filters that end at the node (exactly or with '#').
#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "common/compat.hpp"
#include "topic/filter.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/topic.hpp"

namespace wis2mon {
namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

constexpr std::uint32_t kNone = UINT32_MAX;

}  // namespace

struct Router::Trie {
  struct Node {
    std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> children;
    std::uint32_t plus = kNone;
    std::vector<FilterId> exact;  // filters ending at this node
    std::vector<FilterId> hash;   // filters ending with '#' below this node
  };
  std::vector<Node> nodes{1};
  std::vector<std::string> filters;

  std::uint32_t child(std::uint32_t node, std::string_view level) {
    if (level == "+") {
      if (nodes[node].plus == kNone) {
        const auto id = static_cast<std::uint32_t>(nodes.size());
        nodes.emplace_back();
        nodes[node].plus = id;
      }
      return nodes[node].plus;
    }
    auto it = detail::find_key(nodes[node].children, level);
    if (it != nodes[node].children.end()) return it->second;
    const auto id = static_cast<std::uint32_t>(nodes.size());
    nodes.emplace_back();
    nodes[node].children.emplace(std::string(level), id);
    return id;
  }
};

Router::Router() : trie_(std::make_unique<Trie>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

Router::FilterId Router::add(std::string_view filter) {
  std::string why;
  if (!is_valid_filter(filter, &why))
    throw Error(ErrorCode::invalid_argument, "invalid topic filter '" + std::string(filter) + "': " + why);
  const FilterId id = trie_->filters.size();
  trie_->filters.emplace_back(filter);
  const auto body = detail::strip_share(filter);
  std::uint32_t node = 0;
  std::size_t start = 0;
  while (true) {
    const auto slash = body.find('/', start);
    const auto level = body.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (level == "#") {
      trie_->nodes[node].hash.push_back(id);
      return id;
    }
    node = trie_->child(node, level);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  trie_->nodes[node].exact.push_back(id);
  return id;
}

void Router::match(std::string_view topic, std::vector<FilterId>& out) const {
  out.clear();
  struct Step {
    std::uint32_t node;
    std::uint32_t depth;
  };
  // Scratch space reused across calls: no allocation per match once warmed up.
  thread_local std::vector<std::string_view> levels;
  thread_local std::vector<Step> stack;
  levels.clear();
  stack.clear();
  for (std::size_t start = 0;;) {
    const auto slash = topic.find('/', start);
    levels.push_back(topic.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  const auto n = levels.size();
  const bool dollar = !topic.empty() && topic.front() == '$';
  const auto& nodes = trie_->nodes;
  stack.push_back({0, 0});
  while (!stack.empty()) {
    const Step s = stack.back();
    stack.pop_back();
    const auto& node = nodes[s.node];
    const bool wildcards_ok = !(s.depth == 0 && dollar);
    if (wildcards_ok) out.insert(out.end(), node.hash.begin(), node.hash.end());
    if (s.depth == n) {
      out.insert(out.end(), node.exact.begin(), node.exact.end());
      continue;
    }
    if (auto it = detail::find_key(node.children, levels[s.depth]); it != node.children.end())
      stack.push_back({it->second, s.depth + 1});
    if (node.plus != kNone && wildcards_ok) stack.push_back({node.plus, s.depth + 1});
  }
  std::sort(out.begin(), out.end());
}

std::vector<Router::FilterId> Router::match(std::string_view topic) const {
  std::vector<FilterId> out;
  match(topic, out);
  return out;
}

std::size_t Router::size() const noexcept {
  return trie_->filters.size();
}

const std::string& Router::filter(FilterId id) const {
  if (id >= trie_->filters.size()) throw Error(ErrorCode::invalid_argument, "no filter with id " + std::to_string(id));
  return trie_->filters[id];
}

}  // namespace wis2mon
