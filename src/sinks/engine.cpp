// SinkEngine: bounded queue + batching + retries + dead letters in front of one sink.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "common/thread_name.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/sink.hpp"

namespace wis2mon {

const char* to_string(DeliveryStatus s) noexcept {
  switch (s) {
    case DeliveryStatus::delivered:
      return "delivered";
    case DeliveryStatus::retry:
      return "retry";
    case DeliveryStatus::rejected:
      return "rejected";
  }
  return "unknown";
}

CallbackSink::CallbackSink(std::string name, BatchFunction fn) : Sink(std::move(name)), fn_(std::move(fn)) {
  if (!fn_) throw Error(ErrorCode::invalid_argument, "callback sink '" + this->name() + "': no function");
}

CallbackSink::CallbackSink(std::string name, SimpleFunction fn) : Sink(std::move(name)) {
  if (!fn) throw Error(ErrorCode::invalid_argument, "callback sink '" + this->name() + "': no function");
  fn_ = [fn = std::move(fn)](const std::vector<Record>& batch) {
    fn(batch);
    return std::vector<Delivery>(batch.size());
  };
}

std::vector<Delivery> CallbackSink::write(const std::vector<Record>& batch) {
  if (closed_) return std::vector<Delivery>(batch.size(), {DeliveryStatus::retry, "sink closed"});
  return fn_(batch);  // exceptions: the engine turns them into Retry
}

using Clock = std::chrono::steady_clock;

struct SinkEngine::Impl {
  struct Item {
    Record record;
    std::uint64_t tag = 0;             // the submitter's, for on_settled
    std::shared_ptr<const void> hold;  // the submitter's, released once the record is settled
    int attempts = 0;                  // write() calls that answered Retry for it
    Clock::time_point queued;          // when submitted
    Clock::time_point due;             // for retries: not before
  };

  SinkEngineOptions opt;
  Sink* sink = nullptr;

  mutable std::mutex mu;
  std::condition_variable wake;     // worker: new work, flush or stop
  std::condition_variable room;     // submit(): space freed
  std::condition_variable settled;  // flush(): a batch finished
  std::deque<Item> fresh;           // submitted, in order
  std::vector<Item> waiting;        // answered Retry, waiting for their backoff
  std::size_t in_flight = 0;        // records inside write() now
  int flushers = 0;                 // flush() calls waiting: write partial batches now
  bool stopping = false;
  bool closed = false;
  SinkEngineStats stats;
  std::thread worker;
  std::mt19937_64 rng{std::random_device{}()};

  std::size_t queued() const { return fresh.size() + waiting.size(); }

  // Exponential with "equal jitter": half fixed, half random (the fraction `jitter` in
  // [0, 1], drawn once per batch so a retried batch stays together), capped.
  Clock::duration backoff(int attempt, double jitter) const {
    auto d = opt.retry_initial;
    for (int i = 1; i < attempt && d < opt.retry_max; ++i) d *= 2;
    d = std::min(d, opt.retry_max);
    const double half = static_cast<double>(d.count()) / 2;
    return std::chrono::milliseconds(static_cast<long long>(half + half * jitter));
  }

  // Under the lock: the records to write now, or empty when nothing is due.
  std::vector<Item> take_batch(Clock::time_point now, Clock::time_point& next_wake) {
    std::vector<Item> batch;
    next_wake = Clock::time_point::max();
    // Due retries first, oldest first (they were submitted before anything in `fresh`).
    std::stable_sort(waiting.begin(), waiting.end(), [](const Item& a, const Item& b) { return a.due < b.due; });
    std::size_t due = 0;
    while (due < waiting.size() && waiting[due].due <= now && due < opt.batch_max_records) ++due;
    if (due < waiting.size()) next_wake = std::min(next_wake, waiting[due].due);
    const bool full = fresh.size() >= opt.batch_max_records;
    const bool old = !fresh.empty() && now - fresh.front().queued >= opt.batch_max_age;
    const bool take_fresh = full || old || stopping || flushers > 0 || due > 0;
    if (!fresh.empty() && !take_fresh) next_wake = std::min(next_wake, fresh.front().queued + opt.batch_max_age);
    if (due == 0 && !take_fresh) return batch;
    batch.reserve(std::min(opt.batch_max_records, due + fresh.size()));
    for (std::size_t i = 0; i < due; ++i) batch.push_back(std::move(waiting[i]));
    waiting.erase(waiting.begin(), waiting.begin() + static_cast<std::ptrdiff_t>(due));
    while (take_fresh && !fresh.empty() && batch.size() < opt.batch_max_records) {
      batch.push_back(std::move(fresh.front()));
      fresh.pop_front();
    }
    return batch;
  }

