// SQL text that several of the store's repositories share: the column lists the
// row mappers (store/detail/rows.h) read, and the statements more than one
// repository runs. Parameters are written $1, $2, ... and the text is the same
// on both databases (what differs is in the Dialect, store/sql.h). Not for use
// outside src/store.
#pragma once

#include <fmt/format.h>

#include <span>
#include <string>
#include <string_view>

#include "core/model.h"
#include "core/state_machine.h"

namespace insightd::store::detail {

// The columns each row mapper reads, in its order.
constexpr std::string_view kBatchColumns =
    "batch_id, status, event_count, created_at, first_event_at, sealed_at, seal_reason, "
    "analyzed_at, archived_at, updated_at";
constexpr std::string_view kJobColumns =
    "job_id, batch_id, status, trigger, attempt_count, max_attempts, crash_count, run_after, "
    "lease_owner, lease_token, lease_expires_at, last_error, errors, created_at, updated_at, "
    "started_at, finished_at, duration_ms";
constexpr std::string_view kArchivedBatchColumns =
    "batch_id, event_count, codec, raw_bytes, length(data), checksum, archived_at, restored_at, "
    "deleted_at";
constexpr std::string_view kEventColumns =
    "event_id, event_type, user_id, session_id, \"timestamp\", received_at, clock_skew_ms, "
    "metadata, batch_id";
constexpr std::string_view kInsightColumns =
    "insight_id, batch_id, job_id, summary, confidence, patterns, recommendations, anomalies, "
    "statistics, analyzer, model, prompt_tokens, completion_tokens, latency_ms, created_at";
constexpr std::string_view kDeadLetterColumns =
    "dlq_id, job_id, batch_id, attempt_count, last_error, errors, failed_at, redriven_at, "
    "redriven_job_id";
constexpr std::string_view kBreakerColumns =
    "name, state, failure_count, changed_at, open_until, probe_owner, probe_expires_at, version";
constexpr std::string_view kOutboxColumns =
    "id, topic, key, payload, created_at, attempts, next_attempt_at";

// Opens a batch unless one is open (the unique index on the open batch).
constexpr std::string_view kInsertBatch =
    "INSERT INTO \"Batch\" (batch_id, status, event_count, created_at, updated_at) "
    "VALUES ($1, 'OPEN', 0, $2, $2) ON CONFLICT (status) WHERE status = 'OPEN' DO NOTHING";
// Opens batch $1 unasked: a second open batch fails the unique index.
constexpr std::string_view kOpenBatch =
    "INSERT INTO \"Batch\" (batch_id, status, event_count, created_at, updated_at) "
    "VALUES ($1, 'OPEN', 0, $2, $2)";
// Adds $2 events to the open batch $1 at $3.
constexpr std::string_view kAddToBatch =
    "UPDATE \"Batch\" SET event_count = event_count + $2, first_event_at = "
    "COALESCE(first_event_at, "
    "$3), updated_at = $3 WHERE batch_id = $1 AND status = 'OPEN'";
constexpr std::string_view kInsertJob =
    "INSERT INTO \"AnalysisJob\" (job_id, batch_id, status, trigger, attempt_count, max_attempts, "
    "run_after, created_at, updated_at) VALUES ($1, $2, 'PENDING', $3, 0, $4, $5, $5, $5)";
constexpr std::string_view kInsertOutbox =
    "INSERT INTO \"KafkaOutbox\" (topic, key, payload, created_at) VALUES ($1, $2, $3, $4)";
constexpr std::string_view kInsertDeadLetter =
    "INSERT INTO \"DeadLetterJob\" (dlq_id, job_id, batch_id, attempt_count, last_error, errors, "
    "failed_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)";

// "'OPEN', 'SEALED'": the statuses an action may start from, for an IN (...) list.
template <typename S>
std::string status_list(std::span<const S> statuses) {
  std::string out;
  for (const S s : statuses) {
    if (!out.empty()) out += ", ";
    out += fmt::format("'{}'", to_string(s));
  }
  return out;
}

// One job by its id ($1).
inline const std::string& select_job_sql() {
  static const std::string kSql =
      fmt::format("SELECT {} FROM \"AnalysisJob\" WHERE job_id = $1", kJobColumns);
  return kSql;
}

// Adds $2 events to batch $1 and seals it (it is full), in one UPDATE.
inline const std::string& fill_and_seal_sql() {
  static const std::string kSql = fmt::format(
      "UPDATE \"Batch\" SET event_count = event_count + $2, first_event_at = "
      "COALESCE(first_event_at, $3), status = '{}', sealed_at = $3, seal_reason = '{}', "
      "updated_at = $3 WHERE batch_id = $1 AND status = 'OPEN'",
      to_string(target_of(BatchAction::kSeal)), to_string(SealReason::kSize));
  return kSql;
}

}  // namespace insightd::store::detail
