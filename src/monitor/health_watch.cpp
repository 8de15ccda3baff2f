#include "monitor/health_watch.hpp"
#include "common/thread_name.hpp"

#include <exception>

namespace wis2mon::detail {

HealthWatch::HealthWatch(std::map<std::string, Sink*> sinks, std::chrono::milliseconds interval,
                         std::function<void(std::string_view)> log)
    : sinks_(std::move(sinks)), interval_(interval), log_(std::move(log)) {
  check_now();
  if (interval_.count() > 0)
    thread_ = std::thread([this] {
      detail::name_this_thread("wis2mon-health");
      std::unique_lock lock(mu_);
      while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
        lock.unlock();
        check_now();
        lock.lock();
      }
    });
}

HealthWatch::~HealthWatch() {
  stop_checking();
}

void HealthWatch::stop_checking() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HealthWatch::check_now() {
  for (const auto& [name, sink] : sinks_) {
    SinkHealth h;
    try {
      h = sink->healthcheck();
    } catch (const std::exception& e) {
      h = {false, e.what()};
    } catch (...) {
      h = {false, "the healthcheck threw something that is not a std::exception"};
    }
    std::lock_guard lock(mu_);
    const auto before = latest_.find(name);
    const bool changed = before == latest_.end() ? !h.ok : before->second.ok != h.ok;
    if (changed && log_) log_("sink " + name + (h.ok ? ": healthy again" : ": unhealthy: " + h.message));
    latest_[name] = std::move(h);
  }
}

std::map<std::string, SinkHealth> HealthWatch::latest() const {
  std::lock_guard lock(mu_);
  return latest_;
}

}  // namespace wis2mon::detail
