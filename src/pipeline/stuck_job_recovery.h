// StuckJobRecovery: every RECOVERY_INTERVAL_MS, RUNNING jobs whose lease has
// expired (their worker died or stalled) or that nobody touched for
// STUCK_JOB_TIMEOUT_MS go back to PENDING with the attempt counted as a crash,
// or to the dead-letter queue when that was their last attempt. Because every
// write of the old worker is fenced by its lease token, taking a job back can
// never make it run to completion twice. Runs in every worker process; the
// store's locking (SKIP LOCKED on PostgreSQL) keeps two recoveries from
// taking the same job.
#pragma once

#include <functional>
#include <vector>

#include "core/clock.h"
#include "runtime/periodic_task.h"
#include "store/store.h"

namespace insightd::pipeline {

class StuckJobRecovery {
 public:
  // `on_recovered` runs after a round that put jobs back (wakes the local worker).
  // Rounds are `interval` apart on `clock`, which also gives the time leases
  // are compared with. `jobs` and `clock` must outlive it.
  StuckJobRecovery(store::JobStore& jobs, const WaitClock& clock, Millis interval,
                   Millis stuck_timeout, std::function<void()> on_recovered);
  ~StuckJobRecovery();
  StuckJobRecovery(const StuckJobRecovery&) = delete;
  StuckJobRecovery& operator=(const StuckJobRecovery&) = delete;

  // The first round runs at once (jobs left behind by a crash before this start).
  void start();
  void stop();

  // One round, now; what it recovered. Also what the thread runs.
  std::vector<store::RecoveredJob> tick();

 private:
  store::JobStore& jobs_;
  const WaitClock& clock_;
  const Millis interval_;
  const Millis stuck_timeout_;
  std::function<void()> on_recovered_;

  runtime::PeriodicTask task_;  // last: its thread uses the members above
};

}  // namespace insightd::pipeline
