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
#include <thread>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "ingest/live_hub.h"
#include "store/store.h"

namespace insightd::ingest {

class IngestMetrics;

struct WriterOptions {
  size_t queue_capacity_events = 50'000;  // events waiting, over all submitters
  size_t max_events_per_commit = 4'000;
  store::BatchPolicy policy;
};

class GroupCommitWriter {
 public:
  // Called on the answering thread after the commit (or its failure), in commit
  // order. Must not block.
  using Done = std::function<void(Result<std::vector<store::AppendResult>>)>;
  // Called on the answering thread for batches a commit sealed (wakes the workers).
  using SealListener = std::function<void(const std::vector<store::SealedBatch>&)>;

  // `metrics`, when given, counts every commit (by path) and times it.
  GroupCommitWriter(store::EventStore& events, const Clock& clock, WriterOptions options,
                    LiveHub* live, SealListener on_sealed, IngestMetrics* metrics = nullptr);
  ~GroupCommitWriter();
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  void start();
  // Stops taking submissions, commits what is queued, joins the thread.
  void stop();

  // Queues `events` (non-empty) for the next commit. False, with nothing queued,
  // when the queue cannot take them all or the writer is stopped.
  bool submit(std::vector<NewEvent> events, Done done);

  size_t queue_depth() const;
  const WriterOptions& options() const { return options_; }

 private:
  struct Submission {
    std::vector<NewEvent> events;
    Done done;
  };

  // A finished commit waiting to be answered.
  struct Committed {
    std::vector<Submission> group;
    std::vector<NewEvent> events;  // every event of the group, in order
    Result<store::AppendOutcome> outcome;
  };

  void run();
  Committed commit(std::vector<Submission> group);
  void answer_loop();
  void answer(Committed& done);

  store::EventStore& events_;
  const Clock& clock_;
  const WriterOptions options_;
  LiveHub* live_;
  SealListener on_sealed_;
  IngestMetrics* metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Submission> queue_;
  size_t queued_events_ = 0;
  bool accepting_ = false;
  bool stopping_ = false;
  std::thread thread_;

  // The writer hands each finished commit to a second thread that answers the
  // submitters, so the next commit starts while the acks go out. At most
  // kMaxUnanswered wait: a slow answerer slows the writer, never piles up.
  static constexpr size_t kMaxUnanswered = 4;
  std::mutex answer_mu_;
  std::condition_variable answer_cv_;
  std::deque<Committed> unanswered_;
  bool writer_done_ = false;
  std::thread answerer_;
};

}  // namespace insightd::ingest
