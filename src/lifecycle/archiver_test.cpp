// The archiver on both databases: passes in small steps until nothing is left,
// one node at a time, a dry run that changes nothing.
#include "lifecycle/archiver.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
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
  void analyzed(const std::string& prefix, int n, int64_t per_batch) {
    auto out = store().events().append(insightd::testing::events(prefix, n), {per_batch, 5}, kT0);
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
