#include "pipeline/breaker_rules.h"

#include <algorithm>
#include <boost/json.hpp>

namespace insightd::pipeline {
namespace {

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
      {"from", to_string(before.state)},
      {"to", to_string(after.state)},
      {"failure_count", after.failure_count},
      {"changed_at", format_timestamp(after.changed_at)},
  };
  o["open_until"] = after.open_until ? boost::json::value(format_timestamp(*after.open_until))
                                     : boost::json::value(nullptr);
  return boost::json::serialize(o);
}

}  // namespace insightd::pipeline
