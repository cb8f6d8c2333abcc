// Base64 (RFC 4648, standard alphabet) for binary packets in polling payloads,
// and the random session ids, on top of OpenSSL's codec.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace insightd::socketio {

std::string base64_encode(std::string_view bytes);

// Strict: only the standard alphabet, '=' only as the final padding. Missing
// padding is accepted, as browsers' atob() and Node's Buffer accept it.
std::optional<std::string> base64_decode(std::string_view text);

// 20 characters of the URL-safe alphabet from 120 bits of OpenSSL's CSPRNG: session
// ids must not be guessable, since knowing one is enough to speak for the client.
std::string random_session_id();

}  // namespace insightd::socketio
