#include "store/testing/faulty_store.h"

#include <utility>

namespace insightd::store::testing {

void StoreFaults::fail_call(const std::string& method, int n, Error error) {
  std::lock_guard lock(mu_);
  Plan& plan = plans_[method];
  plan.nth.insert_or_assign(plan.started + n, std::move(error));
}

void StoreFaults::fail_every(const std::string& method, Error error) {
  std::lock_guard lock(mu_);
  plans_[method].every = std::move(error);
}

void StoreFaults::heal(const std::string& method) {
  std::lock_guard lock(mu_);
  Plan& plan = plans_[method];
  plan.every.reset();
  plan.nth.clear();
}

void StoreFaults::hold(const std::string& method) {
  std::lock_guard lock(mu_);
  plans_[method].gated = true;
}

void StoreFaults::open(const std::string& method) {
  {
    std::lock_guard lock(mu_);
    plans_[method].gated = false;
  }
  cv_.notify_all();
}

bool StoreFaults::wait_held(const std::string& method, int n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return plans_[method].waiting >= n; });
}

int StoreFaults::count(const std::string& method) {
  std::lock_guard lock(mu_);
  auto it = counts_.find(method);
  return it == counts_.end() ? 0 : it->second;
}

bool StoreFaults::wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  for (;;) {
    const uint64_t seen = returned_;
    lock.unlock();
    if (pred()) return true;
    lock.lock();
    if (!cv_.wait_until(lock, give_up, [&] { return returned_ != seen; })) {
      lock.unlock();
      return pred();
    }
  }
}

std::optional<Error> StoreFaults::before(const char* method) {
  std::unique_lock lock(mu_);
  Plan& plan = plans_[method];
  const int number = ++plan.started;
  if (plan.gated) {
    ++plan.waiting;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !plan.gated; });
    --plan.waiting;
  }
  if (auto it = plan.nth.find(number); it != plan.nth.end()) {
    Error error = std::move(it->second);
    plan.nth.erase(it);
    return error;
  }
  return plan.every;
}

void StoreFaults::after(const char* method) {
  {
    std::lock_guard lock(mu_);
    ++returned_;
    ++counts_[method];
  }
  cv_.notify_all();
}

namespace {

// Runs one call of `method` through the faults: an injected error, or the
// real call's result.
template <class Call>
auto through(StoreFaults& faults, const char* method, Call&& call) -> decltype(call()) {
  using R = decltype(call());
  std::optional<R> out;
  if (auto injected = faults.before(method)) {
    out.emplace(std::move(*injected));
  } else {
    out.emplace(call());
  }
  faults.after(method);
  return std::move(*out);
}

class FaultyEvents final : public EventStore {
 public:
  FaultyEvents(EventStore& inner, StoreFaults& faults) : in_(inner), f_(faults) {}
  Result<AppendOutcome> append(std::span<const NewEvent> events, const BatchPolicy& policy,
                               Timestamp now) override {
    return through(f_, "events.append", [&] { return in_.append(events, policy, now); });
  }
  Result<std::vector<StoredEvent>> batch_events(std::string_view batch_id, size_t limit) override {
    return through(f_, "events.batch_events", [&] { return in_.batch_events(batch_id, limit); });
  }
  Result<std::optional<StoredEvent>> find(std::string_view event_id) override {
    return through(f_, "events.find", [&] { return in_.find(event_id); });
  }
  Result<int64_t> count() override {
    return through(f_, "events.count", [&] { return in_.count(); });
  }
  Result<std::vector<StoredEvent>> recent(size_t limit) override {
    return through(f_, "events.recent", [&] { return in_.recent(limit); });
  }
  Result<EventActivity> activity(Timestamp since) override {
    return through(f_, "events.activity", [&] { return in_.activity(since); });
  }
  Result<std::vector<std::pair<Timestamp, int64_t>>> per_minute(Timestamp since) override {
    return through(f_, "events.per_minute", [&] { return in_.per_minute(since); });
  }

