// The one place that says which state changes are legal for batches and jobs.
// Stores turn an action into "UPDATE ... WHERE status IN (allowed_from(action))",
// so a row can only move the way this table allows, even under races.
#pragma once

#include <span>

#include "core/model.h"
#include "core/result.h"

namespace insightd {

enum class BatchAction {
  kSeal,      // OPEN -> SEALED (size, age or by hand; never empty)
  kAnalyzed,  // SEALED|ANALYZED -> ANALYZED (a re-analysis leaves it ANALYZED)
  kArchive,   // ANALYZED -> ARCHIVED
  kRestore,   // ARCHIVED -> ANALYZED
};

enum class JobAction {
  kClaim,       // PENDING -> RUNNING, new lease
  kSucceed,     // RUNNING -> SUCCESS, insight written
  kRetry,       // RUNNING -> PENDING, a failed attempt counted, backoff
  kRelease,     // RUNNING -> PENDING, no attempt used (breaker open, shutdown)
  kRecover,     // RUNNING -> PENDING, lease expired: the attempt is counted as a crash
  kDeadLetter,  // RUNNING -> DEAD, attempts exhausted
};

std::string_view to_string(BatchAction a);
std::string_view to_string(JobAction a);

std::span<const BatchStatus> allowed_from(BatchAction a);
std::span<const JobStatus> allowed_from(JobAction a);
BatchStatus target_of(BatchAction a);
JobStatus target_of(JobAction a);

// The state after `action`, or kIllegalTransition naming both.
Result<BatchStatus> transition(BatchStatus from, BatchAction action);
Result<JobStatus> transition(JobStatus from, JobAction action);

// Whether the job still holds work (used for "one active job per batch").
inline bool is_active(JobStatus s) {
  return s == JobStatus::kPending || s == JobStatus::kRunning;
}

}  // namespace insightd
