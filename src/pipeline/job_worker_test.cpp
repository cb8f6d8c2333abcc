// The job queue end to end inside one test process: workers over a real
// database (SQLite as pipeline_test, PostgreSQL as pipeline_pgtest), with
// "processes" simulated by independent stores on the same database. The
// workers run on a ManualClock: every lease, backoff, cooldown, poll and grace
// period passes only when the test moves the clock, and the test waits for
// what the workers write (each job store call wakes it), so nothing sleeps.
#include "pipeline/job_worker.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "analysis/builtin_analyzer.h"
#include "core/clock.h"
#include "obs/metrics.h"
#include "pipeline/analysis_job.h"
#include "pipeline/circuit_breaker.h"
#include "pipeline/stuck_job_recovery.h"
#include "pipeline/testing/fake_analyzer.h"
#include "store/testing/faulty_store.h"
#include "store/testing/test_database.h"

namespace insightd::pipeline {
namespace {

using namespace std::chrono_literals;
using store::testing::FaultyStore;
using store::testing::StoreFaults;
using store::testing::TestDatabase;
using testing::FakeAnalyzer;
using testing::job_of;
using testing::seal_batch;

using insightd::testing::kT0;

WorkerOptions fast_options(std::string owner, size_t concurrency = 4) {
  WorkerOptions o;
  o.owner = std::move(owner);
  o.concurrency = concurrency;
  o.poll_interval = 20ms;
  o.lease = 30s;
  o.retry = RetryPolicy{1s, 1s};
  o.random01 = [] { return 1.0; };
  return o;
}

class JobWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::create();
    ASSERT_NE(db_, nullptr);
    faulty_ = watch(store());
  }
  store::Store& store() { return db_->store(); }
  // The job store a worker of this "process" uses: every call wakes until().
  store::JobStore& jobs() { return faulty_->jobs(); }
  std::unique_ptr<FaultyStore> watch(store::Store& store) {
    return std::make_unique<FaultyStore>(store, calls_);
  }
  // Waits until `pred` holds, looking again after each watched store call.
  bool until(const std::function<bool()>& pred) { return calls_.wait_until(pred); }
  int64_t succeeded() {
    return scalar("SELECT COUNT(*) FROM \"AnalysisJob\" WHERE status = 'SUCCESS'");
  }

  int64_t scalar(const std::string& sql) {
    auto conn = db_->pool().acquire();
    EXPECT_TRUE(conn.is_ok());
    auto rows = (*conn)->query(sql, {});
    EXPECT_TRUE(rows.is_ok()) << (rows ? "" : rows.error().message);
    return rows && !rows->empty() ? rows->front().integer(0) : -1;
  }
  int64_t insights_for(const std::string& batch_id) {
    return scalar(fmt::format("SELECT COUNT(*) FROM \"Insight\" WHERE batch_id = '{}'", batch_id));
  }
  std::vector<std::string> breaker_transitions() {
    auto conn = db_->pool().acquire();
    auto rows = (*conn)->query(
        "SELECT payload FROM \"KafkaOutbox\" WHERE topic = 'circuit.state_changed' ORDER BY id",
        {});
    std::vector<std::string> out;
    for (const auto& r : *rows) {
      const auto o = boost::json::parse(r.text(0)).as_object();
      out.push_back(fmt::format("{}->{}", std::string_view(o.at("from").as_string()),
                                std::string_view(o.at("to").as_string())));
    }
    return out;
  }

  std::unique_ptr<TestDatabase> db_;
  StoreFaults calls_;
  std::unique_ptr<FaultyStore> faulty_;
};

