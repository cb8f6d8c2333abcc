// The repositories of store.h, written once over the SQL layer for both SQLite and
// PostgreSQL. Every state change is an UPDATE guarded by the statuses the state
// machine (core/state_machine.h) allows, so races cannot make illegal moves.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <mutex>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "core/ids.h"
#include "core/state_machine.h"
#include "store/detail/queries.h"
#include "store/detail/rows.h"
#include "store/detail/steps.h"
#include "store/open_store.h"
#include "store/sql.h"
#include "store/store.h"

namespace insightd::store {

std::string_view to_string(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed:
      return "CLOSED";
    case BreakerState::kOpen:
      return "OPEN";
    case BreakerState::kHalfOpen:
      return "HALF_OPEN";
  }
  return "?";
}

namespace {

using detail::after_seal;
using detail::all;
using detail::batch_from;
using detail::breaker_from;
using detail::count_per_status;
using detail::create_job_in_tx;
using detail::dead_letter_from;
using detail::event_from;
using detail::fetch;
using detail::fill_and_seal_sql;
using detail::first;
using detail::insert_outbox;
using detail::insight_from;
using detail::job_from;
using detail::json_text;
using detail::kAddToBatch;
using detail::kBatchColumns;
using detail::kBreakerColumns;
using detail::kDeadLetterColumns;
using detail::kEventColumns;
using detail::kInsertBatch;
using detail::kInsertDeadLetter;
using detail::kInsertOutbox;
using detail::kInsightColumns;
using detail::kJobColumns;
using detail::kOpenBatch;
using detail::kOutboxColumns;
using detail::notify_runnable;
using detail::outbox_from;
using detail::seal_in_tx;
using detail::select_job_sql;
using detail::single_integer;
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

// ---------------------------------------------------------------------------

}  // namespace

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

class SqlEventStore final : public EventStore {
 public:
  explicit SqlEventStore(ConnectionPool& pool) : pool_(pool) {}

