// When a failed analysis job runs again: exponential backoff with jitter
// (core/backoff.h) from a configurable base up to a cap, but never sooner than
// the failing service asked for (Retry-After, itself capped so that a hostile
// or broken header cannot park a job for days).
#pragma once

#include <optional>

#include "core/time.h"

namespace insightd::pipeline {

struct RetryPolicy {
  Millis base{10'000};
  Millis cap{600'000};
};

// The pause after the `attempt`-th failure (1 = first). `random01` in [0, 1]
// picks the jitter.
Millis retry_pause(const RetryPolicy& policy, int64_t attempt, std::optional<Millis> retry_after,
                   double random01);

}  // namespace insightd::pipeline
