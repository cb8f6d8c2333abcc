#include "auth/auth_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <charconv>

#include "auth/password.h"
#include "auth/tokens.h"
#include "core/ids.h"

namespace insightd::auth {
namespace {

namespace http = net::http;

// A session's or token's last use is written at most this often: reading a page
// of the dashboard must not mean a write per request.
constexpr Millis kTouchEvery = std::chrono::minutes(1);
constexpr size_t kMaxTokenNameChars = 100;
// A session token is 43 characters; anything much longer is not one.
constexpr size_t kMaxSessionTokenChars = 128;
constexpr std::string_view kSecretName = "auth_secret";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

ApiTokenInfo info_from(const StoredApiToken& t) {
  return ApiTokenInfo{.token_id = t.token_id,
                      .name = t.name,
                      .created_by = t.created_by,
                      .created_at = t.created_at,
                      .last_used_at = t.last_used_at};
}

}  // namespace

Timestamp session_expiry(Timestamp last_seen, Timestamp absolute_expires_at, Millis idle) {
  return std::min(last_seen + idle, absolute_expires_at);
}

std::optional<std::string> find_cookie(const net::Request& req, std::string_view name) {
  for (auto it = req.find(http::field::cookie);
       it != req.end() && it->name() == http::field::cookie; ++it) {
    std::string_view rest = it->value();
    while (!rest.empty()) {
      const size_t end = rest.find(';');
      const std::string_view pair = trim(rest.substr(0, end));
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != name) continue;
      std::string_view value = trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return std::string(value);
    }
  }
  return std::nullopt;
}

AuthService::AuthService(AuthOptions options, store::ConnectionPool& pool, const Clock& clock)
    : options_(std::move(options)),
      store_(pool),
      clock_(clock),
      limiter_(clock, options_.rate_limit) {}

Result<std::unique_ptr<AuthService>> AuthService::open(AuthOptions options,
                                                       store::ConnectionPool& pool,
                                                       const Clock& clock) {
  std::unique_ptr<AuthService> service(new AuthService(std::move(options), pool, clock));
  INSIGHTD_TRY(service->prepare_secret());
  INSIGHTD_TRY(service->prepare_credential());
  return service;
}

Status AuthService::prepare_secret() {
  if (options_.auth_secret) {
    secret_ = *options_.auth_secret;
    return Status::ok();
  }
  auto stored = store_.secret_or_insert(kSecretName, random_token(32), clock_.now());
  if (!stored) return stored.error();
  secret_ = std::move(stored).value();
  spdlog::info("[Auth] AUTH_SECRET not set: using the secret generated and kept in the database");
  return Status::ok();
}

Status AuthService::prepare_credential() {
  const std::string& id = options_.admin_id;
  auto existing = store_.credential(id);
  if (!existing) return existing.error();
  const Timestamp now = clock_.now();

  if (options_.admin_password) {
    const std::string& password = *options_.admin_password;
    if (*existing && (*existing)->source == CredentialSource::kConfigured &&
        !password_needs_rehash((*existing)->password_hash) &&
        verify_password((*existing)->password_hash, password)) {
      return Status::ok();  // the stored hash is this password's
    }
    auto hash = hash_password(password);
    if (!hash) return hash.error();
    StoredCredential c{.admin_id = id,
                       .password_hash = std::move(hash).value(),
                       .source = CredentialSource::kConfigured,
                       .created_at = *existing ? (*existing)->created_at : now,
                       .updated_at = now};
    INSIGHTD_TRY(store_.replace_credential(c));
    spdlog::info("[Auth] Admin password for '{}' set from ADMIN_PASSWORD{}", id,
                 *existing ? " (earlier sessions ended)" : "");
    return Status::ok();
  }

  if (*existing) return Status::ok();  // the stored password stays; nothing to print
  const std::string password = generate_password();
  auto hash = hash_password(password);
  if (!hash) return hash.error();
  StoredCredential c{.admin_id = id,
                     .password_hash = std::move(hash).value(),
                     .source = CredentialSource::kGenerated,
                     .created_at = now,
                     .updated_at = now};
  auto inserted = store_.insert_credential_if_absent(c);
  if (!inserted) return inserted.error();
  // Another process starting at the same time may have stored its own first:
  // then that one is the password, and that process printed it.
  if (*inserted) {
    spdlog::warn(
        "[Auth] Generated admin password for '{}': {} (shown once; set ADMIN_PASSWORD to choose "
        "your own)",
        id, password);
  }
  return Status::ok();
}

