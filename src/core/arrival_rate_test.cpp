#include "core/arrival_rate.h"

#include <gtest/gtest.h>

namespace insightd {
namespace {

using namespace std::chrono_literals;
using Clock = ArrivalRate::Clock;

TEST(ArrivalRate, IsZeroUntilAWholeWindowHasPassed) {
  ArrivalRate rate(20ms);
  const Clock::time_point t0 = Clock::now();
  rate.add(0, t0);
  rate.add(500, t0 + 5ms);
  rate.add(500, t0 + 19ms);
  EXPECT_EQ(rate.rate(), 0);
  rate.add(0, t0 + 20ms);
  EXPECT_DOUBLE_EQ(rate.rate(), 1000 / 0.020);  // 50,000 a second
}

TEST(ArrivalRate, EachWindowReplacesTheLastMeasure) {
  ArrivalRate rate(10ms);
  const Clock::time_point t0 = Clock::now();
  rate.add(0, t0);
  rate.add(100, t0 + 10ms);
  EXPECT_DOUBLE_EQ(rate.rate(), 10'000);
  rate.add(1, t0 + 20ms);  // a quiet window
  EXPECT_DOUBLE_EQ(rate.rate(), 100);
}

TEST(ArrivalRate, ALongSilenceCountsAsOneLongQuietWindow) {
  ArrivalRate rate(20ms);
  const Clock::time_point t0 = Clock::now();
  rate.add(0, t0);
  rate.add(2'000, t0 + 20ms);
  EXPECT_DOUBLE_EQ(rate.rate(), 100'000);
  rate.add(1, t0 + 20ms + 1h);  // the first arrival after an hour
  EXPECT_LT(rate.rate(), 1);
}

}  // namespace
}  // namespace insightd
