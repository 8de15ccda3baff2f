// Shared by the monitor commands (run, replay, dlq, demo).
#pragma once

#include <string>

#include "wis2mon/monitor.hpp"

namespace wis2mon::cli {

/// The config file's configuration, or the built-in default for "".
MonitorConfig load_config_or_default(const std::string& file);
/// --db: every sqlite sink writes there, and the default spool moves next to it. Without a
/// spool in the config, the program's is wis2mon-spool.db (or next to --db).
void apply_db_override(MonitorOptions& o, const std::string& db);
/// Blocks SIGINT and SIGTERM for the whole process (call before any thread starts), so that
/// wait_for_stop() alone receives them.
void block_stop_signals();
/// Waits for SIGINT, SIGTERM or the end of `duration` seconds (0: no end); says which on stderr.
void wait_for_stop(const char* who, double duration);
/// `wis2mon cache` without a config file: one Global Cache pipeline republishing to an mqtt
/// sink on 127.0.0.1:1883, spool and dedup keys in files of the working directory.
MonitorConfig default_cache_config();
/// "N messages: ... valid, ... invalid, ..." and "records: table n ..." lines.
std::string summary_text(const MonitorStats& s);

}  // namespace wis2mon::cli
