#include "auth/password.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <atomic>
#include <thread>
#include <vector>

namespace insightd::auth {
namespace {

TEST(Password, HashIsArgon2idSaltedAndVerifies) {
  auto a = hash_password("correct horse battery staple");
  auto b = hash_password("correct horse battery staple");
  ASSERT_TRUE(a.is_ok());
  ASSERT_TRUE(b.is_ok());
  EXPECT_TRUE(a->starts_with("$argon2id$")) << *a;
  EXPECT_NE(*a, *b) << "each hash has its own salt";
  EXPECT_EQ(a->find("correct horse"), std::string::npos);
  EXPECT_TRUE(verify_password(*a, "correct horse battery staple"));
  EXPECT_TRUE(verify_password(*b, "correct horse battery staple"));
  EXPECT_FALSE(verify_password(*a, "correct horse battery stapl"));
  EXPECT_FALSE(verify_password(*a, ""));
  EXPECT_FALSE(password_needs_rehash(*a));
}

TEST(Password, MalformedHashMatchesNothing) {
  EXPECT_FALSE(verify_password("", ""));
  EXPECT_FALSE(verify_password("", "x"));
  EXPECT_FALSE(verify_password("not a hash", "not a hash"));
  EXPECT_FALSE(verify_password(std::string(500, '$'), "x"));
}

TEST(Password, HashWithOtherLimitsNeedsRehashButStillVerifies) {
  ASSERT_GE(sodium_init(), 0);
  char weaker[crypto_pwhash_STRBYTES];
  ASSERT_EQ(crypto_pwhash_str(weaker, "pw-12345", 8, crypto_pwhash_OPSLIMIT_MIN, 1 << 20), 0);
  EXPECT_TRUE(password_needs_rehash(weaker));
  EXPECT_TRUE(verify_password(weaker, "pw-12345"));
}

TEST(Password, GeneratedPasswordsAreLongUrlSafeAndDistinct) {
  const std::string a = generate_password();
  const std::string b = generate_password();
  EXPECT_EQ(a.size(), 24u);
  EXPECT_NE(a, b);
  for (char c : a) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << a;
  }
}

// A flood of sign-ins is refused at once beyond the two hashing slots, instead of
// queueing on the server's threads; those that run still judge correctly.
TEST(Password, TryVerifyRefusesAtOnceWhenBothSlotsAreBusy) {
  auto hash = hash_password("pw-12345");
  ASSERT_TRUE(hash.is_ok());
  constexpr int kThreads = 8;
  std::atomic<int> ready{0}, refused{0}, verified{0}, wrong{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();
      auto r = try_verify_password(*hash, "pw-12345");
      if (!r) {
        if (r.code() == ErrorCode::kUnavailable) ++refused;
      } else if (*r) {
        ++verified;
      } else {
        ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GE(verified.load(), 1);
  EXPECT_GE(refused.load(), 1) << "eight at once cannot all have found a free slot";
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(verified + refused, kThreads);
}

}  // namespace
}  // namespace insightd::auth
