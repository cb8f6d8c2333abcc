// Wake-ups across processes on PostgreSQL: a seal committed through one store
// NOTIFYs once per sealed batch; a worker in another "process" with a LISTEN
// session claims the job at once, although its fallback poll is an hour.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "analysis/builtin_analyzer.h"
#include "core/clock.h"
#include "pipeline/analysis_job.h"
#include "pipeline/job_listener.h"
#include "pipeline/job_worker.h"
#include "pipeline/testing/fake_analyzer.h"
#include "store/postgres/pg_listener.h"
#include "store/sql.h"
#include "store/testing/faulty_store.h"
#include "store/testing/test_database.h"

namespace insightd::pipeline {
namespace {

using namespace std::chrono_literals;
using store::testing::TestDatabase;
using testing::job_of;
using testing::seal_batch;

// Other tests share the server and the channel, so each test counts only the
// notifications that name its own jobs.
int heard(store::PgListener& listener, const std::set<std::string>& job_ids, Millis quiet) {
  int n = 0;
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  for (auto got = listener.wait(quiet); got && !got->empty(); got = listener.wait(quiet)) {
    for (const auto& id : *got) n += job_ids.contains(id) ? 1 : 0;
    if (std::chrono::steady_clock::now() > give_up) break;
  }
  return n;
}

TEST(PgListener, HearsOneNotificationPerSealedBatchAtCommit) {
  auto db = TestDatabase::create();
  ASSERT_NE(db, nullptr);
  auto listener = store::PgListener::open(db->url(), store::kJobNotifyChannel);
  ASSERT_TRUE(listener.is_ok()) << listener.error().message;
  // 30 events with a limit of 10: three sealed batches in one commit.
  std::vector<NewEvent> events;
  const Timestamp now = SystemClock::instance().now();
  for (int i = 0; i < 30; ++i) {
    NewEvent e;
    e.event_id = fmt::format("n{}", i);
    e.event_type = "click";
    e.timestamp = e.received_at = now;
    events.push_back(e);
  }
  auto appended = db->store().events().append(events, {10, 5}, now);
  ASSERT_TRUE(appended.is_ok());
  ASSERT_EQ(appended->sealed.size(), 3u);
  std::set<std::string> ids;
  for (const auto& s : appended->sealed) ids.insert(s.job_id);
  EXPECT_EQ(heard(**listener, ids, 500ms), 3) << "one NOTIFY per sealed batch, none per event";
}

TEST(PgListener, HandBacksAndRecoveriesNotifyButDelayedRetriesDoNot) {
  auto db = TestDatabase::create();
  ASSERT_NE(db, nullptr);
  const Timestamp now = SystemClock::instance().now();
  const std::set<std::string> ids{seal_batch(db->store(), "h", 2, now).job_id};
  auto listener = store::PgListener::open(db->url(), store::kJobNotifyChannel);
  ASSERT_TRUE(listener.is_ok());
  store::JobStore& jobs = db->store().jobs();
  auto job = jobs.claim("w", 30s, now);
  ASSERT_TRUE(job.is_ok() && job->has_value());
  // A retry an hour away: nobody needs waking.
  ASSERT_TRUE(jobs.fail((*job)->job_id, *(*job)->lease_token, "x", now + 1h, now).is_ok());
  EXPECT_EQ(heard(**listener, ids, 200ms), 0);
  // Handed back for now (shutdown): another process may take it at once.
  job = jobs.claim("w", 30s, now + 1h);
  ASSERT_TRUE(job.is_ok() && job->has_value());
  ASSERT_TRUE(
      jobs.release((*job)->job_id, *(*job)->lease_token, "shutdown", now + 1h, now + 1h).is_ok());
  EXPECT_EQ(heard(**listener, ids, 200ms), 1);
  // Recovered after its worker died: runnable again at once.
  ASSERT_TRUE(jobs.claim("w", 30s, now + 1h).is_ok());
  ASSERT_EQ(jobs.recover_expired(now, now + 2h).value().size(), 1u);
  EXPECT_EQ(heard(**listener, ids, 200ms), 1);
}

TEST(PgListener, InterruptEndsAWaitAndALostSessionIsReported) {
  auto db = TestDatabase::create();
  ASSERT_NE(db, nullptr);
  auto listener = store::PgListener::open(db->url(), store::kJobNotifyChannel);
  ASSERT_TRUE(listener.is_ok());
  // An interrupt before the wait is kept for it: the wait returns at once.
  auto start = std::chrono::steady_clock::now();
  (*listener)->interrupt();
  auto got = (*listener)->wait(30s);
  EXPECT_TRUE(got.is_ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  // So is one from another thread, whether it comes just before the wait or during it.
  start = std::chrono::steady_clock::now();
  std::thread interrupter([&] { (*listener)->interrupt(); });
  got = (*listener)->wait(30s);
  interrupter.join();
  EXPECT_TRUE(got.is_ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_FALSE(store::PgListener::open(db->url(), "Bad Channel;").is_ok());

  // The server ends the session: the next wait says so.
  auto conn = db->pool().acquire();
  ASSERT_TRUE((*conn)
                  ->query("SELECT pg_terminate_backend($1)", {int64_t{(*listener)->server_pid()}})
                  .is_ok());
  bool lost = false;
  for (int i = 0; i < 20 && !lost; ++i) lost = !(*listener)->wait(500ms).is_ok();
  EXPECT_TRUE(lost);
}

TEST(PgJobNotificationListener, AWorkerInAnotherProcessStartsANewJobAtOnce) {
  auto db = TestDatabase::create();
  ASSERT_NE(db, nullptr);
  store::OpenedStore worker_side = db->open_another();
  analysis::BuiltinAnalyzer analyzer;
  AnalysisJobHandler handler(*worker_side.store, analyzer, nullptr);
  WorkerOptions options;
  options.owner = "listener-test";
  options.concurrency = 2;
  options.poll_interval = 1h;  // only the notification can start the jobs in time
  // The real clock: what is measured here is how soon, in real time, a NOTIFY
  // reaches a worker that would otherwise sleep for an hour.
  store::testing::StoreFaults calls;
  store::testing::FaultyStore watched(*worker_side.store, calls);
  JobWorker worker(watched.jobs(), handler, RealClock::instance(), options);
  JobNotificationListener listener(db->url(), [&] { worker.wake(); });
  ASSERT_TRUE(listener.start().is_ok());
  worker.start();
  // The first claim round found nothing and looked for a retry to wait for:
  // from here only a wake-up makes the worker claim.
  ASSERT_TRUE(calls.wait_until([&] { return calls.count("jobs.next_run_after") >= 1; }));
  for (int round = 0; round < 3; ++round) {
    const auto sealed =
        seal_batch(db->store(), fmt::format("r{}", round), 5, SystemClock::instance().now());
    const auto sealed_at = std::chrono::steady_clock::now();
    ASSERT_TRUE(calls.wait_until(
        [&] { return job_of(db->store(), sealed.job_id).status == JobStatus::kSuccess; }));
    EXPECT_LT(std::chrono::steady_clock::now() - sealed_at, 2s);
    const Job job = job_of(db->store(), sealed.job_id);
    auto batch = db->store().batches().get(sealed.batch_id);
    EXPECT_LE(*job.started_at - *(*batch)->sealed_at, 50ms) << "claimed within 50 ms of sealing";
  }
  listener.stop();
  (void)worker.stop(1s);
}

}  // namespace
}  // namespace insightd::pipeline
