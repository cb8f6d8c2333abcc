// Identifiers: "<prefix>_<26 chars>", time-ordered (48-bit ms) then 80 random bits,
// Crockford base32 like ULID, so ids sort by creation and never collide in practice.
// Within one millisecond a thread's ids count up from a random start (ULID's
// monotonic mode), so ids one thread makes in sequence sort in that sequence even
// under a clock that has not moved; across threads only the millisecond orders them.
#pragma once

#include <string>
#include <string_view>

#include "core/time.h"

namespace insightd {

std::string new_id(std::string_view prefix, Timestamp now);
std::string new_id(std::string_view prefix);

// 32 random hex characters, for lease tokens.
std::string new_token();

}  // namespace insightd
