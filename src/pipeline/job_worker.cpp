#include "pipeline/job_worker.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

#include "core/thread_name.h"
#include "obs/metrics.h"

namespace insightd::pipeline {
namespace {

// What held_ is keyed by: one claim of a job (its lease token is new each time).
std::string claim_key(const Job& job) {
  return job.lease_token.value_or(job.job_id);
}

// When the queue looked empty but a job is already due (another claimer holds
// its row for a moment), look again this soon rather than spinning.
constexpr Millis kDueRecheck{50};
// After a failed claim (database unreachable), try again this soon at most.
constexpr Millis kErrorRetry{1'000};
// How long a completion waits for others to share its transaction (a tiny
// fraction of any real analysis; the whole difference for a backlog of short jobs).
constexpr std::chrono::microseconds kGroupWindow{250};
// How long a freed slot waits for others before claiming, while jobs queue up.
constexpr Millis kClaimGather{2};

std::string attempt_text(const Job& job) {
  return fmt::format("{}/{}", job.attempt_count, job.max_attempts);
}

// From a no-op job's few milliseconds to an LLM call's minutes.
constexpr std::array<double, 16> kDurationBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                  2.5,   5,    10,    30,   60,  120,  300, 900};

}  // namespace

JobWorker::JobWorker(store::JobStore& jobs, JobHandler& handler, const WaitClock& clock,
                     WorkerOptions options)
    : jobs_(jobs),
      handler_(handler),
      clock_(clock),
      options_(std::move(options)),
      heartbeat_every_(std::max<Millis>(options_.lease / 3, Millis(1))),
      random_(std::random_device{}()) {
  if (options_.metrics != nullptr) {
    auto& durations = options_.metrics->histogram(
        "insightd_job_duration_seconds",
        "Analysis job runs in this process, from the claim until the outcome was recorded, by "
        "outcome (success, or failure: retried or dead-lettered).",
        {"outcome"}, std::vector<double>(kDurationBuckets.begin(), kDurationBuckets.end()));
    succeeded_seconds_ = &durations.with({"success"});
    failed_seconds_ = &durations.with({"failure"});
  }
}

JobWorker::~JobWorker() {
  (void)stop(Millis::max());
  for (auto& t : executors_) {
    if (t.joinable()) t.join();
  }
}

void JobWorker::start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  for (size_t i = 0; i < std::max<size_t>(options_.concurrency, 1); ++i) {
    executors_.push_back(start_named_thread("job-executor", [this] { execute_loop(); }));
  }
  dispatcher_ = start_named_thread("job-dispatcher", [this] { dispatch_loop(); });
}

void JobWorker::wake() {
  {
    std::lock_guard lock(mu_);
    wake_pending_ = true;
  }
  dispatch_cv_.notify_one();
}

size_t JobWorker::held() const {
  std::lock_guard lock(mu_);
  return held_.size();
}

double JobWorker::random01() {
  if (options_.random01) return options_.random01();
  std::lock_guard lock(random_mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_);
}

void JobWorker::dispatch_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_pending_ = false;
    lock.unlock();
    auto until = clock_.deadline_in(kErrorRetry);
    try {
      const bool drained = !claim_round();
      heartbeat_due();
      until = next_wake(drained);
    } catch (const std::exception& e) {
      // An unreadable job row must not end the process; try again shortly.
      spdlog::error("[Worker] Claiming jobs threw: {}; retrying in {} ms", e.what(),
                    kErrorRetry.count());
    }
    lock.lock();
    const size_t slots = std::max<size_t>(options_.concurrency, 1);
    auto slot_freed = [&] { return saturated_ && held_.size() < slots; };
    clock_.wait_until(lock, dispatch_cv_, until,
                      [&] { return stopping_ || wake_pending_ || slot_freed(); });
    if (!stopping_ && !wake_pending_ && slot_freed() && backlog_) {
      // More work waits than fits: the jobs that free their slots now tend to
      // finish together, so gather them for a moment and claim them all in
      // one statement instead of one by one (a few ms against the seconds a
      // real analysis takes).
      // Real time, not the clock's: the window only shapes the claim
      // statements, and on a test's manual clock it would never end.
      dispatch_cv_.wait_for(lock, kClaimGather,
                            [&] { return stopping_ || wake_pending_ || held_.empty(); });
    }
  }
}

