// Retry delays for failed jobs: exponential backoff with jitter, computed from a
// random number the caller supplies so that tests can pin it.
#pragma once

#include "core/time.h"

namespace insightd {

// The pause before the next try after `attempt` failures (1 = the first failure).
//
// The exponential delay is base * 2^(attempt-1), capped at `cap`. Equal jitter:
// half of it is fixed and half is scaled by `random01`, so retries of many jobs
// spread out yet never fire at once after a failure.
//
// The result lies in [ceil(d/2), d] where d is the capped delay, so it never
// exceeds `cap`. Out-of-range inputs are clamped rather than trusted: attempt < 1
// counts as 1, negative base or cap as 0, base above cap as cap, random01 below 0
// (or NaN) as 0 and above 1 as 1. Never overflows, whatever the attempt.
Millis retry_delay(int attempt, Millis base, Millis cap, double random01);

}  // namespace insightd