 private:
  EventStore& in_;
  StoreFaults& f_;
};

class FaultyBatches final : public BatchStore {
 public:
  FaultyBatches(BatchStore& inner, StoreFaults& faults) : in_(inner), f_(faults) {}
  Result<std::optional<Batch>> get(std::string_view batch_id) override {
    return through(f_, "batches.get", [&] { return in_.get(batch_id); });
  }
  Result<BatchPage> list(std::optional<BatchStatus> status, size_t limit,
                         std::optional<std::string> cursor) override {
    return through(f_, "batches.list", [&] { return in_.list(status, limit, cursor); });
  }
  Result<std::map<BatchStatus, int64_t>> count_by_status() override {
    return through(f_, "batches.count_by_status", [&] { return in_.count_by_status(); });
  }
  Result<SealedBatch> seal(std::string_view batch_id, SealReason reason, const BatchPolicy& policy,
                           Timestamp now) override {
    return through(f_, "batches.seal", [&] { return in_.seal(batch_id, reason, policy, now); });
  }
  Result<std::optional<SealedBatch>> seal_open(const BatchPolicy& policy, Timestamp now) override {
    return through(f_, "batches.seal_open", [&] { return in_.seal_open(policy, now); });
  }
  Result<std::vector<SealedBatch>> seal_expired(Millis max_age, const BatchPolicy& policy,
                                                Timestamp now) override {
    return through(f_, "batches.seal_expired",
                   [&] { return in_.seal_expired(max_age, policy, now); });
  }

 private:
  BatchStore& in_;
  StoreFaults& f_;
};

class FaultyJobs final : public JobStore {
 public:
  FaultyJobs(JobStore& inner, StoreFaults& faults) : in_(inner), f_(faults) {}
  Result<std::optional<Job>> get(std::string_view job_id) override {
    return through(f_, "jobs.get", [&] { return in_.get(job_id); });
  }
  Result<std::vector<Job>> list(std::optional<JobStatus> status, size_t limit) override {
    return through(f_, "jobs.list", [&] { return in_.list(status, limit); });
  }
  Result<std::map<JobStatus, int64_t>> count_by_status() override {
    return through(f_, "jobs.count_by_status", [&] { return in_.count_by_status(); });
  }
  Result<std::optional<Timestamp>> oldest_pending_created_at() override {
    return through(f_, "jobs.oldest_pending_created_at",
                   [&] { return in_.oldest_pending_created_at(); });
  }
  Result<Job> create(std::string_view batch_id, JobTrigger trigger, const BatchPolicy& policy,
                     Timestamp now) override {
    return through(f_, "jobs.create", [&] { return in_.create(batch_id, trigger, policy, now); });
  }
  Result<std::optional<Job>> claim(std::string_view owner, Millis lease, Timestamp now) override {
    return through(f_, "jobs.claim", [&] { return in_.claim(owner, lease, now); });
  }
  Result<std::vector<Job>> claim_many(std::string_view owner, Millis lease, size_t max,
                                      Timestamp now) override {
    return through(f_, "jobs.claim_many", [&] { return in_.claim_many(owner, lease, max, now); });
  }
  Status heartbeat(std::string_view job_id, std::string_view token, Millis lease,
                   Timestamp now) override {
    return through(f_, "jobs.heartbeat", [&] { return in_.heartbeat(job_id, token, lease, now); });
  }
  Result<Insight> complete(std::string_view job_id, std::string_view token,
                           const NewInsight& insight, Timestamp now) override {
    return through(f_, "jobs.complete", [&] { return in_.complete(job_id, token, insight, now); });
  }
  Result<std::vector<Result<Insight>>> complete_many(std::span<const Completion> items,
                                                     Timestamp now) override {
    return through(f_, "jobs.complete_many", [&] { return in_.complete_many(items, now); });
  }
  Result<FailOutcome> fail(std::string_view job_id, std::string_view token, std::string_view error,
                           Timestamp retry_at, Timestamp now) override {
    return through(f_, "jobs.fail", [&] { return in_.fail(job_id, token, error, retry_at, now); });
  }
  Status release(std::string_view job_id, std::string_view token, std::string_view reason,
                 Timestamp run_after, Timestamp now) override {
    return through(f_, "jobs.release",
                   [&] { return in_.release(job_id, token, reason, run_after, now); });
  }
  Result<std::optional<Timestamp>> next_run_after() override {
    return through(f_, "jobs.next_run_after", [&] { return in_.next_run_after(); });
  }
  Result<std::vector<RecoveredJob>> recover_expired(Timestamp stuck_before,
                                                    Timestamp now) override {
    return through(f_, "jobs.recover_expired",
                   [&] { return in_.recover_expired(stuck_before, now); });
  }

