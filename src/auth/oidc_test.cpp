#include "auth/oidc.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <boost/json.hpp>
#include <functional>
#include <map>

namespace insightd::auth {
namespace {

namespace json = boost::json;

constexpr std::string_view kIssuer = "https://idp.example.com";
constexpr std::string_view kClientId = "client-123.apps.example.com";
constexpr std::string_view kNonce = "nonce-abc";
constexpr Timestamp kNow{Millis{1'800'000'000'000}};
const int64_t kNowS = 1'800'000'000;

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Key = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string b64url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// Keys are slow to make: two for the whole suite.
EVP_PKEY* provider_key() {
  static Key key(EVP_RSA_gen(2048));
  return key.get();
}
EVP_PKEY* attacker_key() {
  static Key key(EVP_RSA_gen(2048));
  return key.get();
}

std::string bn_param(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1);
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return bytes;
}

json::object jwk(EVP_PKEY* key, std::string_view kid) {
  return {{"kty", "RSA"},
          {"use", "sig"},
          {"alg", "RS256"},
          {"kid", kid},
          {"n", b64url(bn_param(key, OSSL_PKEY_PARAM_RSA_N))},
          {"e", b64url(bn_param(key, OSSL_PKEY_PARAM_RSA_E))}};
}

std::string rs256(EVP_PKEY* key, std::string_view data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                           data.size()),
            1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(data.data()), data.size()),
            1);
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  return sig;
}

json::object good_claims() {
  return {{"iss", kIssuer},         {"aud", kClientId},
          {"sub", "1234567890"},    {"email", "Ops@Example.com"},
          {"email_verified", true}, {"nonce", kNonce},
          {"iat", kNowS - 5},       {"exp", kNowS + 3600}};
}

std::string jwt(const json::object& claims, EVP_PKEY* key = provider_key(),
                const json::object& header = {{"alg", "RS256"}, {"kid", "k1"}, {"typ", "JWT"}}) {
  const std::string signing_input =
      b64url(json::serialize(header)) + "." + b64url(json::serialize(claims));
  return signing_input + "." + b64url(rs256(key, signing_input));
}

// The provider in memory: canned answers by URL, and what was asked.
class FakeHttp final : public OidcHttp {
 public:
  std::map<std::string, HttpReply> gets;
  std::map<std::string, int> get_count;
  std::function<HttpReply(const std::string& url, const std::string& form)> on_post;
  std::vector<std::string> posted_forms;

  Result<HttpReply> get(const std::string& url) override {
    ++get_count[url];
    auto it = gets.find(url);
    if (it == gets.end()) return make_error(ErrorCode::kUnavailable, "connection refused");
    return it->second;
  }
  Result<HttpReply> post_form(const std::string& url, const std::string& form) override {
    posted_forms.push_back(form);
    if (!on_post) return make_error(ErrorCode::kUnavailable, "connection refused");
    return on_post(url, form);
  }
};

const char* const kDiscoveryUrl = "https://idp.example.com/.well-known/openid-configuration";
const char* const kJwksUrl = "https://idp.example.com/jwks";

std::string discovery(std::string_view issuer = kIssuer) {
  return json::serialize(json::object{{"issuer", issuer},
                                      {"authorization_endpoint", std::string(kIssuer) + "/auth"},
                                      {"token_endpoint", std::string(kIssuer) + "/token"},
                                      {"jwks_uri", kJwksUrl}});
}

std::string jwks(std::initializer_list<std::pair<EVP_PKEY*, std::string_view>> keys) {
  json::array out;
  for (const auto& [key, kid] : keys) out.push_back(jwk(key, kid));
  return json::serialize(json::object{{"keys", out}});
}

class OidcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto http = std::make_unique<FakeHttp>();
    http_ = http.get();
    http_->gets[kDiscoveryUrl] = {200, discovery()};
    http_->gets[kJwksUrl] = {200, jwks({{provider_key(), "k1"}})};
    client_ = std::make_unique<OidcClient>(
        OidcOptions{.issuer = std::string(kIssuer),
                    .client_id = std::string(kClientId),
                    .client_secret = "s3cret",
                    .redirect_uri = "https://app.example.com/api/auth/google/callback",
                    .admin_emails = {"ops@example.com"}},
        std::move(http), clock_);
  }

  // The verification error, or "" when the token passes.
  std::string refusal(const std::string& token, std::string_view nonce = kNonce) {
    auto r = client_->verify_id_token(token, nonce);
    if (r) return "";
    EXPECT_EQ(r.code(), ErrorCode::kInvalidArgument) << r.error().message;
    return r.error().message;
  }

  FakeClock clock_{kNow};
  FakeHttp* http_ = nullptr;
  std::unique_ptr<OidcClient> client_;
};

TEST(Pkce, S256MatchesTheRfc7636Example) {
  EXPECT_EQ(pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  const Pkce a = new_pkce();
  const Pkce b = new_pkce();
  EXPECT_GE(a.verifier.size(), 43u);
  EXPECT_LE(a.verifier.size(), 128u);
  EXPECT_EQ(a.challenge, pkce_s256(a.verifier));
  EXPECT_NE(a.verifier, b.verifier);
}

TEST(LocalPath, OnlyPathsOnThisServer) {
  EXPECT_TRUE(is_local_path("/admin/analytics"));
  EXPECT_TRUE(is_local_path("/"));
  EXPECT_TRUE(is_local_path("/admin/batches?status=open&limit=5#top"));
  EXPECT_FALSE(is_local_path(""));
  EXPECT_FALSE(is_local_path("admin"));
  EXPECT_FALSE(is_local_path("//evil.example.com/x"));
  EXPECT_FALSE(is_local_path("/\\evil.example.com"));
  EXPECT_FALSE(is_local_path("https://evil.example.com"));
  EXPECT_FALSE(is_local_path("/a\\b"));
  EXPECT_FALSE(is_local_path("/a b"));
  EXPECT_FALSE(is_local_path("/a\"><script>"));
  EXPECT_FALSE(is_local_path("/a\r\nSet-Cookie: x=1"));
  EXPECT_FALSE(is_local_path("/" + std::string(600, 'a')));
}

TEST(OidcFlowCookie, RoundTripsAndRefusesForgeriesAndOldFlows) {
  const OidcFlow flow{.state = "st",
                      .nonce = "no",
                      .verifier = "ve",
                      .next = "/admin/x?a=1",
                      .expires_at = kNow + std::chrono::minutes(10)};
  const std::string sealed = seal_flow(flow, "key-1");
  auto opened = open_flow(sealed, "key-1", kNow);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->state, "st");
  EXPECT_EQ(opened->nonce, "no");
  EXPECT_EQ(opened->verifier, "ve");
  EXPECT_EQ(opened->next, "/admin/x?a=1");
  EXPECT_EQ(opened->expires_at, flow.expires_at);

  EXPECT_FALSE(open_flow(sealed, "key-2", kNow));
  EXPECT_FALSE(open_flow(sealed, "key-1", kNow + std::chrono::minutes(10)));
  std::string tampered = sealed;
  tampered[3] = tampered[3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(open_flow(tampered, "key-1", kNow));
  EXPECT_FALSE(open_flow("", "key-1", kNow));
  EXPECT_FALSE(open_flow("no-dot", "key-1", kNow));
}

TEST_F(OidcTest, DiscoveryIsFetchedOnceAndKept) {
  auto m = client_->metadata();
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->token_endpoint, "https://idp.example.com/token");
  ASSERT_TRUE(client_->metadata());
  EXPECT_EQ(http_->get_count[kDiscoveryUrl], 1);
}

TEST_F(OidcTest, AFailedDiscoveryIsTriedAgain) {
  http_->gets.erase(kDiscoveryUrl);
  auto m = client_->metadata();
  ASSERT_FALSE(m);
  EXPECT_EQ(m.code(), ErrorCode::kUnavailable);
  http_->gets[kDiscoveryUrl] = {200, discovery()};
  EXPECT_TRUE(client_->metadata());
}

