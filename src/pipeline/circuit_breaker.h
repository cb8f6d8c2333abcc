// The circuit breaker around the external analyzer (SPEC.md §7), with its state
// in the database so that every worker of every process shares one breaker:
//
//   CLOSED     counts consecutive failures; at the threshold it turns OPEN.
//   OPEN       no call goes out until the cooldown ends; callers are told when
//              to come back (the end of the cooldown).
//   HALF_OPEN  exactly one caller (the probe) is let through; its success
//              closes the breaker, its failure opens it for another cooldown.
//              A probe that does not report within the probe timeout is
//              presumed hung (or its worker dead) and the next caller becomes
//              the probe, so a hung call can never wedge the breaker.
//
// The rules are pure functions of the stored record and the time (tested with
// a fake clock); CircuitBreaker applies them through BreakerStore's
// compare-and-set, so of two processes deciding at once only one write wins
// and the loser decides again on what the winner wrote. Every change of state
// is logged and written to the outbox (circuit.state_changed) in the same
// transaction.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/time.h"
#include "store/store.h"

namespace insightd::pipeline {

struct BreakerPolicy {
  int64_t failure_threshold = 5;
  Millis cooldown{600'000};
  // How long the probe may take before the next caller may probe instead.
  Millis probe_timeout{90'000};
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
  std::optional<store::BreakerRecord> next;
};

// `caller` identifies one call across all processes (a job's lease token).
AdmissionDecision decide_admission(const store::BreakerRecord& current, const BreakerPolicy& policy,
                                   std::string_view caller, Timestamp now);

// The record after `caller`'s call succeeded or failed; nullopt when nothing
// changes. A result from a caller that is not the current probe never moves a
// HALF_OPEN breaker (only the probe decides), and nothing moves an OPEN one
// before its cooldown ends.
std::optional<store::BreakerRecord> after_success(const store::BreakerRecord& current,
                                                  std::string_view caller, Timestamp now);
std::optional<store::BreakerRecord> after_failure(const store::BreakerRecord& current,
                                                  const BreakerPolicy& policy,
                                                  std::string_view caller, Timestamp now);

// The circuit.state_changed outbox payload for a move from `before` to `after`.
std::string state_change_payload(const store::BreakerRecord& before,
                                 const store::BreakerRecord& after);

class CircuitBreaker {
 public:
  // `name` is the breaker's row (e.g. "analyzer"). Thread-safe.
  CircuitBreaker(store::BreakerStore& store, std::string name, BreakerPolicy policy,
                 const Clock& clock);

  struct Ticket {
    Admission admission = Admission::kAllowed;
    Timestamp retry_at;
    store::BreakerState state = store::BreakerState::kClosed;  // as seen when deciding
  };

  // Asks to make one call. `caller` must be unique to this call across all
  // processes (a job's lease token); `label` names it in logs (the job id).
  // Database errors come back as errors; the caller then does not call.
  Result<Ticket> admit(std::string_view caller, std::string_view label);
  // Reports the outcome of a call that was admitted.
  Status record_success(std::string_view caller);
  Status record_failure(std::string_view caller);

  // The stored state, for start-up logs and tests.
  Result<store::BreakerRecord> current();
  const BreakerPolicy& policy() const { return policy_; }
  const std::string& name() const { return name_; }

 private:
  // Loads, decides with `rule` and writes until a write wins or nothing changes.
  template <typename Rule>
  Status apply(Rule rule, std::string_view label);
  void log_change(const store::BreakerRecord& before, const store::BreakerRecord& after,
                  std::string_view label) const;

  store::BreakerStore& store_;
  const std::string name_;
  const BreakerPolicy policy_;
  const Clock& clock_;
};

}  // namespace insightd::pipeline
