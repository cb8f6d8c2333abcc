// The circuit breaker's rules (SPEC.md §7) as pure functions of the shared
// record (core's BreakerRecord) and the time: no database, no clock of their
// own, tested with plain values. CircuitBreaker (circuit_breaker.h) applies
// them to the stored record:
//
//   CLOSED     counts consecutive failures; at the threshold it turns OPEN.
//   OPEN       no call goes out until the cooldown ends; callers are told when
//              to come back (the end of the cooldown).
//   HALF_OPEN  exactly one caller (the probe) is let through; its success
//              closes the breaker, its failure opens it for another cooldown.
//              A probe that does not report within the probe timeout is
//              presumed hung (or its worker dead) and the next caller becomes
//              the probe, so a hung call can never wedge the breaker.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/model.h"
#include "core/time.h"

namespace insightd::pipeline {

struct BreakerPolicy {
  int64_t failure_threshold = 5;
  Millis cooldown{600'000};
  // How long the probe may take before the next caller may probe instead
  // (BREAKER_PROBE_TIMEOUT_MS, whose default this is).
  Millis probe_timeout{120'000};
  // While a probe is out, other callers come back after this long (or when the
  // probe would time out, if sooner), so that they run soon after it succeeds.
  Millis probe_recheck{5'000};
};

enum class Admission {
  kAllowed,   // CLOSED: go ahead
  kProbe,     // HALF_OPEN: go ahead as the one probe; report the result
  kRejected,  // OPEN, or a probe is out: do not call; come back at retry_at
};

std::string_view to_string(Admission a);

// What the rules decide for one caller. `next` is the record to write (nullopt:
// nothing changes).
struct AdmissionDecision {
  Admission admission = Admission::kAllowed;
  Timestamp retry_at;  // for kRejected
  std::optional<BreakerRecord> next;
};

// `caller` identifies one call across all processes (a job's lease token).
AdmissionDecision decide_admission(const BreakerRecord& current, const BreakerPolicy& policy,
                                   std::string_view caller, Timestamp now);

// The record after `caller`'s call succeeded or failed; nullopt when nothing
// changes. A result from a caller that is not the current probe never moves a
// HALF_OPEN breaker (only the probe decides), and nothing moves an OPEN one
// before its cooldown ends.
std::optional<BreakerRecord> after_success(const BreakerRecord& current, std::string_view caller,
                                           Timestamp now);
std::optional<BreakerRecord> after_failure(const BreakerRecord& current,
                                           const BreakerPolicy& policy, std::string_view caller,
                                           Timestamp now);

// The circuit.state_changed outbox payload for a move from `before` to `after`.
std::string state_change_payload(const BreakerRecord& before, const BreakerRecord& after);

}  // namespace insightd::pipeline
