// The wis2mon command-line program: one function registers each command with CLI11.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace wis2mon::cli {

/// What a command runs after parsing; returns the process exit code.
using Action = std::function<int()>;

/// Exit codes shared by every command (the contract in the README).
constexpr int kExitOk = 0;       // everything valid / matched / done
constexpr int kExitInvalid = 1;  // some input was invalid / did not match
constexpr int kExitUsage = 2;    // usage or I/O error

void add_validate_command(CLI::App& app, Action& action);
void add_topic_commands(CLI::App& app, Action& action);
void add_sample_command(CLI::App& app, Action& action);
void add_fetch_command(CLI::App& app, Action& action);
void add_decode_commands(CLI::App& app, Action& action);
void add_monitor_commands(CLI::App& app, Action& action);
void add_demo_command(CLI::App& app, Action& action);
void add_publish_command(CLI::App& app, Action& action);
void add_cache_command(CLI::App& app, Action& action);
void add_report_command(CLI::App& app, Action& action);

}  // namespace wis2mon::cli
