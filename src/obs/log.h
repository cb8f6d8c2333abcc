// Logging setup: plain lines on stdout in the seed's style ("[Worker] Claimed
// job: ..."), warnings and errors marked. Modules log through spdlog directly.
#pragma once

#include <string_view>

namespace insightd::obs {

// level: trace, debug, info, warn, error, off. Returns false for an unknown level.
// `to_stderr`: for a command whose stdout carries data (`insightd export`).
bool init_logging(std::string_view level, bool to_stderr = false);

}  // namespace insightd::obs
