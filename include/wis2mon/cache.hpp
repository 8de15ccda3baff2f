// The Global Cache's message rules (WIS2 Guide, 2.7.4 "Global Cache"): which notifications a
// cache takes, the topic it republishes them on, the id of a republished message, and the
// message itself with its id, canonical href and properties.global-cache changed and nothing
// else.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "wis2mon/export.hpp"
#include "wis2mon/time.hpp"

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

/// Why a cache declines to cache a core item (Guide 2.7.4.1: "if the data are considered too
/// large, or if a WIS2 Node publishes an excessive number of small files").
enum class CacheDeclineReason {
  too_large,      ///< the link announces more than the cache's object limit
  too_many_items  ///< the centre published more items in a minute than the cache's limit
};

/// What a declined item's WIS2 Monitoring Event tells.
struct CacheDeclinedItem {
  std::string cache_centre_id;  ///< this cache (the event's source)
  std::string centre_id;        ///< the originating centre (the event's subject)
  std::string topic;            ///< the topic the notification came on
  std::string data_id;
  std::string pubtime;
  std::string href;  ///< the canonical link's href (what was not cached)
  CacheDeclineReason reason = CacheDeclineReason::too_large;
  std::uint64_t announced = 0;  ///< too_large: the link's length; too_many_items: items this minute
  std::uint64_t limit = 0;      ///< the cache's limit it exceeded
};

/// The WIS2 Monitoring Event (WME: CloudEvents 1.0 JSON, type int.wmo.wis.wme.event, subtype
/// gc-declined, severity WARNING) a Global Cache publishes when it declines an item (Guide
/// 2.7.4.1: it "shall send a WME ... message on the monitor topic hierarchy to inform other
/// WIS centres about it"). Its id is stable for an item (from the cache, data_id and pubtime),
/// so a repeat after a crash is recognisable; `time` is the given instant.
WIS2MON_API std::string cache_declined_event(const CacheDeclinedItem& item, Timestamp time);

/// The topic a cache's event about a centre goes to: monitor/a/wis2/<centre-id>.
WIS2MON_API std::string cache_monitor_topic(std::string_view centre_id);

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

/// Stores a verified object for the data server as store_object does (a temporary file renamed
/// into place), with its Content-Type attached before it appears: as the object's extended
/// attribute user.wis2mon.content_type (no second file per object), or, on a filesystem
/// without user extended attributes, in a hidden file next to it (write_cache_content_type).
/// An empty content_type attaches none (the server answers application/octet-stream).
/// Returns the object's path; throws Error(io).
WIS2MON_API std::filesystem::path store_cache_object(const std::filesystem::path& root, std::string_view data_id,
                                                     std::string_view bytes, std::string_view content_type,
                                                     bool fsync_object = false);

/// The Content-Type the data server answers for an object, as a hidden file next to it (never
/// served), written before the object appears. store_cache_object uses it when the
/// filesystem has no user extended attributes.
WIS2MON_API void write_cache_content_type(const std::filesystem::path& object, std::string_view content_type);

/// Deletes, in steps of at most `step` files, the objects under root last written more than
/// `retention` ago (and their content-type files and emptied folders). Returns how many
/// objects it deleted. Guide 2.7.4.2: a cache keeps data and metadata at least 24 hours.
WIS2MON_API std::size_t expire_cache_objects(const std::filesystem::path& root, std::chrono::seconds retention,
                                             std::size_t step = 1000);

}  // namespace wis2mon
