// The analysis-job repository (store.h's JobStore): creation, claims under a
// lease, fenced heartbeats, completions, retries and the dead-letter queue.
// Every state change is an UPDATE guarded by the statuses the state machine
// (core/state_machine.h) allows, so races cannot make illegal moves.
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/ids.h"
#include "core/state_machine.h"
#include "store/detail/queries.h"
#include "store/detail/repositories.h"
#include "store/detail/rows.h"
#include "store/detail/steps.h"

namespace insightd::store {
namespace {

using detail::all;
using detail::count_per_status;
using detail::create_job_in_tx;
using detail::fetch;
using detail::first;
using detail::insert_outbox;
using detail::job_from;
using detail::json_text;
using detail::kInsertDeadLetter;
using detail::kInsightColumns;
using detail::kJobColumns;
using detail::notify_runnable;
using detail::select_job_sql;
using detail::status_list;

// Appends one failed attempt to a job's error history.
std::string append_error(const std::string& errors_json, int64_t attempt, std::string_view error,
                         Timestamp at) {
  boost::json::array history;
  boost::system::error_code ec;
  auto parsed = boost::json::parse(errors_json, ec);
  if (!ec && parsed.is_array()) history = std::move(parsed.as_array());
  history.push_back(
      boost::json::object{{"attempt", attempt}, {"error", error}, {"at", format_timestamp(at)}});
  return json_text(history);
}

// RUNNING -> DEAD with its DeadLetterJob and outbox row.
Result<std::string> dead_letter_in_tx(SqlConnection& c, const Job& job, const std::string& errors,
                                      std::string_view last_error, Timestamp now) {
  static const std::string kDead = fmt::format(
      "UPDATE \"AnalysisJob\" SET status = '{}', last_error = $2, errors = $3, lease_owner = NULL, "
      "lease_token = NULL, lease_expires_at = NULL, finished_at = $4, updated_at = $4 "
      "WHERE job_id = $1 AND status IN ({})",
      to_string(target_of(JobAction::kDeadLetter)),
      status_list(allowed_from(JobAction::kDeadLetter)));
  auto r = c.execute(kDead, {job.job_id, std::string(last_error), errors, sql_time(now)});
  if (!r) return r.error();
  if (*r == 0) return transition(job.status, JobAction::kDeadLetter).error();
  std::string dlq_id = new_id("dlq", now);
  auto ins = c.execute(kInsertDeadLetter, {dlq_id, job.job_id, job.batch_id, job.attempt_count,
                                           std::string(last_error), errors, sql_time(now)});
  if (!ins) return ins.error();
  if (Status s = insert_outbox(c, "job.dead_lettered", job.batch_id,
                               {{"dlq_id", dlq_id},
                                {"job_id", job.job_id},
                                {"batch_id", job.batch_id},
                                {"attempt_count", job.attempt_count},
                                {"last_error", last_error},
                                {"failed_at", format_timestamp(now)}},
                               now);
      !s) {
    return s.error();
  }
  return dlq_id;
}

class SqlJobStore final : public JobStore {
 public:
  explicit SqlJobStore(ConnectionPool& pool)
      : pool_(pool),
        claim_sql_(build_claim_sql(pool.dialect())),
        claim_many_sql_(build_claim_many_sql(pool.dialect())) {}

  Result<std::optional<Job>> get(std::string_view job_id) override {
    return fetch(pool_, select_job_sql(), {std::string(job_id)}, first(job_from));
  }

  Result<std::vector<Job>> list(std::optional<JobStatus> status, size_t limit) override {
    static const std::string kSql = fmt::format(
        "SELECT {} FROM \"AnalysisJob\" WHERE (CAST($1 AS text) IS NULL OR status = $1) "
        "ORDER BY created_at DESC, job_id DESC LIMIT $2",
        kJobColumns);
    const SqlValue st = status ? SqlValue(std::string(to_string(*status))) : sql_null();
    return fetch(pool_, kSql, {st, static_cast<int64_t>(limit)}, all(job_from));
  }

  Result<std::optional<Timestamp>> oldest_pending_created_at() override {
    return fetch(pool_, "SELECT MIN(created_at) FROM \"AnalysisJob\" WHERE status = 'PENDING'", {},
                 [](const Rows& rows) { return rows.front().opt_time(0); });
  }

  Result<std::map<JobStatus, int64_t>> count_by_status() override {
    return fetch(pool_, "SELECT status, COUNT(*) FROM \"AnalysisJob\" GROUP BY status", {},
                 count_per_status(parse_job_status, {JobStatus::kPending, JobStatus::kRunning,
                                                     JobStatus::kSuccess, JobStatus::kDead}));
  }

