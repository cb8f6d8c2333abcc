#include "auth/login_rate_limiter.h"

#include <gtest/gtest.h>

namespace insightd::auth {
namespace {

using std::chrono::minutes;

constexpr Timestamp kT0 = from_unix_ms(1'800'000'000'000);

TEST(LoginRateLimiter, FiveFailuresBlockTheNextAttemptForTheWindow) {
  FakeClock clock(kT0);
  LoginRateLimiter limiter(clock);
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(limiter.start_attempt("10.0.0.1").has_value()) << "attempt " << i + 1;
  }
  auto wait = limiter.start_attempt("10.0.0.1");
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, minutes(15));
  clock.advance(minutes(10));
  ASSERT_TRUE(limiter.retry_after("10.0.0.1").has_value());
  EXPECT_EQ(*limiter.retry_after("10.0.0.1"), minutes(5));
  EXPECT_TRUE(limiter.start_attempt("10.0.0.1").has_value()) << "refused attempts are not counted";
  clock.advance(minutes(5));
  EXPECT_FALSE(limiter.retry_after("10.0.0.1").has_value());
  EXPECT_FALSE(limiter.start_attempt("10.0.0.1").has_value());
}

TEST(LoginRateLimiter, TheWindowSlides) {
  FakeClock clock(kT0);
  LoginRateLimiter limiter(clock);
  for (int i = 0; i < 5; ++i) {
    ASSERT_FALSE(limiter.start_attempt("c").has_value());
    clock.advance(minutes(1));
  }
  // Failures at 0, 1, 2, 3, 4 min; now 5 min: blocked until the first leaves (15 min).
  EXPECT_EQ(limiter.retry_after("c").value_or(Millis(0)), minutes(10));
  clock.set(kT0 + minutes(15));
  // One failure left the window: exactly one more attempt.
  EXPECT_FALSE(limiter.start_attempt("c").has_value());
  EXPECT_EQ(limiter.retry_after("c").value_or(Millis(0)), minutes(1));
}

TEST(LoginRateLimiter, SuccessForgetsTheFailures) {
  FakeClock clock(kT0);
  LoginRateLimiter limiter(clock);
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(limiter.start_attempt("c").has_value());
  ASSERT_FALSE(limiter.start_attempt("c").has_value());
  limiter.record_success("c");
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.start_attempt("c").has_value());
  EXPECT_TRUE(limiter.start_attempt("c").has_value());
}

TEST(LoginRateLimiter, ClientsAreCountedApart) {
  FakeClock clock(kT0);
  LoginRateLimiter limiter(clock);
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(limiter.start_attempt("a").has_value());
  EXPECT_TRUE(limiter.start_attempt("a").has_value());
  EXPECT_FALSE(limiter.start_attempt("b").has_value());
}

TEST(LoginRateLimiter, WhenFullClientsWithExpiredFailuresMakeRoomFirst) {
  FakeClock clock(kT0);
  LoginRateLimiter limiter(
      clock, LoginRateLimit{.max_failures = 2, .window = minutes(15), .max_clients = 3});
  for (const char* c : {"old1", "old2"}) ASSERT_FALSE(limiter.start_attempt(c).has_value());
  clock.advance(minutes(20));
  for (int i = 0; i < 2; ++i) ASSERT_FALSE(limiter.start_attempt("blocked").has_value());
  // Full (old1, old2, blocked): the two expired clients go, "blocked" stays.
  for (const char* c : {"new1", "new2"}) ASSERT_FALSE(limiter.start_attempt(c).has_value());
  EXPECT_TRUE(limiter.retry_after("blocked").has_value());
  ASSERT_FALSE(limiter.start_attempt("new1").has_value());
  EXPECT_TRUE(limiter.retry_after("new1").has_value());
  // Full of live clients: one is forgotten rather than the map growing.
  for (int i = 0; i < 100; ++i) (void)limiter.start_attempt("flood" + std::to_string(i));
}

TEST(LoginRateLimiter, RetryAfterSecondsRoundsUp) {
  EXPECT_EQ(retry_after_seconds(Millis(0)), 1);
  EXPECT_EQ(retry_after_seconds(Millis(1)), 1);
  EXPECT_EQ(retry_after_seconds(Millis(1000)), 1);
  EXPECT_EQ(retry_after_seconds(Millis(1001)), 2);
  EXPECT_EQ(retry_after_seconds(minutes(15)), 900);
}

}  // namespace
}  // namespace insightd::auth
