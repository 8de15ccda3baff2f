// Helpers shared by the unit tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace testing {

/// The reference data folder, or nullopt when it is absent (tests then skip).
std::optional<std::filesystem::path> refdata();

/// A valid WNM 1.x message written by the tests (not taken from the reference data): a
/// surface observation with inline base64 content whose sha512 is computed here.
std::string valid_message();

/// Edits a JSON document with JSON pointers: {pointer, json} sets (creating members),
/// {pointer, std::nullopt} removes.
std::string mutate(const std::string& json,
                   const std::vector<std::pair<std::string, std::optional<std::string>>>& edits);

std::string read_file(const std::filesystem::path& p);

/// Starts the sink_writer helper (tests/helpers) with kind, path and per_batch, lets it print
/// `min_acks` "acked <n>" lines, kills it with SIGKILL (mid-write, most likely) and returns
/// the last n it acknowledged.
std::int64_t run_writer_and_kill(const char* kind, const std::filesystem::path& path, const char* per_batch,
                                 int min_acks);

/// The first column of the first row of a query on a SQLite file opened read-only; -1 when the
/// file or table is not there (yet).
std::int64_t sqlite_int(const std::filesystem::path& db, const std::string& sql);

/// Appends a WIS2 Monitoring Event a test saw the library emit to the file named by
/// $WIS2MON_WME_DUMP (when set), one per line: tests/cli/test_wme_schema.py validates them all
/// against the WME schema with Python's jsonschema, a validator independent of ours.
void record_wme(const std::string& event);

/// Polls `done` every 20 ms until it holds or `timeout` passed; its last answer.
bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// A fresh temporary directory, removed when the object goes.
struct TempDir {
  TempDir();
  ~TempDir();
  std::filesystem::path path;
};

}  // namespace testing