  Result<Job> create(std::string_view batch_id, JobTrigger trigger, const BatchPolicy& policy,
                     Timestamp now) override {
    return pool_.in_transaction<Job>(TxMode::kWrite, [&](SqlConnection& c) -> Result<Job> {
      return create_job_in_tx(c, pool_.dialect(), batch_id, trigger, policy, now);
    });
  }

  Result<std::optional<Job>> claim(std::string_view owner, Millis lease, Timestamp now) override {
    return fetch(pool_, claim_sql_,
                 {std::string(owner), new_token(), sql_time(now + lease), sql_time(now)},
                 first(job_from));
  }

  Result<std::vector<Job>> claim_many(std::string_view owner, Millis lease, size_t max,
                                      Timestamp now) override {
    if (max == 0) return std::vector<Job>();
    auto out = fetch(pool_, claim_many_sql_,
                     {std::string(owner), new_token(), sql_time(now + lease), sql_time(now),
                      static_cast<int64_t>(max)},
                     all(job_from));
    if (!out) return out;
    // RETURNING has no order; hand them out oldest first, as claim() would.
    std::sort(out->begin(), out->end(), [](const Job& a, const Job& b) {
      return std::tie(a.run_after, a.created_at, a.job_id) <
             std::tie(b.run_after, b.created_at, b.job_id);
    });
    return out;
  }

  Status heartbeat(std::string_view job_id, std::string_view token, Millis lease,
                   Timestamp now) override {
    auto conn = pool_.acquire();
    if (!conn) return conn.error();
    auto r = (*conn)->execute(
        "UPDATE \"AnalysisJob\" SET lease_expires_at = $3, updated_at = $4 "
        "WHERE job_id = $1 AND status = 'RUNNING' AND lease_token = $2",
        {std::string(job_id), std::string(token), sql_time(now + lease), sql_time(now)});
    if (!r) return r.status();
    return *r == 1 ? Status::ok() : lease_lost(job_id);
  }

  Result<Insight> complete(std::string_view job_id, std::string_view token,
                           const NewInsight& insight, Timestamp now) override {
    return pool_.in_transaction<Insight>(TxMode::kWrite, [&](SqlConnection& c) -> Result<Insight> {
      auto job = fenced(c, job_id, token);
      if (!job) return job.error();
      static const std::string kSucceed = fmt::format(
          "UPDATE \"AnalysisJob\" SET status = '{}', lease_owner = NULL, lease_token = NULL, "
          "lease_expires_at = NULL, finished_at = $3, duration_ms = $4, updated_at = $3 "
          "WHERE job_id = $1 AND lease_token = $2 AND status IN ({})",
          to_string(target_of(JobAction::kSucceed)),
          status_list(allowed_from(JobAction::kSucceed)));
      const int64_t duration = job->started_at ? (now - *job->started_at).count() : int64_t{0};
      auto upd =
          c.execute(kSucceed, {std::string(job_id), std::string(token), sql_time(now), duration});
      if (!upd) return upd.error();
      if (*upd != 1) return lease_lost(job_id).error();
      Insight out{new_id("ins", now), job->batch_id, job->job_id, insight, now};
      static const std::string kInsert = fmt::format(
          "INSERT INTO \"Insight\" ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
          "$13, $14, $15)",
          kInsightColumns);
      auto ins = c.execute(
          kInsert,
          {out.insight_id, out.batch_id, out.job_id, insight.summary, insight.confidence,
           insight.patterns_json, insight.recommendations_json, insight.anomalies_json,
           insight.statistics_json, insight.analyzer, sql_opt_text(insight.model),
           insight.prompt_tokens, insight.completion_tokens, insight.latency_ms, sql_time(now)});
      if (!ins) return ins.error();
      static const std::string kAnalyzed = fmt::format(
          "UPDATE \"Batch\" SET status = '{}', analyzed_at = $2, updated_at = $2 "
          "WHERE batch_id = $1 AND status IN ({})",
          to_string(target_of(BatchAction::kAnalyzed)),
          status_list(allowed_from(BatchAction::kAnalyzed)));
      auto b = c.execute(kAnalyzed, {job->batch_id, sql_time(now)});
      if (!b) return b.error();
      if (*b != 1) {
        return make_error(ErrorCode::kIllegalTransition,
                          fmt::format("batch {} cannot be marked analyzed", job->batch_id));
      }
      if (Status s = insert_outbox(c, "insight.created", out.batch_id,
                                   {{"insight_id", out.insight_id},
                                    {"batch_id", out.batch_id},
                                    {"job_id", out.job_id},
                                    {"summary", insight.summary},
                                    {"confidence", insight.confidence},
                                    {"created_at", format_timestamp(now)}},
                                   now);
          !s) {
        return s.error();
      }
      return out;
    });
  }

