#include "core/state_machine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "core/model.h"

namespace insightd {
namespace {

constexpr std::array kBatchStatuses = {BatchStatus::kOpen, BatchStatus::kSealed,
                                       BatchStatus::kAnalyzed, BatchStatus::kArchived};
constexpr std::array kBatchActions = {BatchAction::kSeal, BatchAction::kAnalyzed,
                                      BatchAction::kArchive, BatchAction::kRestore};
constexpr std::array kJobStatuses = {JobStatus::kPending, JobStatus::kRunning, JobStatus::kSuccess,
                                     JobStatus::kDead};
constexpr std::array kJobActions = {JobAction::kClaim,   JobAction::kSucceed,
                                    JobAction::kRetry,   JobAction::kRelease,
                                    JobAction::kRecover, JobAction::kDeadLetter};

// The whole legal table, written out from the spec (SPEC §3, §6): every pair not
// listed must be refused.
const std::map<std::pair<BatchStatus, BatchAction>, BatchStatus>& legal_batch_moves() {
  static const std::map<std::pair<BatchStatus, BatchAction>, BatchStatus> moves = {
      {{BatchStatus::kOpen, BatchAction::kSeal}, BatchStatus::kSealed},
      {{BatchStatus::kSealed, BatchAction::kAnalyzed}, BatchStatus::kAnalyzed},
      {{BatchStatus::kAnalyzed, BatchAction::kAnalyzed}, BatchStatus::kAnalyzed},
      {{BatchStatus::kAnalyzed, BatchAction::kArchive}, BatchStatus::kArchived},
      {{BatchStatus::kArchived, BatchAction::kRestore}, BatchStatus::kAnalyzed},
  };
  return moves;
}

const std::map<std::pair<JobStatus, JobAction>, JobStatus>& legal_job_moves() {
  static const std::map<std::pair<JobStatus, JobAction>, JobStatus> moves = {
      {{JobStatus::kPending, JobAction::kClaim}, JobStatus::kRunning},
      {{JobStatus::kRunning, JobAction::kSucceed}, JobStatus::kSuccess},
      {{JobStatus::kRunning, JobAction::kRetry}, JobStatus::kPending},
      {{JobStatus::kRunning, JobAction::kRelease}, JobStatus::kPending},
      {{JobStatus::kRunning, JobAction::kRecover}, JobStatus::kPending},
      {{JobStatus::kRunning, JobAction::kDeadLetter}, JobStatus::kDead},
  };
  return moves;
}

template <typename Status, typename Action, typename Moves>
std::optional<Status> expected(const Moves& moves, Status from, Action action) {
  const auto it = moves.find({from, action});
  if (it == moves.end()) return std::nullopt;
  return it->second;
}

TEST(BatchTransitions, EveryPairFollowsTheTable) {
  int legal = 0;
  for (const BatchStatus from : kBatchStatuses) {
    for (const BatchAction action : kBatchActions) {
      SCOPED_TRACE(std::string(to_string(action)) + " from " + std::string(to_string(from)));
      const auto want = expected(legal_batch_moves(), from, action);
      const Result<BatchStatus> got = transition(from, action);
      if (want) {
        ++legal;
        ASSERT_TRUE(got.is_ok()) << got.error().message;
        EXPECT_EQ(*got, *want);
      } else {
        ASSERT_FALSE(got.is_ok());
        EXPECT_EQ(got.code(), ErrorCode::kIllegalTransition);
      }
    }
  }
  EXPECT_EQ(legal, 5);
}

TEST(JobTransitions, EveryPairFollowsTheTable) {
  int legal = 0;
  for (const JobStatus from : kJobStatuses) {
    for (const JobAction action : kJobActions) {
      SCOPED_TRACE(std::string(to_string(action)) + " from " + std::string(to_string(from)));
      const auto want = expected(legal_job_moves(), from, action);
      const Result<JobStatus> got = transition(from, action);
      if (want) {
        ++legal;
        ASSERT_TRUE(got.is_ok()) << got.error().message;
        EXPECT_EQ(*got, *want);
      } else {
        ASSERT_FALSE(got.is_ok());
        EXPECT_EQ(got.code(), ErrorCode::kIllegalTransition);
      }
    }
  }
  EXPECT_EQ(legal, 6);
}

// The stores build "WHERE status IN (allowed_from(action))" from these, so they
// must say exactly what transition() says.
TEST(BatchTransitions, AllowedFromAndTargetAgreeWithTransition) {
  for (const BatchAction action : kBatchActions) {
    const auto allowed = allowed_from(action);
    EXPECT_FALSE(allowed.empty());
    for (const BatchStatus from : kBatchStatuses) {
      const bool listed = std::find(allowed.begin(), allowed.end(), from) != allowed.end();
      const auto got = transition(from, action);
      EXPECT_EQ(listed, got.is_ok()) << to_string(action) << " from " << to_string(from);
      if (got.is_ok()) {
        EXPECT_EQ(*got, target_of(action));
      }
    }
  }
}

TEST(JobTransitions, AllowedFromAndTargetAgreeWithTransition) {
  for (const JobAction action : kJobActions) {
    const auto allowed = allowed_from(action);
    EXPECT_FALSE(allowed.empty());
    for (const JobStatus from : kJobStatuses) {
      const bool listed = std::find(allowed.begin(), allowed.end(), from) != allowed.end();
      const auto got = transition(from, action);
      EXPECT_EQ(listed, got.is_ok()) << to_string(action) << " from " << to_string(from);
      if (got.is_ok()) {
        EXPECT_EQ(*got, target_of(action));
      }
    }
  }
}

TEST(BatchTransitions, RefusalNamesTheActionAndTheState) {
  const auto got = transition(BatchStatus::kSealed, BatchAction::kSeal);
  ASSERT_FALSE(got.is_ok());
  EXPECT_EQ(got.error().message, "cannot seal a batch that is SEALED");
  const auto archive = transition(BatchStatus::kOpen, BatchAction::kArchive);
  ASSERT_FALSE(archive.is_ok());
  EXPECT_NE(archive.error().message.find("archive"), std::string::npos);
  EXPECT_NE(archive.error().message.find("OPEN"), std::string::npos);
  EXPECT_NE(archive.error().message.find("batch"), std::string::npos);
}

TEST(JobTransitions, RefusalNamesTheActionAndTheState) {
  const auto got = transition(JobStatus::kSuccess, JobAction::kSucceed);
  ASSERT_FALSE(got.is_ok());
  EXPECT_EQ(got.error().message, "cannot succeed a job that is SUCCESS");
  const auto dead = transition(JobStatus::kDead, JobAction::kClaim);
  ASSERT_FALSE(dead.is_ok());
  EXPECT_EQ(dead.error().message, "cannot claim a job that is DEAD");
}

TEST(JobTransitions, TerminalStatesHaveNoWayOut) {
  for (const JobStatus terminal : {JobStatus::kSuccess, JobStatus::kDead}) {
    for (const JobAction action : kJobActions) {
      EXPECT_FALSE(transition(terminal, action).is_ok())
          << to_string(action) << " from " << to_string(terminal);
    }
  }
}

// A job goes round PENDING -> RUNNING -> PENDING as many times as it is retried,
// then ends in SUCCESS or DEAD.
TEST(JobTransitions, RetryLoopThenDeadLetter) {
  JobStatus s = JobStatus::kPending;
  for (const JobAction back : {JobAction::kRetry, JobAction::kRelease, JobAction::kRecover}) {
    auto claimed = transition(s, JobAction::kClaim);
    ASSERT_TRUE(claimed.is_ok());
    auto returned = transition(*claimed, back);
    ASSERT_TRUE(returned.is_ok());
    s = *returned;
    EXPECT_EQ(s, JobStatus::kPending);
  }
  auto claimed = transition(s, JobAction::kClaim);
  ASSERT_TRUE(claimed.is_ok());
  auto dead = transition(*claimed, JobAction::kDeadLetter);
  ASSERT_TRUE(dead.is_ok());
  EXPECT_EQ(*dead, JobStatus::kDead);
}

TEST(BatchTransitions, FullLifeCycleWithReanalysisAndRestore) {
  BatchStatus s = BatchStatus::kOpen;
  for (const BatchAction a :
       {BatchAction::kSeal, BatchAction::kAnalyzed, BatchAction::kAnalyzed, BatchAction::kArchive,
        BatchAction::kRestore, BatchAction::kAnalyzed}) {
    auto next = transition(s, a);
    ASSERT_TRUE(next.is_ok()) << next.error().message;
    s = *next;
  }
  EXPECT_EQ(s, BatchStatus::kAnalyzed);
}

TEST(JobActivity, OnlyPendingAndRunningAreActive) {
  EXPECT_TRUE(is_active(JobStatus::kPending));
  EXPECT_TRUE(is_active(JobStatus::kRunning));
  EXPECT_FALSE(is_active(JobStatus::kSuccess));
  EXPECT_FALSE(is_active(JobStatus::kDead));
}

TEST(ActionNames, AreDistinctAndReadable) {
  std::set<std::string_view> batch;
  for (const BatchAction a : kBatchActions) {
    EXPECT_NE(to_string(a), "?");
    batch.insert(to_string(a));
  }
  EXPECT_EQ(batch.size(), kBatchActions.size());
  std::set<std::string_view> job;
  for (const JobAction a : kJobActions) {
    EXPECT_NE(to_string(a), "?");
    job.insert(to_string(a));
  }
  EXPECT_EQ(job.size(), kJobActions.size());
}

// The database spellings the seed's debugging queries use.
TEST(ModelNames, MatchTheDatabaseSpellingsAndRoundTrip) {
  EXPECT_EQ(to_string(BatchStatus::kOpen), "OPEN");
  EXPECT_EQ(to_string(BatchStatus::kSealed), "SEALED");
  EXPECT_EQ(to_string(BatchStatus::kAnalyzed), "ANALYZED");
  EXPECT_EQ(to_string(BatchStatus::kArchived), "ARCHIVED");
  EXPECT_EQ(to_string(JobStatus::kPending), "PENDING");
  EXPECT_EQ(to_string(JobStatus::kRunning), "RUNNING");
  EXPECT_EQ(to_string(JobStatus::kSuccess), "SUCCESS");
  EXPECT_EQ(to_string(JobStatus::kDead), "DEAD");
  EXPECT_EQ(to_string(SealReason::kSize), "size");
  EXPECT_EQ(to_string(SealReason::kAge), "age");
  EXPECT_EQ(to_string(SealReason::kManual), "manual");
  EXPECT_EQ(to_string(JobTrigger::kAuto), "auto");
  EXPECT_EQ(to_string(JobTrigger::kManual), "manual");

  for (const BatchStatus s : kBatchStatuses) EXPECT_EQ(parse_batch_status(to_string(s)), s);
  for (const JobStatus s : kJobStatuses) EXPECT_EQ(parse_job_status(to_string(s)), s);
  for (const SealReason r : {SealReason::kSize, SealReason::kAge, SealReason::kManual}) {
    EXPECT_EQ(parse_seal_reason(to_string(r)), r);
  }
  for (const JobTrigger t : {JobTrigger::kAuto, JobTrigger::kManual}) {
    EXPECT_EQ(parse_job_trigger(to_string(t)), t);
  }
}

TEST(ModelNames, UnknownOrMiscasedSpellingsAreRefused) {
  EXPECT_EQ(parse_batch_status("open"), std::nullopt);
  EXPECT_EQ(parse_batch_status(""), std::nullopt);
  EXPECT_EQ(parse_batch_status("OPEN "), std::nullopt);
  EXPECT_EQ(parse_job_status("pending"), std::nullopt);
  EXPECT_EQ(parse_job_status("FAILED"), std::nullopt);
  EXPECT_EQ(parse_seal_reason("SIZE"), std::nullopt);
  EXPECT_EQ(parse_job_trigger("Auto"), std::nullopt);
}

}  // namespace
}  // namespace insightd
