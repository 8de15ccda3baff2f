// Names the calling thread (at most 15 characters, Linux's limit), so that `top -H`, gdb and
// perf show which of the library's threads is which.
#pragma once

#include <pthread.h>

#include <string>

namespace wis2mon::detail {

inline void name_this_thread(const std::string& name) {
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace wis2mon::detail