  Result<std::vector<Result<Insight>>> complete_many(std::span<const Completion> items,
                                                     Timestamp now) override {
    using Out = std::vector<Result<Insight>>;
    if (items.empty()) return Out();
    return pool_.in_transaction<Out>(TxMode::kWrite, [&](SqlConnection& c) -> Result<Out> {
      return complete_many_in_tx(c, items, now);
    });
  }

  Result<FailOutcome> fail(std::string_view job_id, std::string_view token, std::string_view error,
                           Timestamp retry_at, Timestamp now) override {
    return pool_.in_transaction<FailOutcome>(
        TxMode::kWrite, [&](SqlConnection& c) -> Result<FailOutcome> {
          auto job = fenced(c, job_id, token);
          if (!job) return job.error();
          return fail_in_tx(c, *job, error, retry_at, now, /*crash=*/false);
        });
  }

  Status release(std::string_view job_id, std::string_view token, std::string_view reason,
                 Timestamp run_after, Timestamp now) override {
    static const std::string kRelease = fmt::format(
        "UPDATE \"AnalysisJob\" SET status = '{}', attempt_count = attempt_count - 1, "
        "last_error = $3, run_after = $4, lease_owner = NULL, lease_token = NULL, "
        "lease_expires_at = NULL, updated_at = $5 "
        "WHERE job_id = $1 AND lease_token = $2 AND attempt_count > 0 AND status IN ({})",
        to_string(target_of(JobAction::kRelease)), status_list(allowed_from(JobAction::kRelease)));
    return pool_.in_transaction(TxMode::kWrite, [&](SqlConnection& c) -> Status {
      auto r = c.execute(kRelease, {std::string(job_id), std::string(token), std::string(reason),
                                    sql_time(run_after), sql_time(now)});
      if (!r) return r.status();
      if (*r != 1) return lease_lost(job_id);
      // Handed back for now (shutdown): another process may take it at once.
      return run_after <= now ? notify_runnable(c, pool_.dialect(), job_id) : Status::ok();
    });
  }

  Result<std::optional<Timestamp>> next_run_after() override {
    // Served by the claim index (job_runnable): its first entry.
    return fetch(pool_,
                 "SELECT run_after FROM \"AnalysisJob\" WHERE status = 'PENDING' "
                 "ORDER BY run_after, created_at LIMIT 1",
                 {}, first([](const Row& r) { return r.time(0); }));
  }

  Result<std::vector<RecoveredJob>> recover_expired(Timestamp stuck_before,
                                                    Timestamp now) override {
    using Out = std::vector<RecoveredJob>;
    return pool_.in_transaction<Out>(TxMode::kWrite, [&](SqlConnection& c) -> Result<Out> {
      const std::string sql = fmt::format(
          "SELECT {} FROM \"AnalysisJob\" WHERE status = 'RUNNING' AND "
          "(lease_expires_at < $1 OR updated_at < $2) ORDER BY lease_expires_at{}",
          kJobColumns, pool_.dialect().skip_locked);
      auto rows = c.query(sql, {sql_time(now), sql_time(stuck_before)});
      if (!rows) return rows.error();
      Out out;
      for (const Row& r : *rows) {
        Job job = job_from(r);
        auto outcome = fail_in_tx(c, job, "lease expired: the worker stopped without finishing",
                                  now, now, /*crash=*/true);
        if (!outcome) return outcome.error();
        if (outcome->status == JobStatus::kPending) {
          if (Status s = notify_runnable(c, pool_.dialect(), job.job_id); !s) return s.error();
        }
        out.push_back({std::move(job), std::move(outcome).value()});
      }
      return out;
    });
  }

 private:
  // Oldest runnable first. PostgreSQL: SKIP LOCKED lets concurrent claimers
  // pass each other; SQLite: the single UPDATE runs under the write lock.
  static std::string build_claim_sql(const Dialect& d) {
    return fmt::format(
        "UPDATE \"AnalysisJob\" SET status = '{}', attempt_count = attempt_count + 1, "
        "lease_owner = $1, lease_token = $2, lease_expires_at = $3, started_at = $4, "
        "finished_at = NULL, updated_at = $4 "
        "WHERE job_id = (SELECT job_id FROM \"AnalysisJob\" WHERE status IN ({}) AND run_after <= "
        "$4 "
        "ORDER BY run_after, created_at LIMIT 1{}) RETURNING {}",
        to_string(target_of(JobAction::kClaim)), status_list(allowed_from(JobAction::kClaim)),
        d.skip_locked, kJobColumns);
  }