TEST_F(JobWorkerTest, EverySealedBatchBecomesExactlyOneInsight) {
  ManualClock clock(kT0);
  analysis::BuiltinAnalyzer analyzer;
  AnalysisJobHandler handler(store(), analyzer, nullptr);
  JobWorker worker(jobs(), handler, clock, fast_options("w1", 3));
  worker.start();
  std::vector<store::SealedBatch> sealed;
  for (int b = 0; b < 5; ++b) {
    sealed.push_back(seal_batch(store(), fmt::format("b{}", b), 12, clock.now()));
    worker.wake();
  }
  ASSERT_TRUE(until([&] { return succeeded() == 5; }));
  for (const auto& s : sealed) {
    EXPECT_EQ(insights_for(s.batch_id), 1);
    auto batch = store().batches().get(s.batch_id);
    EXPECT_EQ((*batch)->status, BatchStatus::kAnalyzed);
    const Job job = job_of(store(), s.job_id);
    EXPECT_EQ(job.attempt_count, 1);
    EXPECT_TRUE(job.duration_ms.has_value());
    EXPECT_FALSE(job.lease_token.has_value());
  }
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"KafkaOutbox\" WHERE topic = 'insight.created'"), 5);
  EXPECT_EQ(worker.stop(1s).handed_back, 0u);
}

// A handler that records which job ran where, for the exclusivity test.
class RecordingHandler final : public JobHandler {
 public:
  JobOutcome run(const Job& job) override {
    {
      std::lock_guard lock(mu_);
      runs_[job.job_id]++;
    }
    std::this_thread::yield();  // let the other worker's threads in
    store::NewInsight insight;
    insight.summary = "no-op";
    insight.analyzer = "test";
    return JobSucceeded{insight};
  }
  std::map<std::string, int> runs() {
    std::lock_guard lock(mu_);
    return runs_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, int> runs_;
};

// Hands a job back, runnable at once, `times` times; then succeeds.
class BouncingHandler final : public JobHandler {
 public:
  BouncingHandler(const WaitClock& clock, int times) : clock_(clock), left_(times) {}
  JobOutcome run(const Job&) override {
    if (left_.fetch_sub(1) > 0) return JobDeferred{"bounce", clock_.now()};
    store::NewInsight insight;
    insight.summary = "no-op";
    insight.analyzer = "test";
    return JobSucceeded{insight};
  }

 private:
  const WaitClock& clock_;
  std::atomic<int> left_;
};

TEST_F(JobWorkerTest, AJobClaimedAgainAtOnceIsNotLostByItsPreviousExecutor) {
  // A job handed back runnable now is claimed again by the same worker, maybe
  // before the executor that handed it back has let go of it: the new claim
  // must still run (it once shared its bookkeeping entry with the old one,
  // which the old executor then erased: the job stayed RUNNING until its
  // lease expired).
  ManualClock clock(kT0);
  BouncingHandler handler(clock, 300);
  JobWorker worker(jobs(), handler, clock, fast_options("w", 2));
  const auto sealed = seal_batch(store(), "bounce", 3, kT0);
  worker.start();
  // Each store call (a hand-back among them) wakes the dispatcher at once.
  ASSERT_TRUE(until([&] {
    worker.wake();
    return succeeded() == 1;
  })) << "job "
      << sealed.job_id << " is " << to_string(job_of(store(), sealed.job_id).status);
  EXPECT_EQ(job_of(store(), sealed.job_id).attempt_count, 1) << "hand-backs use no attempt";
  (void)worker.stop(1s);
}

TEST_F(JobWorkerTest, TwoWorkersInTwoProcessesNeverRunTheSameJob) {
  constexpr int kJobs = 60;
  ManualClock clock(kT0);
  std::set<std::string> job_ids;
  for (int b = 0; b < kJobs; ++b) {
    job_ids.insert(seal_batch(store(), fmt::format("x{}", b), 2, clock.now()).job_id);
  }
  store::OpenedStore other = db_->open_another();
  auto other_faulty = watch(*other.store);
  store::JobStore& other_jobs = other_faulty->jobs();
  RecordingHandler handler_a;
  RecordingHandler handler_b;
  JobWorker a(jobs(), handler_a, clock, fast_options("a", 4));
  JobWorker b(other_jobs, handler_b, clock, fast_options("b", 4));
  a.start();
  b.start();
  ASSERT_TRUE(until([&] { return succeeded() == kJobs; }));
  (void)a.stop(1s);
  (void)b.stop(1s);
  std::map<std::string, int> all = handler_a.runs();
  for (const auto& [id, n] : handler_b.runs()) all[id] += n;
  EXPECT_EQ(all.size(), job_ids.size());
  for (const auto& [id, n] : all) {
    EXPECT_EQ(n, 1) << id << " ran " << n << " times";
    EXPECT_TRUE(job_ids.contains(id));
  }
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Insight\""), kJobs);
  EXPECT_EQ(scalar("SELECT MAX(attempt_count) FROM \"AnalysisJob\""), 1);
}

