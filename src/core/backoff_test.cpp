#include "core/backoff.h"

#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <limits>

namespace insightd {
namespace {

constexpr Millis kBase{1000};
constexpr Millis kCap{600'000};
constexpr double kAlmostOne = 0.9999999999999999;  // the largest double below 1

TEST(RetryDelay, FirstFailureWaitsBetweenHalfTheBaseAndTheBase) {
  EXPECT_EQ(retry_delay(1, kBase, kCap, 0.0), Millis(500));
  EXPECT_EQ(retry_delay(1, kBase, kCap, 0.5), Millis(750));
  EXPECT_EQ(retry_delay(1, kBase, kCap, kAlmostOne), Millis(999));
}

TEST(RetryDelay, DoublesWithEachFailure) {
  // With random 0 the delay is exactly half of base * 2^(attempt-1).
  int64_t expected_floor = 500;
  for (int attempt = 1; attempt <= 9; ++attempt) {
    EXPECT_EQ(retry_delay(attempt, kBase, kCap, 0.0), Millis(expected_floor)) << attempt;
    EXPECT_EQ(retry_delay(attempt, kBase, kCap, kAlmostOne), Millis(2 * expected_floor - 1))
        << attempt;
    expected_floor *= 2;
  }
}

TEST(RetryDelay, StopsAtTheCap) {
  // 1000 * 2^9 = 512000 is under the cap; 2^10 would pass it.
  EXPECT_EQ(retry_delay(10, kBase, kCap, 0.0), Millis(256'000));
  EXPECT_EQ(retry_delay(11, kBase, kCap, 0.0), Millis(300'000));
  EXPECT_EQ(retry_delay(11, kBase, kCap, kAlmostOne), Millis(599'999));
  for (const int attempt : {11, 12, 20, 62, 63, 64, 65, 100, 1000, INT_MAX}) {
    const Millis d = retry_delay(attempt, kBase, kCap, 0.25);
    EXPECT_EQ(d, Millis(375'000)) << attempt;
  }
}

TEST(RetryDelay, NeverExceedsTheCapOrGoesNegative) {
  for (int attempt = -3; attempt <= 1000; ++attempt) {
    for (const double r : {0.0, 0.1, 0.5, 0.9, kAlmostOne}) {
      const Millis d = retry_delay(attempt, kBase, kCap, r);
      EXPECT_GE(d, Millis(0));
      EXPECT_LE(d, kCap);
    }
  }
}

TEST(RetryDelay, GrowsWithTheAttemptForAFixedRandom) {
  for (const double r : {0.0, 0.3, kAlmostOne}) {
    Millis previous{0};
    for (int attempt = 1; attempt <= 1000; ++attempt) {
      const Millis d = retry_delay(attempt, Millis(7), Millis(1'000'003), r);
      EXPECT_GE(d, previous) << attempt;
      previous = d;
    }
  }
}

TEST(RetryDelay, HugeCapDoesNotOverflow) {
  constexpr Millis kHuge{std::numeric_limits<int64_t>::max()};
  for (const int attempt : {1, 2, 62, 63, 64, 65, 500, 1000, INT_MAX}) {
    for (const double r : {0.0, 0.5, kAlmostOne, 1.0}) {
      const Millis d = retry_delay(attempt, kBase, kHuge, r);
      EXPECT_GT(d, Millis(0)) << attempt;
      EXPECT_LE(d, kHuge) << attempt;
    }
  }
  // Once capped, the delay is at least half the cap.
  EXPECT_GE(retry_delay(1000, kBase, kHuge, 0.0), Millis(kHuge.count() / 2));
  EXPECT_GE(retry_delay(1000, Millis(1), kHuge, 0.0), Millis(kHuge.count() / 2));
  EXPECT_EQ(retry_delay(1, kHuge, kHuge, 0.0), Millis(kHuge.count() - kHuge.count() / 2));
}

TEST(RetryDelay, AttemptsBelowOneCountAsTheFirst) {
  for (const int attempt : {0, -1, -1000, INT_MIN}) {
    EXPECT_EQ(retry_delay(attempt, kBase, kCap, 0.0), Millis(500)) << attempt;
  }
}

TEST(RetryDelay, ZeroOrNegativeInputsGiveNoDelay) {
  EXPECT_EQ(retry_delay(5, Millis(0), kCap, 0.5), Millis(0));
  EXPECT_EQ(retry_delay(5, Millis(-1000), kCap, 0.5), Millis(0));
  EXPECT_EQ(retry_delay(5, kBase, Millis(0), 0.5), Millis(0));
  EXPECT_EQ(retry_delay(5, kBase, Millis(-5), 0.5), Millis(0));
  EXPECT_EQ(retry_delay(INT_MAX, Millis(0), kCap, 0.5), Millis(0));
}

TEST(RetryDelay, BaseAboveCapIsCapped) {
  EXPECT_EQ(retry_delay(1, Millis(10'000), Millis(4'000), 0.0), Millis(2'000));
  EXPECT_LE(retry_delay(1, Millis(10'000), Millis(4'000), kAlmostOne), Millis(4'000));
}

TEST(RetryDelay, TinyDelaysStayPositive) {
  // Half of 1 ms rounds up, so a 1 ms delay is never 0.
  EXPECT_EQ(retry_delay(1, Millis(1), kCap, 0.0), Millis(1));
  EXPECT_EQ(retry_delay(1, Millis(1), kCap, kAlmostOne), Millis(1));
  EXPECT_EQ(retry_delay(2, Millis(1), kCap, 0.0), Millis(1));
  EXPECT_EQ(retry_delay(2, Millis(1), kCap, kAlmostOne), Millis(1));
  EXPECT_EQ(retry_delay(3, Millis(1), kCap, 0.0), Millis(2));
  // An odd cap: d = 7, half = 3, so [4, 7].
  EXPECT_EQ(retry_delay(10, Millis(1), Millis(7), 0.0), Millis(4));
  EXPECT_EQ(retry_delay(10, Millis(1), Millis(7), 1.0), Millis(7));
}

TEST(RetryDelay, RandomOutsideTheUnitIntervalIsClamped) {
  EXPECT_EQ(retry_delay(1, kBase, kCap, -0.5), Millis(500));
  EXPECT_EQ(retry_delay(1, kBase, kCap, -std::numeric_limits<double>::infinity()), Millis(500));
  EXPECT_EQ(retry_delay(1, kBase, kCap, std::numeric_limits<double>::quiet_NaN()), Millis(500));
  EXPECT_EQ(retry_delay(1, kBase, kCap, 1.0), Millis(1000));
  EXPECT_EQ(retry_delay(1, kBase, kCap, 7.0), Millis(1000));
  EXPECT_EQ(retry_delay(1, kBase, kCap, std::numeric_limits<double>::infinity()), Millis(1000));
}

TEST(RetryDelay, JitterSpreadsRetriesAcrossTheUpperHalf) {
  // The same attempt with different randoms lands at different times.
  const Millis low = retry_delay(4, kBase, kCap, 0.1);
  const Millis mid = retry_delay(4, kBase, kCap, 0.5);
  const Millis high = retry_delay(4, kBase, kCap, 0.9);
  EXPECT_LT(low, mid);
  EXPECT_LT(mid, high);
  EXPECT_EQ(mid, Millis(6'000));  // 8000 / 2 + 0.5 * 4000
}

}  // namespace
}  // namespace insightd
