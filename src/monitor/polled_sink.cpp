#include "monitor/polled_sink.hpp"

namespace wis2mon::detail {

std::vector<Delivery> PolledCallbacks::hand_over(const RecordBatchCallback& fn, const std::vector<Record>& batch) {
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->batch = &batch;
  auto answer = job->answer.get_future();
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(job);
  }
  ready_.notify_all();
  return answer.get();
}

std::size_t PolledCallbacks::service(std::chrono::milliseconds timeout) {
  std::size_t handed = 0;
  for (bool first = true;; first = false) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mu_);
      if (first && timeout.count() > 0) ready_.wait_for(lock, timeout, [&] { return !jobs_.empty(); });
      if (jobs_.empty()) return handed;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    const auto& batch = *job->batch;
    handed += batch.size();
    std::vector<Delivery> answer;
    try {
      answer = (*job->fn)(batch);
    } catch (...) {
      job->answer.set_value(std::vector<Delivery>(batch.size(), Delivery{DeliveryStatus::retry, "callback threw"}));
      throw;
    }
    if (answer.size() != batch.size())
      answer.assign(batch.size(),
                    Delivery{DeliveryStatus::retry, "callback answered " + std::to_string(answer.size()) + " of " +
                                                        std::to_string(batch.size()) + " records"});
    job->answer.set_value(std::move(answer));
  }
}

}  // namespace wis2mon::detail
