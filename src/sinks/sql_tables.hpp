// What the SQLite and PostgreSQL sinks share: the checks on records and table specs, and the
// retention job's thread. Internal.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "wis2mon/error.hpp"
#include "wis2mon/record.hpp"
#include "wis2mon/sinks/sqlite.hpp"

namespace wis2mon::detail {

// Why a record cannot be a row (a name that is not an identifier, no field, a field twice);
// empty when it can.
inline std::string sql_record_problem(const Record& r) {
  if (!is_sql_identifier(r.table())) return "table name '" + r.table() + "' is not an identifier";
  if (r.size() == 0) return "record has no fields";
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (!is_sql_identifier(r.name(i))) return "field name '" + r.name(i) + "' is not an identifier";
    if (!seen.insert(r.name(i)).second) return "field '" + r.name(i) + "' appears twice";
  }
  return {};
}

// A record whose table has a validity column and which says false there.
inline bool sql_record_marked_invalid(const Record& r, const SqliteTableSpec* spec) {
  if (!spec || spec->valid_column.empty()) return false;
  const auto* v = r.get(spec->valid_column);
  return v && std::holds_alternative<bool>(*v) && !std::get<bool>(*v);
}

// Throws invalid_argument when a configured spec names a table or column that is not an
// identifier (names are quoted into SQL, so only identifiers are allowed).
inline void check_sql_table_specs(const std::map<std::string, SqliteTableSpec>& tables, const std::string& who) {
  for (const auto& [table, spec] : tables) {
    std::vector<std::string> names = spec.key;
    names.push_back(table);
    if (!spec.time_column.empty()) names.push_back(spec.time_column);
    for (const auto& cols : spec.indexes) names.insert(names.end(), cols.begin(), cols.end());
    for (const auto& n : names)
      if (!is_sql_identifier(n))
        throw Error(ErrorCode::invalid_argument, who + ": '" + n + "' is not a valid table or column name");
  }
}

inline const std::string kNotReplacedReason =
    "not stored: an invalid record does not replace the valid or newer row of the same key";

// Runs a job every `interval` on its own thread until stopped (the retention job); a job's
// exception is the next run's problem.
class PeriodicJob {
 public:
  void start(std::chrono::milliseconds interval, std::function<void()> job) {
    thread_ = std::thread([this, interval, job = std::move(job)] {
      std::unique_lock lock(mu_);
      while (!wake_.wait_for(lock, interval, [this] { return stop_; })) {
        lock.unlock();
        try {
          job();
        } catch (const std::exception&) {
          // busy, I/O or the server away: the next run tries again
        }
        lock.lock();
      }
    });
  }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  ~PeriodicJob() { stop(); }

 private:
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace wis2mon::detail