  std::vector<Delivery> call_sink(const std::vector<Record>& records) {
    try {
      auto answers = sink->write(records);
      if (answers.size() != records.size())
        return std::vector<Delivery>(
            records.size(), {DeliveryStatus::retry, "sink answered " + std::to_string(answers.size()) + " of " +
                                                        std::to_string(records.size()) + " records"});
      return answers;
    } catch (const std::exception& e) {
      return std::vector<Delivery>(records.size(), {DeliveryStatus::retry, e.what()});
    } catch (...) {
      return std::vector<Delivery>(records.size(), {DeliveryStatus::retry, "unknown exception"});
    }
  }

  // Stores the record as a dead letter and adds it to this batch's give-ups (grouped by
  // status and reason); a record the store already held is not a new dead letter.
  void dead_letter(const Item& item, DeliveryStatus status, const std::string& reason,
                   std::vector<SinkGiveUp>& give_ups) {
    bool added = true;
    std::string why = reason;
    if (opt.dead_letters) {
      try {
        added = opt.dead_letters->add(sink->name(), item.record, status, reason, item.attempts + 1);
      } catch (const std::exception& e) {
        // A dead-letter store that cannot write must not stop the pipeline; the report says it.
        why += std::string(" (not kept: dead letters: ") + e.what() + ")";
      }
    }
    auto it = std::find_if(give_ups.begin(), give_ups.end(),
                           [&](const SinkGiveUp& g) { return g.status == status && g.reason == why; });
    if (it == give_ups.end())
      it = give_ups.insert(give_ups.end(), SinkGiveUp{sink->name(), status, why, 0, 0, item.attempts + 1});
    ++it->records;
    it->new_dead_letters += added ? 1 : 0;
  }

  void run() {
    std::unique_lock lock(mu);
    for (;;) {
      const auto now = Clock::now();
      Clock::time_point next_wake;
      auto batch = take_batch(now, next_wake);
      if (batch.empty()) {
        if (stopping && queued() == 0) return;
        settled.notify_all();
        if (next_wake == Clock::time_point::max())
          wake.wait(lock);
        else
          wake.wait_until(lock, next_wake);
        continue;
      }
      in_flight = batch.size();
      ++stats.batches;
      lock.unlock();
      room.notify_all();

      std::vector<Record> records;
      records.reserve(batch.size());
      for (auto& item : batch) records.push_back(std::move(item.record));
      const auto answers = call_sink(records);
      for (std::size_t i = 0; i < batch.size(); ++i) batch[i].record = std::move(records[i]);

      std::vector<Item> again;
      std::vector<SinkGiveUp> give_ups;
      const double jitter = std::uniform_real_distribution<double>(0, 1)(rng);
      std::uint64_t delivered = 0, rejected = 0, retries = 0, out = 0;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        auto& item = batch[i];
        const auto& a = answers[i];
        DeliveryStatus final_status = a.status;
        if (a.status == DeliveryStatus::delivered) {
          ++delivered;
        } else if (a.status == DeliveryStatus::rejected) {
          ++rejected;
          dead_letter(item, a.status, a.reason, give_ups);
        } else if (item.attempts >= opt.max_retries) {
          ++out;
          dead_letter(item, a.status, "out of retries: " + a.reason, give_ups);
        } else {
          ++retries;
          ++item.attempts;
          item.due = Clock::now() + backoff(item.attempts, jitter);
          again.push_back(std::move(item));
          continue;
        }
        if (opt.on_settled) {
          try {
            opt.on_settled(item.record, final_status, item.tag);
          } catch (...) {
            // An acknowledgement hook must not kill the worker.
          }
        }
        item.hold.reset();  // may complete the submitter's work (outside our lock)
      }
      if (opt.on_give_up)
        for (const auto& g : give_ups) {
          try {
            opt.on_give_up(g);
          } catch (...) {
            // A reporting hook must not kill the worker either.
          }
        }

      lock.lock();
      for (auto& item : again) waiting.push_back(std::move(item));
      in_flight = 0;
      stats.delivered += delivered;
      stats.rejected += rejected;
      stats.retries += retries;
      stats.out_of_retries += out;
      settled.notify_all();
    }
  }
};

