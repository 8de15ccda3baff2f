#include "wis2mon/error.hpp"

namespace wis2mon {

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::invalid_argument:
      return "invalid_argument";
    case ErrorCode::io:
      return "io";
    case ErrorCode::parse:
      return "parse";
    case ErrorCode::not_found:
      return "not_found";
    case ErrorCode::network:
      return "network";
    case ErrorCode::database:
      return "database";
    case ErrorCode::unsupported:
      return "unsupported";
    case ErrorCode::internal:
      return "internal";
    case ErrorCode::state:
      return "state";
    case ErrorCode::timeout:
      return "timeout";
  }
  return "unknown";
}

}  // namespace wis2mon
