// Fetching a window of notifications from a WIS2 Global Replay service (GREP): an OGC API -
// Features collection of the notifications the Global Brokers carried, kept for a while.
// The reference implementation (wmo-im/wis2-grep) serves them as collection
// `wis2-notification-messages`, filtered by `datetime` on their pubtime, with the topic in
// properties.topic; each item has a new message id (dedup by data_id and pubtime makes a
// replayed copy of known data harmless; message-id dedup does not see it as a repeat).
#pragma once

#include <rapidjson/document.h>

#include <atomic>
#include <functional>
#include <string>
#include <string_view>

#include "wis2mon/download.hpp"
#include "wis2mon/monitor.hpp"

namespace wis2mon::detail {

/// A message's topic from its `topic` member, else properties.topic; empty when neither.
std::string topic_member(const rapidjson::Value& v);

/// Pages through the items of [r.since, r.until] along the `next` links (r.url and
/// r.collection must be set). Each item whose topic matches one of r.filters (all when empty)
/// goes to `on_item` as its topic and compact JSON; `on_item` answers false to stop. r.on_page
/// runs after each page. Stops early (ok false, "cancelled") when `cancel` turns true.
BackfillProgress fetch_replay_window(
    Downloader& http, const BackfillRequest& r,
    const std::function<bool(const std::string& topic, std::string_view json)>& on_item,
    const std::atomic<bool>* cancel = nullptr);

}  // namespace wis2mon::detail
