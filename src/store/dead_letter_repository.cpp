// The dead-letter repository (store.h's DeadLetterStore): the jobs that used up
// their attempts, listed, redriven as a fresh job or discarded. Entries are
// written by the job store when a job dies.
#include <fmt/format.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/detail/queries.h"
#include "store/detail/repositories.h"
#include "store/detail/rows.h"
#include "store/detail/steps.h"

namespace insightd::store {
namespace {

using detail::all;
using detail::create_job_in_tx;
using detail::dead_letter_from;
using detail::fetch;
using detail::first;
using detail::kDeadLetterColumns;
using detail::single_integer;

class SqlDeadLetterStore final : public DeadLetterStore {
 public:
  explicit SqlDeadLetterStore(ConnectionPool& pool) : pool_(pool) {}

  Result<std::vector<DeadLetter>> list(size_t limit) override {
    static const std::string kSql = fmt::format(
        "SELECT {} FROM \"DeadLetterJob\" ORDER BY failed_at DESC, dlq_id DESC LIMIT $1",
        kDeadLetterColumns);
    return fetch(pool_, kSql, {static_cast<int64_t>(limit)}, all(dead_letter_from));
  }

  Result<std::optional<DeadLetter>> get(std::string_view dlq_id) override {
    return fetch(pool_, select_dead_letter_sql(), {std::string(dlq_id)}, first(dead_letter_from));
  }

  Result<int64_t> count() override {
    return fetch(pool_, "SELECT COUNT(*) FROM \"DeadLetterJob\"", {}, single_integer);
  }

  Result<int64_t> count_waiting() override {
    return fetch(pool_, "SELECT COUNT(*) FROM \"DeadLetterJob\" WHERE redriven_at IS NULL", {},
                 single_integer);
  }

  Result<Job> redrive(std::string_view dlq_id, const BatchPolicy& policy, Timestamp now) override {
    return pool_.in_transaction<Job>(TxMode::kWrite, [&](SqlConnection& c) -> Result<Job> {
      auto dl = fetch(c, select_dead_letter_sql(), {std::string(dlq_id)}, first(dead_letter_from));
      if (!dl) return dl.error();
      if (!*dl) {
        return make_error(ErrorCode::kNotFound,
                          fmt::format("dead-letter entry {} does not exist", dlq_id));
      }
      auto job =
          create_job_in_tx(c, pool_.dialect(), (*dl)->batch_id, JobTrigger::kManual, policy, now);
      if (!job) return job.error();
      auto r = c.execute(
          "UPDATE \"DeadLetterJob\" SET redriven_at = $2, redriven_job_id = $3 WHERE dlq_id = $1",
          {std::string(dlq_id), sql_time(now), job->job_id});
      if (!r) return r.error();
      return job;
    });
  }

  Status discard(std::string_view dlq_id) override {
    auto conn = pool_.acquire();
    if (!conn) return conn.error();
    auto r =
        (*conn)->execute("DELETE FROM \"DeadLetterJob\" WHERE dlq_id = $1", {std::string(dlq_id)});
    if (!r) return r.status();
    if (*r == 0) {
      return make_error(ErrorCode::kNotFound,
                        fmt::format("dead-letter entry {} does not exist", dlq_id));
    }
    return Status::ok();
  }

 private:
  static const std::string& select_dead_letter_sql() {
    static const std::string kSql =
        fmt::format("SELECT {} FROM \"DeadLetterJob\" WHERE dlq_id = $1", kDeadLetterColumns);
    return kSql;
  }

  ConnectionPool& pool_;
};

}  // namespace

std::unique_ptr<DeadLetterStore> make_dead_letter_repository(ConnectionPool& pool) {
  return std::make_unique<SqlDeadLetterStore>(pool);
}

}  // namespace insightd::store