bool JobWorker::claim_round() {
  const size_t slots = std::max<size_t>(options_.concurrency, 1);
  for (;;) {
    size_t free = 0;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return true;
      saturated_ = held_.size() >= slots;
      if (saturated_) return true;
      free = slots - held_.size();
    }
    // Every free slot in one statement: a backlog drains with one claim per
    // `concurrency` jobs rather than one per job.
    auto claimed = jobs_.claim_many(options_.owner, options_.lease, free, clock_.now());
    if (!claimed) {
      spdlog::warn("[Worker] Could not claim a job: {}", claimed.error().message);
      return true;  // not "empty": next_wake() keeps the error pause short
    }
    {
      std::lock_guard lock(mu_);
      backlog_ = claimed->size() == free;  // maybe more runnable than slots
    }
    if (claimed->empty()) return false;
    const auto next_heartbeat = clock_.steady_now() + heartbeat_every_;
    {
      std::lock_guard lock(complete_mu_);
      uncommitted_ += static_cast<int64_t>(claimed->size());
    }
    {
      std::lock_guard lock(mu_);
      for (Job& job : *claimed) {
        spdlog::info("[Worker] Claimed job: {} (batch {}, attempt {})", job.job_id, job.batch_id,
                     attempt_text(job));
        // Keyed by the claim, not the job: a job this worker just failed or
        // handed back may be claimed again before the first executor let go.
        const std::string claim = claim_key(job);
        held_[claim] = Held{std::move(job), next_heartbeat, false};
        waiting_.push_back(claim);
      }
    }
    for (size_t i = 0; i < claimed->size(); ++i) execute_cv_.notify_one();
    if (claimed->size() < free) return false;  // took everything runnable
  }
}

void JobWorker::heartbeat_due() {
  const auto now = clock_.steady_now();
  std::vector<std::pair<std::string, std::string>> due;  // job id, token
  {
    std::lock_guard lock(mu_);
    for (auto& [claim, h] : held_) {
      if (h.handed_back || h.next_heartbeat > now || !h.job.lease_token) continue;
      h.next_heartbeat = now + heartbeat_every_;
      due.emplace_back(h.job.job_id, *h.job.lease_token);
    }
  }
  for (const auto& [id, token] : due) {
    Status s = jobs_.heartbeat(id, token, options_.lease, clock_.now());
    if (s.is_ok()) continue;
    if (s.code() == ErrorCode::kLeaseLost) {
      spdlog::warn(
          "[Worker] Lost the lease on job {}: it was taken back (recovered); this worker's result "
          "will be refused",
          id);
    } else {
      spdlog::warn("[Worker] Heartbeat for job {} failed: {}", id, s.message());
    }
  }
}

WaitClock::SteadyTime JobWorker::next_wake(bool drained) {
  const auto now = clock_.steady_now();
  // The fallback poll, spread by ±10% so that many idle workers do not query in step.
  const auto poll =
      std::chrono::duration_cast<Millis>(options_.poll_interval * (0.9 + 0.2 * random01()));
  auto until = now + poll;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, h] : held_) {
      if (!h.handed_back) until = std::min(until, h.next_heartbeat);
    }
    if (saturated_) return until;  // a finishing job wakes the dispatcher
  }
  if (!drained) return std::min(until, now + kErrorRetry);
  // Nothing runnable now: sleep until the earliest retry falls due, if sooner.
  auto next = jobs_.next_run_after();
  if (next && *next) {
    const Millis in = std::chrono::duration_cast<Millis>(**next - clock_.now());
    until = std::min(until, now + std::max(in, kDueRecheck));
  }
  return until;
}

