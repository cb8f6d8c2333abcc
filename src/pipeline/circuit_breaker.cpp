#include "pipeline/circuit_breaker.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace insightd::pipeline {

CircuitBreaker::CircuitBreaker(store::BreakerStore& store, std::string name, BreakerPolicy policy,
                               const Clock& clock)
    : store_(store), name_(std::move(name)), policy_(policy), clock_(clock) {}

template <typename Rule>
Status CircuitBreaker::apply(Rule rule, std::string_view label) {
  // Each lost race means another process wrote first; decide again on what it
  // wrote. Writes are rare (state changes and failure counts), so a handful of
  // rounds is plenty; running out is reported, never spun on.
  constexpr int kRounds = 32;
  for (int round = 0; round < kRounds; ++round) {
    const Timestamp now = clock_.now();
    auto current = store_.load(name_, now);
    if (!current) return current.error();
    const std::optional<BreakerRecord> next = rule(*current, now);
    if (!next) return Status::ok();
    const bool changes_state =
        next->state != current->state ||
        (next->state == BreakerState::kHalfOpen && next->probe_owner != current->probe_owner);
    std::optional<std::string> payload;
    if (next->state != current->state) payload = state_change_payload(*current, *next);
    auto won = store_.compare_and_set(*next, payload, now);
    if (!won) return won.error();
    if (*won) {
      if (changes_state) log_change(*current, *next, label);
      return Status::ok();
    }
  }
  return make_error(ErrorCode::kUnavailable,
                    fmt::format("circuit breaker {}: too many concurrent changes", name_));
}

Result<CircuitBreaker::Ticket> CircuitBreaker::admit(std::string_view caller,
                                                     std::string_view label) {
  Ticket ticket;
  Status s = apply(
      [&](const BreakerRecord& current, Timestamp now) {
        const AdmissionDecision d = decide_admission(current, policy_, caller, now);
        ticket = Ticket{d.admission, d.retry_at, d.next ? d.next->state : current.state};
        return d.next;
      },
      label);
  if (!s) return s.error();
  return ticket;
}

Status CircuitBreaker::record_success(std::string_view caller) {
  return apply([&](const BreakerRecord& current,
                   Timestamp now) { return after_success(current, caller, now); },
               "");
}

Status CircuitBreaker::record_failure(std::string_view caller) {
  return apply([&](const BreakerRecord& current,
                   Timestamp now) { return after_failure(current, policy_, caller, now); },
               "");
}

Result<BreakerRecord> CircuitBreaker::current() {
  return store_.load(name_, clock_.now());
}

void CircuitBreaker::log_change(const BreakerRecord& before, const BreakerRecord& after,
                                std::string_view label) const {
  const std::string until = after.open_until ? format_timestamp(*after.open_until) : "";
  if (after.state == BreakerState::kOpen && before.state == BreakerState::kClosed) {
    spdlog::warn(
        "[Circuit Breaker] CLOSED → OPEN after {} consecutive failures: analyzer calls paused "
        "until {} ({} ms cooldown)",
        after.failure_count, until, policy_.cooldown.count());
  } else if (after.state == BreakerState::kOpen) {
    spdlog::warn("[Circuit Breaker] HALF_OPEN → OPEN: the probe failed; paused again until {}",
                 until);
  } else if (after.state == BreakerState::kHalfOpen && before.state == BreakerState::kOpen) {
    spdlog::info(
        "[Circuit Breaker] OPEN → HALF_OPEN: cooldown over; one probe goes through (job {})",
        label);
  } else if (after.state == BreakerState::kHalfOpen) {
    spdlog::warn(
        "[Circuit Breaker] HALF_OPEN: the probe did not report within {} ms; another call probes "
        "now (job {})",
        policy_.probe_timeout.count(), label);
  } else if (after.state == BreakerState::kClosed) {
    spdlog::info("[Circuit Breaker] HALF_OPEN → CLOSED: the probe succeeded");
  }
}

}  // namespace insightd::pipeline
