// The outbox repository (store.h's OutboxStore): the messages other
// repositories wrote in their transactions, handed out in order until
// published; the relay's lease and the retention that keeps the table small.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "store/detail/queries.h"
#include "store/detail/repositories.h"
#include "store/detail/rows.h"

namespace insightd::store {
namespace {

using detail::all;
using detail::event_from;
using detail::fetch;
using detail::first;
using detail::kEventColumns;
using detail::kOutboxColumns;
using detail::outbox_from;
using detail::single_integer;

class SqlOutboxStore final : public OutboxStore {
 public:
  explicit SqlOutboxStore(ConnectionPool& pool) : pool_(pool) {}

  Result<std::vector<OutboxMessage>> unpublished(int64_t after_id, size_t limit) override {
    static const std::string kSql = fmt::format(
        "SELECT {} FROM \"KafkaOutbox\" WHERE published_at IS NULL AND id > $1 "
        "ORDER BY id LIMIT $2",
        kOutboxColumns);
    return fetch(pool_, kSql, {after_id, static_cast<int64_t>(limit)}, all(outbox_from));
  }

  Result<int64_t> count_pending() override {
    return fetch(pool_, "SELECT COUNT(*) FROM \"KafkaOutbox\" WHERE published_at IS NULL", {},
                 single_integer);
  }

  // One statement per chunk of ids: a relay marks thousands at once.
  Status mark_published(std::span<const int64_t> ids, Timestamp now) override {
    constexpr size_t kChunk = 500;
    return pool_.in_transaction(TxMode::kWrite, [&](SqlConnection& c) -> Status {
      for (size_t at = 0; at < ids.size(); at += kChunk) {
        const size_t n = std::min(kChunk, ids.size() - at);
        std::string sql =
            "UPDATE \"KafkaOutbox\" SET published_at = $1, attempts = attempts + 1 "
            "WHERE published_at IS NULL AND id IN (";
        std::vector<SqlValue> params;
        params.reserve(n + 1);
        params.push_back(sql_time(now));
        for (size_t i = 0; i < n; ++i) {
          sql += fmt::format("{}${}", i == 0 ? "" : ", ", i + 2);
          params.emplace_back(ids[at + i]);
        }
        sql += ")";
        auto r = c.execute(sql, params);
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

  Result<bool> take_lease(std::string_view name, std::string_view owner, Timestamp now,
                          Timestamp until) override {
    // Inserted when missing; updated only when expired or already the owner's.
    // RETURNING answers a row exactly when the owner holds it afterwards.
    return fetch(pool_,
                 "INSERT INTO \"RelayLease\" (name, owner, expires_at) VALUES ($1, $2, $3) "
                 "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                 "expires_at = excluded.expires_at "
                 "WHERE \"RelayLease\".owner = excluded.owner OR \"RelayLease\".expires_at < $4 "
                 "RETURNING owner",
                 {std::string(name), std::string(owner), sql_time(until), sql_time(now)},
                 [](const Rows& rows) { return !rows.empty(); });
  }

  Status release_lease(std::string_view name, std::string_view owner) override {
    auto conn = pool_.acquire();
    if (!conn) return conn.error();
    auto r = (*conn)->execute("DELETE FROM \"RelayLease\" WHERE name = $1 AND owner = $2",
                              {std::string(name), std::string(owner)});
    return r ? Status::ok() : r.status();
  }

  Result<std::vector<std::pair<int64_t, StoredEvent>>> events_after(int64_t after_id,
                                                                    size_t limit) override {
    static const std::string kSql = fmt::format(
        "SELECT {}, id FROM \"Event\" WHERE id > $1 ORDER BY id LIMIT $2", kEventColumns);
    constexpr size_t kIdColumn = 9;  // after kEventColumns
    return fetch(pool_, kSql, {after_id, static_cast<int64_t>(limit)}, [](const Rows& rows) {
      std::vector<std::pair<int64_t, StoredEvent>> out;
      out.reserve(rows.size());
      for (const Row& r : rows) out.emplace_back(r.integer(kIdColumn), event_from(r));
      return out;
    });
  }

  Result<int64_t> last_event_id() override {
    return fetch(pool_, "SELECT COALESCE(MAX(id), 0) FROM \"Event\"", {}, single_integer);
  }

  Result<std::optional<int64_t>> cursor(std::string_view name) override {
    return fetch(pool_, "SELECT position FROM \"RelayCursor\" WHERE name = $1", {std::string(name)},
                 first([](const Row& r) { return r.integer(0); }));
  }

  Status save_cursor(std::string_view name, int64_t position) override {
    auto conn = pool_.acquire();
    if (!conn) return conn.error();
    auto r = (*conn)->execute(
        "INSERT INTO \"RelayCursor\" (name, position) VALUES ($1, $2) "
        "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
        {std::string(name), position});
    return r ? Status::ok() : r.status();
  }

  Result<int64_t> delete_created_before(Timestamp cutoff, bool including_unpublished,
                                        size_t limit) override {
    auto conn = pool_.acquire();
    if (!conn) return conn.error();
    // A bounded number per statement: no long lock, no huge transaction.
    return (*conn)->execute(
        "DELETE FROM \"KafkaOutbox\" WHERE id IN (SELECT id FROM \"KafkaOutbox\" "
        "WHERE created_at < $1 AND (published_at IS NOT NULL OR $2 = 1) ORDER BY id LIMIT $3)",
        {sql_time(cutoff), static_cast<int64_t>(including_unpublished ? 1 : 0),
         static_cast<int64_t>(limit)});
  }

 private:
  ConnectionPool& pool_;
};

}  // namespace

std::unique_ptr<OutboxStore> make_outbox_repository(ConnectionPool& pool) {
  return std::make_unique<SqlOutboxStore>(pool);
}

}  // namespace insightd::store
