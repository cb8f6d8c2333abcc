#include "auth/oidc.h"

#include <fmt/format.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <map>
#include <utility>

#include "auth/tokens.h"
#include "core/base64.h"

namespace insightd::auth {
namespace {

namespace json = boost::json;

constexpr size_t kMaxReplyBytes = 1 << 20;
constexpr size_t kMaxIdTokenChars = size_t{16} * 1024;
constexpr size_t kPkceVerifierBytes = 48;
// A token just redeemed was just issued; an older iat is a replay or a broken clock.
constexpr Millis kMaxTokenAge = std::chrono::minutes(10);
// A token naming an unknown key makes us fetch the keys again, but not more often.
constexpr Millis kMinKeyRefetch = std::chrono::seconds(30);
constexpr int kMinRsaBits = 2048;
// Google's ID tokens may carry its issuer without the scheme.
constexpr std::string_view kGoogleIssuer = "https://accounts.google.com";
constexpr std::string_view kGoogleBareIssuer = "accounts.google.com";

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

Error unavailable(std::string message) {
  return make_error(ErrorCode::kUnavailable, std::move(message));
}

std::string url_encode(std::string_view s) {
  return boost::urls::encode(s, boost::urls::unreserved_chars);
}

std::string form(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    out += url_encode(name);
    out += '=';
    out += url_encode(value);
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return out;
}

std::optional<json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::optional<std::string> string_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

// A JSON number of seconds as whole seconds; nullopt for anything else.
std::optional<int64_t> seconds_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v->as_uint64());
  }
  if (v->is_double() && v->as_double() > -9e15 && v->as_double() < 9e15) {
    return static_cast<int64_t>(v->as_double());
  }
  return std::nullopt;
}

bool is_http_url(std::string_view s) {
  return s.starts_with("https://") || s.starts_with("http://");
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BnDeleter {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

std::unique_ptr<BIGNUM, BnDeleter> bignum(std::string_view big_endian) {
  return std::unique_ptr<BIGNUM, BnDeleter>(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(big_endian.data()),
                static_cast<int>(big_endian.size()), nullptr));
}

// An RSA public key from a JWK's n and e (base64url, big-endian).
Result<Pkey> rsa_public_key(std::string_view n_b64, std::string_view e_b64) {
  auto n_bytes = base64url_decode(n_b64);
  auto e_bytes = base64url_decode(e_b64);
  if (!n_bytes || !e_bytes || n_bytes->empty() || e_bytes->empty() || e_bytes->size() > 8) {
    return invalid("a JWKS key has a malformed n or e");
  }
  auto n = bignum(*n_bytes);
  auto e = bignum(*e_bytes);
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!n || !e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return make_error(ErrorCode::kInternal, "cannot build an RSA key (out of memory)");
  }
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld.get()));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return invalid("a JWKS key is not a usable RSA public key");
  }
  Pkey key(raw);
  if (EVP_PKEY_get_bits(key.get()) < kMinRsaBits) {
    return invalid(fmt::format("a JWKS key is shorter than {} bits", kMinRsaBits));
  }
  return key;
}

// True when `signature` is an RSASSA-PKCS1-v1_5 SHA-256 signature of `data` by `key`.
bool rs256_verifies(EVP_PKEY* key, std::string_view data, std::string_view signature) {
  if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(key))) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                          data.size()) == 1;
}

// --- HTTP ------------------------------------------------------------------

class NetOidcHttp final : public OidcHttp {
 public:
  explicit NetOidcHttp(Millis timeout) : timeout_(timeout) {}

  Result<HttpReply> get(const std::string& url) override {
    return perform({.url = url, .headers = {"Accept: application/json"}});
  }
  Result<HttpReply> post_form(const std::string& url, const std::string& form) override {
    return perform(
        {.method = net::HttpRequest::Method::kPost,
         .url = url,
         .headers = {"Accept: application/json", "Content-Type: application/x-www-form-urlencoded"},
         .body = form});
  }

