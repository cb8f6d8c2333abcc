// PostgreSQL's append paths of store/postgres/pg_append.h. Every state they
// write is the same the chunked append (store/detail/append.h) would write;
// only the round trips differ.
#include "store/postgres/pg_append.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/ids.h"
#include "store/detail/queries.h"
#include "store/detail/steps.h"
#include "store/postgres/pg_binary.h"

namespace insightd::store {
namespace {

using detail::after_seal;
using detail::AppendTry;
using detail::CallEvents;
using detail::fill_and_seal_sql;
using detail::kAddToBatch;
using detail::kOpenBatch;
using detail::OpenBatchState;

// The events go in with one statement, every batch the call fills planned up
// front. When this store's last append left it knowing the open batch, the
// whole transaction leaves at once (one round trip); else, or when that guess
// is stale, one statement locks the open batch and inserts (two round trips).
// When that meets a duplicate the plan is void and the transaction runs again
// chunk by chunk. Neither retry counts as an attempt.
class PgAppend final : public detail::AppendStrategy {
 public:
  explicit PgAppend(ConnectionPool& pool) : pool_(pool) {}

  Result<AppendOutcome> append(std::span<const NewEvent> events, const BatchPolicy& policy,
                               Timestamp now) override {
    if (auto guess = open_batch_guess(policy)) {
      std::optional<OpenBatchState> after;
      auto out = pool_.in_transaction<AppendOutcome>(TxMode::kWrite, [&](SqlConnection& c) {
        return append_guessed(c, events, policy, now, *guess, after);
      });
      learn_open_batch(out ? after : std::nullopt, static_cast<bool>(out));
      // Any failure, a stale guess or a duplicate or the database gone, is
      // told apart by the two-round-trip path.
      if (out) return out;
    }
    // The planned (two-round-trip) append, chunk by chunk once a plan is void.
    bool plan = true;
    return detail::append_with_retries(
        pool_,
        [&](SqlConnection& c, AppendTry& t) -> Result<AppendOutcome> {
          if (!plan) {
            return detail::append_chunked(c, pool_.dialect(), insert_events_json, events, policy,
                                          now);
          }
          auto out = append_planned(c, events, policy, now, t.replan, t.after);
          if (t.replan) plan = false;
          return out;
        },
        [this](const Result<AppendOutcome>& out, const AppendTry& t) {
          remember_open_batch(out ? t.after : std::nullopt);
        });
  }

 private:
  // The open batch as this store's last append left it, when that is known and
  // the guesses are not backing off after a miss.
  std::optional<OpenBatchState> open_batch_guess(const BatchPolicy& policy) {
    std::lock_guard lock(guess_mu_);
    if (!guess_) return std::nullopt;
    if (guess_skips_ > 0) {
      --guess_skips_;
      return std::nullopt;
    }
    if (guess_->batch_id && guess_->count >= policy.max_events) return std::nullopt;
    return guess_;
  }

  void remember_open_batch(std::optional<OpenBatchState> state) {
    std::lock_guard lock(guess_mu_);
    guess_ = std::move(state);
  }

  // A hit clears the back-off. Each miss in a row doubles the appends that go
  // the two-round-trip way before the next guess (up to 63): with several
  // writers on one database most guesses miss, and a miss costs a round trip.
  void learn_open_batch(std::optional<OpenBatchState> state, bool hit) {
    std::lock_guard lock(guess_mu_);
    guess_ = std::move(state);
    if (hit) {
      guess_misses_ = 0;
      return;
    }
    guess_misses_ = std::min(guess_misses_ + 1, kMaxGuessMisses);
    guess_skips_ = (1 << guess_misses_) - 1;
  }

