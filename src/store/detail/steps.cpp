// The shared steps of store/detail/steps.h.
#include "store/detail/steps.h"

#include <fmt/format.h>

#include <boost/json/serialize.hpp>

#include "core/ids.h"
#include "core/state_machine.h"
#include "store/detail/queries.h"
#include "store/detail/rows.h"

namespace insightd::store::detail {
namespace {

Result<std::string> insert_job(SqlConnection& c, const Dialect& d, std::string_view batch_id,
                               JobTrigger trigger, int64_t max_attempts, Timestamp now) {
  std::string job_id = new_id("job", now);
  auto r = c.execute(kInsertJob, {job_id, std::string(batch_id), std::string(to_string(trigger)),
                                  max_attempts, sql_time(now)});
  if (!r) {
    if (r.code() == ErrorCode::kAlreadyExists) {
      return make_error(ErrorCode::kConflict,
                        fmt::format("batch {} already has a PENDING or RUNNING job", batch_id));
    }
    return r.error();
  }
  if (Status s = notify_runnable(c, d, job_id); !s) return s.error();
  return job_id;
}

}  // namespace

std::string json_text(const boost::json::value& v) {
  return boost::json::serialize(v);
}

Status notify_runnable(SqlConnection& c, const Dialect& d, std::string_view job_id) {
  if (!d.supports_notify) return Status::ok();
  return c.execute_deferred(d.notify, {std::string(kJobNotifyChannel), std::string(job_id)});
}

Status insert_outbox(SqlConnection& c, std::string_view topic, std::string_view key,
                     const boost::json::object& payload, Timestamp now) {
  return c.execute_deferred(
      kInsertOutbox, {std::string(topic), std::string(key), json_text(payload), sql_time(now)});
}

Result<SealedBatch> after_seal(SqlConnection& c, const Dialect& d, std::string_view batch_id,
                               int64_t event_count, SealReason reason, const BatchPolicy& policy,
                               Timestamp now) {
  SealedBatch sealed{std::string(batch_id), event_count, reason, new_id("job", now)};
  if (Status s = c.execute_deferred(
          kInsertJob, {sealed.job_id, sealed.batch_id, std::string(to_string(JobTrigger::kAuto)),
                       policy.max_attempts, sql_time(now)});
      !s) {
    return s.error();
  }
  if (Status s = notify_runnable(c, d, sealed.job_id); !s) return s.error();
  if (Status s = insert_outbox(c, "batch.sealed", batch_id,
                               {{"batch_id", sealed.batch_id},
                                {"event_count", sealed.event_count},
                                {"seal_reason", to_string(reason)},
                                {"job_id", sealed.job_id},
                                {"sealed_at", format_timestamp(now)}},
                               now);
      !s) {
    return s.error();
  }
  return sealed;
}

Result<SealedBatch> seal_in_tx(SqlConnection& c, const Dialect& d, std::string_view batch_id,
                               SealReason reason, const BatchPolicy& policy, Timestamp now) {
  static const std::string kSeal = fmt::format(
      "UPDATE \"Batch\" SET status = '{}', sealed_at = $2, seal_reason = $3, updated_at = $2 "
      "WHERE batch_id = $1 AND status IN ({}) AND event_count > 0 RETURNING event_count",
      to_string(target_of(BatchAction::kSeal)), status_list(allowed_from(BatchAction::kSeal)));
  auto rows =
      c.query(kSeal, {std::string(batch_id), sql_time(now), std::string(to_string(reason))});
  if (!rows) return rows.error();
  if (rows->empty()) {
    auto cur = c.query(fmt::format("SELECT {} FROM \"Batch\" WHERE batch_id = $1", kBatchColumns),
                       {std::string(batch_id)});
    if (!cur) return cur.error();
    if (cur->empty()) {
      return make_error(ErrorCode::kNotFound, fmt::format("batch {} does not exist", batch_id));
    }
    const Batch b = batch_from(cur->front());
    if (b.status == BatchStatus::kOpen) {
      return make_error(ErrorCode::kConflict,
                        fmt::format("batch {} is empty; empty batches never seal", batch_id));
    }
    return transition(b.status, BatchAction::kSeal).error();
  }
  return after_seal(c, d, batch_id, rows->front().integer(0), reason, policy, now);
}

Result<Job> create_job_in_tx(SqlConnection& c, const Dialect& d, std::string_view batch_id,
                             JobTrigger trigger, const BatchPolicy& policy, Timestamp now) {
  auto rows = c.query("SELECT status FROM \"Batch\" WHERE batch_id = $1", {std::string(batch_id)});
  if (!rows) return rows.error();
  if (rows->empty()) {
    return make_error(ErrorCode::kNotFound, fmt::format("batch {} does not exist", batch_id));
  }
  const auto status = parse_batch_status(rows->front().text(0));
  if (status != BatchStatus::kSealed && status != BatchStatus::kAnalyzed) {
    return make_error(ErrorCode::kIllegalTransition,
                      fmt::format("batch {} is {}; only SEALED or ANALYZED batches are analyzed",
                                  batch_id, rows->front().text(0)));
  }
  auto job_id = insert_job(c, d, batch_id, trigger, policy.max_attempts, now);
  if (!job_id) return job_id.error();
  auto job = fetch(c, select_job_sql(), {*job_id}, first(job_from));
  if (!job) return job.error();
  return std::move(*job).value();
}

}  // namespace insightd::store::detail
