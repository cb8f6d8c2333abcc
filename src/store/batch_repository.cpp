// The batch repository (store.h's BatchStore): reads, and the seals by hand and
// by age, each writing its PENDING job and outbox row in the same transaction.
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

using detail::batch_from;
using detail::count_per_status;
using detail::fetch;
using detail::first;
using detail::kBatchColumns;
using detail::seal_in_tx;

class SqlBatchStore final : public BatchStore {
 public:
  explicit SqlBatchStore(ConnectionPool& pool) : pool_(pool) {}

  Result<std::optional<Batch>> get(std::string_view batch_id) override {
    static const std::string kSql =
        fmt::format("SELECT {} FROM \"Batch\" WHERE batch_id = $1", kBatchColumns);
    return fetch(pool_, kSql, {std::string(batch_id)}, first(batch_from));
  }

  Result<BatchPage> list(std::optional<BatchStatus> status, size_t limit,
                         std::optional<std::string> cursor) override {
    // Batch ids are time-ordered, so "newest first" is "batch_id descending".
    static const std::string kSql = fmt::format(
        "SELECT {} FROM \"Batch\" WHERE (CAST($1 AS text) IS NULL OR status = $1) AND (CAST($2 AS "
        "text) IS NULL OR batch_id < $2) "
        "ORDER BY batch_id DESC LIMIT $3",
        kBatchColumns);
    const SqlValue st = status ? SqlValue(std::string(to_string(*status))) : sql_null();
    return fetch(pool_, kSql, {st, sql_opt_text(cursor), static_cast<int64_t>(limit + 1)},
                 [limit](const Rows& rows) {
                   BatchPage page;
                   for (size_t i = 0; i < rows.size() && i < limit; ++i)
                     page.batches.push_back(batch_from(rows[i]));
                   if (rows.size() > limit && !page.batches.empty())
                     page.next_cursor = page.batches.back().batch_id;
                   return page;
                 });
  }

  Result<std::map<BatchStatus, int64_t>> count_by_status() override {
    return fetch(
        pool_, "SELECT status, COUNT(*) FROM \"Batch\" GROUP BY status", {},
        count_per_status(parse_batch_status, {BatchStatus::kOpen, BatchStatus::kSealed,
                                              BatchStatus::kAnalyzed, BatchStatus::kArchived}));
  }

  Result<SealedBatch> seal(std::string_view batch_id, SealReason reason, const BatchPolicy& policy,
                           Timestamp now) override {
    return pool_.in_transaction<SealedBatch>(TxMode::kWrite, [&](SqlConnection& c) {
      return seal_in_tx(c, pool_.dialect(), batch_id, reason, policy, now);
    });
  }

  Result<std::optional<SealedBatch>> seal_open(const BatchPolicy& policy, Timestamp now) override {
    using Out = std::optional<SealedBatch>;
    return pool_.in_transaction<Out>(TxMode::kWrite, [&](SqlConnection& c) -> Result<Out> {
      auto rows = c.query(fmt::format("SELECT batch_id FROM \"Batch\" WHERE status = 'OPEN' AND "
                                      "event_count > 0{}",
                                      pool_.dialect().lock_rows),
                          {});
      if (!rows) return rows.error();
      if (rows->empty()) return Out();
      auto sealed =
          seal_in_tx(c, pool_.dialect(), rows->front().text(0), SealReason::kManual, policy, now);
      if (!sealed) return sealed.error();
      return Out(std::move(sealed).value());
    });
  }

  Result<std::vector<SealedBatch>> seal_expired(Millis max_age, const BatchPolicy& policy,
                                                Timestamp now) override {
    using Out = std::vector<SealedBatch>;
    return pool_.in_transaction<Out>(TxMode::kWrite, [&](SqlConnection& c) -> Result<Out> {
      auto rows = c.query(fmt::format("SELECT batch_id FROM \"Batch\" WHERE status = 'OPEN' AND "
                                      "event_count > 0 AND first_event_at <= $1{}",
                                      pool_.dialect().lock_rows),
                          {sql_time(now - max_age)});
      if (!rows) return rows.error();
      Out out;
      for (const Row& r : *rows) {
        auto sealed = seal_in_tx(c, pool_.dialect(), r.text(0), SealReason::kAge, policy, now);
        if (!sealed) return sealed.error();
        out.push_back(std::move(sealed).value());
      }
      return out;
    });
  }

 private:
  ConnectionPool& pool_;
};

}  // namespace

std::unique_ptr<BatchStore> make_batch_repository(ConnectionPool& pool) {
  return std::make_unique<SqlBatchStore>(pool);
}

}  // namespace insightd::store