 private:
  Result<HttpReply> perform(net::HttpRequest request) {
    request.timeout = timeout_;
    request.max_response_bytes = kMaxReplyBytes;
    net::HttpResult result = net::send_http(request);
    if (const auto* error = std::get_if<net::HttpError>(&result)) {
      switch (error->failure) {
        case net::HttpFailure::kSetup:
          return make_error(ErrorCode::kInternal, error->message);
        case net::HttpFailure::kTooLarge:
          return unavailable(fmt::format("{} answered more than 1 MiB", request.url));
        default:
          return unavailable(fmt::format("cannot reach {}: {}", request.url, error->message));
      }
    }
    return std::get<net::HttpResponse>(std::move(result));
  }

  const Millis timeout_;
};

}  // namespace

// The provider's keys by kid. Immutable once built, so readers share it freely.
struct OidcClient::KeySet {
  std::map<std::string, Pkey, std::less<>> by_kid;
};

std::unique_ptr<OidcHttp> make_oidc_http(Millis timeout) {
  return std::make_unique<NetOidcHttp>(timeout);
}

Pkce new_pkce() {
  Pkce p;
  p.verifier = random_token(kPkceVerifierBytes);
  p.challenge = pkce_s256(p.verifier);
  return p;
}

std::string pkce_s256(std::string_view verifier) {
  return base64url_encode(sha256_bytes(verifier));
}

bool is_local_path(std::string_view path) {
  constexpr std::string_view kPunctuation = "-._~!$&()*+,;=:@/?%#";
  if (path.empty() || path.size() > 512 || path.front() != '/') return false;
  if (path.size() > 1 && (path[1] == '/' || path[1] == '\\')) return false;
  return std::all_of(path.begin(), path.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           kPunctuation.find(c) != std::string_view::npos;
  });
}

std::string seal_flow(const OidcFlow& flow, std::string_view key) {
  const std::string text = json::serialize(json::object{{"s", flow.state},
                                                        {"n", flow.nonce},
                                                        {"v", flow.verifier},
                                                        {"r", flow.next},
                                                        {"e", to_unix_ms(flow.expires_at)}});
  std::string payload = base64url_encode(text);
  const std::string mac = hmac_sha256_hex(key, payload);
  return payload + "." + mac;
}

std::optional<OidcFlow> open_flow(std::string_view sealed, std::string_view key, Timestamp now) {
  const size_t dot = sealed.rfind('.');
  if (dot == std::string_view::npos || sealed.size() > 4096) return std::nullopt;
  const std::string_view payload = sealed.substr(0, dot);
  if (!constant_time_equal(sealed.substr(dot + 1), hmac_sha256_hex(key, payload))) {
    return std::nullopt;
  }
  auto text = base64url_decode(payload);
  auto o = text ? parse_object(*text) : std::nullopt;
  if (!o) return std::nullopt;
  auto state = string_member(*o, "s");
  auto nonce = string_member(*o, "n");
  auto verifier = string_member(*o, "v");
  auto next = string_member(*o, "r");
  const json::value* e = o->if_contains("e");
  if (!state || !nonce || !verifier || !next || e == nullptr || !e->is_int64()) return std::nullopt;
  OidcFlow flow{.state = std::move(*state),
                .nonce = std::move(*nonce),
                .verifier = std::move(*verifier),
                .next = std::move(*next),
                .expires_at = from_unix_ms(e->as_int64())};
  if (now >= flow.expires_at) return std::nullopt;
  return flow;
}

OidcClient::OidcClient(OidcOptions options, std::unique_ptr<OidcHttp> http, const Clock& clock)
    : options_(std::move(options)), http_(std::move(http)), clock_(clock) {}

OidcClient::~OidcClient() = default;

