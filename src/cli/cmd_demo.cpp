// wis2mon demo: the whole monitor on this machine, no internet. Starts a local mosquitto and a
// data server on free loopback ports, publishes a generated WIS2 stream (BUFR observations
// via an origin and two caches, CAP warnings, plain notifications, repeats, invalid
// messages), runs the default pipelines on it and checks the outcome against what was
// published.
#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/monitor_setup.hpp"
#include "common/sqlite.hpp"
#include "sample/demo_stream.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/monitor.hpp"

extern char** environ;

namespace wis2mon::cli {
namespace {

namespace fs = std::filesystem;

std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = std::string(path ? path : "") + ":/usr/sbin:/usr/bin:/sbin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const auto end = std::min(dirs.find(':', start), dirs.size());
    const fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (!candidate.parent_path().empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return {};
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  if (port == 0) throw Error(ErrorCode::io, "demo: no free loopback port");
  return port;
}

bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A child process with stdin from `in` (or /dev/null) and output to `log`; killed on scope exit.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const fs::path& log, const fs::path& in = "/dev/null") {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argv[0].c_str(), &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw Error(ErrorCode::io, "demo: cannot start " + argv[0]);
  }
  ~Child() { stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  int wait() {
    int status = 0;
    if (pid_ > 0) ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    wait();
  }

 private:
  pid_t pid_ = -1;
};

struct DemoArgs {
  std::size_t stations = 300;
  std::string dir;
};

std::size_t count_rows(const fs::path& db, const std::string& table) {
  detail::SqliteDatabase database(db);
  detail::SqliteStatement st(database.handle(), "SELECT count(*) FROM \"" + table + "\"");  // one of four fixed names
  return st.step() ? static_cast<std::size_t>(st.column_int64(0)) : 0;
}

int run_demo(const DemoArgs& a) {
  const auto mosquitto = find_program("mosquitto");
  const auto mosquitto_pub = find_program("mosquitto_pub");
  if (mosquitto.empty() || mosquitto_pub.empty())
    throw Error(ErrorCode::not_found,
                "demo: mosquitto and mosquitto_pub are needed (run scripts/install-deps.sh, or apt-get install "
                "mosquitto mosquitto-clients)");
  fs::path dir = a.dir;
  if (dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "wis2mon-demo-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw Error(ErrorCode::io, "demo: cannot create a temporary directory");
    dir = tmpl;
  }
  fs::create_directories(dir);
  const fs::path db = dir / "wis2mon.db";
  for (const char* f : {"wis2mon.db", "wis2mon.db-wal", "wis2mon.db-shm", "spool.db", "spool.db-wal", "spool.db-shm"})
    fs::remove(dir / f);

  // The data server: origin and two Global Caches, all on one local port.
  httplib::Server data_server;
  // More workers than the downloader opens connections per host (16): a kept-alive
  // connection holds a worker, and a request queued behind them would wait seconds.
  data_server.new_task_queue = [] { return new httplib::ThreadPool(32); };
  const int data_port = data_server.bind_to_any_port("127.0.0.1");
  if (data_port <= 0) throw Error(ErrorCode::io, "demo: cannot start the data server");
  detail::DemoStreamOptions so;
  so.stations = a.stations;
  so.base_url = "http://127.0.0.1:" + std::to_string(data_port);
  std::cerr << "demo: generating " << so.stations << " stations' BUFR observations, " << so.cap_alerts
            << " CAP warnings and the notifications announcing them\n";
  const auto stream = detail::make_demo_stream(so);
  data_server.Get(".*", [&stream](const httplib::Request& req, httplib::Response& res) {
    const auto it = stream.objects.find(req.path);
    if (it == stream.objects.end()) {
      res.status = 404;
      return;
    }
    res.set_content(it->second, "application/octet-stream");
  });
  std::thread data_thread([&data_server] { data_server.listen_after_bind(); });
  struct StopServer {
    httplib::Server& s;
    std::thread& t;
    ~StopServer() {
      s.stop();
      if (t.joinable()) t.join();
    }
  } stop_server{data_server, data_thread};

  // The broker.
  const int mqtt_port = free_port();
  const fs::path conf = dir / "mosquitto.conf";
  std::ofstream(conf) << "listener " << mqtt_port << " 127.0.0.1\nallow_anonymous true\npersistence false\n";
  Child broker({mosquitto, "-c", conf.string()}, dir / "mosquitto.log");
  for (int i = 0; i < 100 && !port_open(mqtt_port); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!port_open(mqtt_port))
    throw Error(ErrorCode::io, "demo: mosquitto did not start (see " + (dir / "mosquitto.log").string() + ")");
  std::cerr << "demo: mosquitto on 127.0.0.1:" << mqtt_port << ", data server on " << so.base_url << "\n";

  // The monitor: the default configuration, pointed at the local broker.
  auto config = default_monitor_config();
  auto& o = config.options;
  apply_db_override(o, db.string());
  o.spool = dir / "spool.db";
  o.status_interval = std::chrono::seconds(5);
  BrokerOptions b;
  b.name = "local";
  b.url = "mqtt://127.0.0.1:" + std::to_string(mqtt_port);
  o.brokers = {b};
  Monitor monitor(config);
  monitor.start();
  if (!monitor.wait_connected(std::chrono::seconds(10)))
    throw Error(ErrorCode::network, "demo: cannot subscribe to mosquitto");

  // Publish, grouped by phase and topic (one mosquitto_pub per group, a message per line).
  std::vector<const detail::DemoMessage*> order;
  for (const auto& m : stream.messages) order.push_back(&m);
  std::stable_sort(order.begin(), order.end(), [](const auto* x, const auto* y) {
    return x->phase != y->phase ? x->phase < y->phase : x->topic < y->topic;
  });
  std::cerr << "demo: publishing " << order.size() << " messages\n";
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    const fs::path lines = dir / "publish.txt";
    {
      std::ofstream out(lines, std::ios::binary);
      while (j < order.size() && order[j]->phase == order[i]->phase && order[j]->topic == order[i]->topic)
        out << order[j++]->payload << "\n";
    }
    Child pub({mosquitto_pub, "-h", "127.0.0.1", "-p", std::to_string(mqtt_port), "-q", "1", "-V", "mqttv5", "-t",
               order[i]->topic, "-l"},
              dir / "publish.log", lines);
    if (pub.wait() != 0)
      throw Error(ErrorCode::network, "demo: mosquitto_pub failed (see " + (dir / "publish.log").string() + ")");
    i = j;
  }

