// Callback sinks whose callbacks run on the user's thread: the sink worker hands each batch to
// a queue and waits; Monitor::poll() (or drain()/stop()) takes it and calls the user's function.
// This is how the C API and Python run user callbacks without touching paho's or the sink
// workers' threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "wis2mon/sink.hpp"

namespace wis2mon::detail {

using RecordBatchCallback = std::function<std::vector<Delivery>(const std::vector<Record>&)>;

class PolledCallbacks {
 public:
  // Called by a sink worker: blocks until a poller ran `fn` on the batch.
  std::vector<Delivery> hand_over(const RecordBatchCallback& fn, const std::vector<Record>& batch);
  // Called by the user's thread: runs waiting batches, waiting up to `timeout` for the first.
  // Returns the records handed over. A callback's exception is rethrown after its batch was
  // answered Retry (so nothing is lost), leaving later batches queued for the next call.
  std::size_t service(std::chrono::milliseconds timeout);

 private:
  struct Job {
    const RecordBatchCallback* fn;
    const std::vector<Record>* batch;
    std::promise<std::vector<Delivery>> answer;
  };
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::shared_ptr<Job>> jobs_;
};

class PolledSink : public Sink {
 public:
  PolledSink(std::string name, RecordBatchCallback fn, std::shared_ptr<PolledCallbacks> hub)
      : Sink(std::move(name)), fn_(std::move(fn)), hub_(std::move(hub)) {}
  std::vector<Delivery> write(const std::vector<Record>& batch) override { return hub_->hand_over(fn_, batch); }

 private:
  RecordBatchCallback fn_;
  std::shared_ptr<PolledCallbacks> hub_;
};

}  // namespace wis2mon::detail