TEST_F(OidcTest, DiscoveryMustNameTheConfiguredIssuer) {
  http_->gets[kDiscoveryUrl] = {200, discovery("https://evil.example.com")};
  auto m = client_->metadata();
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("names issuer"), std::string::npos);
}

TEST_F(OidcTest, DiscoveryOfAnHttpsIssuerMayNotPointAtHttp) {
  http_->gets[kDiscoveryUrl] = {
      200, json::serialize(json::object{{"issuer", kIssuer},
                                        {"authorization_endpoint", "https://idp.example.com/a"},
                                        {"token_endpoint", "http://idp.example.com/token"},
                                        {"jwks_uri", kJwksUrl}})};
  EXPECT_FALSE(client_->metadata());
}

TEST_F(OidcTest, AuthorizationUrlCarriesEverythingTheProviderNeeds) {
  auto url = client_->authorization_url("the-state", "the-nonce", "the-challenge");
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_TRUE(url->starts_with("https://idp.example.com/auth?response_type=code&")) << *url;
  for (std::string_view part :
       {"client_id=client-123.apps.example.com",
        "redirect_uri=https%3A%2F%2Fapp.example.com%2Fapi%2Fauth%2Fgoogle%2Fcallback",
        "scope=openid%20email", "state=the-state", "nonce=the-nonce",
        "code_challenge=the-challenge", "code_challenge_method=S256"}) {
    EXPECT_NE(url->find(part), std::string::npos) << part << " in " << *url;
  }
}

TEST_F(OidcTest, TheCodeIsExchangedWithTheVerifierAndTheClientSecret) {
  http_->on_post = [](const std::string& url, const std::string&) {
    EXPECT_EQ(url, "https://idp.example.com/token");
    return HttpReply{200,
                     R"({"access_token":"at","id_token":"the.id.token","token_type":"Bearer"})"};
  };
  auto token = client_->exchange_code("code/with+chars", "the-verifier");
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(*token, "the.id.token");
  ASSERT_EQ(http_->posted_forms.size(), 1u);
  const std::string& f = http_->posted_forms[0];
  for (std::string_view part :
       {"grant_type=authorization_code", "code=code%2Fwith%2Bchars", "code_verifier=the-verifier",
        "client_id=client-123.apps.example.com", "client_secret=s3cret",
        "redirect_uri=https%3A%2F%2Fapp.example.com%2Fapi%2Fauth%2Fgoogle%2Fcallback"}) {
    EXPECT_NE(f.find(part), std::string::npos) << part << " in " << f;
  }
}

TEST_F(OidcTest, ARefusedCodeIsRefusedAndAFailingProviderUnavailable) {
  http_->on_post = [](const std::string&, const std::string&) {
    return HttpReply{400, R"({"error":"invalid_grant","error_description":"Bad Request"})"};
  };
  auto refused = client_->exchange_code("c", "v");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("invalid_grant"), std::string::npos);
  http_->on_post = [](const std::string&, const std::string&) { return HttpReply{503, ""}; };
  auto down = client_->exchange_code("c", "v");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.code(), ErrorCode::kUnavailable);
  http_->on_post = [](const std::string&, const std::string&) {
    return HttpReply{200, R"({"access_token":"at"})"};
  };
  EXPECT_FALSE(client_->exchange_code("c", "v"));
}

TEST_F(OidcTest, AGoodTokenPasses) {
  auto who = client_->verify_id_token(jwt(good_claims()), kNonce);
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(who->email, "ops@example.com");
  EXPECT_EQ(who->subject, "1234567890");
  // Keys are kept: a second token needs no fetch.
  ASSERT_TRUE(client_->verify_id_token(jwt(good_claims()), kNonce));
  EXPECT_EQ(http_->get_count[kJwksUrl], 1);
}