TEST_F(JobWorkerTest, AStaleWorkersLateCompletionIsRefusedAndTheBatchGetsOneInsight) {
  ManualClock clock(kT0);
  // Worker A's process stalls as a whole: its clock stands still, so not even
  // its heartbeat renews the lease while the rest of the world moves on.
  ManualClock stalled_clock(kT0);
  const auto sealed = seal_batch(store(), "s", 10, kT0);
  // Worker A (one process) claims the job and stalls inside the analyzer.
  FakeAnalyzer slow;
  slow.close_gate();
  AnalysisJobHandler handler_a(store(), slow, nullptr);
  JobWorker a(jobs(), handler_a, stalled_clock, fast_options("worker-a", 1));
  a.start();
  ASSERT_TRUE(slow.wait_held(1));
  EXPECT_EQ(job_of(store(), sealed.job_id).lease_owner, "worker-a");

  // Its lease runs out; recovery in another process takes the job back.
  clock.advance(31s);
  store::OpenedStore other = db_->open_another();
  StuckJobRecovery recovery(other.store->jobs(), clock, 1min, 15min, nullptr);
  const auto recovered = recovery.tick();
  ASSERT_EQ(recovered.size(), 1u);
  EXPECT_EQ(recovered[0].outcome.status, JobStatus::kPending);
  Job job = job_of(store(), sealed.job_id);
  EXPECT_EQ(job.status, JobStatus::kPending);
  EXPECT_EQ(job.attempt_count, 1);
  EXPECT_EQ(job.crash_count, 1);

  // Worker B (another process) runs it to completion.
  FakeAnalyzer fast;
  AnalysisJobHandler handler_b(*other.store, fast, nullptr);
  auto other_faulty = watch(*other.store);
  JobWorker b(other_faulty->jobs(), handler_b, clock, fast_options("worker-b", 1));
  b.start();
  ASSERT_TRUE(until([&] { return job_of(store(), sealed.job_id).status == JobStatus::kSuccess; }));
  EXPECT_EQ(insights_for(sealed.batch_id), 1);

  // A wakes up and tries to complete with its old token: refused. (Its clock
  // never moves, so stop() waits for that attempt to end, however long.)
  slow.open_gate();
  EXPECT_EQ(a.stop(10s).abandoned, 0u);
  EXPECT_EQ(calls_.count("jobs.complete_many"), 2) << "B's completion and A's refused one";
  EXPECT_EQ(insights_for(sealed.batch_id), 1) << "the stale worker's insight must not land";
  job = job_of(store(), sealed.job_id);
  EXPECT_EQ(job.status, JobStatus::kSuccess);
  EXPECT_EQ(job.attempt_count, 2);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"KafkaOutbox\" WHERE topic = 'insight.created'"), 1);
  (void)b.stop(1s);
}

