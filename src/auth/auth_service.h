// Admin sign-in (SPEC §10): who may use the admin API and how they prove it.
//
//  - One admin: ADMIN_ID with a password hashed by Argon2id. Without
//    ADMIN_PASSWORD a password is generated at the first start, logged once and
//    stored hashed; ADMIN_PASSWORD, when set, replaces the stored one (ending
//    that admin's sessions when it changes).
//  - Sessions live in the database: the cookie holds a random token, the table
//    its HMAC keyed by AUTH_SECRET (generated and stored when not configured).
//    A session ends after `session_idle` without use, after `session_absolute`
//    in any case, at logout, or when the password changes.
//  - Cookie-authenticated state changes carry the session's CSRF token in
//    X-CSRF-Token; API tokens (Authorization: Bearer ins_...) need none.
//  - Failed logins are limited per client address (auth/login_rate_limiter.h).
//
// Thread-safe; every method that reads the database may block, so HTTP routes
// that call it run on the blocking pool.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth_store.h"
#include "auth/login_rate_limiter.h"
#include "core/result.h"
#include "core/time.h"
#include "net/http.h"
#include "store/sql.h"

namespace insightd::auth {

inline constexpr std::string_view kSessionCookie = "insightd_session";
inline constexpr std::string_view kCsrfHeader = "X-CSRF-Token";

struct AuthOptions {
  std::string admin_id = "admin";
  std::optional<std::string> admin_password;  // ADMIN_PASSWORD
  std::optional<std::string> auth_secret;     // AUTH_SECRET / BETTER_AUTH_SECRET
  bool secure_cookies = false;                // PUBLIC_URL is https://
  // With Google sign-in on, ADMIN_EMAILS (lower-case): sessions started for these
  // ids count as well as ADMIN_ID's; dropping an address ends its sessions.
  std::vector<std::string> google_admins;
  Millis session_idle = std::chrono::hours(12);
  Millis session_absolute = std::chrono::hours(24 * 7);
  LoginRateLimit rate_limit;
};

// Who made a request.
struct Principal {
  enum class Method { kSession, kApiToken };
  std::string admin_id;
  Method method = Method::kSession;
  std::string csrf_token;               // kSession: what X-CSRF-Token must carry
  std::string token_id;                 // kApiToken: which token
  std::optional<Timestamp> expires_at;  // kSession: when it ends unless used again
};

// A successful login: the cookie's value and the CSRF token that goes with it.
struct SignedIn {
  std::string session_token;
  std::string csrf_token;
  Timestamp expires_at;           // idle expiry
  Timestamp absolute_expires_at;  // when the cookie may go
};

struct LoginOutcome {
  enum class Kind { kSignedIn, kInvalidCredentials, kRateLimited };
  Kind kind = Kind::kInvalidCredentials;
  std::optional<SignedIn> session;  // kSignedIn
  Millis retry_after{0};            // kRateLimited
};

// An API token as listed: never the token itself.
struct ApiTokenInfo {
  std::string token_id;
  std::string name;
  std::string created_by;
  Timestamp created_at;
  std::optional<Timestamp> last_used_at;
};

struct CreatedApiToken {
  ApiTokenInfo info;
  std::string token;  // shown once; only its hash is stored
};

// When a session used at `last_seen` ends: `idle` later, but never after its
// absolute expiry.
Timestamp session_expiry(Timestamp last_seen, Timestamp absolute_expires_at, Millis idle);

// The value of cookie `name` in a request's Cookie headers; nullopt when absent.
std::optional<std::string> find_cookie(const net::Request& req, std::string_view name);

class AuthService {
 public:
  // Prepares sign-in on a migrated database: the secret and the admin credential
  // (generating and logging a password at the first start). `pool` and `clock`
  // must outlive the service.
  static Result<std::unique_ptr<AuthService>> open(AuthOptions options, store::ConnectionPool& pool,
                                                   const Clock& clock);

  // The failed-login limit across the nodes, beside this node's (REDIS_URL);
  // set before serving; `shared` must outlive the service.
  void share_login_limit(SharedLoginLimit& shared) { shared_limit_ = &shared; }

  // Checks an id and password from `client` (its address, for the rate limit).
  // A wrong id costs as much time as a wrong password.
  Result<LoginOutcome> login(std::string_view id, std::string_view password,
                             std::string_view client);

  // Starts a session for `admin_id`, who has proven who they are some other way
  // (Google sign-in); only ADMIN_ID and `google_admins` sessions authenticate.
  Result<SignedIn> start_session(std::string_view admin_id);

  // Ends the session of `session_token` (nothing happens when there is none).
  Status logout(std::string_view session_token);

  // Who sent `req`: a valid Bearer API token, else a valid session cookie;
  // nullopt for anonymous requests. kUnavailable when the database is down.
  Result<std::optional<Principal>> authenticate(const net::Request& req);

  // True unless `req` changes state (not GET, HEAD or OPTIONS), was
  // authenticated by the session cookie, and lacks the session's CSRF token.
  static bool csrf_ok(const net::Request& req, const Principal& who);

  // True when cookies must carry Secure for `req`: PUBLIC_URL is https, or a
  // proxy says the request came over TLS (X-Forwarded-Proto: https).
  bool secure_cookie_for(const net::Request& req) const;

  // kInvalidArgument for an empty name or one over 100 characters.
  Result<CreatedApiToken> create_api_token(std::string_view name, const Principal& by);
  Result<std::vector<ApiTokenInfo>> api_tokens();
  // True when the token existed.
  Result<bool> revoke_api_token(std::string_view token_id);

  // A short-lived credential for the dashboard's live stream (Socket.IO
  // namespace /admin), handed to a signed-in admin: "<expiry ms>.<HMAC>" keyed
  // by AUTH_SECRET, so any node sharing the secret can check it without the
  // database. Valid for `ttl` from now.
  std::string issue_stream_ticket(Millis ttl) const;
  // True for a ticket issue_stream_ticket made with this secret that has not expired.
  bool stream_ticket_valid(std::string_view ticket) const;

  // A key for `purpose` derived from AUTH_SECRET (HMAC-SHA-256), so other MACs
  // (the Google sign-in cookie) never use the session key itself.
  std::string derive_key(std::string_view purpose) const;

  const AuthOptions& options() const { return options_; }

 private:
  AuthService(AuthOptions options, store::ConnectionPool& pool, const Clock& clock);
  Status prepare_secret();
  Status prepare_credential();
  Result<std::optional<Principal>> authenticate_token(std::string_view token);
  Result<std::optional<Principal>> authenticate_session(std::string_view session_token);
  bool is_admin(std::string_view admin_id) const;

  const AuthOptions options_;
  AuthStore store_;
  const Clock& clock_;
  LoginRateLimiter limiter_;
  SharedLoginLimit* shared_limit_ = nullptr;
  std::string secret_;  // AUTH_SECRET, configured or stored; fixed after open()
};

}  // namespace insightd::auth
