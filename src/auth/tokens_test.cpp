#include "auth/tokens.h"

#include <gtest/gtest.h>

#include <set>

namespace insightd::auth {
namespace {

TEST(Tokens, ApiTokensHaveThePrefixAndFullEntropy) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string t = new_api_token();
    EXPECT_TRUE(t.starts_with("ins_")) << t;
    EXPECT_EQ(t.size(), 4u + 43u) << t;
    EXPECT_TRUE(looks_like_api_token(t)) << t;
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(Tokens, LooksLikeApiTokenRefusesOtherShapes) {
  const std::string t = new_api_token();
  EXPECT_FALSE(looks_like_api_token(""));
  EXPECT_FALSE(looks_like_api_token("ins_"));
  EXPECT_FALSE(looks_like_api_token(t.substr(0, t.size() - 1)));
  EXPECT_FALSE(looks_like_api_token(t + "A"));
  EXPECT_FALSE(looks_like_api_token("xyz_" + t.substr(4)));
  std::string bad = t;
  bad[10] = '=';
  EXPECT_FALSE(looks_like_api_token(bad));
}

TEST(Tokens, SessionTokensAre43Base64UrlCharacters) {
  const std::string a = new_session_token();
  EXPECT_EQ(a.size(), 43u);
  EXPECT_NE(a, new_session_token());
  EXPECT_EQ(a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
}

TEST(Tokens, DigestsMatchKnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231, test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(api_token_digest("ins_x"), sha256_hex("ins_x"));
}

TEST(Tokens, SessionDigestAndCsrfTokenDependOnTheSecret) {
  const std::string token = new_session_token();
  const std::string d1 = session_token_digest("secret-one", token);
  EXPECT_EQ(d1, session_token_digest("secret-one", token));
  EXPECT_NE(d1, session_token_digest("secret-two", token));
  EXPECT_NE(d1, session_token_digest("secret-one", new_session_token()));
  EXPECT_EQ(d1.size(), 64u);

  const std::string csrf = csrf_token_for("secret-one", token);
  EXPECT_EQ(csrf, csrf_token_for("secret-one", token));
  EXPECT_NE(csrf, csrf_token_for("secret-two", token));
  EXPECT_NE(csrf, token);
  EXPECT_EQ(csrf.size(), 43u);
}

TEST(Tokens, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal("", "a"));
}

}  // namespace
}  // namespace insightd::auth
