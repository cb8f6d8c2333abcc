#include "pipeline/batch_sealer.h"

#include <gtest/gtest.h>

#include <future>

#include "core/clock.h"
#include "store/testing/test_database.h"

namespace insightd::pipeline {
namespace {

using namespace std::chrono_literals;

TEST(BatchSealer, SealsAnOpenBatchOnceItsFirstEventIsOldEnough) {
  auto db = store::testing::TestDatabase::create();
  ASSERT_NE(db, nullptr);
  ManualClock clock(*parse_rfc3339("2026-11-29T10:00:00Z"));
  std::vector<std::string> told;
  BatchSealer sealer(db->store().batches(), clock, 10min, {100, 5}, 1s,
                     [&](const std::vector<store::SealedBatch>& b) {
                       for (const auto& s : b) told.push_back(s.batch_id);
                     });
  EXPECT_TRUE(sealer.tick().empty());  // no batch at all
  NewEvent e;
  e.event_id = "e1";
  e.event_type = "page_view";
  e.timestamp = e.received_at = clock.now();
  auto appended = db->store().events().append(std::span(&e, 1), {100, 5}, clock.now());
  ASSERT_TRUE(appended.is_ok());
  clock.advance(10min - 1ms);
  EXPECT_TRUE(sealer.tick().empty());
  clock.advance(1ms);
  auto sealed = sealer.tick();
  ASSERT_EQ(sealed.size(), 1u);
  EXPECT_EQ(sealed[0].reason, SealReason::kAge);
  EXPECT_EQ(sealed[0].batch_id, appended->results[0].batch_id);
  EXPECT_EQ(told, std::vector<std::string>{sealed[0].batch_id});
  EXPECT_TRUE(sealer.tick().empty());
}

TEST(BatchSealer, TheThreadChecksOncePerPeriodOfItsClock) {
  auto db = store::testing::TestDatabase::create();
  ASSERT_NE(db, nullptr);
  const Timestamp start = *parse_rfc3339("2026-11-29T10:00:00Z");
  ManualClock clock(start);
  std::promise<void> sealed;
  BatchSealer sealer(db->store().batches(), clock, 2500ms, {100, 5}, 1s,
                     [&](const std::vector<store::SealedBatch>&) { sealed.set_value(); });
  NewEvent e;
  e.event_id = "e1";
  e.event_type = "page_view";
  e.timestamp = e.received_at = start;
  ASSERT_TRUE(db->store().events().append(std::span(&e, 1), {100, 5}, start).is_ok());
  auto told = sealed.get_future();
  sealer.start();
  // Checks at 0 s (at once), 1 s and 2 s find the batch too young; each check
  // ends before the thread waits again.
  for (int second = 0; second < 3; ++second) {
    ASSERT_TRUE(clock.wait_for_waiters(1)) << "the check at " << second << " s";
    EXPECT_NE(told.wait_for(0s), std::future_status::ready) << "sealed at " << second << " s";
    clock.advance(1s);
  }
  // The check at 3 s seals it.
  EXPECT_EQ(told.wait_for(10s), std::future_status::ready);
  sealer.stop();
}

}  // namespace
}  // namespace insightd::pipeline