TEST_F(OidcTest, OnlyRs256IsAccepted) {
  const json::object claims = good_claims();
  const std::string body = b64url(json::serialize(claims));
  // alg "none" with no signature, and with the real token's signature.
  const std::string none = b64url(R"({"alg":"none","kid":"k1"})") + "." + body + ".";
  EXPECT_NE(refusal(none).find("only RS256"), std::string::npos);
  const std::string real = jwt(claims);
  const std::string none_with_sig =
      b64url(R"({"alg":"none","kid":"k1"})") + "." + body + real.substr(real.rfind('.'));
  EXPECT_NE(refusal(none_with_sig).find("only RS256"), std::string::npos);
  EXPECT_NE(
      refusal(jwt(claims, provider_key(), {{"alg", "HS256"}, {"kid", "k1"}})).find("only RS256"),
      std::string::npos);
  EXPECT_NE(
      refusal(jwt(claims, provider_key(), {{"alg", "RS512"}, {"kid", "k1"}})).find("only RS256"),
      std::string::npos);
  EXPECT_NE(refusal(jwt(claims, provider_key(), {{"kid", "k1"}})).find("only RS256"),
            std::string::npos);
  EXPECT_NE(refusal(jwt(claims, provider_key(),
                        {{"alg", "RS256"}, {"kid", "k1"}, {"crit", json::array{"exp"}}}))
                .find("critical"),
            std::string::npos);
}

TEST_F(OidcTest, AForgedOrTamperedTokenIsRefused) {
  EXPECT_NE(refusal(jwt(good_claims(), attacker_key())).find("signature"), std::string::npos);
  // A payload swapped after signing.
  const std::string real = jwt(good_claims());
  json::object other = good_claims();
  other["email"] = "root@example.com";
  const size_t dot1 = real.find('.');
  const size_t dot2 = real.rfind('.');
  const std::string swapped =
      real.substr(0, dot1 + 1) + b64url(json::serialize(other)) + real.substr(dot2);
  EXPECT_NE(refusal(swapped).find("signature"), std::string::npos);
  EXPECT_NE(refusal("not-a-jwt").find("three parts"), std::string::npos);
  EXPECT_NE(refusal("a.b.c.d").find("three parts"), std::string::npos);
  EXPECT_FALSE(refusal("a.b.c").empty());
  EXPECT_FALSE(refusal("!!!.###.$$$").empty());
}

TEST_F(OidcTest, AnUnknownKidFetchesTheKeysAgainOnce) {
  ASSERT_TRUE(client_->verify_id_token(jwt(good_claims()), kNonce));  // keys kept
  // The provider rotates: k2 is new.
  http_->gets[kJwksUrl] = {200, jwks({{provider_key(), "k1"}, {attacker_key(), "k2"}})};
  const std::string rotated = jwt(good_claims(), attacker_key(), {{"alg", "RS256"}, {"kid", "k2"}});
  // Within the refetch pause the kept keys answer: refused without a fetch.
  EXPECT_NE(refusal(rotated).find("does not list"), std::string::npos);
  EXPECT_EQ(http_->get_count[kJwksUrl], 1);
  clock_.advance(std::chrono::seconds(30));
  EXPECT_EQ(refusal(rotated), "");
  EXPECT_EQ(http_->get_count[kJwksUrl], 2);
  // A kid the provider does not list at all: one more fetch, then refused.
  clock_.advance(std::chrono::seconds(30));
  const std::string unknown = jwt(good_claims(), attacker_key(), {{"alg", "RS256"}, {"kid", "k9"}});
  EXPECT_NE(refusal(unknown).find("does not list"), std::string::npos);
  EXPECT_EQ(http_->get_count[kJwksUrl], 3);
  EXPECT_NE(refusal(unknown).find("does not list"), std::string::npos);
  EXPECT_EQ(http_->get_count[kJwksUrl], 3);
}

TEST_F(OidcTest, WeakOrOddKeysAreNotUsed) {
  Key small(EVP_RSA_gen(1024));
  http_->gets[kJwksUrl] = {200, jwks({{small.get(), "k1"}})};
  EXPECT_NE(refusal(jwt(good_claims(), small.get())).find("does not list"), std::string::npos);
}

