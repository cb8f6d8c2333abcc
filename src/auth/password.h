// Admin passwords: hashed with Argon2id (libsodium's crypto_pwhash_str, its
// "interactive" limits: 2 passes over 64 MiB), verified in constant time, and
// generated when the operator has not chosen one.
//
// Each hash or verify takes about 64 MiB and a tenth of a second, so at most two
// run at once in the process: a burst of logins cannot take the server's memory.
// verify_password() and hash_password() wait for a slot (start-up, the CLI);
// sign-in takes one with try_verify_password(), which refuses at once rather
// than queue requests on the server's threads. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace insightd::auth {

// The encoded hash ("$argon2id$v=19$m=65536,t=2,p=1$salt$hash"), salt included.
// kInternal only when the system is out of memory.
Result<std::string> hash_password(std::string_view password);

// True when `password` matches `encoded_hash`. A malformed hash matches nothing.
bool verify_password(std::string_view encoded_hash, std::string_view password);

// The same, if a hashing slot is free now; kUnavailable (answered 503) when both
// are busy.
Result<bool> try_verify_password(std::string_view encoded_hash, std::string_view password);

// True when `encoded_hash` was made with other limits than hash_password's now.
bool password_needs_rehash(std::string_view encoded_hash);

// A fresh password for the admin: 24 characters of base64url (144 random bits).
std::string generate_password();

}  // namespace insightd::auth
