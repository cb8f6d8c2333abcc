// The repositories insightd keeps its state in. Every method is one atomic unit
// of work (one transaction) and thread-safe; errors come back as values
// (kUnavailable when the database is down: retry later). Two implementations
// share one code path over src/store/sql.h: SQLite (embedded default) and
// PostgreSQL. Open one with open_store() in store/open_store.h.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/model.h"
#include "core/result.h"
#include "core/time.h"

namespace insightd::store {

// How new events are grouped: the limit a batch seals at, and the attempts the
// analysis job that sealing creates may use.
struct BatchPolicy {
  int64_t max_events = 100;
  int64_t max_attempts = 5;
};

struct AppendResult {
  std::string event_id;
  bool duplicate = false;  // already stored earlier (or earlier in the same call)
  std::string batch_id;    // the batch that holds the event
  Timestamp received_at;   // when the stored copy was received
  // Set only by the group-commit writer, for an event of an independent
  // submission that the database refused on its own: it was not stored.
  bool refused = false;
};

struct SealedBatch {
  std::string batch_id;
  int64_t event_count = 0;
  SealReason reason = SealReason::kSize;
  std::string job_id;  // the PENDING analysis job created with the seal
};

// How an append reached the database. SQLite always goes chunk by chunk;
// PostgreSQL sends the whole transaction at once when it knows the open batch
// from its last append, else plans it with one locking statement, and falls
// back to chunks after a duplicate.
enum class AppendPath {
  kChunked,        // a statement per batch filled, and the commit
  kTwoRoundTrips,  // one statement locks the open batch and inserts all; the commit
  kOneRoundTrip,   // guard, inserts, batch updates and commit sent together
};
std::string_view to_string(AppendPath path);

struct AppendOutcome {
  std::vector<AppendResult> results;  // one per input event, in input order
  std::vector<SealedBatch> sealed;    // batches this call filled and sealed
  AppendPath path = AppendPath::kChunked;
};

struct EventActivity {
  int64_t received_since = 0;                 // events received at or after the asked time
  std::optional<Timestamp> last_received_at;  // none when no event was ever stored
};

// The write side of the event log: all the group-commit writer needs (and all
// its fakes implement).
class EventAppender {
 public:
  virtual ~EventAppender() = default;
  // Stores new events exactly once each, every one into the OPEN batch (made when
  // there is none). A batch that reaches policy.max_events is sealed in the same
  // transaction, with its PENDING job and its batch.sealed outbox row; the rest
  // go on into a fresh batch. All or nothing.
  virtual Result<AppendOutcome> append(std::span<const NewEvent> events, const BatchPolicy& policy,
                                       Timestamp now) = 0;
};

// The read side of the event log: the admin API, the dashboard and the workers.
class EventReader {
 public:
  virtual ~EventReader() = default;
  virtual Result<std::vector<StoredEvent>> batch_events(std::string_view batch_id,
                                                        size_t limit) = 0;
  virtual Result<std::optional<StoredEvent>> find(std::string_view event_id) = 0;
  virtual Result<int64_t> count() = 0;
  // The most recently stored events, newest first.
  virtual Result<std::vector<StoredEvent>> recent(size_t limit) = 0;
  // How many events arrived since `since`, and when the last one arrived.
  virtual Result<EventActivity> activity(Timestamp since) = 0;
  // Events received per UTC minute from the minute holding `since` on: only
  // minutes that had events, oldest first, each keyed by the minute's start.
  virtual Result<std::vector<std::pair<Timestamp, int64_t>>> per_minute(Timestamp since) = 0;
};

class EventStore : public EventAppender, public EventReader {};

struct BatchPage {
  std::vector<Batch> batches;
  std::optional<std::string> next_cursor;
};

class BatchStore {
 public:
  virtual ~BatchStore() = default;
  virtual Result<std::optional<Batch>> get(std::string_view batch_id) = 0;
  // Newest first; `cursor` is a batch_id from a previous page.
  virtual Result<BatchPage> list(std::optional<BatchStatus> status, size_t limit,
                                 std::optional<std::string> cursor) = 0;
  virtual Result<std::map<BatchStatus, int64_t>> count_by_status() = 0;
  // Seals one batch (kNotFound, kIllegalTransition when not OPEN, kConflict when
  // empty), creating its PENDING job and outbox row in the same transaction.
  virtual Result<SealedBatch> seal(std::string_view batch_id, SealReason reason,
                                   const BatchPolicy& policy, Timestamp now) = 0;
  // Seals the OPEN batch by hand; nullopt when there is none or it is empty.
  virtual Result<std::optional<SealedBatch>> seal_open(const BatchPolicy& policy,
                                                       Timestamp now) = 0;
  // Seals an OPEN batch whose first event is older than max_age.
  virtual Result<std::vector<SealedBatch>> seal_expired(Millis max_age, const BatchPolicy& policy,
                                                        Timestamp now) = 0;
};

struct NewInsight {
  std::string summary;
  double confidence = 0;
  std::string patterns_json = "[]";
  std::string recommendations_json = "[]";
  std::string anomalies_json = "[]";
  std::string statistics_json = "{}";
  std::string analyzer;
  std::optional<std::string> model;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t latency_ms = 0;
};

struct Insight {
  std::string insight_id;
  std::string batch_id;
  std::string job_id;
  NewInsight content;
  Timestamp created_at;
};

// One finished job for JobStore::complete_many.
struct Completion {
  std::string job_id;
  std::string lease_token;
  Timestamp started_at;  // as claimed: the job's duration runs from here
  NewInsight insight;
};

// What a failed attempt led to.
struct FailOutcome {
  JobStatus status = JobStatus::kPending;  // PENDING (retry scheduled) or DEAD
  int64_t attempt_count = 0;
  int64_t max_attempts = 0;
  std::optional<std::string> dlq_id;
};

struct RecoveredJob {
  Job job;  // as it was before recovery (RUNNING, lease expired)
  FailOutcome outcome;
};

class JobStore {
 public:
  virtual ~JobStore() = default;
  virtual Result<std::optional<Job>> get(std::string_view job_id) = 0;
  virtual Result<std::vector<Job>> list(std::optional<JobStatus> status, size_t limit) = 0;
  virtual Result<std::map<JobStatus, int64_t>> count_by_status() = 0;
  // When the longest-waiting PENDING job was created; none when none waits.
  virtual Result<std::optional<Timestamp>> oldest_pending_created_at() = 0;
  // A new PENDING job for a SEALED or ANALYZED batch (kIllegalTransition
  // otherwise); kConflict when one is already PENDING or RUNNING for it.
  virtual Result<Job> create(std::string_view batch_id, JobTrigger trigger,
                             const BatchPolicy& policy, Timestamp now) = 0;
  // Atomically takes the oldest runnable PENDING job: RUNNING, attempt counted,
  // a fresh lease token valid for `lease`. nullopt when none is runnable.
  virtual Result<std::optional<Job>> claim(std::string_view owner, Millis lease, Timestamp now) = 0;
  // Up to `max` of the oldest runnable jobs in one atomic step, oldest first,
  // each with its own fresh lease token (what a worker with several free slots
  // takes at once). Empty when none is runnable.
  virtual Result<std::vector<Job>> claim_many(std::string_view owner, Millis lease, size_t max,
                                              Timestamp now) = 0;
  // The fenced updates below all require the caller's lease token and return
  // kLeaseLost when the job is no longer theirs.
  virtual Status heartbeat(std::string_view job_id, std::string_view token, Millis lease,
                           Timestamp now) = 0;
  // SUCCESS + the insight + batch ANALYZED + insight.created outbox row, at once.
  virtual Result<Insight> complete(std::string_view job_id, std::string_view token,
                                   const NewInsight& insight, Timestamp now) = 0;
  // complete() for several jobs in one transaction (a worker's finished jobs,
  // committed together). One result per item, in order: the insight, or
  // kLeaseLost for a job the token no longer holds (the others still complete).
  // Any other error fails the whole call and writes nothing.
  virtual Result<std::vector<Result<Insight>>> complete_many(std::span<const Completion> items,
                                                             Timestamp now) = 0;
  // Records a failed attempt: PENDING again at retry_at, or DEAD (with its
  // DeadLetterJob and job.dead_lettered outbox row) when attempts are used up.
  virtual Result<FailOutcome> fail(std::string_view job_id, std::string_view token,
                                   std::string_view error, Timestamp retry_at, Timestamp now) = 0;
  // Hands a job back without using its attempt (breaker open, shutdown).
  virtual Status release(std::string_view job_id, std::string_view token, std::string_view reason,
                         Timestamp run_after, Timestamp now) = 0;
  // When the earliest PENDING job becomes runnable (its run_after), so an idle
  // worker can sleep exactly until then; nullopt when nothing is PENDING.
  virtual Result<std::optional<Timestamp>> next_run_after() = 0;
  // RUNNING jobs whose lease expired, or not updated since stuck_before, go back
  // to PENDING (attempt counted as a crash) or to the dead-letter queue.
  virtual Result<std::vector<RecoveredJob>> recover_expired(Timestamp stuck_before,
                                                            Timestamp now) = 0;
};

class InsightStore {
 public:
  virtual ~InsightStore() = default;
  // Newest first; `before` is an insight_id from a previous page.
  virtual Result<std::vector<Insight>> list(size_t limit, std::optional<std::string> before,
                                            std::optional<std::string> batch_id) = 0;
  virtual Result<std::optional<Insight>> get(std::string_view insight_id) = 0;
};

struct DeadLetter {
  std::string dlq_id;
  std::string job_id;
  std::string batch_id;
  int64_t attempt_count = 0;
  std::optional<std::string> last_error;
  std::string errors_json;
  Timestamp failed_at;
  std::optional<Timestamp> redriven_at;
  std::optional<std::string> redriven_job_id;
};

class DeadLetterStore {
 public:
  virtual ~DeadLetterStore() = default;
  virtual Result<std::vector<DeadLetter>> list(size_t limit) = 0;
  virtual Result<std::optional<DeadLetter>> get(std::string_view dlq_id) = 0;
  virtual Result<int64_t> count() = 0;
  // Entries not redriven yet: the dead jobs still waiting for an operator.
  virtual Result<int64_t> count_waiting() = 0;
  // A fresh PENDING job (fresh attempts) for the dead job's batch.
  virtual Result<Job> redrive(std::string_view dlq_id, const BatchPolicy& policy,
                              Timestamp now) = 0;
  virtual Status discard(std::string_view dlq_id) = 0;
};

struct OutboxMessage {
  int64_t id = 0;
  std::string kind;  // batch.sealed, insight.created, job.dead_lettered, circuit.state_changed
  std::string key;   // the aggregate's id: the batch id, or the breaker's name
  std::string payload_json;
  Timestamp created_at;
  int64_t attempts = 0;
  // Set by mark_failed(): not to be sent again before then.
  std::optional<Timestamp> next_attempt_at;
};

class OutboxStore {
 public:
  virtual ~OutboxStore() = default;
  // Unpublished messages with an id above `after_id`, in id order, due or not:
  // a relay keeps back every later message of a key whose earlier one waits
  // for its retry.
  virtual Result<std::vector<OutboxMessage>> unpublished(int64_t after_id, size_t limit) = 0;
  virtual Result<int64_t> count_pending() = 0;
  virtual Status mark_published(std::span<const int64_t> ids, Timestamp now) = 0;
  virtual Status mark_failed(int64_t id, std::string_view error, Timestamp next_attempt_at) = 0;
  // Takes the lease `name` for `owner` until `until` when it is free, expired
  // (at `now`) or already the owner's; true when the owner holds it.
  virtual Result<bool> take_lease(std::string_view name, std::string_view owner, Timestamp now,
                                  Timestamp until) = 0;
  // Gives the lease back, if the owner holds it, so another node need not wait
  // for it to expire.
  virtual Status release_lease(std::string_view name, std::string_view owner) = 0;
  // The event stream (KAFKA_EVENTS) reads the event log itself: events with an
  // id above `after_id`, in id order (which is commit order), with their ids.
  virtual Result<std::vector<std::pair<int64_t, StoredEvent>>> events_after(int64_t after_id,
                                                                            size_t limit) = 0;
  // The highest event id so far (0 when there is none).
  virtual Result<int64_t> last_event_id() = 0;
  // A stream's saved position (nullopt before the first save), and saving it.
  virtual Result<std::optional<int64_t>> cursor(std::string_view name) = 0;
  virtual Status save_cursor(std::string_view name, int64_t position) = 0;
  // Deletes up to `limit` messages created before `cutoff`: the published ones,
  // and the unpublished ones too when `including_unpublished` (no relay runs).
  // Returns how many.
  virtual Result<int64_t> delete_created_before(Timestamp cutoff, bool including_unpublished,
                                                size_t limit) = 0;
};

// A batch whose events may move to the archive.
struct ArchiveCandidate {
  std::string batch_id;
  Timestamp sealed_at;
  int64_t event_count = 0;
};

// A batch's record in "ArchivedBatch": archived (its events there, not in
// "Event"), or restored (restored_at set: its events hot again); an archived
// batch's events may have been deleted for their age (deleted_at set, the
// data gone: ARCHIVE_DELETE_AFTER_DAYS).
struct ArchivedBatchInfo {
  std::string batch_id;
  int64_t event_count = 0;
  std::string codec;
  int64_t raw_bytes = 0;     // the events' archived form, uncompressed
  int64_t stored_bytes = 0;  // ... and compressed, as stored (0 once restored)
  std::string checksum;      // over the uncompressed form
  Timestamp archived_at;
  std::optional<Timestamp> restored_at;
  std::optional<Timestamp> deleted_at;
  bool archived() const { return !restored_at.has_value(); }
  bool events_deleted() const { return deleted_at.has_value(); }
};

// The archive (store/archive_codec.h has the format): ANALYZED batches' events
// moved out of "Event" into "ArchivedBatch", compressed and checksummed, and
// back. Each move is one transaction: a batch is hot or archived, never both
// or neither.
class ArchiveStore {
 public:
  virtual ~ArchiveStore() = default;
  // Up to `limit` batches, oldest first, whose events are hot and may move:
  // ANALYZED, sealed before `cutoff`, and not restored since `cutoff`.
  virtual Result<std::vector<ArchiveCandidate>> candidates(Timestamp cutoff, size_t limit) = 0;
  // Moves the events of each of `batch_ids` still a candidate at `cutoff`
  // into the archive, all in one transaction; a batch that is not (any more)
  // is left out. Returns the batches archived.
  virtual Result<std::vector<ArchivedBatchInfo>> archive(std::span<const std::string> batch_ids,
                                                         Timestamp cutoff, Timestamp now) = 0;
  // The batch's archive record (nullopt: never archived).
  virtual Result<std::optional<ArchivedBatchInfo>> info(std::string_view batch_id) = 0;
  // The events of an archived batch, in id order, decompressed and checked:
  // kNotFound when it is not archived or its events were deleted, kInternal
  // when the archive is corrupt.
  virtual Result<std::vector<StoredEvent>> events(std::string_view batch_id) = 0;
  // Puts an archived batch's events back into "Event", every column as it
  // was, after checking the archive; the record keeps the restore time (the
  // batch is not archived again before `cutoff` passes it). kNotFound when
  // not archived or its events were deleted, kInternal when corrupt,
  // kConflict when one of its event ids is hot again; in every error case
  // nothing changes.
  virtual Status restore(std::string_view batch_id, Timestamp now) = 0;
  // Deletes the archived events of up to `limit` batches archived before
  // `cutoff` (oldest first; never a restored batch): their data emptied,
  // deleted_at = `now`; the batches, their insights and the archive records'
  // counts stay. Returns how many.
  virtual Result<int64_t> delete_archived_before(Timestamp cutoff, Timestamp now, size_t limit) = 0;
  // For an export: up to `limit` batches after `after_batch_id` (ids sort by
  // creation), hot or archived, that may hold events received in [from, to).
  virtual Result<std::vector<Batch>> batches_between(Timestamp from, Timestamp to,
                                                     std::string_view after_batch_id,
                                                     size_t limit) = 0;
  // The events those batches hold, all of them (an export's progress total).
  virtual Result<int64_t> events_between(Timestamp from, Timestamp to) = 0;
};

// The shared state of circuit breakers (BreakerRecord, core/model.h).
class BreakerStore {
 public:
  virtual ~BreakerStore() = default;
  // The breaker's state; a CLOSED record is created on first use.
  virtual Result<BreakerRecord> load(std::string_view name, Timestamp now) = 0;
  // Every breaker on record, by name. Read-only: unlike load(), creates nothing.
  virtual Result<std::vector<BreakerRecord>> list() = 0;
  // Writes `next` only if the stored version is still next.version; returns false
  // when another process changed it first. The stored version is then bumped.
  virtual Result<bool> compare_and_set(const BreakerRecord& next,
                                       std::optional<std::string> outbox_payload_json,
                                       Timestamp now) = 0;
};

// Everything above, over one database.
class Store {
 public:
  virtual ~Store() = default;
  virtual EventStore& events() = 0;
  virtual BatchStore& batches() = 0;
  virtual JobStore& jobs() = 0;
  virtual InsightStore& insights() = 0;
  virtual DeadLetterStore& dead_letters() = 0;
  virtual OutboxStore& outbox() = 0;
  virtual BreakerStore& breakers() = 0;
  virtual ArchiveStore& archive() = 0;
  // "sqlite" or "postgresql".
  virtual std::string_view backend() const = 0;
  // Ok when the database answers a trivial query.
  virtual Status ping() = 0;
};

}  // namespace insightd::store
