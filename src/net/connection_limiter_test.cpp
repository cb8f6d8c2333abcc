#include "net/connection_limiter.h"

#include <gtest/gtest.h>

#include <vector>

namespace insightd::net {
namespace {

using Refusal = ConnectionLimiter::Refusal;

TEST(ConnectionLimiter, CapsPerAddressAndInTotalAndGivesPlacesBackWithTheTicket) {
  auto limiter = ConnectionLimiter::make({.max_total = 5, .max_per_address = 3});
  std::vector<ConnectionLimiter::Ticket> a;
  for (int i = 0; i < 3; ++i) a.push_back(limiter->admit("10.0.0.1"));
  for (const auto& t : a) ASSERT_NE(t, nullptr);
  Refusal why = Refusal::kNone;
  EXPECT_EQ(limiter->admit("10.0.0.1", &why), nullptr);
  EXPECT_EQ(why, Refusal::kPerAddress);
  auto b1 = limiter->admit("10.0.0.2");
  auto b2 = limiter->admit("10.0.0.2");
  ASSERT_NE(b2, nullptr);
  EXPECT_EQ(limiter->admit("10.0.0.3", &why), nullptr);
  EXPECT_EQ(why, Refusal::kTotal);
  EXPECT_EQ(limiter->open(), 5u);
  a.pop_back();  // the last copy of a ticket gives its place back
  EXPECT_EQ(limiter->open_from("10.0.0.1"), 2u);
  auto again = limiter->admit("10.0.0.1", &why);
  EXPECT_NE(again, nullptr);
  EXPECT_EQ(why, Refusal::kNone);
}

TEST(ConnectionLimiter, RateLimitsNewAdmissionsPerAddressWithABurst) {
  auto limiter = ConnectionLimiter::make({.rate_per_address = 0.001, .burst_per_address = 4});
  std::vector<ConnectionLimiter::Ticket> held;
  for (int i = 0; i < 4; ++i) {
    auto t = limiter->admit("10.0.0.1");
    ASSERT_NE(t, nullptr) << i;
    // Admission spends a token even when the ticket is dropped at once.
  }
  Refusal why = Refusal::kNone;
  EXPECT_EQ(limiter->admit("10.0.0.1", &why), nullptr);
  EXPECT_EQ(why, Refusal::kRate);
  EXPECT_NE(limiter->admit("10.0.0.2"), nullptr) << "another address has its own bucket";
}

TEST(ConnectionLimiter, ATotalOnlyTicketSkipsThePerAddressCapButCountsInTheTotal) {
  auto limiter = ConnectionLimiter::make({.max_total = 3, .max_per_address = 1});
  auto a = limiter->admit("10.0.0.1");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(limiter->admit("10.0.0.1"), nullptr);  // its one place is taken
  auto p1 = limiter->admit_total_only();
  auto p2 = limiter->admit_total_only();
  ASSERT_NE(p1, nullptr);
  ASSERT_NE(p2, nullptr);
  EXPECT_EQ(limiter->open(), 3u);
  ConnectionLimiter::Refusal why{};
  EXPECT_EQ(limiter->admit_total_only(&why), nullptr);
  EXPECT_EQ(why, ConnectionLimiter::Refusal::kTotal);
  p1.reset();
  EXPECT_EQ(limiter->open(), 2u);
  EXPECT_EQ(limiter->open_from("10.0.0.1"), 1u);
  EXPECT_NE(limiter->admit_total_only(), nullptr);
}

TEST(ConnectionLimiter, ZeroMeansNoCap) {
  auto limiter = ConnectionLimiter::make({});
  std::vector<ConnectionLimiter::Ticket> held;
  for (int i = 0; i < 10'000; ++i) held.push_back(limiter->admit("10.0.0.1"));
  EXPECT_NE(held.back(), nullptr);
  EXPECT_EQ(limiter->open(), 10'000u);
}

TEST(ConnectionLimiter, CountsTheOtherNodesConnectionsAgainstThePerAddressCap) {
  auto limiter = ConnectionLimiter::make({.max_per_address = 4});
  auto mine = limiter->admit("10.0.0.1");
  ASSERT_NE(mine, nullptr);
  limiter->set_elsewhere({{"10.0.0.1", 3}});
  Refusal why = Refusal::kNone;
  EXPECT_EQ(limiter->admit("10.0.0.1", &why), nullptr) << "1 here + 3 elsewhere";
  EXPECT_EQ(why, Refusal::kPerAddress);
  EXPECT_NE(limiter->admit("10.0.0.2"), nullptr) << "another address is not affected";
  const auto shared = limiter->local_values();
  ASSERT_EQ(shared.size(), 1u) << "only addresses with connections open are shared";
  EXPECT_EQ(shared[0], (std::pair<std::string, uint64_t>{"10.0.0.1", 1}));
  limiter->set_elsewhere({});
  EXPECT_NE(limiter->admit("10.0.0.1"), nullptr);
}

TEST(ConnectionLimiter, ReportsItsHandshakesAndPaysForTheOtherNodes) {
  auto limiter = ConnectionLimiter::make({.rate_per_address = 0.001, .burst_per_address = 4});
  ASSERT_NE(limiter->admit("10.0.0.1"), nullptr);
  ASSERT_NE(limiter->admit("10.0.0.1"), nullptr);
  auto admitted = limiter->take_admitted();
  ASSERT_EQ(admitted.size(), 1u);
  EXPECT_EQ(admitted[0], (std::pair<std::string, uint64_t>{"10.0.0.1", 2}));
  EXPECT_TRUE(limiter->take_admitted().empty()) << "reported once";
  limiter->admitted_elsewhere("10.0.0.1", 2);  // the other nodes took the rest
  Refusal why = Refusal::kNone;
  EXPECT_EQ(limiter->admit("10.0.0.1", &why), nullptr);
  EXPECT_EQ(why, Refusal::kRate);
  admitted = limiter->take_admitted();
  ASSERT_EQ(admitted.size(), 1u) << "a refused address still hears of the others";
  EXPECT_EQ(admitted[0].second, 0u);
}

}  // namespace
}  // namespace insightd::net
