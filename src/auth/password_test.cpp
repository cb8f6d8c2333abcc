#include "auth/password.h"

#include <gtest/gtest.h>
#include <sodium.h>

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

}  // namespace
}  // namespace insightd::auth
