// Where sign-in keeps its state: the admin credential, server-side sessions, API
// tokens and generated secrets (tables of migration 0002_admin_auth). Written once
// over store/sql.h for SQLite and PostgreSQL. Secrets are never stored in the
// clear except the generated AUTH_SECRET, which the server itself needs.
//
// Every method is one statement or one transaction, thread-safe (the pool hands
// out connections); kUnavailable when the database is down.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "store/sql.h"

namespace insightd::auth {

enum class CredentialSource { kGenerated, kConfigured };

struct StoredCredential {
  std::string admin_id;
  std::string password_hash;  // Argon2id, encoded (auth/password.h)
  CredentialSource source = CredentialSource::kGenerated;
  Timestamp created_at;
  Timestamp updated_at;
};

struct StoredSession {
  std::string session_hash;  // session_token_digest of the cookie's token
  std::string admin_id;
  Timestamp created_at;
  Timestamp last_seen_at;
  Timestamp expires_at;  // idle expiry, never later than absolute_expires_at
  Timestamp absolute_expires_at;
};

struct StoredApiToken {
  std::string token_id;  // "tok_..."
  std::string name;
  std::string created_by;  // the admin id
  Timestamp created_at;
  std::optional<Timestamp> last_used_at;
};

class AuthStore {
 public:
  // `pool` must outlive the store.
  explicit AuthStore(store::ConnectionPool& pool) : pool_(pool) {}

  Result<std::optional<StoredCredential>> credential(std::string_view admin_id);
  // Stores `c` unless `c.admin_id` already has a credential; true when stored.
  // Several processes starting at once: exactly one of them stores its own.
  Result<bool> insert_credential_if_absent(const StoredCredential& c);
  // Stores `c` over any earlier credential of the id and ends that admin's
  // sessions, in one transaction.
  Status replace_credential(const StoredCredential& c);

  // The value stored under `name`; stores `value` first when there is none (the
  // first process to ask wins, the others get its value).
  Result<std::string> secret_or_insert(std::string_view name, std::string_view value,
                                       Timestamp now);

  Status insert_session(const StoredSession& s);
  Result<std::optional<StoredSession>> session(std::string_view session_hash);
  Status touch_session(std::string_view session_hash, Timestamp last_seen, Timestamp expires_at);
  Status delete_session(std::string_view session_hash);
  // Deletes sessions whose expires_at is not after `now`; returns how many.
  Result<int64_t> delete_expired_sessions(Timestamp now);

  // kAlreadyExists when the id or the hash is taken.
  Status insert_api_token(const StoredApiToken& t, std::string_view token_hash);
  Result<std::optional<StoredApiToken>> api_token_by_hash(std::string_view token_hash);
  Status touch_api_token(std::string_view token_id, Timestamp used_at);
  // Newest first.
  Result<std::vector<StoredApiToken>> api_tokens();
  // True when the token existed.
  Result<bool> delete_api_token(std::string_view token_id);

 private:
  store::ConnectionPool& pool_;
};

}  // namespace insightd::auth
