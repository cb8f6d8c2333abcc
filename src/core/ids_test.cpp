#include "core/ids.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace insightd {
namespace {

constexpr std::string_view kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int64_t kExampleMs = 1795927745123;  // 2026-11-29T04:49:05.123Z

// The millisecond an id's first ten characters encode.
int64_t decode_time(std::string_view id) {
  const auto body = id.substr(id.find('_') + 1, 10);
  int64_t ms = 0;
  for (const char c : body) ms = ms * 32 + static_cast<int64_t>(kCrockford.find(c));
  return ms;
}

TEST(NewId, HasThePrefixAnUnderscoreAnd26CrockfordCharacters) {
  const std::string id = new_id("batch", from_unix_ms(kExampleMs));
  ASSERT_EQ(id.size(), std::string("batch_").size() + 26) << id;
  EXPECT_EQ(id.substr(0, 6), "batch_");
  for (const char c : id.substr(6)) {
    EXPECT_NE(kCrockford.find(c), std::string_view::npos) << "'" << c << "' in " << id;
  }
  // Crockford leaves out I, L, O and U, and is upper case.
  for (const char c : std::string_view("ILOUilou"))
    EXPECT_EQ(id.substr(6).find(c), std::string::npos);
}

TEST(NewId, EmptyAndLongPrefixes) {
  const std::string bare = new_id("", from_unix_ms(kExampleMs));
  EXPECT_EQ(bare.size(), 27u);
  EXPECT_EQ(bare[0], '_');
  const std::string long_prefix(100, 'p');
  EXPECT_EQ(new_id(long_prefix, from_unix_ms(kExampleMs)).size(), 127u);
}

TEST(NewId, EncodesTheMillisecond) {
  EXPECT_EQ(decode_time(new_id("evt", from_unix_ms(kExampleMs))), kExampleMs);
  EXPECT_EQ(new_id("evt", from_unix_ms(0)).substr(4, 10), "0000000000");
  EXPECT_EQ(new_id("evt", from_unix_ms(1)).substr(4, 10), "0000000001");
  EXPECT_EQ(new_id("evt", from_unix_ms(32)).substr(4, 10), "0000000010");
  // The largest 48-bit millisecond (year 10889) uses the top character's low 3 bits.
  const int64_t max_ms = (int64_t{1} << 48) - 1;
  const std::string last = new_id("evt", from_unix_ms(max_ms));
  EXPECT_EQ(last.substr(4, 10), "7ZZZZZZZZZ");
  EXPECT_EQ(decode_time(last), max_ms);
}

TEST(NewId, SortsByTimeAcrossMilliseconds) {
  std::vector<std::string> ids;
  for (int64_t ms : {int64_t{0}, int64_t{1}, int64_t{31}, int64_t{32}, int64_t{1000},
                     kExampleMs - 1, kExampleMs, kExampleMs + 1, int64_t{1} << 47}) {
    ids.push_back(new_id("job", from_unix_ms(ms)));
  }
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  // Even when made out of order, text order is time order.
  const std::string later = new_id("job", from_unix_ms(kExampleMs + 1));
  const std::string earlier = new_id("job", from_unix_ms(kExampleMs));
  EXPECT_LT(earlier, later);
}

// Regression: ids made in one millisecond used to be in random order, so two
// batches created under a FakeClock sorted either way round.
TEST(NewId, SortsInCreationOrderWithinOneMillisecond) {
  const Timestamp frozen = from_unix_ms(kExampleMs);
  std::vector<std::string> ids;
  ids.reserve(10'000);
  for (int i = 0; i < 10'000; ++i) ids.push_back(new_id("batch", frozen));
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  for (const auto& id : ids) EXPECT_EQ(decode_time(id), kExampleMs);
}

TEST(NewId, RandomPartChangesWithTheMillisecond) {
  // A new millisecond draws fresh randomness rather than continuing the count.
  std::set<std::string> tails;
  for (int64_t ms = 0; ms < 100; ++ms) tails.insert(new_id("x", from_unix_ms(ms)).substr(12));
  EXPECT_EQ(tails.size(), 100u);
}

TEST(NewId, UniqueAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20'000;
  std::vector<std::vector<std::string>> made(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  const Timestamp frozen = from_unix_ms(kExampleMs);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t, frozen] {
      made[t].reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i) {
        // Half with one shared millisecond, the hardest case for collisions.
        made[t].push_back(i % 2 == 0 ? new_id("evt", frozen) : new_id("evt"));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::unordered_set<std::string> all;
  for (const auto& ids : made) all.insert(ids.begin(), ids.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(NewId, WithoutATimeUsesTheSystemClock) {
  const int64_t before = to_unix_ms(SystemClock::instance().now());
  const std::string id = new_id("evt");
  const int64_t after = to_unix_ms(SystemClock::instance().now());
  EXPECT_GE(decode_time(id), before);
  EXPECT_LE(decode_time(id), after);
}

TEST(NewToken, Is32LowerCaseHexCharacters) {
  for (int i = 0; i < 100; ++i) {
    const std::string token = new_token();
    ASSERT_EQ(token.size(), 32u);
    for (const char c : token) {
      EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << token;
    }
  }
}

TEST(NewToken, IsUnique) {
  std::unordered_set<std::string> tokens;
  for (int i = 0; i < 50'000; ++i) tokens.insert(new_token());
  EXPECT_EQ(tokens.size(), 50'000u);
}

}  // namespace
}  // namespace insightd
