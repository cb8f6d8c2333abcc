// The embedded default under load: while the workers drain a backlog of sealed
// batches on SQLite, a steady stream of events is still acknowledged quickly,
// and the backlog keeps draining. Before the write gate (store/sqlite/
// write_gate.h) the workers' small transactions won SQLite's unfair busy
// handler again and again, and acknowledgements stalled for most of a second.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "analysis/builtin_analyzer.h"
#include "core/clock.h"
#include "core/testing/builders.h"
#include "ingest/group_commit_writer.h"
#include "pipeline/analysis_job.h"
#include "pipeline/job_worker.h"
#include "store/open_store.h"
#include "store/testing/test_database.h"

namespace insightd {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

int64_t count_succeeded(store::Store& store) {
  auto counts = store.jobs().count_by_status();
  EXPECT_TRUE(counts.is_ok());
  return counts ? (*counts)[JobStatus::kSuccess] : -1;
}

TEST(IngestDuringDrain, AcksStayFastWhileWorkersDrainABacklogOnSqlite) {
  constexpr int kBatches = 10'000;  // sealed in one transaction: the backlog
  constexpr int kEventsPerBatch = 10;
  constexpr auto kEvery = 2ms;  // 500 events/s, one per submission
  constexpr auto kFor = 3s;
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  // The sanitizer trees slow every thread several times over (p50 19 ms under
  // ThreadSanitizer): there the test looks for races and lost acks, and the
  // default tree holds the latency bound.
  // The workers' drain slows as much (98 jobs in the stream's 3 s once, on a
  // slow day): "not starved" means dozens there.
  constexpr auto kBound = 1000ms;
  constexpr int64_t kDrainedAtLeast = 30;
#else
  constexpr auto kBound = 100ms;  // generous: the benchmark holds the tight figure
  constexpr int64_t kDrainedAtLeast = 100;
#endif

  auto db = store::testing::TestDatabase::create();
  ASSERT_NE(db, nullptr);
  auto backlog = db->store().events().append(
      testing::events("backlog", kBatches * kEventsPerBatch, testing::kT0),
      store::BatchPolicy{kEventsPerBatch, 5}, testing::kT0);
  ASSERT_TRUE(backlog.is_ok()) << backlog.error().message;
  ASSERT_EQ(backlog->sealed.size(), static_cast<size_t>(kBatches));

  // The workers as the all-in-one runs them: the main pool, real analysis.
  analysis::BuiltinAnalyzer analyzer;
  pipeline::AnalysisJobHandler handler(db->store(), analyzer, nullptr);
  pipeline::WorkerOptions options;
  options.owner = "drain-test";
  options.concurrency = 4;  // WORKER_CONCURRENCY's default
  pipeline::JobWorker worker(db->store().jobs(), handler, RealClock::instance(), options);

  // Ingestion as the all-in-one runs it: a store of its own, first at the gate.
  auto ingest_store = store::open_store(
      db->url(),
      store::StoreOptions{.pool_size = 2, .write_priority = store::WritePriority::kIngest});
  ASSERT_TRUE(ingest_store.is_ok()) << ingest_store.error().message;
  ingest::GroupCommitWriter writer(ingest_store->store->events(), SystemClock::instance(),
                                   ingest::WriterOptions{.policy = {1'000, 5}}, nullptr, nullptr);
  writer.start();

  worker.start();
  // The drain is under way before the stream starts.
  const auto started = Steady::now();
  while (count_succeeded(db->store()) < 50 && Steady::now() - started < 30s) {
    std::this_thread::sleep_for(5ms);
  }
  const int64_t before = count_succeeded(db->store());
  ASSERT_GE(before, 50) << "the workers did not start draining";

  std::mutex mu;
  std::vector<Millis> latencies;
  std::atomic<int> failed{0};
  std::atomic<int> answered{0};
  int sent = 0;
  const auto stream_start = Steady::now();
  for (auto next = stream_start; next - stream_start < kFor; next += kEvery) {
    std::this_thread::sleep_until(next);
    const auto at = Steady::now();
    NewEvent e =
        testing::EventBuilder(fmt::format("stream-{}", sent++)).at(SystemClock::instance().now());
    const bool queued =
        writer.submit({e}, [&, at](const Result<std::vector<store::AppendResult>>& r) {
          if (!r) ++failed;
          std::lock_guard lock(mu);
          latencies.push_back(std::chrono::duration_cast<Millis>(Steady::now() - at));
          ++answered;
        });
    ASSERT_TRUE(queued);
  }
  const auto give_up = Steady::now() + 10s;
  while (answered.load() < sent && Steady::now() < give_up) std::this_thread::sleep_for(5ms);
  const int64_t after = count_succeeded(db->store());
  (void)worker.stop(5s);
  writer.stop();

  ASSERT_EQ(answered.load(), sent);
  EXPECT_EQ(failed.load(), 0);
  std::sort(latencies.begin(), latencies.end());
  const Millis p50 = latencies[latencies.size() / 2];
  const Millis p99 = latencies[latencies.size() * 99 / 100];
  const Millis max = latencies.back();
  std::printf(
      "acks during the drain: %d, p50 %lld ms, p99 %lld ms, max %lld ms; jobs done %lld -> %lld\n",
      sent, static_cast<long long>(p50.count()), static_cast<long long>(p99.count()),
      static_cast<long long>(max.count()), static_cast<long long>(before),
      static_cast<long long>(after));
  EXPECT_LE(p99, kBound) << "acknowledgements stalled behind the workers' writes";
  // Not starved either: the drain went on while events kept coming ...
  EXPECT_GE(after - before, kDrainedAtLeast) << "the workers barely drained while ingestion ran";
  // ... and lasted the whole stream, or the figures above say nothing.
  EXPECT_LT(after, kBatches) << "the backlog drained before the stream ended: make it larger";
}

}  // namespace
}  // namespace insightd
