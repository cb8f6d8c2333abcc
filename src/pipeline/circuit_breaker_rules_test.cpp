// The breaker's rules as pure functions of the stored record and the time: no
// database, no sleeping through cooldowns.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/testing/builders.h"
#include "pipeline/breaker_rules.h"

namespace insightd::pipeline {
namespace {

using namespace std::chrono_literals;

using insightd::testing::kT0;

BreakerPolicy policy() {
  return BreakerPolicy{
      .failure_threshold = 3, .cooldown = 60s, .probe_timeout = 20s, .probe_recheck = 5s};
}

BreakerRecord closed() {
  BreakerRecord r;
  r.name = "analyzer";
  r.changed_at = kT0;
  r.version = 7;
  return r;
}

// Applies a rule's result as the store would (the CAS bumps the version).
BreakerRecord write(const std::optional<BreakerRecord>& next) {
  EXPECT_TRUE(next.has_value());
  BreakerRecord r = next.value_or(BreakerRecord{});
  ++r.version;
  return r;
}

TEST(BreakerRules, ClosedCountsConsecutiveFailuresAndOpensAtTheThreshold) {
  BreakerRecord r = closed();
  EXPECT_EQ(decide_admission(r, policy(), "a", kT0).admission, Admission::kAllowed);
  r = write(after_failure(r, policy(), "a", kT0));
  r = write(after_failure(r, policy(), "b", kT0 + 1s));
  EXPECT_EQ(r.state, BreakerState::kClosed);
  EXPECT_EQ(r.failure_count, 2);
  // A success breaks the streak.
  r = write(after_success(r, "c", kT0 + 2s));
  EXPECT_EQ(r.failure_count, 0);
  EXPECT_FALSE(after_success(r, "d", kT0 + 3s).has_value()) << "nothing to write";
  for (int i = 0; i < 2; ++i) r = write(after_failure(r, policy(), "e", kT0 + 4s));
  EXPECT_EQ(r.state, BreakerState::kClosed);
  r = write(after_failure(r, policy(), "f", kT0 + 5s));
  EXPECT_EQ(r.state, BreakerState::kOpen);
  EXPECT_EQ(r.failure_count, 3);
  EXPECT_EQ(r.changed_at, kT0 + 5s);
  EXPECT_EQ(r.open_until, kT0 + 65s);
}

TEST(BreakerRules, OpenRejectsUntilTheCooldownEndsThenLetsExactlyOneProbeThrough) {
  BreakerRecord r = closed();
  for (int i = 0; i < 3; ++i) r = write(after_failure(r, policy(), "x", kT0));
  const auto during = decide_admission(r, policy(), "a", kT0 + 59'999ms);
  EXPECT_EQ(during.admission, Admission::kRejected);
  EXPECT_EQ(during.retry_at, kT0 + 60s) << "rescheduled to the end of the cooldown";
  EXPECT_FALSE(during.next.has_value());

  const auto first = decide_admission(r, policy(), "probe-1", kT0 + 60s);
  EXPECT_EQ(first.admission, Admission::kProbe);
  r = write(first.next);
  EXPECT_EQ(r.state, BreakerState::kHalfOpen);
  EXPECT_EQ(r.probe_owner, "probe-1");
  EXPECT_EQ(r.probe_expires_at, kT0 + 80s);
  EXPECT_EQ(r.changed_at, kT0 + 60s);

  const auto second = decide_admission(r, policy(), "other", kT0 + 61s);
  EXPECT_EQ(second.admission, Admission::kRejected);
  EXPECT_EQ(second.retry_at, kT0 + 66s) << "rechecks soon, before the probe would time out";
  EXPECT_EQ(decide_admission(r, policy(), "other", kT0 + 78s).retry_at, kT0 + 80s);
  // The probe asking again is still the probe (no second call slips through).
  EXPECT_EQ(decide_admission(r, policy(), "probe-1", kT0 + 61s).admission, Admission::kProbe);
}

TEST(BreakerRules, TheProbesSuccessClosesAndItsFailureReopens) {
  BreakerRecord r = closed();
  for (int i = 0; i < 3; ++i) r = write(after_failure(r, policy(), "x", kT0));
  const BreakerRecord half = write(decide_admission(r, policy(), "p", kT0 + 60s).next);

  const BreakerRecord ok = write(after_success(half, "p", kT0 + 62s));
  EXPECT_EQ(ok.state, BreakerState::kClosed);
  EXPECT_EQ(ok.failure_count, 0);
  EXPECT_EQ(ok.changed_at, kT0 + 62s);
  EXPECT_FALSE(ok.open_until || ok.probe_owner || ok.probe_expires_at);

  const BreakerRecord bad = write(after_failure(half, policy(), "p", kT0 + 62s));
  EXPECT_EQ(bad.state, BreakerState::kOpen);
  EXPECT_EQ(bad.failure_count, 4);
  EXPECT_EQ(bad.open_until, kT0 + 122s);
  EXPECT_FALSE(bad.probe_owner.has_value());
}

TEST(BreakerRules, ResultsOfCallsThatAreNotTheProbeNeverMoveTheBreaker) {
  BreakerRecord r = closed();
  for (int i = 0; i < 3; ++i) r = write(after_failure(r, policy(), "x", kT0));
  // Calls admitted before it opened report late: ignored while OPEN ...
  EXPECT_FALSE(after_failure(r, policy(), "late", kT0 + 1s).has_value());
  EXPECT_FALSE(after_success(r, "late", kT0 + 1s).has_value());
  // ... and while HALF_OPEN, where only the probe decides.
  const BreakerRecord half = write(decide_admission(r, policy(), "p", kT0 + 60s).next);
  EXPECT_FALSE(after_success(half, "late", kT0 + 61s).has_value());
  EXPECT_FALSE(after_failure(half, policy(), "late", kT0 + 61s).has_value());
}

TEST(BreakerRules, AHungProbeTimesOutAndTheNextCallerProbesInstead) {
  BreakerRecord r = closed();
  for (int i = 0; i < 3; ++i) r = write(after_failure(r, policy(), "x", kT0));
  const BreakerRecord half = write(decide_admission(r, policy(), "hung", kT0 + 60s).next);
  EXPECT_EQ(decide_admission(half, policy(), "next", kT0 + 79'999ms).admission,
            Admission::kRejected);
  const auto takeover = decide_admission(half, policy(), "next", kT0 + 80s);
  EXPECT_EQ(takeover.admission, Admission::kProbe);
  const BreakerRecord taken = write(takeover.next);
  EXPECT_EQ(taken.state, BreakerState::kHalfOpen);
  EXPECT_EQ(taken.probe_owner, "next");
  EXPECT_EQ(taken.changed_at, kT0 + 60s) << "still the same HALF_OPEN period";
  // The hung call finally answers: too late to decide anything.
  EXPECT_FALSE(after_success(taken, "hung", kT0 + 90s).has_value());
  EXPECT_EQ(write(after_success(taken, "next", kT0 + 90s)).state, BreakerState::kClosed);
}

TEST(BreakerRules, AnOpenRecordWithoutAnEndCoolsDownFromItsChange) {
  BreakerRecord r = closed();
  r.state = BreakerState::kOpen;
  r.changed_at = kT0;
  EXPECT_EQ(decide_admission(r, policy(), "a", kT0 + 59s).retry_at, kT0 + 60s);
  EXPECT_EQ(decide_admission(r, policy(), "a", kT0 + 60s).admission, Admission::kProbe);
}

TEST(BreakerRules, TheOutboxPayloadNamesBothStatesAndTheTime) {
  BreakerRecord r = closed();
  for (int i = 0; i < 2; ++i) r = write(after_failure(r, policy(), "x", kT0));
  const BreakerRecord open = write(after_failure(r, policy(), "x", kT0 + 1s));
  const auto payload = boost::json::parse(state_change_payload(r, open)).as_object();
  EXPECT_EQ(payload.at("breaker"), "analyzer");
  EXPECT_EQ(payload.at("from"), "CLOSED");
  EXPECT_EQ(payload.at("to"), "OPEN");
  EXPECT_EQ(payload.at("failure_count"), 3);
  EXPECT_EQ(payload.at("changed_at"), "2026-11-29T10:00:01.000Z");
  EXPECT_EQ(payload.at("open_until"), "2026-11-29T10:01:01.000Z");
}

}  // namespace
}  // namespace insightd::pipeline
