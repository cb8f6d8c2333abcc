#include "pipeline/retry_policy.h"

#include <gtest/gtest.h>

namespace insightd::pipeline {
namespace {

using namespace std::chrono_literals;

TEST(RetryPolicy, BacksOffExponentiallyWithJitterUpToTheCap) {
  const RetryPolicy p{1s, 30s};
  // Without jitter (random 0) the pause is half the exponential delay; with
  // full jitter (random 1) all of it.
  EXPECT_EQ(retry_pause(p, 1, std::nullopt, 0.0), 500ms);
  EXPECT_EQ(retry_pause(p, 1, std::nullopt, 1.0), 1s);
  EXPECT_EQ(retry_pause(p, 3, std::nullopt, 1.0), 4s);
  EXPECT_EQ(retry_pause(p, 4, std::nullopt, 0.5), 6s);
  EXPECT_EQ(retry_pause(p, 30, std::nullopt, 1.0), 30s);
  EXPECT_EQ(retry_pause(p, 0, std::nullopt, 1.0), 1s) << "attempt below 1 counts as 1";
}

TEST(RetryPolicy, HonoursRetryAfterButNeverBeyondTheCap) {
  const RetryPolicy p{1s, 30s};
  EXPECT_EQ(retry_pause(p, 1, 7s, 1.0), 7s);
  EXPECT_EQ(retry_pause(p, 5, 7s, 1.0), 16s) << "backoff already longer";
  EXPECT_EQ(retry_pause(p, 1, std::chrono::hours(48), 1.0), 30s);
  EXPECT_EQ(retry_pause(p, 1, -5s, 1.0), 1s);
}

}  // namespace
}  // namespace insightd::pipeline
