// The archiver on both databases: passes in small steps until nothing is left,
// one node at a time, a dry run that changes nothing.
#include "lifecycle/archiver.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/testing/builders.h"
#include "obs/metrics.h"
#include "store/testing/test_database.h"

namespace insightd::lifecycle {
namespace {

using insightd::testing::kT0;
using store::testing::TestDatabase;
using namespace std::chrono_literals;

class ArchiverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::create();
    ASSERT_NE(db_, nullptr);
  }
  store::Store& store() { return db_->store(); }

  // `n` events in batches of `per_batch`, sealed and analyzed at kT0.
  void analyzed(const std::string& prefix, int n, int64_t per_batch, Timestamp at = kT0) {
    auto out = store().events().append(insightd::testing::events(prefix, n), {per_batch, 5}, at);
    ASSERT_TRUE(out.is_ok()) << out.error().message;
    for (;;) {
      auto job = store().jobs().claim("w", 30s, kT0 + 1s);
      ASSERT_TRUE(job.is_ok());
      if (!job->has_value()) break;
      store::NewInsight content;
      content.summary = "ok";
      content.analyzer = "builtin";
      ASSERT_TRUE(
          store().jobs().complete((*job)->job_id, *(*job)->lease_token, content, kT0 + 2s).is_ok());
    }
  }

  int64_t hot_events() { return *store().events().count(); }

  std::unique_ptr<TestDatabase> db_;
};

TEST_F(ArchiverTest, APassMovesEveryOldBatchInStepsAndADryRunNothing) {
  analyzed("a", 230, 10);  // 23 batches sealed and analyzed, 0 events left open
  ASSERT_EQ(hot_events(), 230);
  ManualClock clock(kT0 + 31 * 24h);
  obs::Registry metrics;
  ArchiverOptions options;
  options.after = 30 * 24h;
  options.batches_per_step = 4;
  Archiver archiver(store(), clock, options, &metrics);

  std::vector<std::string> listed;
  auto dry = archiver.run_once(/*dry_run=*/true, [&](const store::ArchiveCandidate& c,
                                                     const store::ArchivedBatchInfo* info) {
    EXPECT_EQ(info, nullptr);
    listed.push_back(c.batch_id);
  });
  ASSERT_TRUE(dry.is_ok()) << dry.error().message;
  EXPECT_EQ(dry->batches, 23);
  EXPECT_EQ(dry->events, 230);
  EXPECT_EQ(listed.size(), 23u);
  EXPECT_EQ(hot_events(), 230);

  size_t heard = 0;
  auto pass = archiver.run_once(
      false, [&](const store::ArchiveCandidate&, const store::ArchivedBatchInfo* info) {
        ASSERT_NE(info, nullptr);
        EXPECT_EQ(info->event_count, 10);
        ++heard;
      });
  ASSERT_TRUE(pass.is_ok()) << pass.error().message;
  EXPECT_EQ(pass->batches, 23);
  EXPECT_EQ(pass->events, 230);
  EXPECT_GT(pass->raw_bytes, pass->stored_bytes);
  EXPECT_EQ(heard, 23u);
  EXPECT_EQ(hot_events(), 0);
  for (const auto& id : listed) {
    EXPECT_EQ((*store().batches().get(id))->status, BatchStatus::kArchived);
  }
  const std::string text = metrics.render();
  EXPECT_NE(text.find("insightd_archive_batches_total 23"), std::string::npos) << text;
  EXPECT_NE(text.find("insightd_archive_events_total 230"), std::string::npos);

  // Nothing left: the next pass moves nothing.
  auto again = archiver.run_once();
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->batches, 0);
}

TEST_F(ArchiverTest, AStepIsBoundedByEventsAsWellAsBatches) {
  analyzed("e", 70, 10);                 // 7 batches of 10 events
  analyzed("big", 40, 40, kT0 + 500ms);  // then one batch larger than a step
  ManualClock clock(kT0 + 31 * 24h);
  ArchiverOptions options;
  options.after = 30 * 24h;
  options.batches_per_step = 20;
  options.events_per_step = 25;
  Archiver archiver(store(), clock, options);
  // Heard after each step's commit: the hot events left tell the step sizes.
  std::vector<int64_t> left;
  auto pass = archiver.run_once(
      false, [&](const store::ArchiveCandidate&, const store::ArchivedBatchInfo*) {
        left.push_back(hot_events());
      });
  ASSERT_TRUE(pass.is_ok()) << pass.error().message;
  EXPECT_EQ(pass->batches, 8);
  // Steps of two batches (20 events; a third would make 30 > 25), then the
  // seventh alone (the big one does not fit beside it), then the big one
  // alone: a step takes at least one batch.
  EXPECT_EQ(left, (std::vector<int64_t>{90, 90, 70, 70, 50, 50, 40, 0}));
}

TEST(ArchiverPace, APauseMakesTheStepsTheirDutyOfTheTime) {
  using std::chrono::milliseconds;
  EXPECT_EQ(pause_after(milliseconds(30), 1.0), Millis(0));
  EXPECT_EQ(pause_after(milliseconds(30), 0.5), Millis(30));
  EXPECT_EQ(pause_after(milliseconds(30), 1.0 / 3), Millis(60));
  EXPECT_EQ(pause_after(milliseconds(30), 0.25), Millis(90));
  EXPECT_EQ(pause_after(milliseconds(30), 0.0), Millis(0));  // not a valid duty: no pause
}