TEST_F(JobWorkerTest, FailuresOpenTheBreakerOpenDefersWithoutAttemptsAndOneProbeClosesIt) {
  ManualClock clock(kT0);
  const BreakerPolicy policy{
      .failure_threshold = 3, .cooldown = 60s, .probe_timeout = 30s, .probe_recheck = 5s};
  CircuitBreaker breaker(store().breakers(), "analyzer", policy, clock);
  FakeAnalyzer analyzer;
  analyzer.fail(analysis::AnalysisErrorKind::kServerError, true, "HTTP 500");
  AnalysisJobHandler handler(store(), analyzer, &breaker);
  JobWorker worker(this->jobs(), handler, clock, fast_options("w", 4));
  std::vector<std::string> jobs;
  jobs.reserve(3);
  for (int b = 0; b < 3; ++b)
    jobs.push_back(seal_batch(store(), fmt::format("f{}", b), 4, kT0).job_id);
  worker.start();

  // Three failures in a row open the breaker; each job waits for its retry.
  ASSERT_TRUE(until([&] {
    for (const auto& id : jobs) {
      const Job j = job_of(store(), id);
      if (j.status != JobStatus::kPending || j.attempt_count != 1) return false;
    }
    return true;
  }));
  EXPECT_EQ(analyzer.calls(), 3);
  auto opened = breaker.current();
  ASSERT_TRUE(opened.is_ok());
  EXPECT_EQ(opened->state, BreakerState::kOpen);
  EXPECT_EQ(opened->failure_count, 3);
  const Timestamp open_until = opened->open_until.value_or(kT0);
  EXPECT_EQ(open_until, kT0 + 60s);

  // Their retries fall due while it is OPEN: handed back to the end of the
  // cooldown without calling the analyzer and without using an attempt.
  clock.advance(2s);
  worker.wake();
  ASSERT_TRUE(until([&] {
    for (const auto& id : jobs) {
      const Job j = job_of(store(), id);
      if (j.status != JobStatus::kPending || j.run_after != open_until) return false;
    }
    return true;
  }));
  for (const auto& id : jobs) {
    const Job j = job_of(store(), id);
    EXPECT_EQ(j.attempt_count, 1) << "an open breaker must not burn attempts";
    EXPECT_NE(j.last_error.value_or("").find("circuit breaker OPEN"), std::string::npos)
        << j.last_error.value_or("");
  }
  EXPECT_EQ(analyzer.calls(), 3);

  // After the cooldown exactly one probe goes out; the others wait for it.
  analyzer.succeed();
  analyzer.close_gate();
  clock.advance_to(open_until);
  worker.wake();
  ASSERT_TRUE(analyzer.wait_held(1));
  ASSERT_TRUE(until([&] {
    int deferred = 0;
    for (const auto& id : jobs) {
      const Job j = job_of(store(), id);
      if (j.status == JobStatus::kPending && j.last_error &&
          j.last_error->find("HALF_OPEN") != std::string::npos) {
        ++deferred;
      }
    }
    return deferred == 2;
  }));
  EXPECT_EQ(analyzer.calls(), 4) << "one probe, no more";
  EXPECT_EQ(breaker.current()->state, BreakerState::kHalfOpen);
  analyzer.open_gate();
  ASSERT_TRUE(until([&] { return succeeded() == 1; }));
  EXPECT_EQ(breaker.current()->state, BreakerState::kClosed) << "the probe's success";

  // Closed again: the rest run.
  clock.advance(policy.probe_recheck);
  worker.wake();
  ASSERT_TRUE(until([&] { return succeeded() == 3; }));
  EXPECT_EQ(analyzer.calls(), 6);
  EXPECT_EQ(scalar("SELECT MAX(attempt_count) FROM \"AnalysisJob\""), 2);
  EXPECT_EQ(breaker_transitions(),
            (std::vector<std::string>{"CLOSED->OPEN", "OPEN->HALF_OPEN", "HALF_OPEN->CLOSED"}));
  (void)worker.stop(1s);
}

