#include "pipeline/retry_policy.h"

#include <algorithm>
#include <limits>

#include "core/backoff.h"

namespace insightd::pipeline {

Millis retry_pause(const RetryPolicy& policy, int64_t attempt, std::optional<Millis> retry_after,
                   double random01) {
  const int n = static_cast<int>(std::clamp<int64_t>(attempt, 1, std::numeric_limits<int>::max()));
  const Millis backoff = retry_delay(n, policy.base, policy.cap, random01);
  if (!retry_after) return backoff;
  return std::max(backoff, std::clamp(*retry_after, Millis(0), std::max(policy.cap, Millis(0))));
}

}  // namespace insightd::pipeline
