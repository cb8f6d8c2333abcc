// What a worker runs for each claimed job, and what it may report back. The
// worker owns the lease (heartbeats, fencing) and turns the outcome into the
// fenced store update; a handler only does the work.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "core/model.h"
#include "core/time.h"
#include "store/store.h"

namespace insightd::pipeline {

// The work is done: store this insight (job SUCCESS, batch ANALYZED, outbox).
struct JobSucceeded {
  store::NewInsight insight;
};

// The attempt failed: it counts; the job is retried with backoff, or
// dead-lettered when it was the last attempt. `retry_after` is the failing
// service's own minimum pause (Retry-After), if it gave one.
struct JobFailed {
  std::string error;
  std::optional<Millis> retry_after;
};

// The job was not attempted (the circuit breaker is open): hand it back without
// using the attempt, runnable again at `run_after`.
struct JobDeferred {
  std::string reason;
  Timestamp run_after;
};

using JobOutcome = std::variant<JobSucceeded, JobFailed, JobDeferred>;

class JobHandler {
 public:
  virtual ~JobHandler() = default;
  // Runs one claimed job (RUNNING, with its lease token). Called on up to
  // WORKER_CONCURRENCY threads at once, so implementations are thread-safe.
  virtual JobOutcome run(const Job& job) = 0;
};

}  // namespace insightd::pipeline