Result<LoginOutcome> AuthService::login(std::string_view id, std::string_view password,
                                        std::string_view client) {
  // Read first: a database that cannot answer must not count against the client.
  auto cred = store_.credential(options_.admin_id);
  if (!cred) return cred.error();
  if (auto wait = limiter_.start_attempt(client)) {
    return LoginOutcome{.kind = LoginOutcome::Kind::kRateLimited, .retry_after = *wait};
  }
  const std::string attempt = shared_limit_ != nullptr ? random_token(12) : std::string();
  if (shared_limit_ != nullptr) {
    if (auto wait = shared_limit_->start_attempt(client, attempt, options_.rate_limit)) {
      limiter_.forget_attempt(client);
      return LoginOutcome{.kind = LoginOutcome::Kind::kRateLimited, .retry_after = *wait};
    }
  }
  // Hashing both sides makes the comparison's time independent of the id's length;
  // the password is verified even for a wrong id, so both cost the same.
  const bool id_ok = constant_time_equal(sha256_hex(id), sha256_hex(options_.admin_id));
  bool password_ok = false;
  if (*cred) {
    // Both hashing slots busy: 503 at once, rather than queue on the server's threads.
    auto verified = try_verify_password((*cred)->password_hash, password);
    if (!verified) {
      limiter_.forget_attempt(client);
      if (shared_limit_ != nullptr) shared_limit_->forget_attempt(client, attempt);
      return verified.error();
    }
    password_ok = *verified;
  }
  if (!id_ok || !password_ok) return LoginOutcome{.kind = LoginOutcome::Kind::kInvalidCredentials};
  limiter_.record_success(client);
  if (shared_limit_ != nullptr) shared_limit_->record_success(client);
  auto session = start_session(options_.admin_id);
  if (!session) return session.error();
  return LoginOutcome{.kind = LoginOutcome::Kind::kSignedIn, .session = std::move(session).value()};
}

Result<SignedIn> AuthService::start_session(std::string_view admin_id) {
  const Timestamp now = clock_.now();
  if (auto purged = store_.delete_expired_sessions(now); !purged) {
    spdlog::warn("[Auth] Cannot purge expired sessions: {}", purged.error().message);
  }
  SignedIn in;
  in.session_token = new_session_token();
  in.csrf_token = csrf_token_for(secret_, in.session_token);
  in.absolute_expires_at = now + options_.session_absolute;
  in.expires_at = session_expiry(now, in.absolute_expires_at, options_.session_idle);
  INSIGHTD_TRY(store_.insert_session(StoredSession{
      .session_hash = session_token_digest(secret_, in.session_token),
      .admin_id = std::string(admin_id),
      .created_at = now,
      .last_seen_at = now,
      .expires_at = in.expires_at,
      .absolute_expires_at = in.absolute_expires_at,
  }));
  return in;
}

std::string AuthService::issue_stream_ticket(Millis ttl) const {
  const std::string expiry = std::to_string((clock_.now() + ttl).time_since_epoch().count());
  return expiry + "." + hmac_sha256_hex(secret_, "stream:" + expiry);
}

bool AuthService::stream_ticket_valid(std::string_view ticket) const {
  const size_t dot = ticket.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 20) return false;
  const std::string expiry(ticket.substr(0, dot));
  int64_t ms = 0;
  auto [end, ec] = std::from_chars(expiry.data(), expiry.data() + expiry.size(), ms);
  if (ec != std::errc() || end != expiry.data() + expiry.size()) return false;
  if (!constant_time_equal(ticket.substr(dot + 1), hmac_sha256_hex(secret_, "stream:" + expiry))) {
    return false;
  }
  return clock_.now().time_since_epoch().count() <= ms;
}

Status AuthService::logout(std::string_view session_token) {
  if (session_token.empty() || session_token.size() > kMaxSessionTokenChars) return Status::ok();
  return store_.delete_session(session_token_digest(secret_, session_token));
}

Result<std::optional<Principal>> AuthService::authenticate(const net::Request& req) {
  if (auto it = req.find(http::field::authorization); it != req.end()) {
    const std::string_view value = trim(it->value());
    constexpr std::string_view kBearer = "bearer ";
    if (value.size() > kBearer.size() &&
        boost::beast::iequals(value.substr(0, kBearer.size()), kBearer)) {
      // A request that names a token stands or falls with it, cookie or not.
      return authenticate_token(trim(value.substr(kBearer.size())));
    }
  }
  if (auto token = find_cookie(req, kSessionCookie)) return authenticate_session(*token);
  return std::optional<Principal>();
}

