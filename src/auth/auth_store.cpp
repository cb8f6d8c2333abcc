#include "auth/auth_store.h"

namespace insightd::auth {
namespace {

using store::Row;
using store::sql_time;
using store::SqlConnection;
using store::SqlValue;
using store::TxMode;

// ---------------------------------------------------------------------------
// SQL text, the same for both dialects.

constexpr std::string_view kSelectCredential =
    "SELECT admin_id, password_hash, source, created_at, updated_at FROM \"AdminCredential\" "
    "WHERE admin_id = $1";
constexpr std::string_view kInsertCredentialIfAbsent =
    "INSERT INTO \"AdminCredential\" (admin_id, password_hash, source, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (admin_id) DO NOTHING";
constexpr std::string_view kUpsertCredential =
    "INSERT INTO \"AdminCredential\" (admin_id, password_hash, source, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (admin_id) DO UPDATE SET password_hash = "
    "excluded.password_hash, source = excluded.source, updated_at = excluded.updated_at";
constexpr std::string_view kDeleteSessionsOf = "DELETE FROM \"AdminSession\" WHERE admin_id = $1";

constexpr std::string_view kInsertSecretIfAbsent =
    "INSERT INTO \"AppSecret\" (name, value, created_at) VALUES ($1, $2, $3) "
    "ON CONFLICT (name) DO NOTHING";
constexpr std::string_view kSelectSecret = "SELECT value FROM \"AppSecret\" WHERE name = $1";

constexpr std::string_view kInsertSession =
    "INSERT INTO \"AdminSession\" (session_hash, admin_id, created_at, last_seen_at, expires_at, "
    "absolute_expires_at) VALUES ($1, $2, $3, $4, $5, $6)";
constexpr std::string_view kSelectSession =
    "SELECT session_hash, admin_id, created_at, last_seen_at, expires_at, absolute_expires_at "
    "FROM \"AdminSession\" WHERE session_hash = $1";
constexpr std::string_view kTouchSession =
    "UPDATE \"AdminSession\" SET last_seen_at = $2, expires_at = $3 WHERE session_hash = $1";
constexpr std::string_view kDeleteSession = "DELETE FROM \"AdminSession\" WHERE session_hash = $1";
constexpr std::string_view kDeleteExpiredSessions =
    "DELETE FROM \"AdminSession\" WHERE expires_at <= $1";

constexpr std::string_view kSelectApiTokenByHash =
    "SELECT token_id, name, created_by, created_at, last_used_at FROM \"ApiToken\" "
    "WHERE token_hash = $1";
constexpr std::string_view kListApiTokens =
    "SELECT token_id, name, created_by, created_at, last_used_at FROM \"ApiToken\" "
    "ORDER BY created_at DESC, token_id DESC";
constexpr std::string_view kInsertApiToken =
    "INSERT INTO \"ApiToken\" (token_id, name, token_hash, created_by, created_at) "
    "VALUES ($1, $2, $3, $4, $5)";
constexpr std::string_view kTouchApiToken =
    "UPDATE \"ApiToken\" SET last_used_at = $2 WHERE token_id = $1";
constexpr std::string_view kDeleteApiToken = "DELETE FROM \"ApiToken\" WHERE token_id = $1";

std::string_view to_text(CredentialSource s) {
  return s == CredentialSource::kConfigured ? "configured" : "generated";
}

StoredCredential credential_from(const Row& r) {
  return StoredCredential{
      .admin_id = r.text(0),
      .password_hash = r.text(1),
      .source =
          r.text(2) == "configured" ? CredentialSource::kConfigured : CredentialSource::kGenerated,
      .created_at = r.time(3),
      .updated_at = r.time(4),
  };
}

StoredSession session_from(const Row& r) {
  return StoredSession{
      .session_hash = r.text(0),
      .admin_id = r.text(1),
      .created_at = r.time(2),
      .last_seen_at = r.time(3),
      .expires_at = r.time(4),
      .absolute_expires_at = r.time(5),
  };
}

StoredApiToken token_from(const Row& r) {
  return StoredApiToken{
      .token_id = r.text(0),
      .name = r.text(1),
      .created_by = r.text(2),
      .created_at = r.time(3),
      .last_used_at = r.opt_time(4),
  };
}

std::vector<SqlValue> credential_params(const StoredCredential& c) {
  return {c.admin_id, c.password_hash, std::string(to_text(c.source)), sql_time(c.created_at),
          sql_time(c.updated_at)};
}

// One statement on a pooled connection, outside an explicit transaction.
template <typename Fn>
auto with_connection(store::ConnectionPool& pool, Fn&& fn)
    -> decltype(fn(std::declval<SqlConnection&>())) {
  auto conn = pool.acquire();
  if (!conn) return conn.error();
  return fn(**conn);
}

}  // namespace

Result<std::optional<StoredCredential>> AuthStore::credential(std::string_view admin_id) {
  return with_connection(pool_, [&](SqlConnection& c) -> Result<std::optional<StoredCredential>> {
    auto rows = c.query(kSelectCredential, {std::string(admin_id)});
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<StoredCredential>();
    return std::optional<StoredCredential>(credential_from(rows->front()));
  });
}

Result<bool> AuthStore::insert_credential_if_absent(const StoredCredential& cred) {
  return with_connection(pool_, [&](SqlConnection& c) -> Result<bool> {
    const auto params = credential_params(cred);
    auto changed = c.execute(kInsertCredentialIfAbsent, params);
    if (!changed) return changed.error();
    return *changed == 1;
  });
}

Status AuthStore::replace_credential(const StoredCredential& cred) {
  return pool_.in_transaction(TxMode::kWrite, [&](SqlConnection& c) -> Status {
    const auto params = credential_params(cred);
    INSIGHTD_TRY(c.execute(kUpsertCredential, params));
    INSIGHTD_TRY(c.execute(kDeleteSessionsOf, {cred.admin_id}));
    return Status::ok();
  });
}

Result<std::string> AuthStore::secret_or_insert(std::string_view name, std::string_view value,
                                                Timestamp now) {
  return pool_.in_transaction<std::string>(
      TxMode::kWrite, [&](SqlConnection& c) -> Result<std::string> {
        INSIGHTD_TRY(c.execute(kInsertSecretIfAbsent,
                               {std::string(name), std::string(value), sql_time(now)}));
        auto rows = c.query(kSelectSecret, {std::string(name)});
        if (!rows) return rows.error();
        if (rows->empty()) return make_error(ErrorCode::kInternal, "secret vanished after insert");
        return rows->front().text(0);
      });
}

Status AuthStore::insert_session(const StoredSession& s) {
  return with_connection(pool_, [&](SqlConnection& c) -> Status {
    return c
        .execute(kInsertSession,
                 {s.session_hash, s.admin_id, sql_time(s.created_at), sql_time(s.last_seen_at),
                  sql_time(s.expires_at), sql_time(s.absolute_expires_at)})
        .status();
  });
}

Result<std::optional<StoredSession>> AuthStore::session(std::string_view session_hash) {
  return with_connection(pool_, [&](SqlConnection& c) -> Result<std::optional<StoredSession>> {
    auto rows = c.query(kSelectSession, {std::string(session_hash)});
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<StoredSession>();
    return std::optional<StoredSession>(session_from(rows->front()));
  });
}

Status AuthStore::touch_session(std::string_view session_hash, Timestamp last_seen,
                                Timestamp expires_at) {
  return with_connection(pool_, [&](SqlConnection& c) -> Status {
    return c
        .execute(kTouchSession,
                 {std::string(session_hash), sql_time(last_seen), sql_time(expires_at)})
        .status();
  });
}

Status AuthStore::delete_session(std::string_view session_hash) {
  return with_connection(pool_, [&](SqlConnection& c) -> Status {
    return c.execute(kDeleteSession, {std::string(session_hash)}).status();
  });
}

Result<int64_t> AuthStore::delete_expired_sessions(Timestamp now) {
  return with_connection(pool_, [&](SqlConnection& c) -> Result<int64_t> {
    return c.execute(kDeleteExpiredSessions, {sql_time(now)});
  });
}

Status AuthStore::insert_api_token(const StoredApiToken& t, std::string_view token_hash) {
  return with_connection(pool_, [&](SqlConnection& c) -> Status {
    return c
        .execute(kInsertApiToken, {t.token_id, t.name, std::string(token_hash), t.created_by,
                                   sql_time(t.created_at)})
        .status();
  });
}

Result<std::optional<StoredApiToken>> AuthStore::api_token_by_hash(std::string_view token_hash) {
  return with_connection(pool_, [&](SqlConnection& c) -> Result<std::optional<StoredApiToken>> {
    auto rows = c.query(kSelectApiTokenByHash, {std::string(token_hash)});
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<StoredApiToken>();
    return std::optional<StoredApiToken>(token_from(rows->front()));
  });
}

Status AuthStore::touch_api_token(std::string_view token_id, Timestamp used_at) {
  return with_connection(pool_, [&](SqlConnection& c) -> Status {
    return c.execute(kTouchApiToken, {std::string(token_id), sql_time(used_at)}).status();
  });
}

Result<std::vector<StoredApiToken>> AuthStore::api_tokens() {
  return with_connection(pool_, [&](SqlConnection& c) -> Result<std::vector<StoredApiToken>> {
    auto rows = c.query(kListApiTokens, {});
    if (!rows) return rows.error();
    std::vector<StoredApiToken> out;
    out.reserve(rows->size());
    for (const Row& r : *rows) out.push_back(token_from(r));
    return out;
  });
}

Result<bool> AuthStore::delete_api_token(std::string_view token_id) {
  return with_connection(pool_, [&](SqlConnection& c) -> Result<bool> {
    auto changed = c.execute(kDeleteApiToken, {std::string(token_id)});
    if (!changed) return changed.error();
    return *changed > 0;
  });
}

}  // namespace insightd::auth