void JobWorker::execute_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    execute_cv_.wait(lock, [this] { return executors_stop_ || (!stopping_ && !waiting_.empty()); });
    if (executors_stop_) return;
    const std::string id = waiting_.front();  // a claim key
    waiting_.pop_front();
    auto it = held_.find(id);
    if (it == held_.end()) continue;
    const Job job = it->second.job;
    lock.unlock();
    // Nothing a job does may end the process: an exception (an unreadable row,
    // a bug) fails this attempt, which retries and dead-letters as usual.
    JobOutcome outcome = JobFailed{"not run", std::nullopt};
    try {
      outcome = handler_.run(job);
    } catch (const std::exception& e) {
      outcome = JobFailed{std::string("the job threw: ") + e.what(), std::nullopt};
    }
    try {
      finish(job, std::move(outcome));
    } catch (const std::exception& e) {
      spdlog::error(
          "[Worker] Job {}: recording its outcome threw: {}; the lease will expire and "
          "recovery retries it",
          job.job_id, e.what());
    }
    lock.lock();
    held_.erase(id);
    if (stopping_) idle_cv_.notify_all();
    // Wake the dispatcher for a freed slot; while a backlog is being gathered
    // (see dispatch_loop) only the first and the last freed slot matter.
    const size_t slots = std::max<size_t>(options_.concurrency, 1);
    if (saturated_ && (!backlog_ || held_.empty() || held_.size() + 1 == slots)) {
      dispatch_cv_.notify_one();
    }
  }
}

void JobWorker::finish(const Job& job, JobOutcome outcome) {
  const std::string& token = job.lease_token.value_or("");
  const Timestamp now = clock_.now();
  auto refused = [&](const Status& s, std::string_view what) {
    if (s.code() == ErrorCode::kLeaseLost) {
      spdlog::warn(
          "[Worker] Job {}: {} refused: this worker no longer holds the lease (the job was "
          "recovered or handed back); the job's current holder decides its outcome",
          job.job_id, what);
    } else {
      spdlog::error("[Worker] Job {}: {} failed: {}; the lease will expire and recovery retries it",
                    job.job_id, what, s.message());
    }
  };
  if (auto* ok = std::get_if<JobSucceeded>(&outcome)) {
    auto insight = complete_together(job, std::move(ok->insight));
    if (!insight) return refused(insight.status(), "completion");
    const int64_t ms = job.started_at ? (clock_.now() - *job.started_at).count() : 0;
    if (succeeded_seconds_ != nullptr) succeeded_seconds_->observe(static_cast<double>(ms) / 1000);
    spdlog::info("[Worker] Job succeeded in {}ms", ms);
    spdlog::info("[Worker] Created 1 insight ({} for batch {})", insight->insight_id,
                 insight->batch_id);
    return;
  }
  settle(1);  // not a completion: no commit needs to wait for it
  if (auto* failed = std::get_if<JobFailed>(&outcome)) {
    const Millis pause =
        retry_pause(options_.retry, job.attempt_count, failed->retry_after, random01());
    auto result = jobs_.fail(job.job_id, token, failed->error, now + pause, now);
    if (!result) return refused(result.status(), "recording the failure");
    if (failed_seconds_ != nullptr && job.started_at) {
      failed_seconds_->observe(static_cast<double>((now - *job.started_at).count()) / 1000);
    }
    if (result->status == JobStatus::kDead) {
      spdlog::warn("[Worker] Job {} failed on its last attempt ({}): {}", job.job_id,
                   attempt_text(job), failed->error);
      spdlog::warn(
          "[Dead Letter] Job {} moved to the dead-letter queue as {} after {} attempts (every "
          "error kept)",
          job.job_id, result->dlq_id.value_or("?"), result->attempt_count);
    } else {
      spdlog::warn("[Worker] Job {} failed (attempt {}): {}; retrying in {} ms", job.job_id,
                   attempt_text(job), failed->error, pause.count());
    }
    return;
  }
  const auto& deferred = std::get<JobDeferred>(outcome);
  Status s = jobs_.release(job.job_id, token, deferred.reason, deferred.run_after, now);
  if (!s) return refused(s, "handing back");
  spdlog::info("[Worker] Job {} handed back without using an attempt ({}); runs again at {}",
               job.job_id, deferred.reason, format_timestamp(deferred.run_after));
}

void JobWorker::settle(size_t jobs) {
  {
    std::lock_guard lock(complete_mu_);
    uncommitted_ -= static_cast<int64_t>(jobs);
    if (uncommitted_ > 0) return;
  }
  gather_cv_.notify_one();
}

