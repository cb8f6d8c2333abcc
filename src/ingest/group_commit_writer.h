// GroupCommitWriter: the one way events reach the database. Network threads
// submit validated events into a bounded queue and return at once; a single
// writer thread commits everything waiting as one transaction (many events per
// commit), then calls each submitter back with its results. An ack is therefore
// only ever sent for committed data, and a full queue is refused immediately
// (the caller answers with a retryable error) rather than buffered without bound.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "ingest/live_hub.h"
#include "obs/log_throttle.h"
#include "store/store.h"

namespace insightd::ingest {

class IngestMetrics;

struct WriterOptions {
  size_t queue_capacity_events = 50'000;  // events waiting, over all submitters
  // Their bytes (ids, type and metadata as stored, plus a fixed overhead each):
  // 50,000 events of 32 KB would otherwise be 1.6 GB.
  size_t queue_capacity_bytes = size_t{128} * 1024 * 1024;
  size_t max_events_per_commit = 4'000;
  store::BatchPolicy policy;
  // The longest a submission waits for its answer, queued or in a commit. Past it
  // the submitter hears kUnavailable ("retry") at once; a commit still running
  // then may yet store the events, which eventIds make harmless to send again.
  Millis commit_timeout{5'000};
  // Gathering, as PostgreSQL's commit_delay. A commit starts gather_burst
  // after the first event it holds arrived (the rest of a burst comes within
  // it: committing the first alone would make the others wait for two
  // commits). While events arrive at gather_from_rate a second or more, it
  // starts no sooner than gather_interval after the last one started, so each
  // commit (its round trips, its fsync, its answers) serves more events; below
  // that rate an ack waits for one commit only. Either way a commit starts at
  // once when gather_enough events wait.
  std::chrono::microseconds gather_burst{300};
  double gather_from_rate = 20'000;
  std::chrono::microseconds gather_interval{5'000};
  size_t gather_enough = 256;
};

class GroupCommitWriter {
 public:
  // Called on the answering thread after the commit (or its failure), in commit
  // order. Must not block.
  using Done = std::function<void(Result<std::vector<store::AppendResult>>)>;
  // Called on the answering thread for batches a commit sealed (wakes the workers).
  using SealListener = std::function<void(const std::vector<store::SealedBatch>&)>;

  // `metrics`, when given, counts every commit (by path) and times it.
  GroupCommitWriter(store::EventAppender& events, const Clock& clock, WriterOptions options,
                    LiveHub* live, SealListener on_sealed, IngestMetrics* metrics = nullptr);
  ~GroupCommitWriter();
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  void start();
  // Stops taking submissions, commits what is queued, joins the thread.
  void stop();

  // Queues `events` (non-empty) for the next commit. False, with nothing queued,
  // when the queue cannot take them all or the writer is stopped. The events of
  // a submission succeed or fail together, unless it is `independent` (events
  // of separate requests handed over at once): then an event the database
  // refuses comes back alone as AppendResult::refused and the others are stored.
  bool submit(std::vector<NewEvent> events, Done done, bool independent = false);

  // True once stop() has begun: submit() refuses everything from then on.
  bool stopped() const;
  size_t queue_depth() const;
  size_t queue_bytes() const;
  // What one event counts against queue_capacity_bytes.
  static size_t queued_size(const NewEvent& e);
  // How long the commit in progress has been running (zero when none is): a
  // database that stopped answering shows here first (readiness uses it).
  Millis commit_running_for() const;
  const WriterOptions& options() const { return options_; }

 private:
  struct Submission {
    std::vector<NewEvent> events;
    Done done;
    std::chrono::steady_clock::time_point queued_at;
    size_t bytes = 0;  // what it counts against queue_capacity_bytes
    bool independent = false;
  };

  // One transaction's result for the submissions [first, first + count) of a group.
  struct Piece {
    size_t first = 0;
    size_t count = 0;
    size_t first_event = 0;  // offset of the piece's events in Committed::events
    size_t event_count = 0;
    Result<store::AppendOutcome> outcome;
  };

  // A finished commit waiting to be answered: normally one piece; several when a
  // commit failed for a reason tied to its data and was split to find the culprit.
  struct Committed {
    std::vector<Submission> group;
    std::vector<NewEvent> events;  // every event of the group, in order
    std::vector<Piece> pieces;     // in submission order, covering the whole group
    // Batches sealed by part of an independent submission that committed
    // before another part failed for a reason that passes (the submission is
    // answered "retry"; what was stored stays, and so do its seals).
    std::vector<store::SealedBatch> stray_sealed;
    bool answered_early = false;  // the watchdog already told every submitter to retry
  };

  void run();
  void commit(Committed& c);
  // Every 100 ms: answers submissions that waited past commit_timeout.
  void watchdog_loop();
  Result<store::AppendOutcome> append(std::span<const NewEvent> events);
  // Commits submissions [first, first + count), splitting in halves while a
  // commit fails for a reason that is not the connection's, so that only the
  // submission holding an event the database refuses is refused.
  void commit_isolating(Committed& c, const std::vector<size_t>& offsets, size_t first,
                        size_t count, Result<store::AppendOutcome> tried);
  // The events of one independent submission whose commit `tried` failed for
  // its data: halves committed on their own until each refused event stands
  // alone, marked refused. A failure that is not the data's fails them all.
  Result<store::AppendOutcome> append_each(Committed& c, std::span<const NewEvent> events,
                                           Result<store::AppendOutcome> tried);
  void answer_piece(Committed& done, Piece& piece);
  // Logs the batches a commit sealed and tells whoever waits for jobs.
  void announce_sealed(const std::vector<store::SealedBatch>& sealed);
  void answer_loop();
  void answer(Committed& done);

  store::EventAppender& events_;
  const Clock& clock_;
  const WriterOptions options_;
  LiveHub* live_;
  SealListener on_sealed_;
  IngestMetrics* metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Submission> queue_;
  size_t queued_events_ = 0;
  size_t queued_bytes_ = 0;
  bool accepting_ = false;
  bool stopping_ = false;
  bool writer_gathering_ = false;  // waiting out a gathering: submissions need not wake it
  std::thread thread_;

  // The writer hands each finished commit to a second thread that answers the
  // submitters, so the next commit starts while the acks go out. At most
  // kMaxUnanswered wait: a slow answerer slows the writer, never piles up.
  // The group being committed, for the watchdog; guarded by inflight_mu_.
  mutable std::mutex inflight_mu_;
  std::vector<Submission>* inflight_ = nullptr;
  std::chrono::steady_clock::time_point inflight_since_;
  bool inflight_answered_ = false;
  std::condition_variable watchdog_cv_;  // with mu_: wakes the watchdog to stop
  std::thread watchdog_;
  // During an outage every commit fails alike: say so once per 10 s, with a count.
  obs::LogThrottle failure_log_;
  obs::LogThrottle late_log_;

  static constexpr size_t kMaxUnanswered = 4;
  std::mutex answer_mu_;
  std::condition_variable answer_cv_;
  std::deque<Committed> unanswered_;
  bool writer_done_ = false;
  std::thread answerer_;
};

}  // namespace insightd::ingest
