// JobWorker: runs analysis jobs from the shared queue, up to `concurrency` at
// once in this process, next to any number of workers in other processes.
//
// One dispatcher thread claims the oldest runnable jobs (the store's atomic
// claim, FOR UPDATE SKIP LOCKED on PostgreSQL), as many at once as there are
// free slots, and keeps every held lease alive with a heartbeat every third of
// the lease. It sleeps until wake() (a batch sealed in this process, a
// PostgreSQL NOTIFY from another), until the next retry falls due, or until the
// fallback poll interval (with jitter) passes. Every timed wait (the poll,
// heartbeats, retries, the shutdown grace) is on the injected WaitClock; only the
// sub-millisecond windows that gather claims and completions use real time.
// `concurrency` executor threads
// run the handler and write its outcome through the fenced store updates;
// completions that finish together share one transaction (group commit). A
// worker whose lease was taken back (it stalled, its lease expired, recovery
// handed the job to someone else) has every write refused and says so in the log.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "pipeline/job_handler.h"
#include "pipeline/retry_policy.h"
#include "store/store.h"

namespace insightd::obs {
class Registry;
class Histogram;
}  // namespace insightd::obs

namespace insightd::pipeline {

struct WorkerOptions {
  std::string owner;  // the lease owner written with each claim, e.g. "host:pid"
  size_t concurrency = 4;
  Millis poll_interval{5'000};
  Millis lease{30'000};  // renewed every lease / 3 while the job runs
  RetryPolicy retry;
  // Jitter source in [0, 1] (retry delays, poll interval); a seeded PRNG when empty.
  std::function<double()> random01;
  // When set, each job's run (from its claim to its recorded outcome) is
  // observed in insightd_job_duration_seconds{outcome="success"|"failure"}.
  obs::Registry* metrics = nullptr;
};

// What stop() did with the jobs it found.
struct StopReport {
  size_t finished = 0;     // running jobs that ended within the grace period
  size_t handed_back = 0;  // jobs released without using their attempt
  size_t abandoned = 0;    // handler calls still running after the grace period
};

class JobWorker {
 public:
  // `jobs`, `handler` and `clock` must outlive the worker. `clock` gives the
  // time written to the store and times every wait.
  JobWorker(store::JobStore& jobs, JobHandler& handler, const WaitClock& clock,
            WorkerOptions options);
  // Stops (waiting as long as it takes) and joins every thread.
  ~JobWorker();
  JobWorker(const JobWorker&) = delete;
  JobWorker& operator=(const JobWorker&) = delete;

  void start();

  // A job may have become runnable: claim now instead of at the next poll.
  // Cheap and thread-safe; call it from any thread, as often as you like.
  void wake();

  // Stops claiming; lets running jobs finish within `grace`; then hands every
  // job it still holds back to the queue without using an attempt (a job not
  // yet started is handed back at once). A handler call that outlives the grace
  // period keeps its thread until it returns (its write will be refused);
  // `abandoned` counts them and the destructor joins them.
  StopReport stop(Millis grace);

  // Jobs held right now (claimed, running or waiting for a thread).
  size_t held() const;

 private:
  struct Held {
    Job job;
    WaitClock::SteadyTime next_heartbeat;
    bool handed_back = false;  // released by stop(): the handler's result is moot
  };

  void dispatch_loop();
  void execute_loop();
  // Claims while a slot is free. False when the queue has nothing more
  // runnable (the next wake-up may then wait for the earliest retry); true
  // when the slots ran out, the worker is stopping, or the claim failed.
  bool claim_round();
  void heartbeat_due();
  WaitClock::SteadyTime next_wake(bool drained);
  void finish(const Job& job, JobOutcome outcome);
  // Completes `job`, sharing one transaction with whatever other executors
  // finish at the same time.
  Result<store::Insight> complete_together(const Job& job, store::NewInsight insight);
  // `jobs` held jobs will not be completed (failed, handed back, never started).
  void settle(size_t jobs);
  double random01();

  store::JobStore& jobs_;
  JobHandler& handler_;
  const WaitClock& clock_;
  const WorkerOptions options_;
  const Millis heartbeat_every_;
  obs::Histogram* succeeded_seconds_ = nullptr;  // with options_.metrics
  obs::Histogram* failed_seconds_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable_any dispatch_cv_;  // dispatcher: wake-ups, free slots, stop
  std::condition_variable execute_cv_;       // executors: a claimed job is waiting
  std::condition_variable_any idle_cv_;      // stop(): a running job ended
  std::map<std::string, Held> held_;         // by claim (lease token)
  std::deque<std::string> waiting_;          // claimed, not yet picked up by an executor
  bool wake_pending_ = false;
  bool saturated_ = false;  // the last claim round stopped only because slots ran out
  bool backlog_ = false;    // the last claim filled every free slot: more may be waiting
  bool stopping_ = false;
  bool executors_stop_ = false;
  bool started_ = false;
  struct Completing {
    store::Completion item;
    std::optional<Result<store::Insight>> result;
  };
  std::mutex complete_mu_;
  std::condition_variable complete_cv_;    // waiters: their group was committed
  std::condition_variable_any gather_cv_;  // the leader: a completion arrived
  std::vector<Completing*> complete_queue_;
  bool committing_ = false;
  // Claimed jobs whose outcome has not reached the completion queue yet (or
  // was not a success); a commit waits a moment for them.
  int64_t uncommitted_ = 0;

  std::mutex random_mu_;
  std::mt19937_64 random_;
  std::thread dispatcher_;
  std::vector<std::thread> executors_;
};

}  // namespace insightd::pipeline