  Result<AppendOutcome> append(std::span<const NewEvent> events, const BatchPolicy& policy,
                               Timestamp now) override {
    if (policy.max_events <= 0) {
      return make_error(ErrorCode::kInvalidArgument, "batch max_events must be positive");
    }
    // Another process may store one of these event ids, or open a batch,
    // between this transaction's look-up and its insert: the transaction then
    // fails on a unique index, and runs again seeing that row.
    // On PostgreSQL the events go in with one statement, every batch the call
    // fills planned up front. When this store's last append left it knowing the
    // open batch, the whole transaction leaves at once (one round trip); else,
    // or when that guess is stale, one statement locks the open batch and
    // inserts (two round trips). When that meets a duplicate the plan is void
    // and the transaction runs again chunk by chunk. Neither retry counts as an
    // attempt.
    if (events.empty()) return AppendOutcome{};
    if (!on_postgres()) return append_with_retries(events, policy, now, false);
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
    return append_with_retries(events, policy, now, true);
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
  // The OPEN batch, locked for this transaction; created when there is none.
  Result<Batch> lock_open_batch(SqlConnection& c, Timestamp now) {
    const std::string select = fmt::format("SELECT {} FROM \"Batch\" WHERE status = 'OPEN'{}",
                                           kBatchColumns, pool_.dialect().lock_rows);
    // Bounded: each round either finds the batch or creates one; a round can only
    // miss when a concurrent writer sealed the batch in between.
    for (int attempt = 0; attempt < 16; ++attempt) {
      auto rows = c.query(select, {});
      if (!rows) return rows.error();
      if (!rows->empty()) return batch_from(rows->front());
      // None open: make one. A concurrent creator wins the unique index and
      // ours does nothing; the second SELECT then finds theirs.
      auto ins = c.execute(kInsertBatch, {new_id("batch", now), sql_time(now)});
      if (!ins) return ins.error();
    }
    return make_error(ErrorCode::kUnavailable, "could not obtain an open batch");
  }

  static constexpr int kAppendAttempts = 3;

  // One transaction: put the events into the open batch (and the next ones as
  // batches fill), sealing each batch the moment it is full. Round trips: the
  // lock of the open batch, one insert per batch filled (ON CONFLICT ... RETURNING
  // says which events were new) and the commit; the batch updates, seals, jobs,
  // notifications and outbox rows in between are deferred.
  Result<AppendOutcome> append_in_tx(SqlConnection& c, std::span<const NewEvent> events,
                                     const BatchPolicy& policy, Timestamp now) {
    AppendOutcome out;
    out.results.resize(events.size());
    const CallEvents call(events);
    const std::vector<size_t>& todo = call.todo;
    std::optional<Batch> batch;  // the open batch, locked (or created) by this transaction
    size_t next = 0;
    while (next < todo.size()) {
      if (!batch) {
        auto locked = lock_open_batch(c, now);
        if (!locked) return locked.error();
        batch = std::move(locked).value();
      }
      const int64_t room = policy.max_events - batch->event_count;
      if (room <= 0) {
        // The limit was lowered below this batch's size: seal it and go on.
        auto sealed =
            seal_in_tx(c, pool_.dialect(), batch->batch_id, SealReason::kSize, policy, now);
        if (!sealed) return sealed.error();
        out.sealed.push_back(std::move(sealed).value());
        batch.reset();
        continue;
      }
      const size_t take = std::min(todo.size() - next, static_cast<size_t>(room));
      const std::span<const size_t> chunk(todo.data() + next, take);
      auto inserted = insert_events(c, events, chunk, batch->batch_id);
      if (!inserted) return inserted.error();
      std::vector<size_t> dups;
      for (size_t idx : chunk) {
        AppendResult& res = out.results[idx];
        res.event_id = events[idx].event_id;
        if (inserted->contains(res.event_id)) {
          res.batch_id = batch->batch_id;
          res.received_at = events[idx].received_at;
        } else {
          res.duplicate = true;
          dups.push_back(idx);
        }
      }
      if (Status s = fill_duplicates(c, dups, out.results); !s) return s.error();
      next += take;
      const auto added = static_cast<int64_t>(inserted->size());
      if (added == 0) continue;
      const int64_t count = batch->event_count + added;
      if (count < policy.max_events) {
        if (Status s = c.execute_deferred(kAddToBatch, {batch->batch_id, added, sql_time(now)});
            !s) {
          return s.error();
        }
        batch->event_count = count;
        continue;
      }
      // Full: one UPDATE adds the events and seals, in this same transaction.
      if (Status s =
              c.execute_deferred(fill_and_seal_sql(), {batch->batch_id, added, sql_time(now)});
          !s) {
        return s.error();
      }
      auto sealed =
          after_seal(c, pool_.dialect(), batch->batch_id, count, SealReason::kSize, policy, now);
      if (!sealed) return sealed.error();
      out.sealed.push_back(std::move(sealed).value());
      batch.reset();
      if (next < todo.size()) {
        // Open the next batch ourselves, without asking: were another writer
        // to open one at the same time, the unique index on the open batch
        // fails this transaction, which then runs again.
        Batch opened;
        opened.batch_id = new_id("batch", now);
        opened.status = BatchStatus::kOpen;
        opened.event_count = 0;
        if (Status s = c.execute_deferred(kOpenBatch, {opened.batch_id, sql_time(now)}); !s) {
          return s.error();
        }
        batch = std::move(opened);
      }
    }
    call.answer_repeats(out.results);
    return out;
  }

  // The events of one append call: `todo` holds the index of each event_id's
  // first occurrence; later repeats are duplicates of it.
  struct CallEvents {
    explicit CallEvents(std::span<const NewEvent> events) : events(events) {
      todo.reserve(events.size());
      for (size_t i = 0; i < events.size(); ++i) {
        auto [it, fresh] = first_index.emplace(events[i].event_id, i);
        if (fresh) todo.push_back(i);
      }
    }
    // Repeats within the call point at their first occurrence's outcome.
    void answer_repeats(std::vector<AppendResult>& results) const {
      if (todo.size() == events.size()) return;
      for (size_t i = 0; i < events.size(); ++i) {
        const size_t first = first_index.at(events[i].event_id);
        if (first != i) {
          results[i] = results[first];
          results[i].duplicate = true;
        }
      }
    }
    std::span<const NewEvent> events;
    std::unordered_map<std::string_view, size_t> first_index;
    std::vector<size_t> todo;
  };

  // Where the open batch stands after an append: its id and event count, or no
  // batch open (batch_id empty).
  struct OpenBatchState {
    std::optional<std::string> batch_id;
    int64_t count = 0;
  };

  // The old retry loop: the planned (two-round-trip) append on PostgreSQL, the
  // chunk-by-chunk one on SQLite and whenever a plan is void.
  Result<AppendOutcome> append_with_retries(std::span<const NewEvent> events,
                                            const BatchPolicy& policy, Timestamp now, bool plan) {
    for (int attempt = 1;; ++attempt) {
      bool replan = false;
      std::optional<OpenBatchState> after;
      auto out = pool_.in_transaction<AppendOutcome>(TxMode::kWrite, [&](SqlConnection& c) {
        return plan ? append_planned(c, events, policy, now, replan, after)
                    : append_in_tx(c, events, policy, now);
      });
      if (on_postgres()) remember_open_batch(out ? after : std::nullopt);
      if (!out && replan) {
        plan = false;
        --attempt;
        continue;
      }
      if (out || out.code() != ErrorCode::kAlreadyExists || attempt == kAppendAttempts) return out;
    }
  }

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
        "SELECT e.i, e.t, e.u, e.s, e.ts, e.r, e.k, e.m, e.b, e.r FROM json_to_recordset($1::json) "
        "AS e(" +
        std::string(kEventRecordColumns) + ", b text)";
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
    if (Status s = c.execute_deferred(kInsert, {event_rows_json(events, call.todo, batch_of)});
        !s) {
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
  // jobs and outbox rows ride before it, deferred, in the order append_in_tx sends
  // them. The plan holds only if every event is new and the open batch had room:
  // otherwise `replan` is set and the error rolls the transaction back. (With no
  // open batch the statement inserts nothing, which replans too.)
  Result<AppendOutcome> append_planned(SqlConnection& c, std::span<const NewEvent> events,
                                       const BatchPolicy& policy, Timestamp now, bool& replan,
                                       std::optional<OpenBatchState>& after) {
    static const std::string kPlannedInsert =
        "WITH b AS (SELECT batch_id, event_count, $3::bigint - event_count AS room FROM \"Batch\" "
        "WHERE status = 'OPEN' FOR UPDATE), "
        "ins AS (INSERT INTO \"Event\" (event_id, event_type, user_id, session_id, "
        "\"timestamp\", received_at, clock_skew_ms, metadata, batch_id, created_at) "
        "SELECT e.i, e.t, e.u, e.s, e.ts, e.r, e.k, e.m, CASE WHEN e.n < b.room THEN b.batch_id "
        "ELSE ($2::text[])[1 + (e.n - b.room) / $3::bigint] END, e.r "
        "FROM json_to_recordset($1::json) AS e(" +
        std::string(kEventRecordColumns) +
        "), b WHERE b.room > 0 ON CONFLICT (event_id) DO NOTHING RETURNING event_id, batch_id) "
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
    auto rows = c.query(kPlannedInsert,
                        {event_rows_json(events, call.todo), text_array(fresh), policy.max_events});
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

  // Where and when each duplicate was first stored. One equality look-up on
  // the unique index per duplicate (they are rare: client retries).
  Status fill_duplicates(SqlConnection& c, std::span<const size_t> dups,
                         std::vector<AppendResult>& results) {
    static const std::string kSql =
        "SELECT batch_id, received_at FROM \"Event\" WHERE event_id = $1";
    for (size_t idx : dups) {
      auto rows = c.query(kSql, {results[idx].event_id});
      if (!rows) return rows.status();
      if (rows->empty()) continue;  // cannot happen: the conflict proves it exists
      results[idx].batch_id = rows->front().text(0);
      results[idx].received_at = rows->front().time(1);
    }
    return Status::ok();
  }

  bool on_postgres() const { return pool_.dialect().name == postgres_dialect().name; }

  // The columns of one event in event_rows_json's records; n is the event's
  // position in the chunk.
  static constexpr std::string_view kEventRecordColumns =
      "i text, t text, u text, s text, ts timestamptz, r timestamptz, k bigint, m jsonb, n bigint";

  // The chunk's events as one JSON array of records, for json_to_recordset: one
  // parameter however many rows (PostgreSQL plans the statement once).
  static std::string event_rows_json(std::span<const NewEvent> events,
                                     std::span<const size_t> chunk,
                                     std::span<const std::string_view> batch_of = {}) {
    auto quoted = [](std::string_view text) {
      return boost::json::serialize(boost::json::string_view(text.data(), text.size()));
    };
    std::string rows = "[";
    rows.reserve(chunk.size() * 256);
    for (size_t n = 0; n < chunk.size(); ++n) {
      const NewEvent& e = events[chunk[n]];
      if (n > 0) rows += ',';
      rows += "{\"i\":";
      rows += quoted(e.event_id);
      rows += ",\"t\":";
      rows += quoted(e.event_type);
      rows += ",\"u\":";
      rows += e.user_id ? quoted(*e.user_id) : "null";
      rows += ",\"s\":";
      rows += e.session_id ? quoted(*e.session_id) : "null";
      rows += ",\"ts\":\"";
      rows += format_timestamp(e.timestamp);
      rows += "\",\"r\":\"";
      rows += format_timestamp(e.received_at);
      rows += "\",\"k\":";
      rows += std::to_string(e.clock_skew_ms);
      rows += ",\"m\":";
      rows += e.metadata_json;  // a JSON object, checked at validation
      rows += ",\"n\":";
      rows += std::to_string(n);
      if (!batch_of.empty()) {
        rows += ",\"b\":";
        rows += quoted(batch_of[n]);
      }
      rows += '}';
    }
    rows += ']';
    return rows;
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
  Result<std::unordered_set<std::string>> insert_events_json(SqlConnection& c,
                                                             std::span<const NewEvent> events,
                                                             std::span<const size_t> chunk,
                                                             const std::string& batch_id) {
    static const std::string kInsert =
        "INSERT INTO \"Event\" (event_id, event_type, user_id, session_id, \"timestamp\", "
        "received_at, clock_skew_ms, metadata, batch_id, created_at) "
        "SELECT e.i, e.t, e.u, e.s, e.ts, e.r, e.k, e.m, $2, e.r FROM json_to_recordset($1::json) "
        "AS e(" +
        std::string(kEventRecordColumns) + ") ON CONFLICT (event_id) DO NOTHING RETURNING event_id";
    auto stored = c.query(kInsert, {event_rows_json(events, chunk), batch_id});
    if (!stored) return stored.error();
    std::unordered_set<std::string> ids;
    for (const Row& r : *stored) ids.insert(r.text(0));
    return ids;
  }

  // Stores the chunk's events that are new; returns their event_ids. SQLite:
  // multi-row INSERTs (cheap to prepare there), split into power-of-two pieces
  // so that a handful of statement texts serve every size.
  Result<std::unordered_set<std::string>> insert_events(SqlConnection& c,
                                                        std::span<const NewEvent> events,
                                                        std::span<const size_t> chunk,
                                                        const std::string& batch_id) {
    if (on_postgres()) return insert_events_json(c, events, chunk, batch_id);
    constexpr size_t kCols = 10;
    constexpr size_t kMaxRowsLog2 = 8;  // 256 rows per statement at most
    static const std::array<std::string, kMaxRowsLog2 + 1> kInserts = [] {
      std::array<std::string, kMaxRowsLog2 + 1> sql;
      for (size_t k = 0; k < sql.size(); ++k) {
        std::string text =
            "INSERT INTO \"Event\" (event_id, event_type, user_id, session_id, \"timestamp\", "
            "received_at, clock_skew_ms, metadata, batch_id, created_at) VALUES ";
        for (size_t row = 0; row < (size_t{1} << k); ++row) {
          text += row == 0 ? "(" : ", (";
          for (size_t col = 0; col < kCols; ++col) {
            text += fmt::format("{}${}", col == 0 ? "" : ", ", row * kCols + col + 1);
          }
          text += ")";
        }
        sql[k] = std::move(text) + " ON CONFLICT (event_id) DO NOTHING RETURNING event_id";
      }
      return sql;
    }();
    std::unordered_set<std::string> stored;
    size_t start = 0;
    while (start < chunk.size()) {
      size_t k = kMaxRowsLog2;
      while ((size_t{1} << k) > chunk.size() - start) --k;
      const size_t n = size_t{1} << k;
      std::vector<SqlValue> params;
      params.reserve(n * kCols);
      for (size_t row = 0; row < n; ++row) {
        const NewEvent& e = events[chunk[start + row]];
        SqlValue received = sql_time(e.received_at);
        params.emplace_back(e.event_id);
        params.emplace_back(e.event_type);
        params.push_back(sql_opt_text(e.user_id));
        params.push_back(sql_opt_text(e.session_id));
        params.push_back(sql_time(e.timestamp));
        params.push_back(received);
        params.emplace_back(e.clock_skew_ms);
        params.emplace_back(e.metadata_json);
        params.emplace_back(batch_id);
        params.push_back(std::move(received));
      }
      auto rows = c.query(kInserts[k], params);
      if (!rows) return rows.error();
      for (const Row& r : *rows) stored.insert(r.text(0));
      start += n;
    }
    return stored;
  }

  ConnectionPool& pool_;
  static constexpr int kMaxGuessMisses = 6;
  std::mutex guess_mu_;
  std::optional<OpenBatchState> guess_;  // unknown when empty
  int guess_misses_ = 0;                 // in a row
  int guess_skips_ = 0;                  // appends left before the next guess
};

// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------

class SqlStore final : public Store {
 public:
  explicit SqlStore(std::shared_ptr<ConnectionPool> pool)
      : pool_(std::move(pool)),
        events_(*pool_),
        batches_(*pool_),
        jobs_(*pool_),
        insights_(*pool_),
        dead_letters_(*pool_),
        outbox_(*pool_),
        breakers_(*pool_) {}

  EventStore& events() override { return events_; }
  BatchStore& batches() override { return batches_; }
  JobStore& jobs() override { return jobs_; }
  InsightStore& insights() override { return insights_; }
  DeadLetterStore& dead_letters() override { return dead_letters_; }
  OutboxStore& outbox() override { return outbox_; }
  BreakerStore& breakers() override { return breakers_; }
  std::string_view backend() const override { return pool_->dialect().name; }

  Status ping() override {
    return fetch(*pool_, "SELECT 1", {}, [](const Rows&) { return true; }).status();
  }

 private:
  std::shared_ptr<ConnectionPool> pool_;
  SqlEventStore events_;
  SqlBatchStore batches_;
  SqlJobStore jobs_;
  SqlInsightStore insights_;
  SqlDeadLetterStore dead_letters_;
  SqlOutboxStore outbox_;
  SqlBreakerStore breakers_;
};

}  // namespace

std::unique_ptr<Store> make_sql_store(std::shared_ptr<ConnectionPool> pool) {
  return std::make_unique<SqlStore>(std::move(pool));
}

}  // namespace insightd::store
