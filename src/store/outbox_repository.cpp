// The outbox repository (store.h's OutboxStore): the messages other
// repositories wrote in their transactions, handed out in order until
// published.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "store/detail/queries.h"
#include "store/detail/repositories.h"
#include "store/detail/rows.h"

namespace insightd::store {
namespace {

using detail::all;
using detail::fetch;
using detail::kOutboxColumns;
using detail::outbox_from;
using detail::single_integer;

class SqlOutboxStore final : public OutboxStore {
 public:
  explicit SqlOutboxStore(ConnectionPool& pool) : pool_(pool) {}

  Result<std::vector<OutboxMessage>> pending(size_t limit, Timestamp now) override {
    static const std::string kSql = fmt::format(
        "SELECT {} FROM \"KafkaOutbox\" "
        "WHERE published_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= $1) "
        "ORDER BY id LIMIT $2",
        kOutboxColumns);
    return fetch(pool_, kSql, {sql_time(now), static_cast<int64_t>(limit)}, all(outbox_from));
  }

  Result<int64_t> count_pending() override {
    return fetch(pool_, "SELECT COUNT(*) FROM \"KafkaOutbox\" WHERE published_at IS NULL", {},
                 single_integer);
  }

  Status mark_published(std::span<const int64_t> ids, Timestamp now) override {
    return pool_.in_transaction(TxMode::kWrite, [&](SqlConnection& c) -> Status {
      for (const int64_t id : ids) {
        auto r = c.execute(
            "UPDATE \"KafkaOutbox\" SET published_at = $2, attempts = attempts + 1 WHERE id = $1",
            {id, sql_time(now)});
        if (!r) return r.status();
      }
      return Status::ok();
    });
  }

  Status mark_failed(int64_t id, std::string_view error, Timestamp next_attempt_at) override {
    auto conn = pool_.acquire();
    if (!conn) return conn.error();
    auto r = (*conn)->execute(
        "UPDATE \"KafkaOutbox\" SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 "
        "WHERE id = $1 AND published_at IS NULL",
        {id, std::string(error), sql_time(next_attempt_at)});
    return r ? Status::ok() : r.status();
  }

 private:
  ConnectionPool& pool_;
};

}  // namespace

std::unique_ptr<OutboxStore> make_outbox_repository(ConnectionPool& pool) {
  return std::make_unique<SqlOutboxStore>(pool);
}

}  // namespace insightd::store
