// The insight repository (store.h's InsightStore): the analyses' results, read
// newest first. Insights are written by the job store's completions.
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
using detail::fetch;
using detail::first;
using detail::insight_from;
using detail::kInsightColumns;

class SqlInsightStore final : public InsightStore {
 public:
  explicit SqlInsightStore(ConnectionPool& pool) : pool_(pool) {}

  Result<std::vector<Insight>> list(size_t limit, std::optional<std::string> before,
                                    std::optional<std::string> batch_id) override {
    // Insight ids are time-ordered, so newest first is insight_id descending.
    static const std::string kSql = fmt::format(
        "SELECT {} FROM \"Insight\" WHERE (CAST($1 AS text) IS NULL OR insight_id < $1) AND "
        "(CAST($2 AS text) IS NULL OR batch_id = $2) ORDER BY insight_id DESC LIMIT $3",
        kInsightColumns);
    return fetch(pool_, kSql,
                 {sql_opt_text(before), sql_opt_text(batch_id), static_cast<int64_t>(limit)},
                 all(insight_from));
  }

  Result<std::optional<Insight>> get(std::string_view insight_id) override {
    static const std::string kSql =
        fmt::format("SELECT {} FROM \"Insight\" WHERE insight_id = $1", kInsightColumns);
    return fetch(pool_, kSql, {std::string(insight_id)}, first(insight_from));
  }

 private:
  ConnectionPool& pool_;
};

}  // namespace

std::unique_ptr<InsightStore> make_insight_repository(ConnectionPool& pool) {
  return std::make_unique<SqlInsightStore>(pool);
}

}  // namespace insightd::store