Result<ProviderMetadata> OidcClient::metadata() {
  {
    std::lock_guard lock(mu_);
    if (metadata_) return *metadata_;
  }
  std::string base = options_.issuer;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url = base + "/.well-known/openid-configuration";
  auto reply = http_->get(url);
  if (!reply) return reply.error();
  if (reply->status != 200) {
    return unavailable(fmt::format("discovery at {} answered HTTP {}", url, reply->status));
  }
  auto doc = parse_object(reply->body);
  if (!doc) return unavailable(fmt::format("discovery at {} is not a JSON object", url));
  ProviderMetadata m;
  auto issuer = string_member(*doc, "issuer");
  auto authorize = string_member(*doc, "authorization_endpoint");
  auto token = string_member(*doc, "token_endpoint");
  auto jwks = string_member(*doc, "jwks_uri");
  if (!issuer || !authorize || !token || !jwks) {
    return unavailable(fmt::format(
        "discovery at {} lacks issuer, authorization_endpoint, token_endpoint or jwks_uri", url));
  }
  // OpenID Connect Discovery §4.3: the document must name the issuer it was
  // fetched for, or anyone serving it could mint tokens we would believe.
  std::string_view got = *issuer;
  std::string_view want = options_.issuer;
  while (got.ends_with('/')) got.remove_suffix(1);
  while (want.ends_with('/')) want.remove_suffix(1);
  if (got != want) {
    return unavailable(
        fmt::format("discovery at {} names issuer {}, not {}", url, *issuer, options_.issuer));
  }
  // Endpoints of an https issuer must be https too (http only for a local test provider).
  const bool tls = options_.issuer.starts_with("https://");
  for (const std::string* endpoint : {&*authorize, &*token, &*jwks}) {
    if (!is_http_url(*endpoint) || (tls && !endpoint->starts_with("https://"))) {
      return unavailable(
          fmt::format("discovery at {} names an unusable endpoint {}", url, *endpoint));
    }
  }
  m.issuer = std::move(*issuer);
  m.authorization_endpoint = std::move(*authorize);
  m.token_endpoint = std::move(*token);
  m.jwks_uri = std::move(*jwks);
  std::lock_guard lock(mu_);
  if (!metadata_) metadata_ = m;
  return *metadata_;
}

Result<std::string> OidcClient::authorization_url(std::string_view state, std::string_view nonce,
                                                  std::string_view code_challenge) {
  auto provider = metadata();
  if (!provider) return provider.error();
  const std::string& endpoint = provider->authorization_endpoint;
  return endpoint + (endpoint.find('?') == std::string::npos ? "?" : "&") +
         form({{"response_type", "code"},
               {"client_id", options_.client_id},
               {"redirect_uri", options_.redirect_uri},
               {"scope", "openid email"},
               {"state", state},
               {"nonce", nonce},
               {"code_challenge", code_challenge},
               {"code_challenge_method", "S256"}});
}

Result<std::string> OidcClient::exchange_code(std::string_view code,
                                              std::string_view code_verifier) {
  auto provider = metadata();
  if (!provider) return provider.error();
  auto reply =
      http_->post_form(provider->token_endpoint, form({{"grant_type", "authorization_code"},
                                                       {"code", code},
                                                       {"redirect_uri", options_.redirect_uri},
                                                       {"client_id", options_.client_id},
                                                       {"client_secret", options_.client_secret},
                                                       {"code_verifier", code_verifier}}));
  if (!reply) return reply.error();
  auto body = parse_object(reply->body);
  if (reply->status != 200) {
    // RFC 6749 §5.2: "error" is a short code such as invalid_grant; never the body,
    // which a confused provider might fill with anything.
    std::string what = body ? string_member(*body, "error").value_or("") : "";
    if (what.size() > 64) what.resize(64);
    const std::string detail = what.empty() ? "" : fmt::format(" ({})", what);
    // A refused code (used, expired, wrong verifier) is the request's fault; other
    // statuses are the provider's.
    if (reply->status == 400 || reply->status == 401) {
      return invalid(
          fmt::format("the token endpoint refused the code: HTTP {}{}", reply->status, detail));
    }
    return unavailable(fmt::format("the token endpoint answered HTTP {}{}", reply->status, detail));
  }
  if (!body) return unavailable("the token endpoint's answer is not a JSON object");
  auto id_token = string_member(*body, "id_token");
  if (!id_token || id_token->empty()) return invalid("the token endpoint sent no id_token");
  return std::move(*id_token);
}

