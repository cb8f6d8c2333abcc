// libFuzzer target for what Google sign-in reads from outside (auth/oidc.h): the
// discovery document, the JWKS, the token endpoint's answer, the ID token, and
// the flow cookie. The first byte picks the mode; '\x1e' splits the rest:
//   0: discovery, JWKS, token answer[, ID tokens], all fuzzed: failures are
//      kInvalidArgument or kUnavailable with a message; a success names a
//      lower-case e-mail and a subject.
//   1: an ID token against a fixed provider whose key only we hold: it must
//      fail as kInvalidArgument, and the message never quotes its signature.
//   2: header, claims: signed here with the provider's key, so the claim checks
//      run; a success must be for our issuer, client, nonce and an unexpired token.
//   3: a flow cookie: never opens unless MAC'd with the key; sealed here, what
//      opens seals and opens again to the same flow.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/oidc.h"
#include "auth/tokens.h"
#include "core/base64.h"

using namespace insightd;
using namespace insightd::auth;

namespace {

namespace json = boost::json;
constexpr std::string_view kIssuer = "https://idp.example.com";
constexpr std::string_view kClientId = "client-123.apps.example.com";
constexpr std::string_view kNonce = "nonce-abc";
const Timestamp kNow = from_unix_ms(1'800'000'000'000);

EVP_PKEY* provider_key() {
  static EVP_PKEY* key = EVP_RSA_gen(2048);  // kept for the whole run
  return key;
}

std::string bn(const char* name) {
  BIGNUM* b = nullptr;
  EVP_PKEY_get_bn_param(provider_key(), name, &b);
  std::string bytes(static_cast<size_t>(BN_num_bytes(b)), '\0');
  BN_bn2bin(b, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(b);
  return bytes;
}

std::string rs256(std::string_view data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, provider_key());
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                 data.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(data.data()), data.size());
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  return sig;
}

class FakeHttp final : public OidcHttp {
 public:
  std::string discovery, jwks, token;
  Result<HttpReply> get(const std::string& url) override {
    return HttpReply{200, url.ends_with("/openid-configuration") ? discovery : jwks};
  }
  Result<HttpReply> post_form(const std::string&, const std::string&) override {
    return HttpReply{200, token};
  }
};

const FakeClock& clock() {
  static const FakeClock c(kNow);
  return c;
}

OidcClient client(std::string discovery, std::string jwks, std::string token = "") {
  auto http = std::make_unique<FakeHttp>();
  http->discovery = std::move(discovery);
  http->jwks = std::move(jwks);
  http->token = std::move(token);
  OidcOptions options{.issuer = std::string(kIssuer), .client_id = std::string(kClientId)};
  return OidcClient(options, std::move(http), clock());
}

OidcClient trusted_client() {
  const std::string base(kIssuer);
  return client(json::serialize(json::object{{"issuer", kIssuer},
                                             {"authorization_endpoint", base + "/auth"},
                                             {"token_endpoint", base + "/token"},
                                             {"jwks_uri", base + "/jwks"}}),
                json::serialize(json::object{
                    {"keys", json::array{json::object{
                                 {"kty", "RSA"},
                                 {"kid", "k1"},
                                 {"n", base64url_encode(bn(OSSL_PKEY_PARAM_RSA_N))},
                                 {"e", base64url_encode(bn(OSSL_PKEY_PARAM_RSA_E))}}}}}));
}

template <class T>
void expect_clean_failure(const Result<T>& r, bool unavailable_ok) {
  if (r) return;
  const bool known = r.code() == ErrorCode::kInvalidArgument ||
                     (unavailable_ok && r.code() == ErrorCode::kUnavailable);
  if (!known || r.error().message.empty()) __builtin_trap();
}

void expect_identity(const Result<OidcIdentity>& who) {
  if (!who) return;
  if (who->email.empty() || who->subject.empty()) __builtin_trap();
  for (char c : who->email) {
    if (c >= 'A' && c <= 'Z') __builtin_trap();
  }
}

bool is(const json::value* v, std::string_view s) {
  return v != nullptr && v->is_string() && v->as_string() == s;
}

std::string_view part(const std::vector<std::string_view>& parts, size_t i) {
  return i < parts.size() ? parts[i] : std::string_view();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string_view> parts;
  for (std::string_view rest = input;;) {
    const size_t end = rest.find('\x1e');
    parts.push_back(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  switch (data[0] % 4) {
    case 0: {
      OidcClient c = client(std::string(part(parts, 0)), std::string(part(parts, 1)),
                            std::string(part(parts, 2)));
      expect_clean_failure(c.authorization_url("state", kNonce, "challenge"), true);
      auto token = c.exchange_code("code", "verifier");
      expect_clean_failure(token, true);
      parts.resize(std::max<size_t>(parts.size(), 3));
      if (token) parts.push_back(*token);  // the answer's token, then any of the input's
      for (size_t i = 3; i < parts.size(); ++i) {
        auto who = c.verify_id_token(parts[i], kNonce);
        expect_clean_failure(who, true);
        expect_identity(who);
      }
      break;
    }
    case 1: {
      auto who = trusted_client().verify_id_token(input, kNonce);
      if (who || who.code() != ErrorCode::kInvalidArgument) __builtin_trap();
      const std::string_view signature = input.substr(std::min(input.rfind('.'), input.size()));
      if (signature.size() > 16 && who.error().message.find(signature) != std::string::npos) {
        __builtin_trap();
      }
      break;
    }
    case 2: {
      const std::string signing_input =
          base64url_encode(part(parts, 0)) + "." + base64url_encode(part(parts, 1));
      auto who = trusted_client().verify_id_token(
          signing_input + "." + base64url_encode(rs256(signing_input)), kNonce);
      expect_clean_failure(who, false);
      expect_identity(who);
      if (!who) break;
      const json::object claims = json::parse(part(parts, 1)).as_object();
      const json::value* aud = claims.if_contains("aud");
      bool for_us = is(aud, kClientId);
      for (const json::value& a : aud->is_array() ? aud->as_array() : json::array()) {
        for_us = for_us || is(&a, kClientId);
      }
      if (!is(claims.if_contains("iss"), kIssuer) || !for_us ||
          !is(claims.if_contains("nonce"), kNonce) ||
          claims.at("exp").to_number<double>() < 1'800'000'000 - 60) {
        __builtin_trap();
      }
      break;
    }
    case 3: {
      constexpr std::string_view kKey = "flow-key-from-auth-secret";
      if (open_flow(input, kKey, kNow)) __builtin_trap();
      const std::string payload = base64url_encode(input);
      auto flow = open_flow(payload + "." + hmac_sha256_hex(kKey, payload), kKey, kNow);
      if (!flow) break;
      auto again = open_flow(seal_flow(*flow, kKey), kKey, kNow);
      if (!again || again->state != flow->state || again->nonce != flow->nonce ||
          again->verifier != flow->verifier || again->next != flow->next ||
          again->expires_at != flow->expires_at || flow->expires_at <= kNow) {
        __builtin_trap();
      }
      break;
    }
  }
  return 0;
}