  // Each claimed job gets its own token: the claim's fresh random part, then
  // the job id. The CTE picks the rows once (a plain IN (subquery) may be
  // re-planned as a join that ignores the LIMIT).
  static std::string build_claim_many_sql(const Dialect& d) {
    return fmt::format(
        "WITH picked AS (SELECT job_id FROM \"AnalysisJob\" WHERE status IN ({}) AND "
        "run_after <= $4 ORDER BY run_after, created_at LIMIT $5{}) "
        "UPDATE \"AnalysisJob\" SET status = '{}', attempt_count = attempt_count + 1, "
        "lease_owner = $1, lease_token = $2 || '.' || job_id, lease_expires_at = $3, "
        "started_at = $4, finished_at = NULL, updated_at = $4 "
        "WHERE job_id IN (SELECT job_id FROM picked) RETURNING {}",
        status_list(allowed_from(JobAction::kClaim)), d.skip_locked,
        to_string(target_of(JobAction::kClaim)), kJobColumns);
  }

  // The statements of complete(), each written once for every item: the jobs
  // (fenced by their tokens), their insights, their batches, their outbox rows.
  static Result<std::vector<Result<Insight>>> complete_many_in_tx(SqlConnection& c,
                                                                  std::span<const Completion> items,
                                                                  Timestamp now) {
    std::vector<SqlValue> params{sql_time(now)};
    std::string durations;
    std::string ids;
    std::string tokens;
    for (const Completion& item : items) {
      const size_t id = params.size() + 1;
      params.emplace_back(item.job_id);
      params.emplace_back(item.lease_token);
      params.emplace_back(int64_t{std::max<int64_t>((now - item.started_at).count(), 0)});
      durations += fmt::format(" WHEN ${} THEN CAST(${} AS bigint)", id, id + 2);
      tokens += fmt::format(" WHEN ${} THEN ${}", id, id + 1);
      ids += fmt::format("{}${}", ids.empty() ? "" : ", ", id);
    }
    const std::string update_jobs = fmt::format(
        "UPDATE \"AnalysisJob\" SET status = '{}', lease_owner = NULL, lease_token = NULL, "
        "lease_expires_at = NULL, finished_at = $1, updated_at = $1, duration_ms = CASE job_id{} "
        "END WHERE status IN ({}) AND job_id IN ({}) AND lease_token = CASE job_id{} END "
        "RETURNING job_id, batch_id",
        to_string(target_of(JobAction::kSucceed)), durations,
        status_list(allowed_from(JobAction::kSucceed)), ids, tokens);
    auto done = c.query(update_jobs, params);
    if (!done) return done.error();
    std::unordered_map<std::string, std::string> batch_of;  // completed job -> its batch
    for (const Row& r : *done) batch_of.emplace(r.text(0), r.text(1));

    std::vector<Result<Insight>> out;
    std::vector<SqlValue> insight_params;
    std::vector<SqlValue> batch_params{sql_time(now)};
    std::vector<SqlValue> outbox_params;
    std::string insight_rows;
    std::string batch_ids;
    std::string outbox_rows;
    for (const Completion& item : items) {
      auto it = batch_of.find(item.job_id);
      if (it == batch_of.end()) {
        out.emplace_back(lease_lost(item.job_id).error());
        continue;
      }
      Insight ins{new_id("ins", now), it->second, item.job_id, item.insight, now};
      const NewInsight& n = ins.content;
      insight_rows += insight_rows.empty() ? "(" : ", (";
      for (size_t col = 0; col < 15; ++col) {
        insight_rows += fmt::format("{}${}", col == 0 ? "" : ", ", insight_params.size() + col + 1);
      }
      insight_rows += ")";
      for (SqlValue v : {SqlValue(ins.insight_id), SqlValue(ins.batch_id), SqlValue(ins.job_id),
                         SqlValue(n.summary), SqlValue(n.confidence), SqlValue(n.patterns_json),
                         SqlValue(n.recommendations_json), SqlValue(n.anomalies_json),
                         SqlValue(n.statistics_json), SqlValue(n.analyzer), sql_opt_text(n.model),
                         SqlValue(n.prompt_tokens), SqlValue(n.completion_tokens),
                         SqlValue(n.latency_ms), sql_time(now)}) {
        insight_params.push_back(std::move(v));
      }
      batch_params.emplace_back(ins.batch_id);
      batch_ids += fmt::format("{}${}", batch_ids.empty() ? "" : ", ", batch_params.size());
      const size_t o = outbox_params.size();
      outbox_rows += fmt::format("{}(${}, ${}, ${}, ${})", outbox_rows.empty() ? "" : ", ", o + 1,
                                 o + 2, o + 3, o + 4);
      outbox_params.emplace_back(std::string("insight.created"));
      outbox_params.emplace_back(ins.batch_id);
      outbox_params.emplace_back(
          json_text(boost::json::object{{"insight_id", ins.insight_id},
                                        {"batch_id", ins.batch_id},
                                        {"job_id", ins.job_id},
                                        {"summary", n.summary},
                                        {"confidence", n.confidence},
                                        {"created_at", format_timestamp(now)}}));
      outbox_params.push_back(sql_time(now));
      out.emplace_back(std::move(ins));
    }
    if (batch_of.empty()) return out;
    auto ins = c.execute(
        fmt::format("INSERT INTO \"Insight\" ({}) VALUES {}", kInsightColumns, insight_rows),
        insight_params);
    if (!ins) return ins.error();
    auto batches = c.execute(
        fmt::format("UPDATE \"Batch\" SET status = '{}', analyzed_at = $1, updated_at = $1 "
                    "WHERE batch_id IN ({}) AND status IN ({})",
                    to_string(target_of(BatchAction::kAnalyzed)), batch_ids,
                    status_list(allowed_from(BatchAction::kAnalyzed))),
        batch_params);
    if (!batches) return batches.error();
    if (*batches != static_cast<int64_t>(batch_of.size())) {
      return make_error(ErrorCode::kIllegalTransition,
                        "a completed job's batch cannot be marked analyzed");
    }
    auto outbox = c.execute(
        fmt::format("INSERT INTO \"KafkaOutbox\" (topic, key, payload, created_at) VALUES {}",
                    outbox_rows),
        outbox_params);
    if (!outbox) return outbox.error();
    return out;
  }

