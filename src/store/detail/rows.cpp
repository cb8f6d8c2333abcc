// The row mappers of store/detail/rows.h: the columns of queries.h's lists, in
// order, into the model structs.
#include "store/detail/rows.h"

#include <string_view>

namespace insightd::store::detail {

Batch batch_from(const Row& r) {
  Batch b;
  b.batch_id = r.text(0);
  b.status = parse_batch_status(r.text(1)).value_or(BatchStatus::kOpen);
  b.event_count = r.integer(2);
  b.created_at = r.time(3);
  b.first_event_at = r.opt_time(4);
  b.sealed_at = r.opt_time(5);
  if (auto s = r.opt_text(6)) b.seal_reason = parse_seal_reason(*s);
  b.analyzed_at = r.opt_time(7);
  b.archived_at = r.opt_time(8);
  b.updated_at = r.time(9);
  return b;
}

Job job_from(const Row& r) {
  Job j;
  j.job_id = r.text(0);
  j.batch_id = r.text(1);
  j.status = parse_job_status(r.text(2)).value_or(JobStatus::kPending);
  j.trigger = parse_job_trigger(r.text(3)).value_or(JobTrigger::kAuto);
  j.attempt_count = r.integer(4);
  j.max_attempts = r.integer(5);
  j.crash_count = r.integer(6);
  j.run_after = r.time(7);
  j.lease_owner = r.opt_text(8);
  j.lease_token = r.opt_text(9);
  j.lease_expires_at = r.opt_time(10);
  j.last_error = r.opt_text(11);
  j.errors_json = r.text(12);
  j.created_at = r.time(13);
  j.updated_at = r.time(14);
  j.started_at = r.opt_time(15);
  j.finished_at = r.opt_time(16);
  j.duration_ms = r.opt_integer(17);
  return j;
}

StoredEvent event_from(const Row& r) {
  StoredEvent e;
  e.event.event_id = r.text(0);
  e.event.event_type = r.text(1);
  e.event.user_id = r.opt_text(2);
  e.event.session_id = r.opt_text(3);
  e.event.timestamp = r.time(4);
  e.event.received_at = r.time(5);
  e.event.clock_skew_ms = r.integer(6);
  e.event.metadata_json = r.text(7);
  e.batch_id = r.text(8);
  return e;
}

ArchivedBatchInfo archived_batch_from(const Row& r) {
  ArchivedBatchInfo i;
  i.batch_id = r.text(0);
  i.event_count = r.integer(1);
  i.codec = r.text(2);
  i.raw_bytes = r.integer(3);
  i.stored_bytes = r.integer(4);
  i.checksum = r.text(5);
  i.archived_at = r.time(6);
  i.restored_at = r.opt_time(7);
  i.deleted_at = r.opt_time(8);
  return i;
}

Insight insight_from(const Row& r) {
  Insight i;
  i.insight_id = r.text(0);
  i.batch_id = r.text(1);
  i.job_id = r.text(2);
  i.content.summary = r.text(3);
  i.content.confidence = r.real(4);
  i.content.patterns_json = r.text(5);
  i.content.recommendations_json = r.text(6);
  i.content.anomalies_json = r.text(7);
  i.content.statistics_json = r.text(8);
  i.content.analyzer = r.text(9);
  i.content.model = r.opt_text(10);
  i.content.prompt_tokens = r.integer(11);
  i.content.completion_tokens = r.integer(12);
  i.content.latency_ms = r.integer(13);
  i.created_at = r.time(14);
  return i;
}

DeadLetter dead_letter_from(const Row& r) {
  DeadLetter d;
  d.dlq_id = r.text(0);
  d.job_id = r.text(1);
  d.batch_id = r.text(2);
  d.attempt_count = r.integer(3);
  d.last_error = r.opt_text(4);
  d.errors_json = r.text(5);
  d.failed_at = r.time(6);
  d.redriven_at = r.opt_time(7);
  d.redriven_job_id = r.opt_text(8);
  return d;
}

BreakerRecord breaker_from(const Row& r) {
  BreakerRecord b;
  b.name = r.text(0);
  b.state = parse_breaker_state(r.text(1)).value_or(BreakerState::kClosed);
  b.failure_count = r.integer(2);
  b.changed_at = r.time(3);
  b.open_until = r.opt_time(4);
  b.probe_owner = r.opt_text(5);
  b.probe_expires_at = r.opt_time(6);
  b.version = r.integer(7);
  return b;
}

OutboxMessage outbox_from(const Row& r) {
  return {r.integer(0), r.text(1), r.text(2), r.text(3), r.time(4), r.integer(5), r.opt_time(6)};
}

}  // namespace insightd::store::detail