TEST_F(ArchiverTest, APacedPassPausesAfterAStepAndStopEndsThePause) {
  analyzed("p", 40, 10);
  // A duty of one millionth on the real clock: after its first step the
  // pass pauses for a million times the step (seconds at least), so it moves
  // one batch and waits, until stop() ends the pause at once.
  ArchiverOptions options;
  options.after = 24h;  // kT0 is days before the real now
  options.batches_per_step = 1;
  options.duty = 1e-6;
  Archiver archiver(store(), RealClock::instance(), options);
  std::atomic<int> heard{0};
  std::thread pass([&] {
    auto moved = archiver.run_once(
        false, [&](const store::ArchiveCandidate&, const store::ArchivedBatchInfo*) { ++heard; });
    EXPECT_TRUE(moved.is_ok());
    EXPECT_EQ(moved->batches, 1);
  });
  while (heard.load() == 0) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(heard.load(), 1);  // paused
  EXPECT_EQ(hot_events(), 30);
  const auto asked = std::chrono::steady_clock::now();
  archiver.stop();
  pass.join();
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 2s);
}

TEST_F(ArchiverTest, WithDeleteAfterAPassDeletesArchivedEventsPastThatAge) {
  analyzed("d", 50, 10);
  ManualClock clock(kT0 + 31 * 24h);
  obs::Registry metrics;
  ArchiverOptions options;
  options.after = 30 * 24h;
  options.batches_per_step = 2;
  options.delete_after = 90 * 24h;
  Archiver archiver(store(), clock, options, &metrics);
  auto pass = archiver.run_once();
  ASSERT_TRUE(pass.is_ok());
  EXPECT_EQ(pass->batches, 5);
  EXPECT_EQ(pass->deleted_batches, 0);  // archived just now

  clock.advance(89 * 24h);
  pass = archiver.run_once();
  ASSERT_TRUE(pass.is_ok());
  EXPECT_EQ(pass->deleted_batches, 0);
  clock.advance(48h);
  pass = archiver.run_once();
  ASSERT_TRUE(pass.is_ok());
  EXPECT_EQ(pass->deleted_batches, 5);  // in statements of two
  auto batches = store().archive().batches_between(kT0 - 24h, kT0 + 24h, "", 100);
  ASSERT_TRUE(batches.is_ok());
  ASSERT_EQ(batches->size(), 5u);
  for (const Batch& b : *batches) {
    EXPECT_TRUE((*store().archive().info(b.batch_id))->events_deleted());
  }
  EXPECT_NE(metrics.render().find("insightd_archive_deleted_batches_total 5"), std::string::npos);

  // Without delete_after nothing is deleted, however old.
  analyzed("k", 10, 10);
  ArchiverOptions keep;
  keep.after = 30 * 24h;
  Archiver keeper(store(), clock, keep);
  clock.advance(1000 * 24h);
  ASSERT_TRUE(keeper.run_once().is_ok());
  clock.advance(1000 * 24h);
  pass = keeper.run_once();
  ASSERT_TRUE(pass.is_ok());
  EXPECT_EQ(pass->deleted_batches, 0);
}

TEST_F(ArchiverTest, YoungerBatchesStay) {
  analyzed("y", 20, 10);
  ManualClock clock(kT0 + 29 * 24h);
  ArchiverOptions options;
  options.after = 30 * 24h;
  Archiver archiver(store(), clock, options);
  auto pass = archiver.run_once();
  ASSERT_TRUE(pass.is_ok());
  EXPECT_EQ(pass->batches, 0);
  EXPECT_EQ(hot_events(), 20);
  clock.advance(48h);
  pass = archiver.run_once();
  ASSERT_TRUE(pass.is_ok());
  EXPECT_EQ(pass->batches, 2);
  EXPECT_EQ(hot_events(), 0);
}

TEST_F(ArchiverTest, OneNodeArchivesAtATime) {
  analyzed("n", 40, 10);
  ManualClock clock(kT0 + 31 * 24h);
  ArchiverOptions options;
  options.after = 30 * 24h;
  options.owner = "node-b";
  Archiver b(store(), clock, options);
  // Another node is in the middle of a pass: it holds the lease.
  const Timestamp now = clock.now();
  ASSERT_TRUE(*store().outbox().take_lease("archiver", "node-a", now, now + 30s));
  auto by_b = b.run_once();
  ASSERT_TRUE(by_b.is_ok());
  EXPECT_TRUE(by_b->lease_held_elsewhere);
  EXPECT_EQ(by_b->batches, 0);
  EXPECT_EQ(hot_events(), 40);
  // Its pass ends (the lease given back): this one goes, and gives it back too.
  ASSERT_TRUE(store().outbox().release_lease("archiver", "node-a").is_ok());
  by_b = b.run_once();
  ASSERT_TRUE(by_b.is_ok());
  EXPECT_FALSE(by_b->lease_held_elsewhere);
  EXPECT_EQ(by_b->batches, 4);
  EXPECT_TRUE(*store().outbox().take_lease("archiver", "node-a", now, now + 30s));
}

}  // namespace
}  // namespace insightd::lifecycle