SinkEngine::SinkEngine(std::shared_ptr<Sink> sink, SinkEngineOptions options)
    : sink_(std::move(sink)), impl_(std::make_unique<Impl>()) {
  if (!sink_) throw Error(ErrorCode::invalid_argument, "sink engine: no sink");
  if (options.batch_max_records == 0) throw Error(ErrorCode::invalid_argument, "sink engine: batch_max_records is 0");
  if (options.queue_capacity == 0) throw Error(ErrorCode::invalid_argument, "sink engine: queue_capacity is 0");
  if (options.max_retries < 0) throw Error(ErrorCode::invalid_argument, "sink engine: max_retries < 0");
  if (!options.dead_letters && !options.dead_letter_file.empty())
    options.dead_letters = std::make_shared<DeadLetterStore>(options.dead_letter_file);
  impl_->opt = std::move(options);
  impl_->sink = sink_.get();
  impl_->worker = std::thread([this] {
    detail::name_this_thread("wis2mon-sink");
    impl_->run();
  });
}

SinkEngine::~SinkEngine() {
  try {
    close();
  } catch (...) {
    // Destructors do not throw; close() explicitly to see errors.
  }
}

bool SinkEngine::submit(Record record, std::uint64_t tag) {
  return submit(std::move(record), tag, nullptr);
}

bool SinkEngine::submit(Record record, std::shared_ptr<const void> hold) {
  return submit(std::move(record), 0, std::move(hold));
}

bool SinkEngine::submit(Record record, std::uint64_t tag, std::shared_ptr<const void> hold) {
  std::unique_lock lock(impl_->mu);
  auto& m = *impl_;
  if (m.closed || m.stopping) return false;
  if (m.queued() + m.in_flight >= m.opt.queue_capacity) {
    if (m.opt.when_full == QueueFullPolicy::drop_and_count) {
      ++m.stats.dropped;
      return false;
    }
    m.room.wait(lock, [&] { return m.queued() + m.in_flight < m.opt.queue_capacity || m.stopping; });
    if (m.stopping) return false;
  }
  ++m.stats.submitted;
  const auto now = Clock::now();
  m.fresh.push_back({std::move(record), tag, std::move(hold), 0, now, now});
  if (m.fresh.size() >= m.opt.batch_max_records || m.fresh.size() == 1) m.wake.notify_one();
  return true;
}

void SinkEngine::flush() {
  {
    std::unique_lock lock(impl_->mu);
    auto& m = *impl_;
    if (m.closed) return;
    ++m.flushers;
    m.wake.notify_one();
    m.settled.wait(lock, [&] { return m.queued() == 0 && m.in_flight == 0; });
    --m.flushers;
  }
  sink_->flush();
}

void SinkEngine::close() {
  {
    std::unique_lock lock(impl_->mu);
    if (impl_->closed) return;
  }
  flush();
  {
    std::unique_lock lock(impl_->mu);
    impl_->stopping = true;
    impl_->closed = true;
  }
  impl_->wake.notify_all();
  impl_->room.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();
  sink_->close();
}

SinkEngineStats SinkEngine::stats() const {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->stats;
  s.queued = impl_->queued() + impl_->in_flight;
  return s;
}

}  // namespace wis2mon
