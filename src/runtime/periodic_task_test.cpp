#include "runtime/periodic_task.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>

#include "core/testing/builders.h"

namespace insightd::runtime {
namespace {

using namespace std::chrono_literals;

using insightd::testing::kT0;

// Counts runs; a test waits for a count instead of sleeping.
class Runs {
 public:
  void add() {
    {
      std::lock_guard lock(mu_);
      ++n_;
    }
    cv_.notify_all();
  }
  // Waits (at most 10 s of real time: a hung test's safety net) until `n` runs happened.
  bool reach(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return n_ >= n; });
  }
  int count() {
    std::lock_guard lock(mu_);
    return n_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

TEST(PeriodicTask, RunsAtOnceThenOncePerPeriodOfItsClock) {
  ManualClock clock(kT0);
  Runs runs;
  PeriodicTask task(
      1s, [&] { runs.add(); }, clock);
  task.start();
  ASSERT_TRUE(runs.reach(1));
  ASSERT_TRUE(clock.wait_for_waiters(1));
  clock.advance(1s - 1ms);
  EXPECT_EQ(clock.waiters(), 1u) << "the period has not passed";
  EXPECT_EQ(runs.count(), 1);
  clock.advance(1ms);
  ASSERT_TRUE(runs.reach(2));
  ASSERT_TRUE(clock.wait_for_waiters(1));
  clock.advance(1s);
  ASSERT_TRUE(runs.reach(3));
  ASSERT_TRUE(clock.wait_for_waiters(1));
  EXPECT_EQ(runs.count(), 3);
  task.stop();
}

TEST(PeriodicTask, StopEndsTheWaitWithoutWaitingOutThePeriod) {
  ManualClock clock(kT0);
  Runs runs;
  PeriodicTask task(
      1h, [&] { runs.add(); }, clock);
  task.start();
  task.start();  // already running: nothing
  ASSERT_TRUE(runs.reach(1));
  ASSERT_TRUE(clock.wait_for_waiters(1));
  task.stop();  // returns although the clock never moves
  task.stop();
  EXPECT_EQ(clock.waiters(), 0u);
  EXPECT_EQ(runs.count(), 1);
  EXPECT_EQ(clock.now(), kT0);
}

TEST(PeriodicTask, ARunThatThrowsIsTriedAgainNextPeriod) {
  ManualClock clock(kT0);
  Runs runs;
  PeriodicTask task(
      5s,
      [&] {
        runs.add();
        if (runs.count() == 1) throw std::runtime_error("database gone");
      },
      clock);
  task.start();
  ASSERT_TRUE(runs.reach(1));
  ASSERT_TRUE(clock.wait_for_waiters(1)) << "the thread outlived the exception";
  clock.advance(5s);
  ASSERT_TRUE(runs.reach(2));
}

TEST(PeriodicTask, StartsAgainAfterAStopWithARunAtOnce) {
  ManualClock clock(kT0);
  Runs runs;
  PeriodicTask task(
      1min, [&] { runs.add(); }, clock);
  task.start();
  ASSERT_TRUE(runs.reach(1));
  task.stop();
  task.start();
  ASSERT_TRUE(runs.reach(2));
  task.stop();
}

}  // namespace
}  // namespace insightd::runtime
