// The chunked append, its retry loop and the default AppendStrategy of
// store/detail/append.h.
#include "store/detail/append.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "core/ids.h"
#include "store/detail/queries.h"
#include "store/detail/rows.h"
#include "store/detail/steps.h"

namespace insightd::store::detail {
namespace {

// The OPEN batch, locked for this transaction; created when there is none.
Result<Batch> lock_open_batch(SqlConnection& c, const Dialect& d, Timestamp now) {
  const std::string select =
      fmt::format("SELECT {} FROM \"Batch\" WHERE status = 'OPEN'{}", kBatchColumns, d.lock_rows);
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

// Where and when each duplicate was first stored. One equality look-up on
// the unique index per duplicate (they are rare: client retries).
Status fill_duplicates(SqlConnection& c, std::span<const size_t> dups,
                       std::vector<AppendResult>& results) {
  static const std::string kSql = "SELECT batch_id, received_at FROM \"Event\" WHERE event_id = $1";
  for (size_t idx : dups) {
    auto rows = c.query(kSql, {results[idx].event_id});
    if (!rows) return rows.status();
    if (rows->empty()) continue;  // cannot happen: the conflict proves it exists
    results[idx].batch_id = rows->front().text(0);
    results[idx].received_at = rows->front().time(1);
  }
  return Status::ok();
}

// Every append the chunked way, retried on a unique-index race.
class ChunkedAppend final : public AppendStrategy {
 public:
  explicit ChunkedAppend(ConnectionPool& pool) : pool_(pool) {}

  Result<AppendOutcome> append(std::span<const NewEvent> events, const BatchPolicy& policy,
                               Timestamp now) override {
    return append_with_retries(pool_, [&](SqlConnection& c, AppendTry&) {
      return append_chunked(c, pool_.dialect(), insert_event_rows, events, policy, now);
    });
  }

 private:
  ConnectionPool& pool_;
};

}  // namespace

std::unique_ptr<AppendStrategy> make_chunked_append(ConnectionPool& pool) {
  return std::make_unique<ChunkedAppend>(pool);
}

CallEvents::CallEvents(std::span<const NewEvent> call) : events(call) {
  todo.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    auto [it, fresh] = first_index.emplace(events[i].event_id, i);
    if (fresh) todo.push_back(i);
  }
}

void CallEvents::answer_repeats(std::vector<AppendResult>& results) const {
  if (todo.size() == events.size()) return;
  for (size_t i = 0; i < events.size(); ++i) {
    const size_t first = first_index.at(events[i].event_id);
    if (first != i) {
      results[i] = results[first];
      results[i].duplicate = true;
    }
  }
}

Result<std::unordered_set<std::string>> insert_event_rows(SqlConnection& c,
                                                          std::span<const NewEvent> events,
                                                          std::span<const size_t> chunk,
                                                          const std::string& batch_id) {
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

Result<AppendOutcome> append_chunked(SqlConnection& c, const Dialect& d, InsertEvents insert,
                                     std::span<const NewEvent> events, const BatchPolicy& policy,
                                     Timestamp now) {
  AppendOutcome out;
  out.results.resize(events.size());
  const CallEvents call(events);
  const std::vector<size_t>& todo = call.todo;
  std::optional<Batch> batch;  // the open batch, locked (or created) by this transaction
  size_t next = 0;
  while (next < todo.size()) {
    if (!batch) {
      auto locked = lock_open_batch(c, d, now);
      if (!locked) return locked.error();
      batch = std::move(locked).value();
    }
    const int64_t room = policy.max_events - batch->event_count;
    if (room <= 0) {
      // The limit was lowered below this batch's size: seal it and go on.
      auto sealed = seal_in_tx(c, d, batch->batch_id, SealReason::kSize, policy, now);
      if (!sealed) return sealed.error();
      out.sealed.push_back(std::move(sealed).value());
      batch.reset();
      continue;
    }
    const size_t take = std::min(todo.size() - next, static_cast<size_t>(room));
    const std::span<const size_t> chunk(todo.data() + next, take);
    auto inserted = insert(c, events, chunk, batch->batch_id);
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
      if (Status s = c.execute_deferred(kAddToBatch, {batch->batch_id, added, sql_time(now)}); !s) {
        return s.error();
      }
      batch->event_count = count;
      continue;
    }
    // Full: one UPDATE adds the events and seals, in this same transaction.
    if (Status s = c.execute_deferred(fill_and_seal_sql(), {batch->batch_id, added, sql_time(now)});
        !s) {
      return s.error();
    }
    auto sealed = after_seal(c, d, batch->batch_id, count, SealReason::kSize, policy, now);
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

Result<AppendOutcome> append_with_retries(
    ConnectionPool& pool,
    const std::function<Result<AppendOutcome>(SqlConnection&, AppendTry&)>& attempt,
    const std::function<void(const Result<AppendOutcome>&, const AppendTry&)>& ended) {
  for (int n = 1;; ++n) {
    AppendTry t;
    auto out = pool.in_transaction<AppendOutcome>(TxMode::kWrite,
                                                  [&](SqlConnection& c) { return attempt(c, t); });
    if (ended) ended(out, t);
    if (!out && t.replan) {
      --n;
      continue;
    }
    if (out || out.code() != ErrorCode::kAlreadyExists || n == kAppendAttempts) return out;
  }
}

}  // namespace insightd::store::detail
