#include "obs/log_throttle.h"

#include <gtest/gtest.h>

namespace insightd::obs {
namespace {

using std::chrono::milliseconds;

TEST(LogThrottleTest, LogsTheFirstThenOncePerPeriodWithTheCountLeftOut) {
  LogThrottle throttle(milliseconds(10'000));
  const auto t0 = LogThrottle::Clock::time_point{} + std::chrono::hours(1);
  ASSERT_EQ(throttle.admit(t0), std::optional<uint64_t>(0));
  for (int i = 1; i <= 999; ++i) EXPECT_FALSE(throttle.admit(t0 + milliseconds(i)));
  const auto next = throttle.admit(t0 + milliseconds(10'000));
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, 999u);
  EXPECT_EQ(throttle.suffix(*next), " (999 more like it in the last 10 s)");
  EXPECT_EQ(throttle.suffix(0), "");
  EXPECT_FALSE(throttle.admit(t0 + milliseconds(10'001)));
}

}  // namespace
}  // namespace insightd::obs
