#include "monitor/completion_ledger.hpp"

#include <algorithm>
#include <exception>

namespace wis2mon::detail {

// One entry's work; destroyed with its last Ticket, which completes the entry.
struct CompletionLedger::Work {
  struct Claim {
    std::size_t scope;
    std::string key;
    std::function<void()> record;
    std::function<void()> release;
  };
  CompletionLedger* ledger;
  std::int64_t entry;
  std::vector<Claim> claims;        // guarded by ledger->mu_
  std::vector<std::size_t> failed;  // guarded by ledger->mu_
  bool all_failed = false;          // guarded by ledger->mu_

  Work(CompletionLedger* l, std::int64_t e) : ledger(l), entry(e) {}
  ~Work() { ledger->complete(*this); }
  Work(const Work&) = delete;
  Work& operator=(const Work&) = delete;
};

CompletionLedger::CompletionLedger(std::function<void(std::string_view)> log) : log_(std::move(log)) {}

CompletionLedger::~CompletionLedger() = default;

std::int64_t CompletionLedger::Ticket::entry() const noexcept {
  return work_ ? work_->entry : -1;
}

bool CompletionLedger::Ticket::claim(std::size_t scope, const std::string& key, std::function<void()> record,
                                     std::function<void()> release) const {
  auto& ledger = *work_->ledger;
  std::lock_guard lock(ledger.mu_);
  if (ledger.claimed_.size() <= scope) ledger.claimed_.resize(scope + 1);
  if (!key.empty() && !ledger.claimed_[scope].insert(key).second) return false;
  work_->claims.push_back({scope, key, std::move(record), std::move(release)});
  return true;
}

void CompletionLedger::Ticket::set_release(std::size_t scope, std::function<void()> release) const {
  std::lock_guard lock(work_->ledger->mu_);
  for (auto it = work_->claims.rbegin(); it != work_->claims.rend(); ++it)
    if (it->scope == scope) {
      it->release = std::move(release);
      return;
    }
}

void CompletionLedger::Ticket::fail(std::size_t scope) const {
  std::lock_guard lock(work_->ledger->mu_);
  work_->failed.push_back(scope);
}

void CompletionLedger::Ticket::fail_all() const {
  std::lock_guard lock(work_->ledger->mu_);
  work_->all_failed = true;
}

CompletionLedger::Ticket CompletionLedger::open(std::int64_t entry) {
  {
    std::lock_guard lock(mu_);
    ++open_;
  }
  return Ticket(std::make_shared<Work>(this, entry));
}

void CompletionLedger::complete(Work& w) noexcept {
  std::lock_guard lock(mu_);
  for (auto& c : w.claims) {
    const bool failed = w.all_failed || std::find(w.failed.begin(), w.failed.end(), c.scope) != w.failed.end();
    // A key is recorded only now, so that a crash before the records were stored, or a failed
    // download, never makes a later copy look like a duplicate. It is freed in the same step,
    // so no copy can slip in between.
    if (const auto& settle = failed ? c.release : c.record; settle) {
      try {
        settle();
      } catch (const std::exception& e) {
        if (log_) log_(std::string("dedup store: ") + e.what());
      } catch (...) {
        if (log_) log_("dedup store: an exception that is not a std::exception");
      }
    }
    if (!c.key.empty()) claimed_[c.scope].erase(c.key);
  }
  --open_;
  completed_.push_back(w.entry);
  completed_cv_.notify_all();
}

std::vector<std::int64_t> CompletionLedger::take_completed() {
  std::lock_guard lock(mu_);
  std::vector<std::int64_t> out;
  out.swap(completed_);
  return out;
}

std::size_t CompletionLedger::open_entries() const {
  std::lock_guard lock(mu_);
  return open_;
}

void CompletionLedger::wait_for_completion(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!completed_.empty()) return;
  completed_cv_.wait_for(lock, timeout);
}

}  // namespace wis2mon::detail
