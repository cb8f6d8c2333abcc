// The circuit breaker around the external analyzer (SPEC.md §7), with its state
// in the database so that every worker of every process shares one breaker.
// The rules (breaker_rules.h) are pure functions of the stored record and the
// time; CircuitBreaker applies them through BreakerStore's compare-and-set, so
// of two processes deciding at once only one write wins and the loser decides
// again on what the winner wrote. Every change of state is logged and written
// to the outbox (circuit.state_changed) in the same transaction.
#pragma once

#include <string>
#include <string_view>

#include "core/model.h"
#include "core/result.h"
#include "core/time.h"
#include "pipeline/breaker_rules.h"
#include "store/store.h"

namespace insightd::pipeline {

class CircuitBreaker {
 public:
  // `name` is the breaker's row (e.g. "analyzer"). Thread-safe.
  CircuitBreaker(store::BreakerStore& store, std::string name, BreakerPolicy policy,
                 const Clock& clock);

  struct Ticket {
    Admission admission = Admission::kAllowed;
    Timestamp retry_at;
    BreakerState state = BreakerState::kClosed;  // as seen when deciding
  };

  // Asks to make one call. `caller` must be unique to this call across all
  // processes (a job's lease token); `label` names it in logs (the job id).
  // Database errors come back as errors; the caller then does not call.
  Result<Ticket> admit(std::string_view caller, std::string_view label);
  // Reports the outcome of a call that was admitted.
  Status record_success(std::string_view caller);
  Status record_failure(std::string_view caller);

  // The stored state, for start-up logs and tests.
  Result<BreakerRecord> current();
  const BreakerPolicy& policy() const { return policy_; }
  const std::string& name() const { return name_; }

 private:
  // Loads, decides with `rule` and writes until a write wins or nothing changes.
  template <typename Rule>
  Status apply(Rule rule, std::string_view label);
  void log_change(const BreakerRecord& before, const BreakerRecord& after,
                  std::string_view label) const;

  store::BreakerStore& store_;
  const std::string name_;
  const BreakerPolicy policy_;
  const Clock& clock_;
};

}  // namespace insightd::pipeline
