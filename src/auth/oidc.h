// Optional Google sign-in (SPEC §10): the OpenID Connect authorization-code
// flow with PKCE, for the e-mail addresses in ADMIN_EMAILS.
//
//  - The provider is found by discovery (<issuer>/.well-known/openid-configuration),
//    fetched on first use and kept. Its signing keys (jwks_uri) are kept too, and
//    fetched again once when a token names a key not seen yet (key rotation).
//  - An ID token is accepted only as an RS256 JWT signed by one of those keys,
//    from this issuer, for this client, unexpired, carrying the nonce of the
//    flow that asked for it and a verified e-mail listed in ADMIN_EMAILS.
//  - All HTTP goes through OidcHttp, so the checks are tested without sockets;
//    make_oidc_http() is the real one, over net's HTTP client.
//
// The HTTP routes that drive the flow are in auth/oidc_routes.h.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "net/http_client.h"

namespace insightd::auth {

// An answer: its status and body (no header is kept).
using HttpReply = net::HttpResponse;

// The outbound HTTP the OIDC client needs. Implementations must be thread-safe.
class OidcHttp {
 public:
  virtual ~OidcHttp() = default;
  // GET `url`. Any HTTP status is an answer; kUnavailable when none came.
  virtual Result<HttpReply> get(const std::string& url) = 0;
  // POST `form` as application/x-www-form-urlencoded to `url`.
  virtual Result<HttpReply> post_form(const std::string& url, const std::string& form) = 0;
};

// OidcHttp over net's HTTP client: http(s) only, no redirects, `timeout` per
// request, answers over 1 MiB refused.
std::unique_ptr<OidcHttp> make_oidc_http(Millis timeout = std::chrono::seconds(10));

struct OidcOptions {
  std::string issuer;                     // GOOGLE_ISSUER, e.g. https://accounts.google.com
  std::string client_id;                  // GOOGLE_CLIENT_ID
  std::string client_secret;              // GOOGLE_CLIENT_SECRET
  std::string redirect_uri;               // PUBLIC_URL + /api/auth/google/callback
  std::vector<std::string> admin_emails;  // ADMIN_EMAILS, lower-case
  // How far the provider's clock may be from ours for exp and iat.
  Millis clock_skew = std::chrono::minutes(1);
};

// What discovery says about the provider (only what the flow uses).
struct ProviderMetadata {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
};

// A PKCE pair (RFC 7636): the verifier stays with us until the token request,
// its S256 challenge goes to the provider with the authorization request.
struct Pkce {
  std::string verifier;   // 64 characters of base64url (48 random bytes)
  std::string challenge;  // pkce_s256(verifier)
};
Pkce new_pkce();
// base64url(SHA-256(verifier)) without padding.
std::string pkce_s256(std::string_view verifier);

// True for a path on this server to send the browser to after sign-in: starts
// with one '/' (not "//" or "/\", which browsers read as another host), at most
// 512 characters of letters, digits and -._~!$&()*+,;=:@/?%# (no quotes, angle
// brackets, backslashes, spaces or controls).
bool is_local_path(std::string_view path);

// What the browser keeps between the redirect to the provider and the callback,
// in a cookie (see oidc_routes.h): the state and nonce that tie the answer to
// this browser's request, the PKCE verifier, and where to go afterwards.
struct OidcFlow {
  std::string state;
  std::string nonce;
  std::string verifier;
  std::string next;
  Timestamp expires_at;
};
// "<base64url JSON>.<HMAC-SHA-256 hex>": readable by whoever holds the cookie
// (nothing in it is of use without the browser's own session at the
// provider), unforgeable without `key`.
std::string seal_flow(const OidcFlow& flow, std::string_view key);
// The flow sealed with `key`; nullopt when the MAC is wrong, the text malformed
// or the flow expired at `now`.
std::optional<OidcFlow> open_flow(std::string_view sealed, std::string_view key, Timestamp now);

// Who a verified ID token says signed in.
struct OidcIdentity {
  std::string email;    // lower-case
  std::string subject;  // the provider's stable user id ("sub")
};

// The client side of the flow. Failures are values: kInvalidArgument when the
// provider's answer or the token fails a check (the message says which, and
// never holds a token), kUnavailable when the provider cannot be reached or
// answers with an error status. Thread-safe; every method but
// authorization_url() after the first discovery may block on the network.
class OidcClient {
 public:
  // `http` is owned; `clock` must outlive the client.
  OidcClient(OidcOptions options, std::unique_ptr<OidcHttp> http, const Clock& clock);
  ~OidcClient();

  // The provider's endpoints: fetched on first use and kept (a failed fetch is
  // tried again on the next call). The document's issuer must be GOOGLE_ISSUER.
  Result<ProviderMetadata> metadata();

  // Where to send the browser: the authorization endpoint with response_type=code,
  // client_id, redirect_uri, scope "openid email", state, nonce, and the S256
  // code challenge.
  Result<std::string> authorization_url(std::string_view state, std::string_view nonce,
                                        std::string_view code_challenge);

  // Redeems `code` at the token endpoint (with the PKCE verifier and the client
  // secret) and returns the ID token, unverified.
  Result<std::string> exchange_code(std::string_view code, std::string_view code_verifier);

  // Checks an ID token: RS256 signature by a key of the provider, iss, aud (and
  // azp), exp, iat, the flow's nonce, sub, and a verified e-mail. Does not look
  // at ADMIN_EMAILS.
  Result<OidcIdentity> verify_id_token(std::string_view id_token, std::string_view nonce);

  // Whether `email` (any case) is in ADMIN_EMAILS.
  bool email_allowed(std::string_view email) const;

  // The whole callback: exchange_code, verify_id_token, then email_allowed
  // (kInvalidArgument naming the address when it is not listed).
  Result<OidcIdentity> sign_in(std::string_view code, std::string_view code_verifier,
                               std::string_view nonce);

  const OidcOptions& options() const { return options_; }
  const Clock& clock() const { return clock_; }

 private:
  struct KeySet;  // the provider's RSA keys by kid (OpenSSL objects, kept out of this header)

  Result<std::shared_ptr<const KeySet>> fetch_keys(const ProviderMetadata& provider);
  bool issuer_matches(std::string_view iss, const ProviderMetadata& provider) const;

  const OidcOptions options_;
  const std::unique_ptr<OidcHttp> http_;
  const Clock& clock_;

  mutable std::mutex mu_;
  std::optional<ProviderMetadata> metadata_;  // guarded by mu_
  std::shared_ptr<const KeySet> keys_;        // guarded by mu_
  std::optional<Timestamp> keys_fetched_at_;  // guarded by mu_
};

}  // namespace insightd::auth