Result<std::optional<Principal>> AuthService::authenticate_token(std::string_view token) {
  if (!looks_like_api_token(token)) return std::optional<Principal>();
  auto found = store_.api_token_by_hash(api_token_digest(token));
  if (!found) return found.error();
  if (!*found) return std::optional<Principal>();
  const StoredApiToken& t = **found;
  const Timestamp now = clock_.now();
  if (!t.last_used_at || now - *t.last_used_at >= kTouchEvery) {
    if (Status s = store_.touch_api_token(t.token_id, now); !s) {
      spdlog::warn("[Auth] Cannot record the use of token {}: {}", t.token_id, s.message());
    }
  }
  return std::optional<Principal>(Principal{
      .admin_id = t.created_by, .method = Principal::Method::kApiToken, .token_id = t.token_id});
}

Result<std::optional<Principal>> AuthService::authenticate_session(std::string_view session_token) {
  if (session_token.empty() || session_token.size() > kMaxSessionTokenChars) {
    return std::optional<Principal>();
  }
  const std::string digest = session_token_digest(secret_, session_token);
  auto found = store_.session(digest);
  if (!found) return found.error();
  if (!*found) return std::optional<Principal>();
  const StoredSession& s = **found;
  // A session of an earlier ADMIN_ID (or of an address no longer listed) is nobody's now.
  if (!is_admin(s.admin_id)) return std::optional<Principal>();
  const Timestamp now = clock_.now();
  if (now >= s.expires_at) {
    if (Status d = store_.delete_session(digest); !d) {
      spdlog::warn("[Auth] Cannot delete an expired session: {}", d.message());
    }
    return std::optional<Principal>();
  }
  Timestamp expires_at = s.expires_at;
  if (now - s.last_seen_at >= kTouchEvery) {
    expires_at = session_expiry(now, s.absolute_expires_at, options_.session_idle);
    if (Status t = store_.touch_session(digest, now, expires_at); !t) {
      spdlog::warn("[Auth] Cannot extend a session: {}", t.message());
      expires_at = s.expires_at;
    }
  }
  return std::optional<Principal>(Principal{.admin_id = s.admin_id,
                                            .method = Principal::Method::kSession,
                                            .csrf_token = csrf_token_for(secret_, session_token),
                                            .expires_at = expires_at});
}

bool AuthService::is_admin(std::string_view admin_id) const {
  return admin_id == options_.admin_id ||
         std::find(options_.google_admins.begin(), options_.google_admins.end(), admin_id) !=
             options_.google_admins.end();
}

std::string AuthService::derive_key(std::string_view purpose) const {
  return hmac_sha256_hex(secret_, purpose);
}

bool AuthService::csrf_ok(const net::Request& req, const Principal& who) {
  const http::verb m = req.method();
  if (m == http::verb::get || m == http::verb::head || m == http::verb::options) return true;
  if (who.method == Principal::Method::kApiToken) return true;
  auto it = req.find(kCsrfHeader);
  if (it == req.end() || who.csrf_token.empty()) return false;
  return constant_time_equal(trim(it->value()), who.csrf_token);
}

bool AuthService::secure_cookie_for(const net::Request& req) const {
  if (options_.secure_cookies) return true;
  auto it = req.find("X-Forwarded-Proto");
  return it != req.end() && boost::beast::iequals(trim(it->value()), "https");
}

Result<CreatedApiToken> AuthService::create_api_token(std::string_view name, const Principal& by) {
  name = trim(name);
  if (name.empty() || name.size() > kMaxTokenNameChars) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("name must be 1 to {} characters", kMaxTokenNameChars));
  }
  const Timestamp now = clock_.now();
  CreatedApiToken out;
  out.token = new_api_token();
  out.info = ApiTokenInfo{.token_id = new_id("tok", now),
                          .name = std::string(name),
                          .created_by = by.admin_id,
                          .created_at = now};
  INSIGHTD_TRY(store_.insert_api_token(StoredApiToken{.token_id = out.info.token_id,
                                                      .name = out.info.name,
                                                      .created_by = out.info.created_by,
                                                      .created_at = now},
                                       api_token_digest(out.token)));
  return out;
}

Result<std::vector<ApiTokenInfo>> AuthService::api_tokens() {
  auto stored = store_.api_tokens();
  if (!stored) return stored.error();
  std::vector<ApiTokenInfo> out;
  out.reserve(stored->size());
  for (const StoredApiToken& t : *stored) out.push_back(info_from(t));
  return out;
}

Result<bool> AuthService::revoke_api_token(std::string_view token_id) {
  return store_.delete_api_token(token_id);
}

}  // namespace insightd::auth