Result<store::Insight> JobWorker::complete_together(const Job& job, store::NewInsight insight) {
  // Group commit: whoever finds no commit in progress commits every completion
  // queued so far in one transaction; the others wait for their result.
  Completing me{store::Completion{job.job_id, job.lease_token.value_or(""),
                                  job.started_at.value_or(clock_.now()), std::move(insight)},
                std::nullopt};
  std::unique_lock lock(complete_mu_);
  complete_queue_.push_back(&me);
  // A leader gathering a group waits for the last outstanding completion.
  if (--uncommitted_ == 0 && committing_) gather_cv_.notify_one();
  while (!me.result) {
    if (committing_) {
      complete_cv_.wait(lock);
      continue;
    }
    committing_ = true;
    // Jobs that finish together (a backlog of short jobs) would otherwise
    // commit one by one while their executors are still being scheduled: give
    // this worker's other jobs a moment to join the group.
    // Real time, as the claim window.
    gather_cv_.wait_for(lock, kGroupWindow, [this] { return uncommitted_ <= 0; });
    std::vector<Completing*> group;
    group.swap(complete_queue_);
    lock.unlock();
    std::vector<store::Completion> items;
    items.reserve(group.size());
    for (const Completing* c : group) items.push_back(c->item);
    auto results = jobs_.complete_many(items, clock_.now());
    // Computed outside the lock, handed to their waiters under it: a waiter
    // looks at its result whenever it wakes.
    std::vector<Result<store::Insight>> outcomes;
    outcomes.reserve(group.size());
    if (!results && group.size() > 1 && results.code() != ErrorCode::kUnavailable) {
      // One item spoilt the transaction (its batch cannot be marked analyzed):
      // complete them one by one so that only that one fails.
      for (const Completing* c : group) {
        outcomes.push_back(
            jobs_.complete(c->item.job_id, c->item.lease_token, c->item.insight, clock_.now()));
      }
    } else {
      for (size_t i = 0; i < group.size(); ++i) {
        outcomes.push_back(results ? std::move((*results)[i])
                                   : Result<store::Insight>(results.error()));
      }
    }
    lock.lock();
    for (size_t i = 0; i < group.size(); ++i) group[i]->result = std::move(outcomes[i]);
    committing_ = false;
    complete_cv_.notify_all();
  }
  return std::move(*me.result);
}

StopReport JobWorker::stop(Millis grace) {
  StopReport report;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && executors_stop_) return report;
    stopping_ = true;
  }
  dispatch_cv_.notify_all();
  execute_cv_.notify_all();
  // After the join nothing claims any more, so the held set only shrinks.
  if (dispatcher_.joinable()) dispatcher_.join();

  std::vector<Job> unstarted;
  size_t running = 0;
  {
    std::lock_guard lock(mu_);
    for (const std::string& id : waiting_) {
      if (auto it = held_.find(id); it != held_.end()) {
        unstarted.push_back(it->second.job);
        held_.erase(it);
      }
    }
    waiting_.clear();
    running = held_.size();
  }
  settle(unstarted.size());
  const Timestamp now = clock_.now();
  for (const Job& job : unstarted) {
    Status s = jobs_.release(job.job_id, job.lease_token.value_or(""),
                             "handed back at shutdown before it started", now, now);
    if (s) {
      ++report.handed_back;
      spdlog::info("[Shutdown] Handed back job {} (not started) without using an attempt",
                   job.job_id);
    }
  }

  std::unique_lock lock(mu_);
  if (running > 0) {
    spdlog::info("[Shutdown] Waiting up to {} ms for {} running job(s)", grace.count(), running);
  }
  clock_.wait_for(lock, idle_cv_, grace, [this] { return held_.empty(); });  // max(): no limit
  report.finished = running - held_.size();
  std::vector<Job> unfinished;
  for (auto& [id, h] : held_) {
    if (h.handed_back) continue;
    h.handed_back = true;
    unfinished.push_back(h.job);
  }
  report.abandoned = held_.size();
  executors_stop_ = true;
  lock.unlock();
  execute_cv_.notify_all();

  for (const Job& job : unfinished) {
    Status s = jobs_.release(job.job_id, job.lease_token.value_or(""),
                             "handed back unfinished at shutdown", clock_.now(), clock_.now());
    if (s) {
      ++report.handed_back;
      spdlog::warn(
          "[Shutdown] Job {} did not finish within {} ms; handed back without using an "
          "attempt",
          job.job_id, grace.count());
    }
  }
  if (report.abandoned == 0) {
    for (auto& t : executors_) {
      if (t.joinable()) t.join();
    }
  }
  return report;
}

}  // namespace insightd::pipeline
