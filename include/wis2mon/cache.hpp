// The Global Cache's message rules (WIS2 Guide, 2.7.4 "Global Cache"): which notifications a
// cache takes, the topic it republishes them on, the id of a republished message, and the
// message itself with its id, canonical href and properties.global-cache changed and nothing
// else.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
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

/// The Global Cache's data server: serves the objects of a store directory over HTTP (WIS2
/// Guide 2.7.4.1: "a highly available data server"), on libmicrohttpd (epoll; the Guide asks
/// for at least 1,000 simultaneous downloads). GET and HEAD; Content-Type (the notification
/// link's type, kept next to the object), Content-Length, ETag, Last-Modified, single byte
/// ranges (206, 416), If-None-Match (304). No directory listing; hidden files (temporary
/// objects) and anything outside the store are 404, symbolic links included.
struct CacheDataServerOptions {
  std::filesystem::path root;      ///< the store directory
  std::string host = "127.0.0.1";  ///< where to listen ("0.0.0.0", "::" for every address)
  int port = 0;                    ///< 0: any free port (see port())
};

class WIS2MON_API CacheDataServer {
 public:
  /// Starts serving; throws Error(io) when the address cannot be bound.
  explicit CacheDataServer(CacheDataServerOptions options);
  ~CacheDataServer();
  CacheDataServer(const CacheDataServer&) = delete;
  CacheDataServer& operator=(const CacheDataServer&) = delete;
  int port() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The Content-Type the data server answers for an object: written by the cache next to the
/// object (a hidden file, never served) before the object appears.
WIS2MON_API void write_cache_content_type(const std::filesystem::path& object, std::string_view content_type);

/// Deletes, in steps of at most `step` files, the objects under root last written more than
/// `retention` ago (and their content-type files and emptied folders). Returns how many
/// objects it deleted. Guide 2.7.4.2: a cache keeps data and metadata at least 24 hours.
WIS2MON_API std::size_t expire_cache_objects(const std::filesystem::path& root, std::chrono::seconds retention,
                                             std::size_t step = 1000);

}  // namespace wis2mon