Result<std::shared_ptr<const OidcClient::KeySet>> OidcClient::fetch_keys(
    const ProviderMetadata& provider) {
  auto reply = http_->get(provider.jwks_uri);
  if (!reply) return reply.error();
  if (reply->status != 200) {
    return unavailable(
        fmt::format("the JWKS at {} answered HTTP {}", provider.jwks_uri, reply->status));
  }
  auto doc = parse_object(reply->body);
  const json::value* keys = doc ? doc->if_contains("keys") : nullptr;
  if (keys == nullptr || !keys->is_array()) {
    return unavailable(fmt::format("the JWKS at {} has no \"keys\" array", provider.jwks_uri));
  }
  auto set = std::make_shared<KeySet>();
  for (const json::value& k : keys->as_array()) {
    if (!k.is_object()) continue;
    const json::object& jwk = k.as_object();
    // Only RSA signing keys for RS256 are of use; others are skipped, not errors.
    if (string_member(jwk, "kty") != "RSA") continue;
    if (auto use = string_member(jwk, "use"); use && *use != "sig") continue;
    if (auto alg = string_member(jwk, "alg"); alg && *alg != "RS256") continue;
    auto kid = string_member(jwk, "kid");
    auto n = string_member(jwk, "n");
    auto e = string_member(jwk, "e");
    if (!n || !e) continue;
    auto key = rsa_public_key(*n, *e);
    if (!key) continue;
    set->by_kid.emplace(kid.value_or(""), std::move(key).value());
  }
  std::lock_guard lock(mu_);
  keys_ = set;
  keys_fetched_at_ = clock_.now();
  return std::shared_ptr<const KeySet>(set);
}

bool OidcClient::issuer_matches(std::string_view iss, const ProviderMetadata& provider) const {
  if (iss == provider.issuer) return true;
  return provider.issuer == kGoogleIssuer && iss == kGoogleBareIssuer;
}

