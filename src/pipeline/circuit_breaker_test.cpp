// The breaker over a real database, shared by several "processes" (independent
// stores on one database): concurrent decisions go through the version CAS, so
// failures are counted once each, the breaker opens once, and exactly one probe
// is let through however many callers ask at the same moment.
#include "pipeline/circuit_breaker.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <boost/json.hpp>
#include <thread>

#include "core/testing/builders.h"
#include "store/testing/test_database.h"

namespace insightd::pipeline {
namespace {

using namespace std::chrono_literals;
using store::testing::TestDatabase;

using insightd::testing::kT0;

class SharedBreakerTest : public ::testing::Test {
 protected:
  static constexpr int kProcesses = 4;

  void SetUp() override {
    db_ = TestDatabase::create();
    ASSERT_NE(db_, nullptr);
    for (int i = 0; i < kProcesses; ++i) {
      others_.push_back(db_->open_another());
      breakers_.push_back(std::make_unique<CircuitBreaker>(others_.back().store->breakers(),
                                                           "analyzer", policy_, clock_));
    }
  }

  int64_t outbox(std::string_view to) {
    auto conn = db_->pool().acquire();
    auto rows = (*conn)->query(
        "SELECT payload FROM \"KafkaOutbox\" WHERE topic = 'circuit.state_changed'", {});
    int64_t n = 0;
    for (const auto& r : *rows) {
      if (boost::json::parse(r.text(0)).at("to") == boost::json::value(to)) ++n;
    }
    return n;
  }

  // Runs `fn(process, thread)` on two threads per process, all released at once.
  void race(const std::function<void(int, int)>& fn) {
    std::barrier start(std::ptrdiff_t{kProcesses} * 2);
    std::vector<std::thread> threads;
    for (int p = 0; p < kProcesses; ++p) {
      for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, p, t] {
          start.arrive_and_wait();
          fn(p, t);
        });
      }
    }
    for (auto& t : threads) t.join();
  }

  FakeClock clock_{kT0};
  BreakerPolicy policy_{
      .failure_threshold = 5, .cooldown = 60s, .probe_timeout = 30s, .probe_recheck = 5s};
  std::unique_ptr<TestDatabase> db_;
  std::vector<store::OpenedStore> others_;
  std::vector<std::unique_ptr<CircuitBreaker>> breakers_;
};

TEST_F(SharedBreakerTest, ConcurrentFailuresAreCountedOnceEachAndOpenItOnce) {
  race([&](int p, int t) {
    EXPECT_TRUE(breakers_[p]->record_failure(fmt::format("call-{}-{}", p, t)).is_ok());
  });
  auto state = breakers_[0]->current();
  ASSERT_TRUE(state.is_ok());
  EXPECT_EQ(state->state, BreakerState::kOpen);
  // The five failures that opened it are counted; later ones arrive to an OPEN
  // breaker and change nothing.
  EXPECT_EQ(state->failure_count, 5);
  EXPECT_EQ(outbox("OPEN"), 1);
  // Every process sees the same state.
  for (auto& b : breakers_) {
    auto ticket = b->admit("someone", "job_x");
    ASSERT_TRUE(ticket.is_ok());
    EXPECT_EQ(ticket->admission, Admission::kRejected);
    EXPECT_EQ(ticket->retry_at, kT0 + 60s);
  }
}

TEST_F(SharedBreakerTest, ExactlyOneProbeAcrossAllProcessesAfterTheCooldown) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(breakers_[0]->record_failure("x").is_ok());
  clock_.advance(60s);
  std::atomic<int> probes{0};
  std::atomic<int> rejected{0};
  std::mutex mu;
  std::string probe;
  race([&](int p, int t) {
    const std::string caller = fmt::format("call-{}-{}", p, t);
    auto ticket = breakers_[p]->admit(caller, caller);
    ASSERT_TRUE(ticket.is_ok()) << ticket.error().message;
    if (ticket->admission == Admission::kProbe) {
      ++probes;
      std::lock_guard lock(mu);
      probe = caller;
    } else if (ticket->admission == Admission::kRejected) {
      ++rejected;
    }
  });
  EXPECT_EQ(probes.load(), 1);
  EXPECT_EQ(rejected.load(), kProcesses * 2 - 1);
  EXPECT_EQ(outbox("HALF_OPEN"), 1);
  // The others' results change nothing; the probe's success closes it for all.
  ASSERT_TRUE(breakers_[1]->record_success("call-0-0" == probe ? "call-1-1" : "call-0-0").is_ok());
  EXPECT_EQ(breakers_[2]->current()->state, BreakerState::kHalfOpen);
  ASSERT_TRUE(breakers_[3]->record_success(probe).is_ok());
  EXPECT_EQ(breakers_[0]->current()->state, BreakerState::kClosed);
  EXPECT_EQ(breakers_[0]->current()->failure_count, 0);
  EXPECT_EQ(outbox("CLOSED"), 1);
}

TEST_F(SharedBreakerTest, AProbeWhoseWorkerDiedTimesOutAndAnotherProcessProbes) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(breakers_[0]->record_failure("x").is_ok());
  clock_.advance(60s);
  ASSERT_EQ(breakers_[0]->admit("dies", "job_a")->admission, Admission::kProbe);
  clock_.advance(29s);
  EXPECT_EQ(breakers_[1]->admit("waits", "job_b")->admission, Admission::kRejected);
  clock_.advance(1s);
  EXPECT_EQ(breakers_[1]->admit("takes-over", "job_b")->admission, Admission::kProbe);
  ASSERT_TRUE(breakers_[0]->record_failure("dies").is_ok());  // too late: ignored
  EXPECT_EQ(breakers_[2]->current()->state, BreakerState::kHalfOpen);
  ASSERT_TRUE(breakers_[1]->record_failure("takes-over").is_ok());
  auto state = breakers_[2]->current();
  EXPECT_EQ(state->state, BreakerState::kOpen);
  EXPECT_EQ(state->open_until, clock_.now() + 60s);
}

}  // namespace
}  // namespace insightd::pipeline
