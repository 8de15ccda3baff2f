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
#include <mutex>
#include <set>
#include <thread>

#include "cli/commands.hpp"
#include "cli/monitor_setup.hpp"
#include "common/digest.hpp"
#include "common/encoding.hpp"
#include "common/sqlite.hpp"
#include "sample/demo_stream.hpp"
#include "wis2mon/cache.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/monitor.hpp"
#include "wis2mon/mqtt.hpp"
#include "wis2mon/notification.hpp"
#include "wis2mon/topic.hpp"

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

// The stream's data server (origin and Global Caches on one local port): serves its objects
// once serve() is called, until destroyed.
class DemoDataServer {
 public:
  DemoDataServer() {
    // More workers than the downloader opens connections per host (16): a kept-alive
    // connection holds a worker, and a request queued behind them would wait seconds.
    server_.new_task_queue = [] { return new httplib::ThreadPool(32); };
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw Error(ErrorCode::io, "demo: cannot start the data server");
  }
  ~DemoDataServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void serve(const std::map<std::string, std::string>& objects) {
    server_.Get(".*", [&objects](const httplib::Request& req, httplib::Response& res) {
      const auto it = objects.find(req.path);
      if (it == objects.end()) {
        res.status = 404;
        return;
      }
      res.set_content(it->second, "application/octet-stream");
    });
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

// A mosquitto on a free loopback port, logging to dir/<name>.log.
struct LocalBroker {
  std::unique_ptr<Child> process;
  int port = 0;
  std::string url() const { return "mqtt://127.0.0.1:" + std::to_string(port); }
};

LocalBroker start_broker(const std::string& mosquitto, const fs::path& dir, const std::string& name) {
  LocalBroker b;
  b.port = free_port();
  const fs::path conf = dir / (name + ".conf");
  std::ofstream(conf) << "listener " << b.port << " 127.0.0.1\nallow_anonymous true\npersistence false\n";
  b.process = std::make_unique<Child>(std::vector<std::string>{mosquitto, "-c", conf.string()}, dir / (name + ".log"));
  for (int i = 0; i < 100 && !port_open(b.port); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!port_open(b.port))
    throw Error(ErrorCode::io, "demo: mosquitto did not start (see " + (dir / (name + ".log")).string() + ")");
  return b;
}

fs::path demo_dir(const std::string& given) {
  fs::path dir = given;
  if (dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "wis2mon-demo-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw Error(ErrorCode::io, "demo: cannot create a temporary directory");
    dir = tmpl;
  }
  fs::create_directories(dir);
  return dir;
}

// Publishes the stream grouped by phase and topic (one mosquitto_pub per group, a message per
// line).
std::size_t publish_stream(const std::string& mosquitto_pub, int port, const detail::DemoStream& stream,
                           const fs::path& dir) {
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
    Child pub({mosquitto_pub, "-h", "127.0.0.1", "-p", std::to_string(port), "-q", "1", "-V", "mqttv5", "-t",
               order[i]->topic, "-l"},
              dir / "publish.log", lines);
    if (pub.wait() != 0)
      throw Error(ErrorCode::network, "demo: mosquitto_pub failed (see " + (dir / "publish.log").string() + ")");
    i = j;
  }
  return order.size();
}

std::size_t count_rows(const fs::path& db, const std::string& table) {
  detail::SqliteDatabase database(db);
  detail::SqliteStatement st(database.handle(), "SELECT count(*) FROM \"" + table + "\"");  // one of four fixed names
  return st.step() ? static_cast<std::size_t>(st.column_int64(0)) : 0;
}

// mosquitto and mosquitto_pub, or a clear error.
std::pair<std::string, std::string> find_mosquitto() {
  auto found = std::make_pair(find_program("mosquitto"), find_program("mosquitto_pub"));
  if (found.first.empty() || found.second.empty())
    throw Error(ErrorCode::not_found,
                "demo: mosquitto and mosquitto_pub are needed (run scripts/install-deps.sh, or apt-get install "
                "mosquitto mosquitto-clients)");
  return found;
}

// Summary lines "  what   value", each checked against what was published.
struct CheckedLines {
  std::size_t width;
  bool all_match = true;
  void operator()(const std::string& what, std::size_t value, std::size_t expected) {
    const bool ok = value == expected;
    all_match = all_match && ok;
    std::cout << "  " << what << std::string(what.size() < width ? width - what.size() : 1, ' ') << value
              << (ok ? "" : "   MISMATCH: expected " + std::to_string(expected)) << "\n";
  }
};

// Waits (at most until deadline) for the monitor to take `published` messages and finish them.
void wait_until_done(Monitor& monitor, std::size_t published, std::chrono::steady_clock::time_point deadline) {
  while (monitor.stats().received < published && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  while (!monitor.drain(std::chrono::seconds(5)) && std::chrono::steady_clock::now() < deadline)
    std::cerr << "demo: " << monitor.status_line() << "\n";
}

int run_demo(const DemoArgs& a) {
  const auto [mosquitto, mosquitto_pub] = find_mosquitto();
  const fs::path dir = demo_dir(a.dir);
  const fs::path db = dir / "wis2mon.db";
  for (const char* f : {"wis2mon.db", "wis2mon.db-wal", "wis2mon.db-shm", "spool.db", "spool.db-wal", "spool.db-shm"})
    fs::remove(dir / f);

  // The data server: origin and two Global Caches, all on one local port.
  DemoDataServer data;
  detail::DemoStreamOptions so;
  so.stations = a.stations;
  so.base_url = data.base_url();
  std::cerr << "demo: generating " << so.stations << " stations' BUFR observations, " << so.cap_alerts
            << " CAP warnings and the notifications announcing them\n";
  const auto stream = detail::make_demo_stream(so);
  data.serve(stream.objects);

  // The broker.
  const auto broker = start_broker(mosquitto, dir, "mosquitto");
  const int mqtt_port = broker.port;
  std::cerr << "demo: mosquitto on 127.0.0.1:" << mqtt_port << ", data server on " << data.base_url() << "\n";

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

  const std::size_t published = publish_stream(mosquitto_pub, mqtt_port, stream, dir);

  // Wait for the monitor to take and finish everything.
  wait_until_done(monitor, published, std::chrono::steady_clock::now() + std::chrono::minutes(5));
  monitor.stop();
  const auto s = monitor.stats();

  // The summary, checked against what was published.
  CheckedLines line{22};
  std::cout << "\nwis2mon demo summary (published " << published << " messages)\n";
  line("messages received", s.received, published);
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
  std::cout << (line.all_match ? "all numbers match what was published\n" : "some numbers do not match\n");
  return line.all_match ? kExitOk : kExitInvalid;
}

// wis2mon demo cache: the Global Cache scene. The same generated stream on an origin broker
// (each observation announced by the origin and by two other Global Caches, CAP warnings,
// metadata records, repeats, invalid messages); this cache in process, with its data server
// and its own broker; a consumer there that downloads every republished href from the cache
// and verifies it. The numbers are checked against the stream.
int run_demo_cache(const DemoArgs& a) {
  const auto [mosquitto, mosquitto_pub] = find_mosquitto();
  const fs::path dir = demo_dir(a.dir);
  for (const char* f : {"spool.db", "spool.db-wal", "spool.db-shm", "dedup.db", "dedup.db-wal", "dedup.db-shm"})
    fs::remove(dir / f);
  fs::remove_all(dir / "store");

  DemoDataServer data;
  detail::DemoStreamOptions so;
  so.stations = a.stations;
  so.base_url = data.base_url();
  std::cerr << "demo cache: generating " << so.stations << " stations' BUFR observations, " << so.cap_alerts
            << " CAP warnings, " << so.plain << " metadata records and the notifications announcing them\n";
  auto stream = detail::make_demo_stream(so);
  // The metadata records the notifications link to (a cache keeps those too, Guide 2.7.4.1).
  for (const auto& m : stream.messages) {
    if (Topic(m.topic).notification_type() != "metadata") continue;
    const auto parsed = Notification::parse(m.payload);
    const Link* link = parsed.notification.data_link();
    if (!link || !link->length) continue;
    std::string record = "{\"id\": \"" + std::string(parsed.notification.data_id()) + "\", \"padding\": \"\"}";
    record.insert(record.size() - 2, static_cast<std::size_t>(*link->length) - record.size(), ' ');
    stream.objects[std::string(link->href.substr(so.base_url.size()))] = record;
  }
  data.serve(stream.objects);
  const auto origin = start_broker(mosquitto, dir, "origin-broker");
  const auto own = start_broker(mosquitto, dir, "cache-broker");
  CacheDataServer cache_server({dir / "store", "127.0.0.1", 0});
  const std::string cache_url = "http://127.0.0.1:" + std::to_string(cache_server.port());
  std::cerr << "demo cache: origin broker " << origin.url() << ", data server " << data.base_url() << ", cache broker "
            << own.url() << ", cache data server " << cache_url << "\n";

  // The consumer: subscribes to the cache's broker and keeps what it gets.
  std::mutex got_mu;
  std::vector<std::pair<std::string, std::string>> got;  // topic, message
  BrokerOptions cb;
  cb.name = "consumer";
  cb.url = own.url();
  cb.subscriptions = {"cache/a/wis2/#", "monitor/a/wis2/#"};
  MqttSubscriber consumer(cb, [&](const MqttMessage& m) {
    std::lock_guard lock(got_mu);
    got.emplace_back(std::string(m.topic), std::string(m.payload));
    return true;
  });
  consumer.start();
  if (!consumer.wait_subscribed(std::chrono::seconds(10)))
    throw Error(ErrorCode::network, "demo: the consumer cannot subscribe to the cache's broker");

  // This cache: the default `wis2mon cache` configuration, on the demo's parts.
  auto config = default_cache_config();
  auto& o = config.options;
  o.spool = dir / "spool.db";
  o.dedup_store = dir / "dedup.db";
  o.status_interval = std::chrono::seconds(5);
  o.sinks[0].settings["url"] = own.url();
  auto& p = o.pipelines[0];
  p.global_cache = "xx-demo-global-cache";
  p.global_cache_store = dir / "store";
  p.global_cache_base_url = cache_url;
  BrokerOptions b;
  b.name = "origin";
  b.url = origin.url();
  o.brokers = {b};
  Monitor monitor(config);
  monitor.start();
  if (!monitor.wait_connected(std::chrono::seconds(10)))
    throw Error(ErrorCode::network, "demo: the cache cannot subscribe to the origin broker");

  const std::size_t published = publish_stream(mosquitto_pub, origin.port, stream, dir);
  // Every item the cache must republish: observations, CAP warnings, metadata records.
  const std::size_t items = a.stations + so.cap_alerts + so.plain;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  wait_until_done(monitor, published, deadline);
  const auto received = [&] {
    std::lock_guard lock(got_mu);
    return got.size();
  };
  while (received() < items && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // anything more would show now
  monitor.stop();
  consumer.stop();
  const auto s = monitor.stats();

  // The consumer downloads each republished object from the cache and verifies it: against
  // the integrity value when the message has one, else against the link's length.
  std::size_t verified = 0, pointing_at_cache = 0;
  std::set<std::string> keys;
  httplib::Client client("127.0.0.1", cache_server.port());
  for (const auto& [topic, message] : got) {
    const auto parsed = Notification::parse(message);
    const auto& n = parsed.notification;
    keys.insert(std::string(n.data_id()) + " " + std::string(n.pubtime_text()));
    const Link* link = n.data_link();
    if (!link || link->href.rfind(cache_url + "/", 0) != 0) continue;
    ++pointing_at_cache;
    const auto res = client.Get(std::string(link->href.substr(cache_url.size())));
    if (!res || res->status != 200) continue;
    bool ok = link->length && res->body.size() == static_cast<std::size_t>(*link->length);
    if (const auto& integrity = n.integrity()) {
      unsigned char digest[64];
      detail::compute_digest("sha512", res->body.data(), res->body.size(), digest);
      ok = detail::base64_encode({reinterpret_cast<char*>(digest), 64}) == integrity->value;
    }
    if (ok) ++verified;
  }

  CheckedLines line{30};
  std::cout << "\nwis2mon demo cache summary (published " << published << " messages on the origin broker)\n";
  line("messages received", s.received, published);
  line("invalid", s.invalid, stream.invalid);
  // Copies from the other caches and repeats bring nothing new.
  line("duplicates", s.duplicates, stream.duplicates + a.stations * so.caches);
  line("cached", s.gc_cached, items);
  line("download failures", s.download_failures, 0);
  line("republished on cache/a/wis2", got.size(), items);
  line("  each item once", keys.size(), items);
  line("  pointing at this cache", pointing_at_cache, items);
  line("consumer downloads verified", verified, items);
  std::cout << "\nstore: " << (dir / "store").string() << " (served at " << cache_url << " while the demo ran)\n"
            << "next: wis2mon cache --help; docs/global-cache.md\n";
  std::cout << (line.all_match ? "all numbers match what was published\n" : "some numbers do not match\n");
  return line.all_match ? kExitOk : kExitInvalid;
}

}  // namespace

void add_demo_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<DemoArgs>();
  auto* cmd =
      app.add_subcommand("demo", "Run the monitor on a generated stream through a local mosquitto (no internet)");
  cmd->add_option("--stations", a->stations, "Stations in the generated stream")->check(CLI::Range(1, 50000));
  cmd->add_option("--dir", a->dir, "Working directory (default: a new temporary one)");
  auto* cache = cmd->add_subcommand(
      "cache", "The Global Cache scene: origin broker, data server, this cache, its broker and a consumer");
  cache->add_option("--stations", a->stations, "Stations in the generated stream")->check(CLI::Range(1, 50000));
  cache->add_option("--dir", a->dir, "Working directory (default: a new temporary one)");
  cache->callback([a, &action] { action = [a] { return run_demo_cache(*a); }; });
  cmd->callback([a, cache, &action] {
    if (!cache->parsed()) action = [a] { return run_demo(*a); };
  });
}

}  // namespace wis2mon::cli
