// The random secrets of sign-in and their stored forms: session tokens (the
// cookie's value), API tokens ("ins_..."), CSRF tokens, and the constant-time
// comparison every secret check uses. OpenSSL's CSPRNG, SHA-256 and HMAC.
// Stateless and thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace insightd::auth {

// `bytes` random bytes as base64url without padding.
std::string random_token(size_t bytes);

// A session token: 32 random bytes, 43 characters of base64url.
std::string new_session_token();

// API tokens are "ins_" followed by 43 characters of base64url (32 random bytes):
// the prefix lets secret scanners and people recognise them.
inline constexpr std::string_view kApiTokenPrefix = "ins_";
std::string new_api_token();
bool looks_like_api_token(std::string_view token);

// Lower-case hex of SHA-256(data).
std::string sha256_hex(std::string_view data);
// The 32 bytes of SHA-256(data).
std::string sha256_bytes(std::string_view data);
// Lower-case hex of HMAC-SHA-256 keyed with `key`.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// What is stored for a session token: HMAC-SHA-256 keyed by AUTH_SECRET, so a
// leaked table cannot be replayed and rotating the secret ends every session.
std::string session_token_digest(std::string_view auth_secret, std::string_view session_token);

// What is stored for an API token: SHA-256 (the token carries 256 random bits,
// so no key is needed, and tokens survive a rotation of AUTH_SECRET).
std::string api_token_digest(std::string_view token);

// The CSRF token of a session: derived from the session token and AUTH_SECRET,
// so it needs no storage, and cannot be computed from the cookie alone.
std::string csrf_token_for(std::string_view auth_secret, std::string_view session_token);

// a == b in time that depends only on their lengths (lengths are not secret here).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace insightd::auth
