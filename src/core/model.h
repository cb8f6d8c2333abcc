// The domain's nouns: events, batches, jobs, the analyzer's circuit breaker and
// the states they move through. Plain data; the rules for moving between states
// live in state_machine.h (batches, jobs) and pipeline/breaker_rules.h (the
// breaker).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/time.h"

namespace insightd {

enum class BatchStatus { kOpen, kSealed, kAnalyzed, kArchived };
enum class SealReason { kSize, kAge, kManual };
enum class JobStatus { kPending, kRunning, kSuccess, kDead };
enum class JobTrigger { kAuto, kManual };
enum class BreakerState { kClosed, kOpen, kHalfOpen };

// Database spellings ("OPEN", "size", "PENDING", "auto", "HALF_OPEN"), as the
// seed's queries use them.
std::string_view to_string(BatchStatus s);
std::string_view to_string(SealReason r);
std::string_view to_string(JobStatus s);
std::string_view to_string(JobTrigger t);
std::string_view to_string(BreakerState s);
std::optional<BatchStatus> parse_batch_status(std::string_view s);
std::optional<SealReason> parse_seal_reason(std::string_view s);
std::optional<JobStatus> parse_job_status(std::string_view s);
std::optional<JobTrigger> parse_job_trigger(std::string_view s);
std::optional<BreakerState> parse_breaker_state(std::string_view s);

// An event that passed validation and waits to be stored.
struct NewEvent {
  std::string event_id;
  std::string event_type;
  std::optional<std::string> user_id;
  std::optional<std::string> session_id;
  Timestamp timestamp;               // the client's time (receive time when absent)
  Timestamp received_at;             // the server's time
  int64_t clock_skew_ms = 0;         // client time minus server time, when far in the future
  std::string metadata_json = "{}";  // a JSON object, already validated and serialised
};

// An event as stored.
struct StoredEvent {
  NewEvent event;
  std::string batch_id;
};

struct Batch {
  std::string batch_id;
  BatchStatus status = BatchStatus::kOpen;
  int64_t event_count = 0;
  int64_t max_events = 0;
  Timestamp created_at;
  std::optional<Timestamp> first_event_at;
  std::optional<Timestamp> sealed_at;
  std::optional<SealReason> seal_reason;
  std::optional<Timestamp> analyzed_at;
  std::optional<Timestamp> archived_at;
  Timestamp updated_at;
};

struct Job {
  std::string job_id;
  std::string batch_id;
  JobStatus status = JobStatus::kPending;
  JobTrigger trigger = JobTrigger::kAuto;
  int64_t attempt_count = 0;
  int64_t max_attempts = 0;
  int64_t crash_count = 0;  // attempts ended by a lost lease rather than an error
  Timestamp run_after;
  std::optional<std::string> lease_owner;
  std::optional<std::string> lease_token;
  std::optional<Timestamp> lease_expires_at;
  std::optional<std::string> last_error;
  std::string errors_json = "[]";  // every failed attempt: [{"attempt","error","at"}]
  Timestamp created_at;
  Timestamp updated_at;
  std::optional<Timestamp> started_at;
  std::optional<Timestamp> finished_at;
  std::optional<int64_t> duration_ms;
};

// A circuit breaker's shared state (one row per breaker, e.g. "analyzer"),
// changed only by compare-and-set on `version`.
struct BreakerRecord {
  std::string name;
  BreakerState state = BreakerState::kClosed;
  int64_t failure_count = 0;
  Timestamp changed_at;
  std::optional<Timestamp> open_until;
  std::optional<std::string> probe_owner;
  std::optional<Timestamp> probe_expires_at;
  int64_t version = 0;
};

}  // namespace insightd
