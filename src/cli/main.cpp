#include <sys/resource.h>

#include <algorithm>
#include <iostream>

#include "cli/commands.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/version.hpp"

namespace {

// A download is a socket: a cache or monitor with hundreds of downloads in flight needs more
// descriptors than the usual soft limit of 1024. The program (not the library) raises its soft
// limit toward the hard one.
void raise_descriptor_limit() {
  rlimit l{};
  if (::getrlimit(RLIMIT_NOFILE, &l) != 0) return;
  const rlim_t wanted = l.rlim_max == RLIM_INFINITY ? 65536 : std::min<rlim_t>(l.rlim_max, 65536);
  if (l.rlim_cur < wanted) {
    l.rlim_cur = wanted;
    ::setrlimit(RLIMIT_NOFILE, &l);
  }
}

}  // namespace

int main(int argc, char** argv) {
  raise_descriptor_limit();
  CLI::App app{"wis2mon: validate and monitor WIS2 notifications"};
  app.set_version_flag("--version", std::string("wis2mon ") + wis2mon::version_string);
  app.require_subcommand(1);
  wis2mon::cli::Action action;
  wis2mon::cli::add_validate_command(app, action);
  wis2mon::cli::add_topic_commands(app, action);
  wis2mon::cli::add_fetch_command(app, action);
  wis2mon::cli::add_decode_commands(app, action);
  wis2mon::cli::add_sample_command(app, action);
  wis2mon::cli::add_monitor_commands(app, action);
  wis2mon::cli::add_demo_command(app, action);
  wis2mon::cli::add_publish_command(app, action);
  wis2mon::cli::add_cache_command(app, action);
  wis2mon::cli::add_report_command(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message
    return wis2mon::cli::kExitUsage;
  }
  try {
    return action ? action() : wis2mon::cli::kExitUsage;
  } catch (const wis2mon::Error& e) {
    std::cerr << "wis2mon: " << e.what() << "\n";
    return wis2mon::cli::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "wis2mon: unexpected error: " << e.what() << "\n";
    return wis2mon::cli::kExitUsage;
  }
}