  // PostgreSQL, one round trip: the open batch is guessed to be `guess`, so
  // every event's batch is known before anything is sent. The transaction is
  // the guard (insightd_expect_open_batch locks the open batch and fails unless
  // it is `guess`), a plain INSERT of every event into its batch (a duplicate
  // fails its unique index), the batch updates, seals, jobs and outbox rows, and
  // the COMMIT, all sent at once. Any failure rolls all of it back.
  Result<AppendOutcome> append_guessed(SqlConnection& c, std::span<const NewEvent> events,
                                       const BatchPolicy& policy, Timestamp now,
                                       const OpenBatchState& guess,
                                       std::optional<OpenBatchState>& after) {
    static const std::string kExpect = "SELECT insightd_expect_open_batch($1, $2)";
    static const std::string kInsert =
        "INSERT INTO \"Event\" (event_id, event_type, user_id, session_id, \"timestamp\", "
        "received_at, clock_skew_ms, metadata, batch_id, created_at) "
        "SELECT e.i, e.t, e.u, e.s, e.ts, e.r, e.k, e.m, e.b, e.r FROM " +
        std::string(kEventColumnArrays) + ", $9::text[]) AS e(i, t, u, s, ts, r, k, m, b)";
    const CallEvents call(events);
    // The rest of the open batch, then new batches of max_events.
    const int64_t n = static_cast<int64_t>(call.todo.size());
    const int64_t room = guess.batch_id ? policy.max_events - guess.count : 0;
    const int64_t over = std::max<int64_t>(0, n - room);
    std::vector<std::string> fresh;
    for (int64_t k = 0; k < (over + policy.max_events - 1) / policy.max_events; ++k) {
      fresh.push_back(new_id("batch", now));
    }
    std::vector<std::string_view> batch_of;
    batch_of.reserve(call.todo.size());
    for (int64_t i = 0; i < n; ++i) {
      batch_of.emplace_back(i < room ? *guess.batch_id
                                     : fresh[static_cast<size_t>((i - room) / policy.max_events)]);
    }
    const SqlValue expected_id =
        guess.batch_id ? SqlValue(*guess.batch_id) : SqlValue(std::monostate{});
    if (Status s = c.execute_deferred(kExpect, {expected_id, guess.count}); !s) return s.error();
    if (Status s = c.execute_deferred(kInsert, event_columns(events, call.todo, batch_of)); !s) {
      return s.error();
    }
    auto out = finish_plan(c, events, call, batch_of, guess, policy, now, after);
    if (out) out->path = AppendPath::kOneRoundTrip;
    return out;
  }

  // PostgreSQL, two round trips whatever the size. The first is one statement
  // that locks the open batch and inserts every event, each into the batch its
  // position sends it to: the rest of the open batch, then batches of max_events
  // under ids made here ($2). The second is the commit; the batch updates, seals,
  // jobs and outbox rows ride before it, deferred, in the order append_chunked sends
  // them. The plan holds only if every event is new and the open batch had room:
  // otherwise `replan` is set and the error rolls the transaction back. (With no
  // open batch the statement inserts nothing, which replans too.)
  Result<AppendOutcome> append_planned(SqlConnection& c, std::span<const NewEvent> events,
                                       const BatchPolicy& policy, Timestamp now, bool& replan,
                                       std::optional<OpenBatchState>& after) {
    static const std::string kPlannedInsert =
        "WITH b AS (SELECT batch_id, event_count, $10::bigint - event_count AS room FROM \"Batch\" "
        "WHERE status = 'OPEN' FOR UPDATE), "
        "ins AS (INSERT INTO \"Event\" (event_id, event_type, user_id, session_id, "
        "\"timestamp\", received_at, clock_skew_ms, metadata, batch_id, created_at) "
        "SELECT e.i, e.t, e.u, e.s, e.ts, e.r, e.k, e.m, CASE WHEN e.n <= b.room THEN b.batch_id "
        "ELSE ($9::text[])[1 + (e.n - 1 - b.room) / $10::bigint] END, e.r "
        "FROM " +
        std::string(kEventColumnArrays) +
        ") WITH ORDINALITY AS e(i, t, u, s, ts, r, k, m, n), b WHERE b.room > 0 "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id, batch_id) "
        "SELECT ins.event_id, ins.batch_id, b.batch_id, b.event_count FROM ins, b";
    auto void_plan = [&replan](std::string why) {
      replan = true;
      return make_error(ErrorCode::kConflict, std::move(why));
    };
    const CallEvents call(events);
    const int64_t n = static_cast<int64_t>(call.todo.size());
    // Enough new batches for the worst case (an open batch with room for one).
    std::vector<std::string> fresh;
    for (int64_t k = 0; k < (n + policy.max_events - 1) / policy.max_events; ++k) {
      fresh.push_back(new_id("batch", now));
    }
    std::vector<SqlValue> params = event_columns(events, call.todo);
    params.emplace_back(text_array(fresh));
    params.emplace_back(policy.max_events);
    auto rows = c.query(kPlannedInsert, params);
    if (!rows) return rows.error();
    if (rows->empty() || static_cast<int64_t>(rows->size()) != n) {
      return void_plan("some events are duplicates, or no batch is open");
    }
    const OpenBatchState before{rows->front().text(2), rows->front().integer(3)};
    std::unordered_map<std::string_view, std::string_view> batch_by_event;
    batch_by_event.reserve(rows->size());
    for (const Row& r : *rows) batch_by_event.emplace(r.text(0), r.text(1));
    std::vector<std::string_view> batch_of;
    batch_of.reserve(call.todo.size());
    for (size_t idx : call.todo) batch_of.push_back(batch_by_event.at(events[idx].event_id));
    auto out = finish_plan(c, events, call, batch_of, before, policy, now, after);
    if (out) out->path = AppendPath::kTwoRoundTrips;
    return out;
  }

