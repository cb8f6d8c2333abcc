// Reading the store's rows: one mapper per model struct (a Row whose columns
// are store/detail/queries.h's list, in order), and fetch(), the one way the
// repositories run a statement and turn its rows into a value. Not for use
// outside src/store.
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/model.h"
#include "core/result.h"
#include "store/sql.h"
#include "store/store.h"

namespace insightd::store::detail {

Batch batch_from(const Row& r);                       // kBatchColumns
Job job_from(const Row& r);                           // kJobColumns
StoredEvent event_from(const Row& r);                 // kEventColumns
Insight insight_from(const Row& r);                   // kInsightColumns
DeadLetter dead_letter_from(const Row& r);            // kDeadLetterColumns
BreakerRecord breaker_from(const Row& r);             // kBreakerColumns
OutboxMessage outbox_from(const Row& r);              // kOutboxColumns
ArchivedBatchInfo archived_batch_from(const Row& r);  // kArchivedBatchColumns

// Result<T> for a mapper that makes a T, and the same Result<T> for one that
// already answers with a Result<T> (it may refuse the rows).
template <typename T>
struct AsResult {
  using type = Result<T>;
};
template <typename T>
struct AsResult<Result<T>> {
  using type = Result<T>;
};
template <typename Map>
using FetchResult = typename AsResult<std::invoke_result_t<Map&, const Rows&>>::type;

// Runs one statement on `c` and returns what `map` makes of its rows, or the
// statement's error.
template <typename Map>
FetchResult<Map> fetch(SqlConnection& c, std::string_view sql,
                       std::initializer_list<SqlValue> params, Map&& map) {
  auto rows = c.query(sql, params);
  if (!rows) return rows.error();
  return map(std::as_const(*rows));
}

// The same on a connection borrowed from `pool` for this one statement: the
// acquire/query/map steps of every read outside a transaction.
template <typename Map>
FetchResult<Map> fetch(ConnectionPool& pool, std::string_view sql,
                       std::initializer_list<SqlValue> params, Map&& map) {
  auto conn = pool.acquire();
  if (!conn) return conn.error();
  return fetch(**conn, sql, params, map);
}

// Mappers for fetch(): every row through `from`...
template <typename From>
auto all(From from) {
  return [from](const Rows& rows) {
    std::vector<std::invoke_result_t<From&, const Row&>> out;
    out.reserve(rows.size());
    for (const Row& r : rows) out.push_back(from(r));
    return out;
  };
}

// ...the first row through `from`, nullopt when there is none...
template <typename From>
auto first(From from) {
  return [from](const Rows& rows) {
    using T = std::invoke_result_t<From&, const Row&>;
    if (rows.empty()) return std::optional<T>();
    return std::optional<T>(from(rows.front()));
  };
}

// ..."status, COUNT(*)" rows as a count per status, each of `statuses` present
// (0 when it has no row)...
template <typename S>
auto count_per_status(std::optional<S> (*parse)(std::string_view),
                      std::initializer_list<S> statuses) {
  std::map<S, int64_t> none;
  for (const S s : statuses) none.emplace(s, 0);
  return [parse, none = std::move(none)](const Rows& rows) {
    std::map<S, int64_t> out = none;
    for (const Row& r : rows) {
      if (auto s = parse(r.text(0))) out[*s] = r.integer(1);
    }
    return out;
  };
}

// ...and the single integer a COUNT(*) answers.
inline int64_t single_integer(const Rows& rows) {
  return rows.front().integer(0);
}

}  // namespace insightd::store::detail