TEST_F(JobWorkerTest, AJobThatAlwaysFailsIsDeadLetteredAfterExactlyMaxAttemptsThenRedriven) {
  ManualClock clock(kT0);
  const BreakerPolicy policy{
      .failure_threshold = 2, .cooldown = 60s, .probe_timeout = 30s, .probe_recheck = 5s};
  CircuitBreaker breaker(store().breakers(), "analyzer", policy, clock);
  FakeAnalyzer analyzer;
  analyzer.fail(analysis::AnalysisErrorKind::kAuth, false, "HTTP 401: invalid key");
  AnalysisJobHandler handler(store(), analyzer, &breaker);
  JobWorker worker(jobs(), handler, clock, fast_options("w", 2));
  const auto sealed = seal_batch(store(), "d", 6, kT0, /*max_attempts=*/4);
  worker.start();

  // Attempts 1 and 2 fail and open the breaker; attempts 3 and 4 are the
  // probes after each cooldown. Between them the job waits without using any.
  for (int attempt = 1; attempt <= 4; ++attempt) {
    ASSERT_TRUE(until([&] {
      const Job j = job_of(store(), sealed.job_id);
      if (j.status == JobStatus::kPending && j.attempt_count < attempt &&
          j.run_after > clock.now()) {
        // Handed back (the breaker was still OPEN when it was claimed): time
        // passes until it may run again, without using an attempt.
        clock.advance_to(j.run_after);
        worker.wake();
      }
      return j.status != JobStatus::kRunning && j.attempt_count == attempt;
    })) << "attempt "
        << attempt;
    EXPECT_EQ(analyzer.calls(), attempt);
    if (attempt < 4) {
      clock.advance(attempt >= 2 ? policy.cooldown : 2s);
      worker.wake();
    }
  }
  EXPECT_EQ(job_of(store(), sealed.job_id).status, JobStatus::kDead);
  EXPECT_EQ(analyzer.calls(), 4);
  auto dead = store().dead_letters().list(10);
  ASSERT_TRUE(dead.is_ok());
  ASSERT_EQ(dead->size(), 1u);
  const store::DeadLetter& d = dead->front();
  EXPECT_EQ(d.job_id, sealed.job_id);
  EXPECT_EQ(d.attempt_count, 4);
  const auto errors = boost::json::parse(d.errors_json).as_array();
  ASSERT_EQ(errors.size(), 4u) << "every attempt's error is kept";
  for (size_t i = 0; i < errors.size(); ++i) {
    EXPECT_EQ(errors[i].at("attempt"), static_cast<int64_t>(i + 1));
    EXPECT_NE(std::string_view(errors[i].at("error").as_string()).find("invalid key"),
              std::string_view::npos);
  }
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"KafkaOutbox\" WHERE topic = 'job.dead_lettered'"), 1);
  EXPECT_EQ(breaker_transitions(),
            (std::vector<std::string>{"CLOSED->OPEN", "OPEN->HALF_OPEN", "HALF_OPEN->OPEN",
                                      "OPEN->HALF_OPEN", "HALF_OPEN->OPEN"}));

  // The key is fixed; redrive: a fresh job with fresh attempts; the next
  // probe closes the breaker and the batch gets its insight.
  analyzer.succeed();
  auto redriven = store().dead_letters().redrive(d.dlq_id, {6, 4}, clock.now());
  ASSERT_TRUE(redriven.is_ok()) << redriven.error().message;
  EXPECT_EQ(redriven->attempt_count, 0);
  clock.advance(policy.cooldown);
  worker.wake();
  ASSERT_TRUE(
      until([&] { return job_of(store(), redriven->job_id).status == JobStatus::kSuccess; }));
  EXPECT_EQ(insights_for(sealed.batch_id), 1);
  EXPECT_EQ(breaker.current()->state, BreakerState::kClosed);
  (void)worker.stop(1s);
}

TEST_F(JobWorkerTest, ShutdownHandsBackAJobThatDoesNotFinishWithoutUsingItsAttempt) {
  ManualClock clock(kT0);
  FakeAnalyzer analyzer;
  analyzer.close_gate();
  AnalysisJobHandler handler(store(), analyzer, nullptr);
  const auto sealed = seal_batch(store(), "h", 3, clock.now());
  JobWorker worker(jobs(), handler, clock, fast_options("w", 2));
  worker.start();
  ASSERT_TRUE(analyzer.wait_held(1));
  EXPECT_EQ(job_of(store(), sealed.job_id).attempt_count, 1);
  // The grace period passes, on the clock, once stop() waits it out.
  const auto grace_ends = clock.steady_now() + 5s;
  bool grace_awaited = false;
  std::thread timer([&] {
    grace_awaited = clock.wait_for_deadline(grace_ends);
    clock.advance(5s);
  });
  const StopReport report = worker.stop(5s);
  timer.join();
  EXPECT_TRUE(grace_awaited);
  EXPECT_EQ(report.finished, 0u);
  EXPECT_EQ(report.handed_back, 1u);
  EXPECT_EQ(report.abandoned, 1u);
  Job job = job_of(store(), sealed.job_id);
  EXPECT_EQ(job.status, JobStatus::kPending);
  EXPECT_EQ(job.attempt_count, 0) << "a hand-back returns the attempt";
  EXPECT_FALSE(job.lease_token.has_value());
  // The abandoned call returns late: its insight is refused.
  analyzer.open_gate();
  ASSERT_TRUE(until([&] { return calls_.count("jobs.complete_many") == 1; }));
  EXPECT_EQ(insights_for(sealed.batch_id), 0);
  EXPECT_EQ(job_of(store(), sealed.job_id).status, JobStatus::kPending);
}

