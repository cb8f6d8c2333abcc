#include "pipeline/circuit_breaker.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>

namespace insightd::pipeline {
namespace {

using store::BreakerRecord;
using store::BreakerState;

// A stored OPEN record always has open_until; an old or hand-edited one might
// not, and then the cooldown runs from the change.
Timestamp open_until(const BreakerRecord& r, const BreakerPolicy& policy) {
  return r.open_until.value_or(r.changed_at + policy.cooldown);
}

BreakerRecord opened(const BreakerRecord& r, const BreakerPolicy& policy, int64_t failures,
                     Timestamp now) {
  BreakerRecord next = r;
  next.state = BreakerState::kOpen;
  next.failure_count = failures;
  next.changed_at = now;
  next.open_until = now + policy.cooldown;
  next.probe_owner.reset();
  next.probe_expires_at.reset();
  return next;
}

BreakerRecord probing(const BreakerRecord& r, const BreakerPolicy& policy, std::string_view caller,
                      Timestamp now) {
  BreakerRecord next = r;
  if (r.state != BreakerState::kHalfOpen) {
    next.state = BreakerState::kHalfOpen;
    next.changed_at = now;
  }
  next.probe_owner = std::string(caller);
  next.probe_expires_at = now + policy.probe_timeout;
  return next;
}

bool is_probe(const BreakerRecord& r, std::string_view caller) {
  return r.state == BreakerState::kHalfOpen && r.probe_owner && *r.probe_owner == caller;
}

}  // namespace

std::string_view to_string(Admission a) {
  switch (a) {
    case Admission::kAllowed:
      return "allowed";
    case Admission::kProbe:
      return "probe";
    case Admission::kRejected:
      return "rejected";
  }
  return "?";
}

AdmissionDecision decide_admission(const BreakerRecord& current, const BreakerPolicy& policy,
                                   std::string_view caller, Timestamp now) {
  switch (current.state) {
    case BreakerState::kClosed:
      return {Admission::kAllowed, now, std::nullopt};
    case BreakerState::kOpen: {
      const Timestamp until = open_until(current, policy);
      if (now < until) return {Admission::kRejected, until, std::nullopt};
      return {Admission::kProbe, now, probing(current, policy, caller, now)};
    }
    case BreakerState::kHalfOpen: {
      if (is_probe(current, caller)) return {Admission::kProbe, now, std::nullopt};
      // No probe, or one that outlived its timeout: this caller probes instead.
      if (!current.probe_owner || !current.probe_expires_at || *current.probe_expires_at <= now) {
        return {Admission::kProbe, now, probing(current, policy, caller, now)};
      }
      const Timestamp back = std::min(*current.probe_expires_at, now + policy.probe_recheck);
      return {Admission::kRejected, back, std::nullopt};
    }
  }
  return {Admission::kRejected, now + policy.cooldown, std::nullopt};
}

std::optional<BreakerRecord> after_success(const BreakerRecord& current, std::string_view caller,
                                           Timestamp now) {
  if (current.state == BreakerState::kClosed) {
    if (current.failure_count == 0) return std::nullopt;
    BreakerRecord next = current;  // the streak of failures is broken
    next.failure_count = 0;
    return next;
  }
  if (!is_probe(current, caller)) return std::nullopt;
  BreakerRecord next = current;
  next.state = BreakerState::kClosed;
  next.failure_count = 0;
  next.changed_at = now;
  next.open_until.reset();
  next.probe_owner.reset();
  next.probe_expires_at.reset();
  return next;
}

std::optional<BreakerRecord> after_failure(const BreakerRecord& current,
                                           const BreakerPolicy& policy, std::string_view caller,
                                           Timestamp now) {
  if (current.state == BreakerState::kClosed) {
    const int64_t failures = current.failure_count + 1;
    if (failures >= policy.failure_threshold) return opened(current, policy, failures, now);
    BreakerRecord next = current;
    next.failure_count = failures;
    return next;
  }
  if (!is_probe(current, caller)) return std::nullopt;
  return opened(current, policy, current.failure_count + 1, now);
}

std::string state_change_payload(const BreakerRecord& before, const BreakerRecord& after) {
  boost::json::object o{
      {"breaker", after.name},
      {"from", store::to_string(before.state)},
      {"to", store::to_string(after.state)},
      {"failure_count", after.failure_count},
      {"changed_at", format_timestamp(after.changed_at)},
  };
  o["open_until"] = after.open_until ? boost::json::value(format_timestamp(*after.open_until))
                                     : boost::json::value(nullptr);
  return boost::json::serialize(o);
}

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

Result<store::BreakerRecord> CircuitBreaker::current() {
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