 private:
  JobStore& in_;
  StoreFaults& f_;
};

class FaultyInsights final : public InsightStore {
 public:
  FaultyInsights(InsightStore& inner, StoreFaults& faults) : in_(inner), f_(faults) {}
  Result<std::vector<Insight>> list(size_t limit, std::optional<std::string> before,
                                    std::optional<std::string> batch_id) override {
    return through(f_, "insights.list", [&] { return in_.list(limit, before, batch_id); });
  }
  Result<std::optional<Insight>> get(std::string_view insight_id) override {
    return through(f_, "insights.get", [&] { return in_.get(insight_id); });
  }

 private:
  InsightStore& in_;
  StoreFaults& f_;
};

class FaultyDeadLetters final : public DeadLetterStore {
 public:
  FaultyDeadLetters(DeadLetterStore& inner, StoreFaults& faults) : in_(inner), f_(faults) {}
  Result<std::vector<DeadLetter>> list(size_t limit) override {
    return through(f_, "dead_letters.list", [&] { return in_.list(limit); });
  }
  Result<std::optional<DeadLetter>> get(std::string_view dlq_id) override {
    return through(f_, "dead_letters.get", [&] { return in_.get(dlq_id); });
  }
  Result<int64_t> count() override {
    return through(f_, "dead_letters.count", [&] { return in_.count(); });
  }
  Result<int64_t> count_waiting() override {
    return through(f_, "dead_letters.count_waiting", [&] { return in_.count_waiting(); });
  }
  Result<Job> redrive(std::string_view dlq_id, const BatchPolicy& policy, Timestamp now) override {
    return through(f_, "dead_letters.redrive", [&] { return in_.redrive(dlq_id, policy, now); });
  }
  Status discard(std::string_view dlq_id) override {
    return through(f_, "dead_letters.discard", [&] { return in_.discard(dlq_id); });
  }

 private:
  DeadLetterStore& in_;
  StoreFaults& f_;
};

class FaultyOutbox final : public OutboxStore {
 public:
  FaultyOutbox(OutboxStore& inner, StoreFaults& faults) : in_(inner), f_(faults) {}
  Result<std::vector<OutboxMessage>> unpublished(int64_t after_id, size_t limit) override {
    return through(f_, "outbox.unpublished", [&] { return in_.unpublished(after_id, limit); });
  }
  Result<int64_t> count_pending() override {
    return through(f_, "outbox.count_pending", [&] { return in_.count_pending(); });
  }
  Status mark_published(std::span<const int64_t> ids, Timestamp now) override {
    return through(f_, "outbox.mark_published", [&] { return in_.mark_published(ids, now); });
  }
  Status mark_failed(int64_t id, std::string_view error, Timestamp next_attempt_at) override {
    return through(f_, "outbox.mark_failed",
                   [&] { return in_.mark_failed(id, error, next_attempt_at); });
  }
  Result<bool> take_lease(std::string_view name, std::string_view owner, Timestamp now,
                          Timestamp until) override {
    return through(f_, "outbox.take_lease",
                   [&] { return in_.take_lease(name, owner, now, until); });
  }
  Status release_lease(std::string_view name, std::string_view owner) override {
    return through(f_, "outbox.release_lease", [&] { return in_.release_lease(name, owner); });
  }
  Result<std::vector<std::pair<int64_t, StoredEvent>>> events_after(int64_t after_id,
                                                                    size_t limit) override {
    return through(f_, "outbox.events_after", [&] { return in_.events_after(after_id, limit); });
  }
  Result<int64_t> last_event_id() override {
    return through(f_, "outbox.last_event_id", [&] { return in_.last_event_id(); });
  }
  Result<std::optional<int64_t>> cursor(std::string_view name) override {
    return through(f_, "outbox.cursor", [&] { return in_.cursor(name); });
  }
  Status save_cursor(std::string_view name, int64_t position) override {
    return through(f_, "outbox.save_cursor", [&] { return in_.save_cursor(name, position); });
  }
  Result<int64_t> delete_created_before(Timestamp cutoff, bool including_unpublished,
                                        size_t limit) override {
    return through(f_, "outbox.delete_created_before",
                   [&] { return in_.delete_created_before(cutoff, including_unpublished, limit); });
  }

