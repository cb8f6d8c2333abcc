#include "core/state_machine.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace insightd {
namespace {

constexpr std::array<BatchStatus, 1> kFromOpen{BatchStatus::kOpen};
constexpr std::array<BatchStatus, 2> kFromSealedOrAnalyzed{BatchStatus::kSealed,
                                                           BatchStatus::kAnalyzed};
constexpr std::array<BatchStatus, 1> kFromAnalyzed{BatchStatus::kAnalyzed};
constexpr std::array<BatchStatus, 1> kFromArchived{BatchStatus::kArchived};
constexpr std::array<JobStatus, 1> kFromPending{JobStatus::kPending};
constexpr std::array<JobStatus, 1> kFromRunning{JobStatus::kRunning};

}  // namespace

std::string_view to_string(BatchAction a) {
  switch (a) {
    case BatchAction::kSeal:
      return "seal";
    case BatchAction::kAnalyzed:
      return "mark analyzed";
    case BatchAction::kArchive:
      return "archive";
    case BatchAction::kRestore:
      return "restore";
  }
  return "?";
}

std::string_view to_string(JobAction a) {
  switch (a) {
    case JobAction::kClaim:
      return "claim";
    case JobAction::kSucceed:
      return "succeed";
    case JobAction::kRetry:
      return "retry";
    case JobAction::kRelease:
      return "release";
    case JobAction::kRecover:
      return "recover";
    case JobAction::kDeadLetter:
      return "dead-letter";
  }
  return "?";
}

std::span<const BatchStatus> allowed_from(BatchAction a) {
  switch (a) {
    case BatchAction::kSeal:
      return kFromOpen;
    case BatchAction::kAnalyzed:
      return kFromSealedOrAnalyzed;
    case BatchAction::kArchive:
      return kFromAnalyzed;
    case BatchAction::kRestore:
      return kFromArchived;
  }
  return {};
}

std::span<const JobStatus> allowed_from(JobAction a) {
  return a == JobAction::kClaim ? std::span<const JobStatus>(kFromPending)
                                : std::span<const JobStatus>(kFromRunning);
}

BatchStatus target_of(BatchAction a) {
  switch (a) {
    case BatchAction::kSeal:
      return BatchStatus::kSealed;
    case BatchAction::kAnalyzed:
      return BatchStatus::kAnalyzed;
    case BatchAction::kArchive:
      return BatchStatus::kArchived;
    case BatchAction::kRestore:
      return BatchStatus::kAnalyzed;
  }
  return BatchStatus::kOpen;
}

JobStatus target_of(JobAction a) {
  switch (a) {
    case JobAction::kClaim:
      return JobStatus::kRunning;
    case JobAction::kSucceed:
      return JobStatus::kSuccess;
    case JobAction::kRetry:
    case JobAction::kRelease:
    case JobAction::kRecover:
      return JobStatus::kPending;
    case JobAction::kDeadLetter:
      return JobStatus::kDead;
  }
  return JobStatus::kPending;
}

namespace {

template <typename Status, typename Action>
Result<Status> apply(Status from, Action action, const char* noun) {
  const auto allowed = allowed_from(action);
  if (std::find(allowed.begin(), allowed.end(), from) == allowed.end()) {
    return make_error(
        ErrorCode::kIllegalTransition,
        fmt::format("cannot {} a {} that is {}", to_string(action), noun, to_string(from)));
  }
  return target_of(action);
}

}  // namespace

Result<BatchStatus> transition(BatchStatus from, BatchAction action) {
  return apply(from, action, "batch");
}

Result<JobStatus> transition(JobStatus from, JobAction action) {
  return apply(from, action, "job");
}

}  // namespace insightd