TEST_F(OidcTest, ClaimsAreChecked) {
  auto with = [](std::string_view key, json::value v) {
    json::object c = good_claims();
    c[key] = std::move(v);
    return jwt(c);
  };
  auto without = [](std::string_view key) {
    json::object c = good_claims();
    c.erase(key);
    return jwt(c);
  };
  EXPECT_NE(refusal(with("iss", "https://evil.example.com")).find("iss"), std::string::npos);
  EXPECT_NE(refusal(without("iss")).find("iss"), std::string::npos);
  EXPECT_NE(refusal(with("aud", "someone-else")).find("aud"), std::string::npos);
  EXPECT_NE(refusal(without("aud")).find("aud"), std::string::npos);
  EXPECT_EQ(refusal(with("aud", json::array{"x", kClientId})).find("aud"), std::string::npos);
  EXPECT_NE(refusal(with("aud", json::array{"x", kClientId})).find("azp"), std::string::npos);
  {
    json::object c = good_claims();
    c["aud"] = json::array{"x", kClientId};
    c["azp"] = kClientId;
    EXPECT_EQ(refusal(jwt(c)), "");
    c["azp"] = "x";
    EXPECT_NE(refusal(jwt(c)).find("azp"), std::string::npos);
  }
  EXPECT_NE(refusal(with("exp", kNowS - 61)).find("expired"), std::string::npos);
  EXPECT_EQ(refusal(with("exp", kNowS - 30)), "");  // within the clock skew
  EXPECT_NE(refusal(without("exp")).find("exp"), std::string::npos);
  EXPECT_NE(refusal(with("exp", "tomorrow")).find("exp"), std::string::npos);
  EXPECT_NE(refusal(with("iat", kNowS + 120)).find("iat"), std::string::npos);
  EXPECT_NE(refusal(with("iat", kNowS - 3600)).find("iat"), std::string::npos);
  EXPECT_NE(refusal(without("iat")).find("iat"), std::string::npos);
  EXPECT_NE(refusal(with("nonce", "other")).find("nonce"), std::string::npos);
  EXPECT_NE(refusal(without("nonce")).find("nonce"), std::string::npos);
  EXPECT_NE(refusal(jwt(good_claims()), "").find("nonce"), std::string::npos);
  EXPECT_NE(refusal(without("sub")).find("sub"), std::string::npos);
  EXPECT_NE(refusal(without("email")).find("email"), std::string::npos);
  EXPECT_NE(refusal(with("email_verified", false)).find("verified"), std::string::npos);
  EXPECT_NE(refusal(without("email_verified")).find("verified"), std::string::npos);
  EXPECT_EQ(refusal(with("email_verified", "true")), "");
  EXPECT_EQ(refusal(with("exp", 1.8e9 + 100.5)), "");  // a number, if not a whole one
}

TEST_F(OidcTest, GooglesBareIssuerIsNotAcceptedFromOtherIssuers) {
  json::object c = good_claims();
  c["iss"] = "accounts.google.com";
  EXPECT_NE(refusal(jwt(c)).find("iss"), std::string::npos);
}

TEST_F(OidcTest, SignInNeedsAnAddressFromAdminEmails) {
  json::object claims = good_claims();
  http_->on_post = [&claims](const std::string&, const std::string&) {
    return HttpReply{200, json::serialize(json::object{{"id_token", jwt(claims)}})};
  };
  auto ok = client_->sign_in("code", "verifier", kNonce);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->email, "ops@example.com");
  EXPECT_TRUE(client_->email_allowed("OPS@example.COM"));

  claims["email"] = "intruder@example.com";
  auto refused = client_->sign_in("code", "verifier", kNonce);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("intruder@example.com is not in ADMIN_EMAILS"),
            std::string::npos);
  // Messages never carry the token.
  EXPECT_EQ(refused.error().message.find(jwt(claims).substr(0, 20)), std::string::npos);
}

}  // namespace
}  // namespace insightd::auth
