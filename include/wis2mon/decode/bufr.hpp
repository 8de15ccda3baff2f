// BUFR surface observations: one flat record per subset, decoded with ecCodes.
//
// decode_bufr() takes bytes holding one or more BUFR messages, possibly behind a GTS
// bulletin header or between other bytes, and returns one `surface_obs` record per subset.
// A message that cannot be decoded (truncated, local tables, corrupt) gives an error entry
// for that message and decoding goes on with the next one. Never throws for bad input.
//
// Threads: decode_bufr may be called from several threads at once; each call uses its own
// ecCodes handles.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "wis2mon/export.hpp"
#include "wis2mon/record.hpp"

namespace wis2mon {

struct BufrOptions {
  /// Inputs larger than this are refused as a whole (one error entry, no records).
  std::size_t max_input_bytes = 256u * 1024u * 1024u;
  /// A message declaring a master table version newer than the installed ecCodes tables is
  /// decoded with the newest installed version (and a warning). Off: it is an error.
  bool fallback_master_table = true;
  /// ecCodes expands every element of a compressed message once per subset before we see
  /// any of it: a message whose subsets x expanded descriptors pass this is refused (an error
  /// entry for that message) instead of unpacked. Real files stay far below (the 2147-subset
  /// 307103 file is 54k); a corrupted subset count could ask for gigabytes.
  std::size_t max_expanded_values = 20u * 1000u * 1000u;
  /// ecCodes' own bookkeeping grows with the subset count too (a 247-byte fuzzed message
  /// claiming 32,961 subsets took 700 MB): messages with more subsets are refused. Surface
  /// observation bulletins hold hundreds to a few thousand.
  long max_subsets = 10000;
};

/// A problem with one message. message_index is the 1-based position of the message in the
/// input (the same number the records of that message carry).
struct BufrIssue {
  int message_index = 0;
  std::string message;
};

struct BufrResult {
  std::vector<Record> records;      ///< table "surface_obs", one per subset, in input order
  std::vector<BufrIssue> errors;    ///< one per message that could not be decoded
  std::vector<BufrIssue> warnings;  ///< decoded, but with a caveat (e.g. table fallback)
  int messages = 0;                 ///< BUFR messages found, decoded or not

  bool ok() const noexcept { return errors.empty(); }
};

/// Decodes every BUFR message in bytes. Field names and units: docs/decoders.md and
/// surface_obs_fields(). Missing values are null; strings are trimmed valid UTF-8.
WIS2MON_API BufrResult decode_bufr(std::string_view bytes, const BufrOptions& options = {});

/// Reads a file and decodes it. Throws wis2mon::Error (io) when the file cannot be read.
WIS2MON_API BufrResult decode_bufr_file(const std::string& path, const BufrOptions& options = {});

/// The fields of a surface_obs record, in the order decode_bufr sets them.
WIS2MON_API const std::vector<std::string>& surface_obs_fields();

/// The schema of every surface_obs record (surface_obs_fields(), with key, time and tag hints).
WIS2MON_API const RecordSchemaPtr& surface_obs_schema();

/// The newest WMO master table version the installed ecCodes definitions provide.
WIS2MON_API int bufr_newest_master_table();

}  // namespace wis2mon