  // The rest of a planned append, deferred until the commit: each batch the
  // events went to (batch_of[n] for the call's n-th new event) is opened unless
  // it is `before`'s, gets its count, and is sealed with its job and outbox row
  // when full. `after` is where the open batch will stand once this commits.
  Result<AppendOutcome> finish_plan(SqlConnection& c, std::span<const NewEvent> events,
                                    const CallEvents& call,
                                    std::span<const std::string_view> batch_of,
                                    const OpenBatchState& before, const BatchPolicy& policy,
                                    Timestamp now, std::optional<OpenBatchState>& after) {
    // The batches in the order they fill, and how many events each gets.
    std::vector<std::string_view> ids;
    std::vector<int64_t> added;
    AppendOutcome out;
    out.results.resize(events.size());
    for (size_t n = 0; n < call.todo.size(); ++n) {
      const size_t idx = call.todo[n];
      AppendResult& res = out.results[idx];
      res.event_id = events[idx].event_id;
      res.batch_id = std::string(batch_of[n]);
      res.received_at = events[idx].received_at;
      if (ids.empty() || ids.back() != batch_of[n]) {
        ids.push_back(batch_of[n]);
        added.push_back(0);
      }
      ++added.back();
    }
    OpenBatchState state = before;
    for (size_t k = 0; k < ids.size(); ++k) {
      const std::string id(ids[k]);
      const bool was_open = before.batch_id && id == *before.batch_id;
      if (!was_open) {
        if (Status s = c.execute_deferred(kOpenBatch, {id, sql_time(now)}); !s) return s.error();
      }
      const int64_t count = (was_open ? before.count : 0) + added[k];
      if (count < policy.max_events) {
        if (Status s = c.execute_deferred(kAddToBatch, {id, added[k], sql_time(now)}); !s) {
          return s.error();
        }
        state = OpenBatchState{id, count};
        continue;
      }
      if (Status s = c.execute_deferred(fill_and_seal_sql(), {id, added[k], sql_time(now)}); !s) {
        return s.error();
      }
      auto sealed = after_seal(c, pool_.dialect(), id, count, SealReason::kSize, policy, now);
      if (!sealed) return sealed.error();
      out.sealed.push_back(std::move(sealed).value());
      state = OpenBatchState{};
    }
    call.answer_repeats(out.results);
    after = std::move(state);
    return out;
  }

  // The chunk's events as eight arrays in PostgreSQL's binary format, one per
  // column ($1 … $8 of kEventColumnArrays): unnest makes them rows without
  // parsing any text but each event's metadata. With `batch_of`, a ninth: the
  // batch of each.
  static constexpr std::string_view kEventColumnArrays =
      "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], "
      "$6::timestamptz[], $7::int8[], $8::jsonb[]";

