// Base64 (RFC 4648) in the two forms insightd speaks, on libsodium's codec:
// the standard alphabet with padding (Engine.IO's binary packets in polling
// payloads) and the URL-safe alphabet without padding (JWTs, PKCE, tokens, the
// sign-in flow's cookie). Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace insightd {

// Standard alphabet, padded with '='.
std::string base64_encode(std::string_view bytes);

// Standard alphabet only, no whitespace, '=' only as the final padding. Missing
// padding is accepted, and so are set bits in the last character that no byte
// uses ("AR" is "\x01"), as browsers' atob() and Node's Buffer accept them.
std::optional<std::string> base64_decode(std::string_view text);

// URL-safe alphabet ('-' and '_'), no padding.
std::string base64url_encode(std::string_view bytes);

// Strict: URL-safe alphabet only; padding, whitespace and unused bits that are
// set in the last character are refused.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace insightd
