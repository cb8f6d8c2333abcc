// The event repository (store.h's EventStore) over the SQL layer. An append
// goes through the AppendStrategy the pool's Dialect makes (store/detail/append.h,
// store/postgres/pg_append.h); the reads are the same SQL on both databases.
#include <fmt/format.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/detail/append.h"
#include "store/detail/queries.h"
#include "store/detail/repositories.h"
#include "store/detail/rows.h"

namespace insightd::store {

std::string_view to_string(AppendPath path) {
  switch (path) {
    case AppendPath::kChunked:
      return "chunked";
    case AppendPath::kTwoRoundTrips:
      return "two_round_trips";
    case AppendPath::kOneRoundTrip:
      return "one_round_trip";
  }
  return "chunked";
}

namespace {

using detail::all;
using detail::event_from;
using detail::fetch;
using detail::first;
using detail::kEventColumns;
using detail::single_integer;

class SqlEventStore final : public EventStore {
 public:
  explicit SqlEventStore(ConnectionPool& pool)
      : pool_(pool), append_(pool.dialect().make_append(pool)) {}

  Result<AppendOutcome> append(std::span<const NewEvent> events, const BatchPolicy& policy,
                               Timestamp now) override {
    if (policy.max_events <= 0) {
      return make_error(ErrorCode::kInvalidArgument, "batch max_events must be positive");
    }
    if (events.empty()) return AppendOutcome{};
    return append_->append(events, policy, now);
  }

  Result<std::vector<StoredEvent>> batch_events(std::string_view batch_id, size_t limit) override {
    static const std::string kSql = fmt::format(
        "SELECT {} FROM \"Event\" WHERE batch_id = $1 ORDER BY id LIMIT $2", kEventColumns);
    return fetch(pool_, kSql, {std::string(batch_id), static_cast<int64_t>(limit)},
                 all(event_from));
  }

  Result<std::optional<StoredEvent>> find(std::string_view event_id) override {
    static const std::string kSql =
        fmt::format("SELECT {} FROM \"Event\" WHERE event_id = $1", kEventColumns);
    return fetch(pool_, kSql, {std::string(event_id)}, first(event_from));
  }

  Result<int64_t> count() override {
    return fetch(pool_, "SELECT COUNT(*) FROM \"Event\"", {}, single_integer);
  }

  Result<std::vector<StoredEvent>> recent(size_t limit) override {
    static const std::string kSql =
        fmt::format("SELECT {} FROM \"Event\" ORDER BY id DESC LIMIT $1", kEventColumns);
    return fetch(pool_, kSql, {static_cast<int64_t>(limit)}, all(event_from));
  }

  Result<EventActivity> activity(Timestamp since) override {
    // Both use the received_at index: a range count and the index's last entry.
    static const std::string kSql =
        "SELECT (SELECT COUNT(*) FROM \"Event\" WHERE received_at >= $1), "
        "(SELECT MAX(received_at) FROM \"Event\")";
    return fetch(pool_, kSql, {sql_time(since)}, [](const Rows& rows) {
      return EventActivity{rows.front().integer(0), rows.front().opt_time(1)};
    });
  }

  Result<std::vector<std::pair<Timestamp, int64_t>>> per_minute(Timestamp since) override {
    // A range scan of the received_at index, grouped by the minute as text
    // ("2026-11-29T10:01"); the SQL differs with the type of received_at.
    const Timestamp start = std::chrono::floor<std::chrono::minutes>(since);
    using Out = std::vector<std::pair<Timestamp, int64_t>>;
    return fetch(pool_, pool_.dialect().events_per_minute, {sql_time(start)},
                 [](const Rows& rows) -> Result<Out> {
                   Out out;
                   out.reserve(rows.size());
                   for (const Row& r : rows) {
                     auto minute = parse_rfc3339(r.text(0) + ":00Z");
                     if (!minute)
                       return Error{ErrorCode::kInternal, "unreadable minute " + r.text(0)};
                     out.emplace_back(*minute, r.integer(1));
                   }
                   return out;
                 });
  }

 private:
  ConnectionPool& pool_;
  const std::unique_ptr<detail::AppendStrategy> append_;  // the Dialect's
};

}  // namespace

std::unique_ptr<EventStore> make_event_repository(ConnectionPool& pool) {
  return std::make_unique<SqlEventStore>(pool);
}

}  // namespace insightd::store