 private:
  OutboxStore& in_;
  StoreFaults& f_;
};

class FaultyBreakers final : public BreakerStore {
 public:
  FaultyBreakers(BreakerStore& inner, StoreFaults& faults) : in_(inner), f_(faults) {}
  Result<BreakerRecord> load(std::string_view name, Timestamp now) override {
    return through(f_, "breakers.load", [&] { return in_.load(name, now); });
  }
  Result<std::vector<BreakerRecord>> list() override {
    return through(f_, "breakers.list", [&] { return in_.list(); });
  }
  Result<bool> compare_and_set(const BreakerRecord& next,
                               std::optional<std::string> outbox_payload_json,
                               Timestamp now) override {
    return through(f_, "breakers.compare_and_set",
                   [&] { return in_.compare_and_set(next, outbox_payload_json, now); });
  }

 private:
  BreakerStore& in_;
  StoreFaults& f_;
};

class FaultyArchive final : public ArchiveStore {
 public:
  FaultyArchive(ArchiveStore& inner, StoreFaults& faults) : in_(inner), f_(faults) {}
  Result<std::vector<ArchiveCandidate>> candidates(Timestamp cutoff, size_t limit) override {
    return through(f_, "archive.candidates", [&] { return in_.candidates(cutoff, limit); });
  }
  Result<std::vector<ArchivedBatchInfo>> archive(std::span<const std::string> batch_ids,
                                                 Timestamp cutoff, Timestamp now) override {
    return through(f_, "archive.archive", [&] { return in_.archive(batch_ids, cutoff, now); });
  }
  Result<std::optional<ArchivedBatchInfo>> info(std::string_view batch_id) override {
    return through(f_, "archive.info", [&] { return in_.info(batch_id); });
  }
  Result<std::vector<StoredEvent>> events(std::string_view batch_id) override {
    return through(f_, "archive.events", [&] { return in_.events(batch_id); });
  }
  Status restore(std::string_view batch_id, Timestamp now) override {
    return through(f_, "archive.restore", [&] { return in_.restore(batch_id, now); });
  }
  Result<int64_t> delete_archived_before(Timestamp cutoff, Timestamp now, size_t limit) override {
    return through(f_, "archive.delete_archived_before",
                   [&] { return in_.delete_archived_before(cutoff, now, limit); });
  }
  Result<std::vector<Batch>> batches_between(Timestamp from, Timestamp to,
                                             std::string_view after_batch_id,
                                             size_t limit) override {
    return through(f_, "archive.batches_between",
                   [&] { return in_.batches_between(from, to, after_batch_id, limit); });
  }
  Result<int64_t> events_between(Timestamp from, Timestamp to) override {
    return through(f_, "archive.events_between", [&] { return in_.events_between(from, to); });
  }

 private:
  ArchiveStore& in_;
  StoreFaults& f_;
};

}  // namespace

struct FaultyStore::Repositories {
  Repositories(Store& in, StoreFaults& f)
      : events(in.events(), f),
        batches(in.batches(), f),
        jobs(in.jobs(), f),
        insights(in.insights(), f),
        dead_letters(in.dead_letters(), f),
        outbox(in.outbox(), f),
        breakers(in.breakers(), f),
        archive(in.archive(), f) {}
  FaultyEvents events;
  FaultyBatches batches;
  FaultyJobs jobs;
  FaultyInsights insights;
  FaultyDeadLetters dead_letters;
  FaultyOutbox outbox;
  FaultyBreakers breakers;
  FaultyArchive archive;
};

FaultyStore::FaultyStore(Store& inner, StoreFaults& faults)
    : inner_(inner),
      faults_(faults),
      repositories_(std::make_unique<Repositories>(inner, faults)) {}
FaultyStore::~FaultyStore() = default;

EventStore& FaultyStore::events() {
  return repositories_->events;
}
BatchStore& FaultyStore::batches() {
  return repositories_->batches;
}
JobStore& FaultyStore::jobs() {
  return repositories_->jobs;
}
InsightStore& FaultyStore::insights() {
  return repositories_->insights;
}
DeadLetterStore& FaultyStore::dead_letters() {
  return repositories_->dead_letters;
}
OutboxStore& FaultyStore::outbox() {
  return repositories_->outbox;
}
BreakerStore& FaultyStore::breakers() {
  return repositories_->breakers;
}
ArchiveStore& FaultyStore::archive() {
  return repositories_->archive;
}

Status FaultyStore::ping() {
  return through(faults_, "ping", [&] { return inner_.ping(); });
}

}  // namespace insightd::store::testing
