#include "net/rate_limiter.h"

#include <gtest/gtest.h>

#include <chrono>

namespace insightd::net {
namespace {

using namespace std::chrono_literals;

struct FakeTime {
  KeyedRateLimiter::TimePoint now{};
  KeyedRateLimiter::Now fn() {
    return [this] { return now; };
  }
};

TEST(KeyedRateLimiter, AdmitsABurstThenTheRatePerKey) {
  FakeTime t;
  KeyedRateLimiter limiter(10, 10, 100, t.fn());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(limiter.take("k"), std::nullopt) << i;
  const auto wait = limiter.take("k");
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, 100ms) << "one token at 10/s";
  EXPECT_EQ(limiter.take("other"), std::nullopt) << "each key has its own bucket";
  t.now += 100ms;
  EXPECT_EQ(limiter.take("k"), std::nullopt);
  EXPECT_TRUE(limiter.take("k").has_value());
}

TEST(KeyedRateLimiter, LetsABatchGoIntoDebtAndMakesTheNextWait) {
  FakeTime t;
  KeyedRateLimiter limiter(100, 100, 100, t.fn());
  EXPECT_EQ(limiter.take("k", 150), std::nullopt) << "a batch larger than the bucket goes through";
  const auto wait = limiter.take("k", 1);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, 510ms) << "the debt of 50 and one token, at 100/s";
  t.now += 600ms;
  EXPECT_EQ(limiter.take("k", 1), std::nullopt);
}

TEST(KeyedRateLimiter, ReportsAdmissionsAndPaysForTheOtherNodes) {
  FakeTime t;
  KeyedRateLimiter limiter(10, 10, 100, t.fn());
  EXPECT_EQ(limiter.take("k", 4), std::nullopt);
  auto admitted = limiter.take_admitted();
  ASSERT_EQ(admitted.size(), 1u);
  EXPECT_EQ(admitted[0], (std::pair<std::string, uint64_t>{"k", 4}));
  EXPECT_TRUE(limiter.take_admitted().empty());
  limiter.admitted_elsewhere("k", 6);
  EXPECT_TRUE(limiter.take("k").has_value()) << "4 here and 6 elsewhere spent the bucket";
  admitted = limiter.take_admitted();
  ASSERT_EQ(admitted.size(), 1u);
  EXPECT_EQ(admitted[0].second, 0u) << "refused, but still reported: it must hear of the others";
  limiter.admitted_elsewhere("k", 1'000'000);
  t.now += 2s;
  EXPECT_EQ(limiter.take("k"), std::nullopt) << "the debt is at most one burst";
  limiter.admitted_elsewhere("unknown", 5);  // a key never seen here: nothing to pay
  EXPECT_EQ(limiter.take("unknown", 10), std::nullopt);
}

TEST(KeyedRateLimiter, BoundsItsMemoryForgettingFullBucketsFirst) {
  FakeTime t;
  KeyedRateLimiter limiter(1, 1, 2, t.fn());
  EXPECT_EQ(limiter.take("a"), std::nullopt);
  EXPECT_EQ(limiter.take("b"), std::nullopt);
  EXPECT_TRUE(limiter.take("c").has_value()) << "full, and no bucket is full again yet";
  t.now += 2s;
  EXPECT_EQ(limiter.take("c"), std::nullopt) << "a and b refilled and were forgotten";
}

}  // namespace
}  // namespace insightd::net
