#include "core/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "core/testing/builders.h"

namespace insightd {
namespace {

using namespace std::chrono_literals;

using insightd::testing::kT0;

// A thread that waits on a ManualClock for `timeout` (or without a deadline)
// until `ready` is set, and keeps what the wait returned.
class Sleeper {
 public:
  Sleeper(const ManualClock& clock, std::optional<Millis> timeout) {
    thread_ = std::thread([this, &clock, timeout] {
      std::unique_lock lock(mu_);
      bool got = true;
      if (timeout) {
        got = clock.wait_for(lock, cv_, *timeout, [this] { return ready_; });
      } else {
        clock.wait(lock, cv_, [this] { return ready_; });
      }
      result_ = got;
      returned_ = true;
    });
  }
  ~Sleeper() { join(); }

  void set_ready() {
    {
      std::lock_guard lock(mu_);
      ready_ = true;
    }
    cv_.notify_all();
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  bool returned() const { return returned_.load(); }
  std::optional<bool> result() {
    join();
    return result_;
  }

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  bool ready_ = false;
  std::atomic<bool> returned_{false};
  std::optional<bool> result_;
  std::thread thread_;
};

TEST(ManualClock, BothTimesMoveTogetherAndOnlyForward) {
  ManualClock clock(kT0);
  const auto steady0 = clock.steady_now();
  EXPECT_EQ(clock.now(), kT0);
  clock.advance(1500ms);
  EXPECT_EQ(clock.now(), kT0 + 1500ms);
  EXPECT_EQ(clock.steady_now() - steady0, 1500ms);
  clock.advance(-1s);
  EXPECT_EQ(clock.now(), kT0 + 1500ms);
  clock.advance_to(kT0 + 1min);
  EXPECT_EQ(clock.now(), kT0 + 1min);
  EXPECT_EQ(clock.steady_now() - steady0, 1min);
  clock.advance_to(kT0);  // the past: nothing
  EXPECT_EQ(clock.now(), kT0 + 1min);
  clock.advance(250us);  // steady time is finer than stored time
  EXPECT_EQ(clock.now(), kT0 + 1min);
  EXPECT_EQ(clock.steady_now() - steady0, 1min + 250us);
}

TEST(ManualClock, AWaitEndsWhenTimeReachesItsDeadlineAndNotBefore) {
  ManualClock clock(kT0);
  Sleeper sleeper(clock, 10s);
  ASSERT_TRUE(clock.wait_for_waiters(1));
  clock.advance(10s - 1ms);
  EXPECT_EQ(clock.waiters(), 1u) << "its deadline is still ahead";
  EXPECT_FALSE(sleeper.returned());
  clock.advance(1ms);
  EXPECT_EQ(sleeper.result(), false) << "timed out: its condition never held";
  EXPECT_EQ(clock.waiters(), 0u);
}

TEST(ManualClock, ANotifyWithItsConditionTrueEndsAWaitWithoutTimeMoving) {
  ManualClock clock(kT0);
  Sleeper sleeper(clock, 1h);
  ASSERT_TRUE(clock.wait_for_waiters(1));
  sleeper.set_ready();
  EXPECT_EQ(sleeper.result(), true);
  EXPECT_EQ(clock.now(), kT0);
}

TEST(ManualClock, AdvanceWakesOnlyTheWaitsThatFallDue) {
  ManualClock clock(kT0);
  Sleeper soon(clock, 1s);
  Sleeper later(clock, 5s);
  Sleeper never(clock, std::nullopt);
  ASSERT_TRUE(clock.wait_for_waiters(3));
  clock.advance(2s);
  EXPECT_EQ(soon.result(), false);
  EXPECT_EQ(clock.waiters(), 2u);
  EXPECT_FALSE(later.returned());
  clock.advance(3s);
  EXPECT_EQ(later.result(), false);
  clock.advance(24h);
  EXPECT_EQ(clock.waiters(), 1u) << "a wait without a deadline outlasts any advance";
  EXPECT_FALSE(never.returned());
  never.set_ready();
  EXPECT_EQ(never.result(), true);
}

TEST(ManualClock, ATestCanWaitForTheWaitWithAGivenDeadline) {
  ManualClock clock(kT0);
  const auto in_a_minute = clock.steady_now() + 1min;
  Sleeper other(clock, 5s);
  ASSERT_TRUE(clock.wait_for_waiters(1));
  EXPECT_FALSE(clock.wait_for_deadline(in_a_minute, 1ms));
  Sleeper sleeper(clock, 1min);
  ASSERT_TRUE(clock.wait_for_deadline(in_a_minute));
  clock.advance(1min);
  EXPECT_EQ(sleeper.result(), false);
  EXPECT_EQ(other.result(), false);
}

TEST(ManualClock, AWaitWhoseDeadlineHasPassedReturnsAtOnce) {
  ManualClock clock(kT0);
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  EXPECT_FALSE(clock.wait_for(lock, cv, 0ms, [] { return false; }));
  EXPECT_FALSE(clock.wait_until(lock, cv, clock.steady_now() - 1s, [] { return false; }));
  EXPECT_TRUE(clock.wait_for(lock, cv, 1h, [] { return true; }));
  EXPECT_EQ(clock.waiters(), 0u);
}

TEST(ManualClock, WaitForWaitersGivesUpAfterItsTimeout) {
  ManualClock clock(kT0);
  EXPECT_FALSE(clock.wait_for_waiters(1, 1ms));
}

TEST(WaitClock, ADeadlinePastTheEndOfTimeMeansNone) {
  ManualClock clock(kT0);
  EXPECT_EQ(clock.deadline_in(Millis::max()), WaitClock::SteadyTime::max());
  EXPECT_EQ(RealClock::instance().deadline_in(std::chrono::hours::max()),
            WaitClock::SteadyTime::max());
  EXPECT_EQ(clock.deadline_in(5s), clock.steady_now() + 5s);
}

TEST(RealClock, ReadsTheSystemTimeAndEndsWaitsByConditionOrDeadline) {
  const RealClock& clock = RealClock::instance();
  const Timestamp before = SystemClock::instance().now();
  const Timestamp now = clock.now();
  EXPECT_GE(now, before);
  EXPECT_LE(now, SystemClock::instance().now());

  std::mutex mu;
  std::condition_variable_any cv;
  bool ready = false;
  std::unique_lock lock(mu);
  EXPECT_FALSE(clock.wait_until(lock, cv, clock.steady_now(), [&] { return ready; }));
  std::thread notifier([&] {
    {
      std::lock_guard l(mu);
      ready = true;
    }
    cv.notify_all();
  });
  clock.wait(lock, cv, [&] { return ready; });
  EXPECT_TRUE(ready);
  lock.unlock();
  notifier.join();
}

}  // namespace
}  // namespace insightd
