#include "core/backoff.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace insightd {

Millis retry_delay(int attempt, Millis base, Millis cap, double random01) {
  const int64_t limit = std::max<int64_t>(cap.count(), 0);
  int64_t delay = std::clamp<int64_t>(base.count(), 0, limit);
  // Doubling stops at the cap, so the loop is short and nothing can overflow.
  for (int i = 1; i < attempt && delay > 0 && delay < limit; ++i) {
    delay = delay > limit / 2 ? limit : delay * 2;
  }
  const int64_t half = delay / 2;
  const double r = std::isnan(random01) ? 0.0 : std::clamp(random01, 0.0, 1.0);
  // A product that rounds up to `half` still keeps the result within `delay`.
  const auto jitter = static_cast<int64_t>(std::floor(r * static_cast<double>(half)));
  return Millis(delay - half + std::min(jitter, half));
}

}  // namespace insightd