  static Status lease_lost(std::string_view job_id) {
    return make_error(ErrorCode::kLeaseLost,
                      fmt::format("job {} is no longer held by this lease", job_id));
  }

  // The RUNNING job this token holds, locked for the transaction, or kLeaseLost.
  Result<Job> fenced(SqlConnection& c, std::string_view job_id, std::string_view token) {
    const std::string sql = fmt::format(
        "SELECT {} FROM \"AnalysisJob\" WHERE job_id = $1 AND lease_token = $2 AND "
        "status = 'RUNNING'{}",
        kJobColumns, pool_.dialect().lock_rows);
    auto rows = c.query(sql, {std::string(job_id), std::string(token)});
    if (!rows) return rows.error();
    if (rows->empty()) return lease_lost(job_id).error();
    return job_from(rows->front());
  }

  static Result<FailOutcome> fail_in_tx(SqlConnection& c, const Job& job, std::string_view error,
                                        Timestamp retry_at, Timestamp now, bool crash) {
    const std::string errors = append_error(job.errors_json, job.attempt_count, error, now);
    FailOutcome outcome{JobStatus::kPending, job.attempt_count, job.max_attempts, std::nullopt};
    if (job.attempt_count >= job.max_attempts) {
      auto dlq = dead_letter_in_tx(c, job, errors, error, now);
      if (!dlq) return dlq.error();
      outcome.status = JobStatus::kDead;
      outcome.dlq_id = std::move(dlq).value();
      return outcome;
    }
    static const std::string kRetry = fmt::format(
        "UPDATE \"AnalysisJob\" SET status = '{}', last_error = $2, errors = $3, run_after = $4, "
        "crash_count = crash_count + $5, lease_owner = NULL, lease_token = NULL, "
        "lease_expires_at = NULL, updated_at = $6 WHERE job_id = $1 AND status IN ({})",
        to_string(target_of(JobAction::kRetry)), status_list(allowed_from(JobAction::kRetry)));
    auto r = c.execute(kRetry, {job.job_id, std::string(error), errors, sql_time(retry_at),
                                int64_t{crash ? 1 : 0}, sql_time(now)});
    if (!r) return r.error();
    if (*r != 1) return transition(job.status, JobAction::kRetry).error();
    return outcome;
  }

  ConnectionPool& pool_;
  const std::string claim_sql_;       // claim(): the oldest runnable job
  const std::string claim_many_sql_;  // claim_many(): up to $5 of them
};

}  // namespace

std::unique_ptr<JobStore> make_job_repository(ConnectionPool& pool) {
  return std::make_unique<SqlJobStore>(pool);
}

}  // namespace insightd::store
