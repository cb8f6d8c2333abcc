-- insightd schema v2 for PostgreSQL: admin sign-in (src/auth). Passwords and
-- tokens are stored only as hashes: Argon2id for the password, HMAC-SHA-256 (keyed
-- by AUTH_SECRET) for session tokens, SHA-256 for API tokens.
-- Released migrations are never edited: add a new file instead.

-- One row per admin login name; the hash is libsodium's Argon2id string. `source`:
-- generated at first start (and printed once) or taken from ADMIN_PASSWORD.
CREATE TABLE "AdminCredential" (
  admin_id       text PRIMARY KEY,
  password_hash  text NOT NULL,
  source         text NOT NULL CHECK (source IN ('generated', 'configured')),
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL
);

-- Server-side sessions: the cookie holds a random token, this table its keyed hash.
-- A session ends at expires_at (idle expiry, moved on use, never past
-- absolute_expires_at) or when deleted (logout, password change).
CREATE TABLE "AdminSession" (
  session_hash         text PRIMARY KEY,
  admin_id             text NOT NULL,
  created_at           timestamptz NOT NULL,
  last_seen_at         timestamptz NOT NULL,
  expires_at           timestamptz NOT NULL,
  absolute_expires_at  timestamptz NOT NULL
);
-- Purging expired sessions.
CREATE INDEX admin_session_expires ON "AdminSession" (expires_at);
CREATE INDEX admin_session_admin ON "AdminSession" (admin_id);

-- API tokens for scripts (Authorization: Bearer ins_...); revoking deletes the row.
CREATE TABLE "ApiToken" (
  token_id      text PRIMARY KEY,
  name          text NOT NULL,
  token_hash    text NOT NULL UNIQUE,
  created_by    text NOT NULL,
  created_at    timestamptz NOT NULL,
  last_used_at  timestamptz
);
CREATE INDEX api_token_created ON "ApiToken" (created_at);

-- Secrets the server generates once and keeps (AUTH_SECRET when it is not configured).
CREATE TABLE "AppSecret" (
  name        text PRIMARY KEY,
  value       text NOT NULL,
  created_at  timestamptz NOT NULL
);