TEST_F(JobWorkerTest, ShutdownLetsARunningJobFinishWithinTheGracePeriod) {
  ManualClock clock(kT0);
  FakeAnalyzer analyzer;
  analyzer.close_gate();
  AnalysisJobHandler handler(store(), analyzer, nullptr);
  const auto sealed = seal_batch(store(), "g", 3, clock.now());
  JobWorker worker(jobs(), handler, clock, fast_options("w", 2));
  worker.start();
  ASSERT_TRUE(analyzer.wait_held(1));
  // The job ends while stop() waits out the grace period (which the clock,
  // standing still, never ends).
  const auto grace_ends = clock.steady_now() + 1min;
  bool grace_awaited = false;
  std::thread opener([&] {
    grace_awaited = clock.wait_for_deadline(grace_ends);
    analyzer.open_gate();
  });
  const StopReport report = worker.stop(1min);
  opener.join();
  EXPECT_TRUE(grace_awaited);
  EXPECT_EQ(report.finished, 1u);
  EXPECT_EQ(report.handed_back, 0u);
  EXPECT_EQ(job_of(store(), sealed.job_id).status, JobStatus::kSuccess);
}

TEST_F(JobWorkerTest, AWakeUpClaimsAtOnceAndPollingIsOnlyTheFallback) {
  ManualClock clock(kT0);
  analysis::BuiltinAnalyzer analyzer;
  AnalysisJobHandler handler(store(), analyzer, nullptr);
  WorkerOptions options = fast_options("w", 1);
  options.poll_interval = 1h;  // 66 min with this jitter: only a wake-up starts the job before
  JobWorker worker(jobs(), handler, clock, options);
  worker.start();
  ASSERT_TRUE(clock.wait_for_waiters(1));  // the first (empty) claim round is over
  const auto sealed = seal_batch(store(), "w", 3, clock.now());
  clock.advance(1h);
  ASSERT_TRUE(clock.wait_for_waiters(1));  // had that woken it, it has claimed and waits again
  EXPECT_EQ(job_of(store(), sealed.job_id).status, JobStatus::kPending) << "no wake-up, no poll";
  worker.wake();
  EXPECT_TRUE(until([&] { return job_of(store(), sealed.job_id).status == JobStatus::kSuccess; }));
  (void)worker.stop(1s);

  // Without a wake-up, the poll finds it.
  options.poll_interval = 100ms;  // 90 to 110 ms
  JobWorker poller(jobs(), handler, clock, options);
  poller.start();
  ASSERT_TRUE(clock.wait_for_waiters(1));
  const auto later = seal_batch(store(), "p", 3, clock.now());
  clock.advance(89ms);
  ASSERT_TRUE(clock.wait_for_waiters(1));
  EXPECT_EQ(job_of(store(), later.job_id).status, JobStatus::kPending) << "not polled yet";
  clock.advance(30ms);
  EXPECT_TRUE(until([&] { return job_of(store(), later.job_id).status == JobStatus::kSuccess; }));
  (void)poller.stop(1s);
}

TEST_F(JobWorkerTest, RecoveryMovesExpiredJobsBackAndTheLastAttemptToTheDeadLetterQueue) {
  ManualClock clock(kT0);
  const auto a = seal_batch(store(), "ra", 2, kT0, /*max_attempts=*/3);
  const auto b = seal_batch(store(), "rb", 2, kT0, /*max_attempts=*/1);
  ASSERT_TRUE(store().jobs().claim("dead-worker", 10s, kT0).is_ok());
  ASSERT_TRUE(store().jobs().claim("dead-worker", 10s, kT0).is_ok());
  int woken = 0;
  StuckJobRecovery recovery(store().jobs(), clock, 1min, 15min, [&] { ++woken; });
  clock.advance(9s);
  EXPECT_TRUE(recovery.tick().empty()) << "leases still valid";
  EXPECT_EQ(woken, 0);
  clock.advance(2s);
  const auto recovered = recovery.tick();
  ASSERT_EQ(recovered.size(), 2u);
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(job_of(store(), a.job_id).status, JobStatus::kPending);
  EXPECT_EQ(job_of(store(), a.job_id).crash_count, 1);
  EXPECT_EQ(job_of(store(), b.job_id).status, JobStatus::kDead);
  EXPECT_EQ(store().dead_letters().count().value(), 1);
}

