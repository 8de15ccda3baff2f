// The Global Cache's message rules (WIS2 Guide, 2.7.4 "Global Cache"): which notifications a
// cache takes, the topic it republishes them on, the id of a republished message, and the
// message itself with its id, canonical href and properties.global-cache changed and nothing
// else.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "wis2mon/export.hpp"

namespace wis2mon {

/// What a Global Cache does with a notification that arrived on a topic.
enum class CacheTopicRule {
  take,    ///< origin/a/wis2/... or cache/a/wis2/... data/core or metadata: a cache's business
  ignore,  ///< recommended data (Guide 2.7.4.2: "shall ignore"), or any other topic
};

/// Guide 2.7.4.2: subscribe to origin/a/wis2/# and cache/a/wis2/#; ignore
/// .../data/recommended/...; core data and the metadata topics are taken.
WIS2MON_API CacheTopicRule cache_topic_rule(std::string_view topic) noexcept;

/// The topic a cache republishes on: cache/a/wis2/... matching the +/a/wis2/... the message
/// came on (Guide 2.7.4.2). Empty for a topic that is not origin/ or cache/a/wis2/.
WIS2MON_API std::string cache_topic_for(std::string_view topic);

/// The id of a message this cache republishes for an item: a UUID (version 8, RFC 9562,
/// from SHA-256) of the cache's centre-id, the data_id and the pubtime, so a repeat of the
/// same item gets the same id and downstream dedup by id works.
WIS2MON_API std::string cache_message_id(std::string_view centre_id, std::string_view data_id,
                                         std::string_view pubtime);

/// The changes a cache makes to a message (Guide 2.7.4.2: "modify the message identifier and
/// the canonical link's href ... and leave all other fields untouched").
struct CacheRewrite {
  std::string id;                           ///< the new message id
  std::optional<std::string> href;          ///< the canonical link's new href (cached data)
  std::optional<std::string> global_cache;  ///< properties.global-cache (cached data)
};

/// The message with those changes. Every other member keeps its value: numbers keep their
/// exact text, members their order. Throws Error(parse) when the message is not a JSON object.
WIS2MON_API std::string rewrite_for_cache(std::string_view message, const CacheRewrite& changes);

}  // namespace wis2mon