  // Wait for the monitor to take and finish everything.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (monitor.stats().received < order.size() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  while (!monitor.drain(std::chrono::seconds(5)) && std::chrono::steady_clock::now() < deadline)
    std::cerr << "demo: " << monitor.status_line() << "\n";
  monitor.stop();
  const auto s = monitor.stats();

  // The summary, checked against what was published.
  bool all_match = true;
  const auto line = [&](const std::string& what, std::size_t got, std::size_t expected) {
    const bool ok = got == expected;
    all_match = all_match && ok;
    std::cout << "  " << what << std::string(what.size() < 22 ? 22 - what.size() : 1, ' ') << got
              << (ok ? "" : "   MISMATCH: expected " + std::to_string(expected)) << "\n";
  };
  std::cout << "\nwis2mon demo summary (published " << order.size() << " messages)\n";
  line("messages received", s.received, order.size());
  line("valid", s.valid, stream.valid);
  line("invalid", s.invalid, stream.invalid);
  line("duplicates", s.duplicates, stream.duplicates);
  line("downloads", s.downloads, stream.downloads);
  line("download failures", s.download_failures, 0);
  std::cout << "  rows in the database:\n";
  for (const auto& [table, expected] : stream.rows) line("  " + table, count_rows(db, table), expected);
  std::cout << "  dead letters          " << s.dead_letters << " (the invalid messages; `wis2mon dlq list --file "
            << o.spool.string() << "`)\n";
  std::cout << "\ndatabase: " << db.string() << "\n"
            << "next: sqlite3 " << db.string()
            << " \"SELECT wigos_station_identifier, observed_at, air_temperature, wind_speed FROM surface_obs "
               "ORDER BY air_temperature DESC LIMIT 5\"\n";
  std::cout << (all_match ? "all numbers match what was published\n" : "some numbers do not match\n");
  return all_match ? kExitOk : kExitInvalid;
}

}  // namespace

void add_demo_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<DemoArgs>();
  auto* cmd =
      app.add_subcommand("demo", "Run the monitor on a generated stream through a local mosquitto (no internet)");
  cmd->add_option("--stations", a->stations, "Stations in the generated stream")->check(CLI::Range(1, 50000));
  cmd->add_option("--dir", a->dir, "Working directory (default: a new temporary one)");
  cmd->callback([a, &action] { action = [a] { return run_demo(*a); }; });
}

}  // namespace wis2mon::cli