TEST_F(JobWorkerTest, RecoveryRunsAtOnceAndThenEveryIntervalOfItsClock) {
  ManualClock clock(kT0);
  const auto sealed = seal_batch(store(), "ri", 2, kT0);
  ASSERT_TRUE(store().jobs().claim("dead-worker", 10s, kT0).is_ok());
  std::promise<void> recovered;
  StuckJobRecovery recovery(jobs(), clock, 1min, 15min, [&] { recovered.set_value(); });
  recovery.start();
  ASSERT_TRUE(clock.wait_for_waiters(1));  // the first round, at once: the lease still holds
  EXPECT_EQ(job_of(store(), sealed.job_id).status, JobStatus::kRunning);
  clock.advance(1min - 1ms);  // the lease has lapsed, but the next round is not due
  EXPECT_EQ(clock.waiters(), 1u);
  EXPECT_EQ(job_of(store(), sealed.job_id).status, JobStatus::kRunning);
  clock.advance(1ms);
  ASSERT_EQ(recovered.get_future().wait_for(10s), std::future_status::ready);
  const Job job = job_of(store(), sealed.job_id);
  EXPECT_EQ(job.status, JobStatus::kPending);
  EXPECT_EQ(job.crash_count, 1);
  recovery.stop();
}

// Runs each job for a set time on the manual clock, then succeeds or fails it.
class TimedHandler final : public JobHandler {
 public:
  TimedHandler(ManualClock& clock, Millis takes, bool fail)
      : clock_(clock), takes_(takes), fail_(fail) {}
  JobOutcome run(const Job&) override {
    clock_.advance(takes_);
    if (fail_) return JobFailed{"boom", std::nullopt};
    store::NewInsight insight;
    insight.summary = "timed";
    insight.analyzer = "test";
    return JobSucceeded{insight};
  }

 private:
  ManualClock& clock_;
  const Millis takes_;
  const bool fail_;
};

TEST_F(JobWorkerTest, JobDurationsAreObservedByOutcome) {
  ManualClock clock(kT0);
  obs::Registry registry;
  WorkerOptions options = fast_options("timed", 1);
  options.metrics = &registry;
  auto& durations = registry.histogram(
      "insightd_job_duration_seconds", "", {"outcome"},
      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900});
  {
    TimedHandler handler(clock, 2s, /*fail=*/false);
    JobWorker worker(jobs(), handler, clock, options);
    const auto ok = seal_batch(store(), "t1", 2, kT0);
    worker.start();
    ASSERT_TRUE(until([&] { return job_of(store(), ok.job_id).status == JobStatus::kSuccess; }));
    (void)worker.stop(1s);
  }
  {
    TimedHandler handler(clock, 40s, /*fail=*/true);
    JobWorker worker(jobs(), handler, clock, options);
    const auto bad = seal_batch(store(), "t2", 2, clock.now(), /*max_attempts=*/1);
    worker.start();
    ASSERT_TRUE(until([&] { return job_of(store(), bad.job_id).status == JobStatus::kDead; }));
    (void)worker.stop(1s);
  }
  const auto success = durations.with({"success"}).snapshot();
  EXPECT_EQ(success.count, 1u);
  EXPECT_DOUBLE_EQ(success.sum, 2.0);
  EXPECT_EQ(success.cumulative[8], 1u);  // le=2.5
  EXPECT_EQ(success.cumulative[7], 0u);  // le=1
  const auto failure = durations.with({"failure"}).snapshot();
  EXPECT_EQ(failure.count, 1u);
  EXPECT_DOUBLE_EQ(failure.sum, 40.0);
  EXPECT_NE(registry.render().find("insightd_job_duration_seconds_count{outcome=\"failure\"} 1\n"),
            std::string::npos);
}

}  // namespace
}  // namespace insightd::pipeline
