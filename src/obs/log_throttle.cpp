#include "obs/log_throttle.h"

#include <fmt/format.h>

namespace insightd::obs {

std::optional<uint64_t> LogThrottle::admit(Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (last_logged_ && now - *last_logged_ < period_) {
    ++suppressed_;
    return std::nullopt;
  }
  last_logged_ = now;
  const uint64_t left_out = suppressed_;
  suppressed_ = 0;
  return left_out;
}

std::string LogThrottle::suffix(uint64_t suppressed) const {
  if (suppressed == 0) return {};
  return fmt::format(" ({} more like it in the last {} s)", suppressed,
                     std::chrono::duration_cast<std::chrono::seconds>(period_).count());
}

}  // namespace insightd::obs