  static std::vector<SqlValue> event_columns(std::span<const NewEvent> events,
                                             std::span<const size_t> chunk,
                                             std::span<const std::string_view> batch_of = {}) {
    using pg::BinaryArray;
    using pg::ElementType;
    const size_t n = chunk.size();
    BinaryArray ids(ElementType::kText, n, 32);
    BinaryArray types(ElementType::kText, n);
    BinaryArray users(ElementType::kText, n);
    BinaryArray sessions(ElementType::kText, n);
    BinaryArray times(ElementType::kTimestampTz, n, 8);
    BinaryArray received(ElementType::kTimestampTz, n, 8);
    BinaryArray skews(ElementType::kInt8, n, 8);
    BinaryArray metadata(ElementType::kJsonb, n, 128);
    auto optional = [](BinaryArray& column, const std::optional<std::string>& text) {
      if (text) {
        column.add_text(*text);
      } else {
        column.add_null();
      }
    };
    for (size_t idx : chunk) {
      const NewEvent& e = events[idx];
      ids.add_text(e.event_id);
      types.add_text(e.event_type);
      optional(users, e.user_id);
      optional(sessions, e.session_id);
      times.add_timestamptz(e.timestamp);
      received.add_timestamptz(e.received_at);
      skews.add_int8(e.clock_skew_ms);
      metadata.add_jsonb(e.metadata_json);  // a JSON object, checked at validation
    }
    std::vector<SqlValue> params;
    params.reserve(11);
    for (BinaryArray* column :
         {&ids, &types, &users, &sessions, &times, &received, &skews, &metadata}) {
      params.push_back(column->take());
    }
    if (!batch_of.empty()) {
      BinaryArray batches(ElementType::kText, n, 40);
      for (std::string_view b : batch_of) batches.add_text(b);
      params.push_back(batches.take());
    }
    return params;
  }

  // A PostgreSQL text[] literal of `items`, each quoted.
  static std::string text_array(std::span<const std::string> items) {
    std::string array = "{";
    for (const std::string& item : items) {
      if (array.size() > 1) array += ',';
      array += '"';
      for (char ch : item) {
        if (ch == '"' || ch == '\\') array += '\\';
        array += ch;
      }
      array += '"';
    }
    array += '}';
    return array;
  }

  // PostgreSQL: every row of the chunk into batch `batch_id` with one statement;
  // returns the event_ids it stored (the others exist).
  static Result<std::unordered_set<std::string>> insert_events_json(
      SqlConnection& c, std::span<const NewEvent> events, std::span<const size_t> chunk,
      const std::string& batch_id) {
    static const std::string kInsert =
        "INSERT INTO \"Event\" (event_id, event_type, user_id, session_id, \"timestamp\", "
        "received_at, clock_skew_ms, metadata, batch_id, created_at) "
        "SELECT e.i, e.t, e.u, e.s, e.ts, e.r, e.k, e.m, $9, e.r FROM " +
        std::string(kEventColumnArrays) +
        ") AS e(i, t, u, s, ts, r, k, m) ON CONFLICT (event_id) DO NOTHING RETURNING event_id";
    std::vector<SqlValue> params = event_columns(events, chunk);
    params.emplace_back(batch_id);
    auto stored = c.query(kInsert, params);
    if (!stored) return stored.error();
    std::unordered_set<std::string> ids;
    for (const Row& r : *stored) ids.insert(r.text(0));
    return ids;
  }

  ConnectionPool& pool_;
  static constexpr int kMaxGuessMisses = 6;
  std::mutex guess_mu_;
  std::optional<OpenBatchState> guess_;  // unknown when empty
  int guess_misses_ = 0;                 // in a row
  int guess_skips_ = 0;                  // appends left before the next guess
};

}  // namespace

std::unique_ptr<detail::AppendStrategy> make_pg_append(ConnectionPool& pool) {
  return std::make_unique<PgAppend>(pool);
}

}  // namespace insightd::store
