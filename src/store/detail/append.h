// How the event store appends: the strategy a Dialect makes (AppendStrategy),
// the chunked append every database can run, and the pieces the PostgreSQL
// paths (store/postgres/pg_append.h) share with it. Not for use outside
// src/store.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/model.h"
#include "core/result.h"
#include "core/time.h"
#include "store/sql.h"
#include "store/store.h"

namespace insightd::store::detail {

// One store's way of appending events, made by its Dialect (make_append).
class AppendStrategy {
 public:
  virtual ~AppendStrategy() = default;
  // EventStore::append for a non-empty call whose policy was checked.
  virtual Result<AppendOutcome> append(std::span<const NewEvent> events, const BatchPolicy& policy,
                                       Timestamp now) = 0;
};

// The chunked append alone, in a transaction of its own (SQLite).
std::unique_ptr<AppendStrategy> make_chunked_append(ConnectionPool& pool);

// The events of one append call: `todo` holds the index of each event_id's
// first occurrence; later repeats are duplicates of it.
struct CallEvents {
  explicit CallEvents(std::span<const NewEvent> events);
  // Repeats within the call point at their first occurrence's outcome.
  void answer_repeats(std::vector<AppendResult>& results) const;

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

// Stores the new ones among a chunk's events (indexes into `events`) in batch
// `batch_id`; returns the event_ids it stored (the others exist already).
using InsertEvents = Result<std::unordered_set<std::string>> (*)(SqlConnection& c,
                                                                 std::span<const NewEvent> events,
                                                                 std::span<const size_t> chunk,
                                                                 const std::string& batch_id);

// Multi-row INSERTs, split into power-of-two pieces so that a handful of
// statement texts serve every size (cheap to prepare on SQLite).
Result<std::unordered_set<std::string>> insert_event_rows(SqlConnection& c,
                                                          std::span<const NewEvent> events,
                                                          std::span<const size_t> chunk,
                                                          const std::string& batch_id);

// One transaction: put the events into the open batch (and the next ones as
// batches fill), sealing each batch the moment it is full. Round trips: the
// lock of the open batch, one insert per batch filled (`insert`, which says
// which events were new) and the commit; the batch updates, seals, jobs,
// notifications and outbox rows in between are deferred.
Result<AppendOutcome> append_chunked(SqlConnection& c, const Dialect& d, InsertEvents insert,
                                     std::span<const NewEvent> events, const BatchPolicy& policy,
                                     Timestamp now);

// What one try of an append transaction tells its retry loop besides its outcome.
struct AppendTry {
  bool replan = false;                  // the try's plan was void: run again, not counted
  std::optional<OpenBatchState> after;  // where the open batch stands if the try commits
};

// Runs `attempt` in a write transaction until it commits, fails other than on
// a unique index, or has so failed kAppendAttempts times. Another process may
// store one of the events, or open a batch, between a transaction's look-up
// and its insert: the transaction then fails on a unique index, and runs again
// seeing that row. `ended`, when given, hears how every try ended.
inline constexpr int kAppendAttempts = 3;
Result<AppendOutcome> append_with_retries(
    ConnectionPool& pool,
    const std::function<Result<AppendOutcome>(SqlConnection&, AppendTry&)>& attempt,
    const std::function<void(const Result<AppendOutcome>&, const AppendTry&)>& ended = {});

}  // namespace insightd::store::detail
