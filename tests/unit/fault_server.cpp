#include "fault_server.hpp"

#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace testing {

struct FaultServer::Impl {
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  std::mutex mutex;
  std::map<std::string, std::string> objects;
  std::map<std::string, int> hits;
};

FaultServer::FaultServer() : impl_(std::make_unique<Impl>()) {
  impl_->server = std::make_unique<httplib::Server>();
  start();
}

FaultServer::FaultServer(const std::filesystem::path& cert, const std::filesystem::path& key)
    : impl_(std::make_unique<Impl>()), tls_(true) {
  impl_->server = std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str());
  start();
}

FaultServer::~FaultServer() {
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void FaultServer::put(const std::string& name, std::string body) {
  std::lock_guard lock(impl_->mutex);
  impl_->objects[name] = std::move(body);
}

std::string FaultServer::url(const std::string& path) const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
}

void FaultServer::start() {
  auto& s = *impl_->server;
  s.set_keep_alive_max_count(1000);
  s.new_task_queue = [] { return new httplib::ThreadPool(64); };
  // Count requests in flight, to check the client's concurrency limits.
  s.set_pre_routing_handler([this](const httplib::Request&, httplib::Response&) {
    ++requests_;
    const int now = ++concurrent_;
    int seen = max_concurrent_.load();
    while (now > seen && !max_concurrent_.compare_exchange_weak(seen, now)) {
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_post_routing_handler([this](const httplib::Request&, httplib::Response&) { --concurrent_; });
  auto object = [this](const std::string& name, httplib::Response& res) {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->objects.find(name);
    if (it == impl_->objects.end()) {
      res.status = 404;
      return;
    }
    res.set_content(it->second, "application/octet-stream");
  };
  s.Get(R"(/ok/(.+))", [object](const httplib::Request& req, httplib::Response& res) { object(req.matches[1], res); });
  s.Get(R"(/delay/(\d+)/(.+))", [object](const httplib::Request& req, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(req.matches[1])));
    object(req.matches[2], res);
  });
  s.Get(R"(/status/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
    res.status = std::stoi(req.matches[1]);
    res.set_content("status", "text/plain");
  });
  s.Get(R"(/flaky503/(.+))", [this, object](const httplib::Request& req, httplib::Response& res) {
    int hit;
    {
      std::lock_guard lock(impl_->mutex);
      hit = ++impl_->hits[req.path];
    }
    if (hit == 1) {
      res.status = 503;
      return;
    }
    object(req.matches[1], res);
  });
  s.Get(R"(/redirect/(.+))", [](const httplib::Request& req, httplib::Response& res) {
    res.set_redirect("/ok/" + std::string(req.matches[1]));
  });
  s.Get("/redirect-loop", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/redirect-loop"); });
  s.Get("/redirect-file",
        [](const httplib::Request&, httplib::Response& res) { res.set_redirect("file:///etc/passwd"); });
  // Announces 1000 bytes, sends 500, then drops the connection.
  s.Get("/truncated", [](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(1000, "application/octet-stream", [](size_t offset, size_t, httplib::DataSink& sink) {
      if (offset >= 500) return false;
      const std::string half(500, 'x');
      sink.write(half.data(), half.size());
      return true;
    });
  });
  // Announces 100 bytes but has 2000: the client reads the announced 100.
  s.Get(R"(/short-length/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    std::string body;
    {
      std::lock_guard lock(impl_->mutex);
      body = impl_->objects[req.matches[1]];
    }
    res.set_content_provider(100, "application/octet-stream", [body](size_t offset, size_t, httplib::DataSink& sink) {
      if (offset == 0) sink.write(body.data(), body.size());
      return true;
    });
  });
  // One byte every 300 ms, for ever.
  s.Get("/drip", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/octet-stream", [](size_t, httplib::DataSink& sink) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      return sink.write("x", 1);
    });
  });
  // An endless body, 64 KiB at a time, until the client goes.
  s.Get("/endless", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/octet-stream", [](size_t, httplib::DataSink& sink) {
      static const std::string block(65536, 'e');
      return sink.write(block.data(), block.size());
    });
  });
  // Announces 1 GiB.
  s.Get("/huge", [](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(1ull << 30, "application/octet-stream", [](size_t, size_t, httplib::DataSink& sink) {
      static const std::string block(65536, 'h');
      return sink.write(block.data(), block.size());
    });
  });
  port_ = s.bind_to_any_port("127.0.0.1");
  impl_->thread = std::thread([&s] { s.listen_after_bind(); });
  while (!s.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

RawReplyServer::RawReplyServer(std::string reply) : reply_(std::move(reply)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("RawReplyServer: cannot listen on loopback");
  port_ = ntohs(addr.sin_port);
  thread_ = std::make_unique<std::thread>([this] {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(listen_fd_, nullptr, nullptr);
      if (c < 0) continue;
      char buf[4096];
      (void)::recv(c, buf, sizeof buf, 0);
      (void)::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  });
}

RawReplyServer::~RawReplyServer() {
  stop_ = true;
  if (thread_ && thread_->joinable()) thread_->join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

std::string RawReplyServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

bool make_test_certificate(const std::filesystem::path& dir) {
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout '" +
      (dir / "key.pem").string() + "' -out '" + (dir / "cert.pem").string() + "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace testing
