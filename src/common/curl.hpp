// libcurl set-up shared by every part that speaks HTTP (downloads, the InfluxDB sink).
#pragma once

#include <curl/curl.h>

#include <string>

#include "wis2mon/error.hpp"

namespace wis2mon::detail {

/// curl_global_init, once per process (thread-safe through the static's initialisation).
inline void curl_global_init_once() {
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK)
    throw Error(ErrorCode::network, std::string("curl_global_init failed: ") + curl_easy_strerror(rc));
}

}  // namespace wis2mon::detail