Result<OidcIdentity> OidcClient::verify_id_token(std::string_view id_token,
                                                 std::string_view nonce) {
  if (id_token.size() > kMaxIdTokenChars) return invalid("the ID token is too long");
  const size_t dot1 = id_token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : id_token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || id_token.find('.', dot2 + 1) != std::string_view::npos) {
    return invalid("the ID token is not a signed JWT (three parts)");
  }
  const std::string_view header_b64 = id_token.substr(0, dot1);
  const std::string_view payload_b64 = id_token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = id_token.substr(dot2 + 1);
  auto header_text = base64url_decode(header_b64);
  auto payload_text = base64url_decode(payload_b64);
  auto signature = base64url_decode(signature_b64);
  if (!header_text || !payload_text || !signature) {
    return invalid("the ID token is not valid base64url");
  }
  auto header = parse_object(*header_text);
  if (!header) return invalid("the ID token's header is not a JSON object");
  // Only RS256: "none" and HMAC algorithms (keyed with what would be a public key)
  // are the classic ways to forge a token.
  const auto alg = string_member(*header, "alg");
  if (alg != "RS256") {
    return invalid(fmt::format("the ID token's alg is {}, only RS256 is accepted",
                               alg ? fmt::format("\"{}\"", alg->substr(0, 16)) : "missing"));
  }
  if (header->contains("crit")) return invalid("the ID token has critical header extensions");
  const std::string kid = string_member(*header, "kid").value_or("");

  auto provider = metadata();
  if (!provider) return provider.error();

  // The key: from the kept set, or from a fresh fetch when the kid is new to us.
  std::shared_ptr<const KeySet> keys;
  bool may_refetch = false;
  {
    std::lock_guard lock(mu_);
    keys = keys_;
    may_refetch = !keys_fetched_at_ || clock_.now() - *keys_fetched_at_ >= kMinKeyRefetch;
  }
  auto find = [&kid](const KeySet& set) -> EVP_PKEY* {
    if (auto it = set.by_kid.find(kid); it != set.by_kid.end()) return it->second.get();
    // A token without kid may still name the provider's only key.
    if (kid.empty() && set.by_kid.size() == 1) return set.by_kid.begin()->second.get();
    return nullptr;
  };
  EVP_PKEY* key = keys ? find(*keys) : nullptr;
  if (key == nullptr && (!keys || may_refetch)) {
    auto fetched = fetch_keys(*provider);
    if (!fetched) return fetched.error();
    keys = std::move(fetched).value();
    key = find(*keys);
  }
  if (key == nullptr) {
    return invalid(fmt::format("the ID token names a key the provider does not list (kid \"{}\")",
                               kid.substr(0, 64)));
  }
  const std::string_view signed_part = id_token.substr(0, dot2);
  if (!rs256_verifies(key, signed_part, *signature)) {
    return invalid("the ID token's signature does not verify");
  }

  // Signed by the provider: now what it says.
  auto claims = parse_object(*payload_text);
  if (!claims) return invalid("the ID token's payload is not a JSON object");
  const auto iss = string_member(*claims, "iss");
  if (!iss || !issuer_matches(*iss, *provider))
    return invalid("the ID token's iss is not the issuer");

  const json::value* aud = claims->if_contains("aud");
  bool for_us = false;
  size_t audiences = 0;
  if (aud != nullptr && aud->is_string()) {
    audiences = 1;
    for_us = aud->as_string() == options_.client_id;
  } else if (aud != nullptr && aud->is_array()) {
    for (const json::value& a : aud->as_array()) {
      ++audiences;
      if (a.is_string() && a.as_string() == options_.client_id) for_us = true;
    }
  }
  if (!for_us) return invalid("the ID token's aud does not contain this client id");
  // OpenID Connect Core §3.1.3.7: with several audiences, azp names the one it is for.
  const auto azp = string_member(*claims, "azp");
  if ((audiences > 1 || azp) && azp != options_.client_id) {
    return invalid("the ID token's azp is not this client id");
  }

  const int64_t now_s = to_unix_ms(clock_.now()) / 1000;
  const int64_t skew_s =
      std::chrono::duration_cast<std::chrono::seconds>(options_.clock_skew).count();
  const auto exp = seconds_member(*claims, "exp");
  if (!exp) return invalid("the ID token has no exp");
  if (now_s >= *exp + skew_s) return invalid("the ID token has expired");
  const auto iat = seconds_member(*claims, "iat");
  if (!iat) return invalid("the ID token has no iat");
  const int64_t max_age_s = std::chrono::duration_cast<std::chrono::seconds>(kMaxTokenAge).count();
  if (*iat > now_s + skew_s || *iat < now_s - max_age_s - skew_s) {
    return invalid("the ID token's iat is not recent");
  }

  const auto token_nonce = string_member(*claims, "nonce");
  if (nonce.empty() || !token_nonce || !constant_time_equal(*token_nonce, nonce)) {
    return invalid("the ID token's nonce is not this sign-in's");
  }
  auto sub = string_member(*claims, "sub");
  if (!sub || sub->empty()) return invalid("the ID token has no sub");
  const auto email = string_member(*claims, "email");
  if (!email || email->empty()) return invalid("the ID token carries no email (scope \"email\")");
  // Some providers send the flag as a string.
  const json::value* verified = claims->if_contains("email_verified");
  const bool email_verified =
      verified != nullptr && ((verified->is_bool() && verified->as_bool()) ||
                              (verified->is_string() && verified->as_string() == "true"));
  if (!email_verified) {
    return invalid(fmt::format("the provider has not verified the e-mail {}", lower(*email)));
  }
  return OidcIdentity{.email = lower(*email), .subject = std::move(*sub)};
}

bool OidcClient::email_allowed(std::string_view email) const {
  const std::string e = lower(email);
  return std::find(options_.admin_emails.begin(), options_.admin_emails.end(), e) !=
         options_.admin_emails.end();
}

Result<OidcIdentity> OidcClient::sign_in(std::string_view code, std::string_view code_verifier,
                                         std::string_view nonce) {
  auto id_token = exchange_code(code, code_verifier);
  if (!id_token) return id_token.error();
  auto who = verify_id_token(*id_token, nonce);
  if (!who) return who.error();
  if (!email_allowed(who->email)) {
    return invalid(fmt::format("{} is not in ADMIN_EMAILS", who->email));
  }
  return who;
}

}  // namespace insightd::auth
