#include "core/model.h"

#include <array>
#include <utility>

namespace insightd {
namespace {

template <typename E, size_t N>
std::optional<E> lookup(const std::array<std::pair<E, std::string_view>, N>& table,
                        std::string_view s) {
  for (const auto& [value, name] : table) {
    if (name == s) return value;
  }
  return std::nullopt;
}

template <typename E, size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& table, E e) {
  for (const auto& [value, name] : table) {
    if (value == e) return name;
  }
  return "?";
}

constexpr std::array<std::pair<BatchStatus, std::string_view>, 4> kBatchStatus{{
    {BatchStatus::kOpen, "OPEN"},
    {BatchStatus::kSealed, "SEALED"},
    {BatchStatus::kAnalyzed, "ANALYZED"},
    {BatchStatus::kArchived, "ARCHIVED"},
}};
constexpr std::array<std::pair<SealReason, std::string_view>, 3> kSealReason{{
    {SealReason::kSize, "size"},
    {SealReason::kAge, "age"},
    {SealReason::kManual, "manual"},
}};
constexpr std::array<std::pair<JobStatus, std::string_view>, 4> kJobStatus{{
    {JobStatus::kPending, "PENDING"},
    {JobStatus::kRunning, "RUNNING"},
    {JobStatus::kSuccess, "SUCCESS"},
    {JobStatus::kDead, "DEAD"},
}};
constexpr std::array<std::pair<JobTrigger, std::string_view>, 2> kJobTrigger{{
    {JobTrigger::kAuto, "auto"},
    {JobTrigger::kManual, "manual"},
}};
constexpr std::array<std::pair<BreakerState, std::string_view>, 3> kBreakerState{{
    {BreakerState::kClosed, "CLOSED"},
    {BreakerState::kOpen, "OPEN"},
    {BreakerState::kHalfOpen, "HALF_OPEN"},
}};

}  // namespace

std::string_view to_string(BatchStatus s) {
  return name_of(kBatchStatus, s);
}
std::string_view to_string(SealReason r) {
  return name_of(kSealReason, r);
}
std::string_view to_string(JobStatus s) {
  return name_of(kJobStatus, s);
}
std::string_view to_string(JobTrigger t) {
  return name_of(kJobTrigger, t);
}
std::string_view to_string(BreakerState s) {
  return name_of(kBreakerState, s);
}
std::optional<BatchStatus> parse_batch_status(std::string_view s) {
  return lookup(kBatchStatus, s);
}
std::optional<SealReason> parse_seal_reason(std::string_view s) {
  return lookup(kSealReason, s);
}
std::optional<JobStatus> parse_job_status(std::string_view s) {
  return lookup(kJobStatus, s);
}
std::optional<JobTrigger> parse_job_trigger(std::string_view s) {
  return lookup(kJobTrigger, s);
}
std::optional<BreakerState> parse_breaker_state(std::string_view s) {
  return lookup(kBreakerState, s);
}

}  // namespace insightd
