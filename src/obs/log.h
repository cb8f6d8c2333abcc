// Logging setup: plain lines on stdout in the seed's style ("[Worker] Claimed
// job: ..."), warnings and errors marked. Modules log through spdlog directly.
#pragma once

#include <string_view>

namespace insightd::obs {

// level: trace, debug, info, warn, error, off. Returns false for an unknown level.
bool init_logging(std::string_view level);

}  // namespace insightd::obs
