// The circuit-breaker repository (store.h's BreakerStore): breaker state shared
// by every process on the database, changed by compare-and-set on a version.
#include <fmt/format.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/detail/queries.h"
#include "store/detail/repositories.h"
#include "store/detail/rows.h"

namespace insightd::store {
namespace {

using detail::all;
using detail::breaker_from;
using detail::fetch;
using detail::kBreakerColumns;
using detail::kInsertOutbox;

class SqlBreakerStore final : public BreakerStore {
 public:
  explicit SqlBreakerStore(ConnectionPool& pool) : pool_(pool) {}

  Result<BreakerRecord> load(std::string_view name, Timestamp now) override {
    static const std::string kSelect =
        fmt::format("SELECT {} FROM \"CircuitBreaker\" WHERE name = $1", kBreakerColumns);
    auto conn = pool_.acquire();
    if (!conn) return conn.error();
    auto ins = (*conn)->execute(
        "INSERT INTO \"CircuitBreaker\" (name, state, failure_count, changed_at, version, "
        "updated_at) VALUES ($1, 'CLOSED', 0, $2, 0, $2) ON CONFLICT (name) DO NOTHING",
        {std::string(name), sql_time(now)});
    if (!ins) return ins.error();
    return fetch(**conn, kSelect, {std::string(name)},
                 [](const Rows& rows) -> Result<BreakerRecord> {
                   if (rows.empty())
                     return make_error(ErrorCode::kInternal, "breaker row vanished");
                   return breaker_from(rows.front());
                 });
  }

  Result<std::vector<BreakerRecord>> list() override {
    static const std::string kSql =
        fmt::format("SELECT {} FROM \"CircuitBreaker\" ORDER BY name", kBreakerColumns);
    return fetch(pool_, kSql, {}, all(breaker_from));
  }

  Result<bool> compare_and_set(const BreakerRecord& next,
                               std::optional<std::string> outbox_payload_json,
                               Timestamp now) override {
    return pool_.in_transaction<bool>(TxMode::kWrite, [&](SqlConnection& c) -> Result<bool> {
      auto r = c.execute(
          "UPDATE \"CircuitBreaker\" SET state = $3, failure_count = $4, changed_at = $5, "
          "open_until = $6, probe_owner = $7, probe_expires_at = $8, version = version + 1, "
          "updated_at = $9 WHERE name = $1 AND version = $2",
          {next.name, next.version, std::string(to_string(next.state)), next.failure_count,
           sql_time(next.changed_at), sql_opt_time(next.open_until), sql_opt_text(next.probe_owner),
           sql_opt_time(next.probe_expires_at), sql_time(now)});
      if (!r) return r.error();
      if (*r == 0) return false;
      if (outbox_payload_json) {
        auto o = c.execute(kInsertOutbox, {std::string("circuit.state_changed"), next.name,
                                           *outbox_payload_json, sql_time(now)});
        if (!o) return o.error();
      }
      return true;
    });
  }

 private:
  ConnectionPool& pool_;
};

}  // namespace

std::unique_ptr<BreakerStore> make_breaker_repository(ConnectionPool& pool) {
  return std::make_unique<SqlBreakerStore>(pool);
}

}  // namespace insightd::store
