// The store contract: one suite, compiled twice — against SQLite
// (store_contract_test) and a real PostgreSQL (store_contract_pgtest).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/ids.h"
#include "core/testing/builders.h"
#include "store/migrations.h"
#include "store/testing/test_database.h"

namespace insightd::store {
namespace {

using insightd::testing::EventBuilder;
using insightd::testing::kT0;
using testing::TestDatabase;
using namespace std::chrono_literals;

// Sent 1.5 s before the server received it.
NewEvent make_event(std::string id, Timestamp at = kT0) {
  return EventBuilder(std::move(id)).sent(at - 1500ms).received(at);
}

std::vector<NewEvent> make_events(const std::string& prefix, int n, Timestamp at = kT0) {
  std::vector<NewEvent> out;
  for (int i = 0; i < n; ++i) out.push_back(make_event(fmt::format("{}-{}", prefix, i), at));
  return out;
}

class StoreContract : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::create();
    ASSERT_NE(db_, nullptr);
  }
  Store& store() { return db_->store(); }

  int64_t scalar(const std::string& sql) {
    auto conn = db_->pool().acquire();
    EXPECT_TRUE(conn.is_ok());
    auto rows = (*conn)->query(sql, {});
    EXPECT_TRUE(rows.is_ok()) << (rows ? "" : rows.error().message);
    return rows->front().integer(0);
  }

  // Appends `n` events with max_events=`max` and returns the sealed batches.
  std::vector<SealedBatch> fill(const std::string& prefix, int n, int64_t max, int64_t attempts = 5,
                                Timestamp at = kT0) {
    auto events = make_events(prefix, n, at);
    auto out = store().events().append(events, {max, attempts}, at);
    EXPECT_TRUE(out.is_ok()) << (out ? "" : out.error().message);
    return out->sealed;
  }

  std::unique_ptr<TestDatabase> db_;
};

TEST_F(StoreContract, MigrationsCreateEveryTableAndAreIdempotent) {
  for (const char* table : {"Event", "Batch", "AnalysisJob", "Insight", "DeadLetterJob",
                            "KafkaOutbox", "ArchivedBatch", "CircuitBreaker", "AdminCredential",
                            "AdminSession", "ApiToken", "AppSecret", "RelayLease"}) {
    EXPECT_EQ(scalar(fmt::format("SELECT COUNT(*) FROM \"{}\"", table)), 0) << table;
  }
  auto again = migrate_up(db_->pool(), SystemClock::instance());
  ASSERT_TRUE(again.is_ok()) << again.error().message;
  EXPECT_TRUE(again->empty());
  auto status = migration_status(db_->pool());
  ASSERT_TRUE(status.is_ok());
  EXPECT_TRUE(status->current());
  ASSERT_EQ(status->applied.size(), embedded_migrations(db_->pool().dialect()).size());
  EXPECT_EQ(status->applied.front().version, 1);
  EXPECT_EQ(status->applied.front().name, "init");
  ASSERT_GE(status->applied.size(), 2u);
  EXPECT_EQ(status->applied[1].version, 2);
  EXPECT_EQ(status->applied[1].name, "admin_auth");
}

TEST_F(StoreContract, MigrationsFromTwoConnectionsAtOnceApplyOnce) {
  // A fresh database (schema) migrated by two "processes" at the same moment.
  auto other = TestDatabase::create();
  ASSERT_NE(other, nullptr);
  auto conn = other->pool().acquire();
  ASSERT_TRUE(conn.is_ok());
  ASSERT_TRUE((*conn)->execute_script(
      other->is_postgres()
          ? "DROP TABLE \"Event\", \"Insight\", \"DeadLetterJob\", \"AnalysisJob\", "
            "\"ArchivedBatch\", \"Batch\", \"KafkaOutbox\", \"CircuitBreaker\", "
            "\"AdminCredential\", \"AdminSession\", \"ApiToken\", \"AppSecret\", "
            "\"RelayLease\", \"RelayCursor\", schema_migrations; "
            "DROP FUNCTION insightd_expect_open_batch"
          : "DROP TABLE \"Event\"; DROP TABLE \"Insight\"; DROP TABLE \"DeadLetterJob\"; "
            "DROP TABLE \"AnalysisJob\"; DROP TABLE \"ArchivedBatch\"; DROP TABLE \"Batch\"; "
            "DROP TABLE \"KafkaOutbox\"; DROP TABLE \"CircuitBreaker\"; "
            "DROP TABLE \"AdminCredential\"; DROP TABLE \"AdminSession\"; "
            "DROP TABLE \"ApiToken\"; DROP TABLE \"AppSecret\"; DROP TABLE \"RelayLease\"; "
            "DROP TABLE \"RelayCursor\"; "
            "DROP TABLE schema_migrations"));
  OpenedStore a = other->open_another();
  OpenedStore b = other->open_another();
  std::atomic<int> applied{0};
  std::atomic<int> failures{0};
  auto run = [&](ConnectionPool& pool) {
    auto r = migrate_up(pool, SystemClock::instance());
    if (!r) {
      ++failures;
      ADD_FAILURE() << r.error().message;
      return;
    }
    applied += static_cast<int>(r->size());
  };
  std::thread ta(run, std::ref(*a.pool));
  std::thread tb(run, std::ref(*b.pool));
  ta.join();
  tb.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(applied.load(), static_cast<int>(embedded_migrations(a.pool->dialect()).size()));
  auto rows = (*conn)->query("SELECT COUNT(*) FROM schema_migrations", {});
  ASSERT_TRUE(rows.is_ok());
  EXPECT_EQ(rows->front().integer(0), applied.load());
}

TEST_F(StoreContract, AppendStoresEventsInTheOpenBatchAndRoundTrips) {
  auto out = store().events().append(make_events("e", 3), {100, 5}, kT0);
  ASSERT_TRUE(out.is_ok()) << out.error().message;
  ASSERT_EQ(out->results.size(), 3u);
  EXPECT_TRUE(out->sealed.empty());
  const std::string batch_id = out->results[0].batch_id;
  EXPECT_TRUE(batch_id.starts_with("batch_"));
  for (const auto& r : out->results) {
    EXPECT_FALSE(r.duplicate);
    EXPECT_EQ(r.batch_id, batch_id);
    EXPECT_EQ(r.received_at, kT0);
  }
  auto batch = store().batches().get(batch_id);
  ASSERT_TRUE(batch.is_ok() && batch->has_value());
  EXPECT_EQ((*batch)->status, BatchStatus::kOpen);
  EXPECT_EQ((*batch)->event_count, 3);
  EXPECT_EQ((*batch)->first_event_at, kT0);

  auto found = store().events().find("e-1");
  ASSERT_TRUE(found.is_ok() && found->has_value());
  const NewEvent& e = (*found)->event;
  EXPECT_EQ(e.event_type, "page_view");
  EXPECT_EQ(e.user_id, "user_1");
  EXPECT_EQ(e.session_id, "session_1");
  EXPECT_EQ(e.timestamp, kT0 - 1500ms);
  EXPECT_EQ(e.received_at, kT0);
  EXPECT_EQ(boost::json::parse(e.metadata_json),
            boost::json::parse(R"({"page":"/products","n":1})"));
  EXPECT_EQ((*found)->batch_id, batch_id);

  NewEvent bare = make_event("bare");
  bare.user_id.reset();
  bare.session_id.reset();
  ASSERT_TRUE(store().events().append(std::span(&bare, 1), {100, 5}, kT0).is_ok());
  auto got = store().events().find("bare");
  ASSERT_TRUE(got.is_ok() && got->has_value());
  EXPECT_FALSE((*got)->event.user_id.has_value());
  EXPECT_FALSE((*got)->event.session_id.has_value());
  EXPECT_EQ(*store().events().count(), 4);
}

TEST_F(StoreContract, RecentEventsActivityAndTheOldestPendingJobForTheDashboard) {
  auto none = store().events().activity(kT0);
  ASSERT_TRUE(none.is_ok()) << none.error().message;
  EXPECT_EQ(none->received_since, 0);
  EXPECT_FALSE(none->last_received_at.has_value());
  ASSERT_TRUE(store().jobs().oldest_pending_created_at().is_ok());
  EXPECT_FALSE(store().jobs().oldest_pending_created_at()->has_value());

  ASSERT_TRUE(store().events().append(make_events("old", 3, kT0), {5, 5}, kT0).is_ok());
  ASSERT_TRUE(store().events().append(make_events("new", 4, kT0 + 90s), {5, 5}, kT0 + 90s).is_ok());
  auto recent = store().events().recent(3);
  ASSERT_TRUE(recent.is_ok()) << recent.error().message;
  ASSERT_EQ(recent->size(), 3u);
  EXPECT_EQ((*recent)[0].event.event_id, "new-3");
  EXPECT_EQ((*recent)[2].event.event_id, "new-1");
  auto act = store().events().activity(kT0 + 60s);
  ASSERT_TRUE(act.is_ok());
  EXPECT_EQ(act->received_since, 4);
  EXPECT_EQ(act->last_received_at, kT0 + 90s);
  // Per minute (the dashboard's chart): only minutes with events, oldest first.
  using std::chrono::floor;
  using std::chrono::minutes;
  auto per_minute = store().events().per_minute(kT0 - 5min);
  ASSERT_TRUE(per_minute.is_ok()) << per_minute.error().message;
  ASSERT_EQ(per_minute->size(), 2u);
  EXPECT_EQ((*per_minute)[0], std::make_pair(Timestamp(floor<minutes>(kT0)), int64_t{3}));
  EXPECT_EQ((*per_minute)[1], std::make_pair(Timestamp(floor<minutes>(kT0 + 90s)), int64_t{4}));
  // From the later minute's start: the earlier minute is left out.
  auto later = store().events().per_minute(kT0 + 90s);
  ASSERT_TRUE(later.is_ok());
  ASSERT_EQ(later->size(), 1u);
  EXPECT_EQ((*later)[0].second, 4);
  // The fifth event filled the first batch (limit 5) at kT0 + 90s: its job waits.
  auto oldest = store().jobs().oldest_pending_created_at();
  ASSERT_TRUE(oldest.is_ok() && oldest->has_value());
  EXPECT_EQ(**oldest, kT0 + 90s);
}

// execute_deferred: inside a transaction a statement may travel without
// waiting (PostgreSQL pipelines it), but its effects are seen by the next query
// and its error fails the transaction; outside one it takes effect at once.
TEST_F(StoreContract, DeferredStatementsAreSeenInOrderAndTheirErrorsFailTheTransaction) {
  auto& pool = db_->pool();
  {
    auto conn = pool.acquire();
    ASSERT_TRUE(conn.is_ok());
    ASSERT_TRUE(
        (*conn)->execute_script("CREATE TABLE scratch_deferred (k text PRIMARY KEY)").is_ok());
  }
  Status ok = pool.in_transaction(TxMode::kWrite, [](SqlConnection& c) -> Status {
    if (Status s =
            c.execute_deferred("INSERT INTO scratch_deferred (k) VALUES ($1)", {std::string("a")});
        !s) {
      return s;
    }
    if (Status s =
            c.execute_deferred("INSERT INTO scratch_deferred (k) VALUES ($1)", {std::string("b")});
        !s) {
      return s;
    }
    auto rows = c.query("SELECT COUNT(*) FROM scratch_deferred", {});
    if (!rows) return rows.status();
    EXPECT_EQ(rows->front().integer(0), 2);
    return Status::ok();
  });
  ASSERT_TRUE(ok.is_ok()) << ok.message();
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM scratch_deferred"), 2);

  // A failing deferred statement (SQLite: reported at once; PostgreSQL: at the
  // commit): the transaction fails and none of it stays.
  Status failed = pool.in_transaction(TxMode::kWrite, [](SqlConnection& c) -> Status {
    for (const char* k : {"c", "a", "d"}) {
      if (Status s =
              c.execute_deferred("INSERT INTO scratch_deferred (k) VALUES ($1)", {std::string(k)});
          !s) {
        return s;
      }
    }
    return Status::ok();
  });
  EXPECT_FALSE(failed.is_ok());
  EXPECT_EQ(failed.code(), ErrorCode::kAlreadyExists) << failed.message();
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM scratch_deferred"), 2);

  // Outside a transaction: done at once, visible to another connection, and
  // the connection is usable afterwards.
  {
    auto conn = pool.acquire();
    ASSERT_TRUE(conn.is_ok());
    ASSERT_TRUE(
        (*conn)
            ->execute_deferred("INSERT INTO scratch_deferred (k) VALUES ($1)", {std::string("e")})
            .is_ok());
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM scratch_deferred"), 3);
    auto rows = (*conn)->query("SELECT COUNT(*) FROM scratch_deferred", {});
    ASSERT_TRUE(rows.is_ok());
    EXPECT_EQ(rows->front().integer(0), 3);
  }
}

TEST_F(StoreContract, SameEventIdIsStoredOnceAndAckedAsDuplicate) {
  auto first = store().events().append(make_events("dup", 1), {100, 5}, kT0);
  ASSERT_TRUE(first.is_ok());
  auto again = store().events().append(make_events("dup", 1), {100, 5}, kT0 + 5s);
  ASSERT_TRUE(again.is_ok()) << again.error().message;
  ASSERT_EQ(again->results.size(), 1u);
  EXPECT_TRUE(again->results[0].duplicate);
  EXPECT_EQ(again->results[0].batch_id, first->results[0].batch_id);
  EXPECT_EQ(again->results[0].received_at, kT0);  // the stored copy's time

  // Repeats inside one call, mixed with new events.
  std::vector<NewEvent> mixed{make_event("x"), make_event("dup-0"), make_event("x"),
                              make_event("y")};
  auto out = store().events().append(mixed, {100, 5}, kT0 + 6s);
  ASSERT_TRUE(out.is_ok()) << out.error().message;
  EXPECT_FALSE(out->results[0].duplicate);
  EXPECT_TRUE(out->results[1].duplicate);
  EXPECT_TRUE(out->results[2].duplicate);
  EXPECT_FALSE(out->results[3].duplicate);
  EXPECT_EQ(*store().events().count(), 3);
  EXPECT_EQ(scalar("SELECT event_count FROM \"Batch\""), 3);
}

TEST_F(StoreContract, ABatchSealsAtItsLimitInTheSameTransaction) {
  auto out = store().events().append(make_events("s", 12), {5, 3}, kT0);
  ASSERT_TRUE(out.is_ok()) << out.error().message;
  ASSERT_EQ(out->sealed.size(), 2u);
  std::map<std::string, int> per_batch;
  for (const auto& r : out->results) per_batch[r.batch_id]++;
  ASSERT_EQ(per_batch.size(), 3u);
  for (const auto& s : out->sealed) {
    EXPECT_EQ(s.event_count, 5);
    EXPECT_EQ(s.reason, SealReason::kSize);
    EXPECT_EQ(per_batch[s.batch_id], 5);
    auto b = store().batches().get(s.batch_id);
    EXPECT_EQ((*b)->status, BatchStatus::kSealed);
    EXPECT_EQ((*b)->seal_reason, SealReason::kSize);
    EXPECT_EQ((*b)->sealed_at, kT0);
    auto job = store().jobs().get(s.job_id);
    ASSERT_TRUE(job.is_ok() && job->has_value());
    EXPECT_EQ((*job)->status, JobStatus::kPending);
    EXPECT_EQ((*job)->batch_id, s.batch_id);
    EXPECT_EQ((*job)->max_attempts, 3);
    EXPECT_EQ((*job)->trigger, JobTrigger::kAuto);
  }
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"KafkaOutbox\" WHERE topic = 'batch.sealed'"), 2);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" WHERE status = 'OPEN' AND event_count = 2"), 1);
  auto counts = store().batches().count_by_status();
  EXPECT_EQ(counts->at(BatchStatus::kSealed), 2);
  EXPECT_EQ(counts->at(BatchStatus::kOpen), 1);
  // The events of a sealed batch are all there, in order.
  auto events = store().events().batch_events(out->sealed[0].batch_id, 100);
  ASSERT_EQ(events->size(), 5u);
  EXPECT_EQ((*events)[0].event.event_id, "s-0");
}

// One call that fills the open batch and several more (on PostgreSQL planned up
// front and sent as one INSERT), then one that also meets stored events and a
// repeat: every batch must still hold exactly what it counts, and seal full.
TEST_F(StoreContract, AppendsSpanningBatchesKeepThemExactWithOrWithoutDuplicates) {
  auto exact = [this] {
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" b WHERE b.event_count <> (SELECT COUNT(*) "
                     "FROM \"Event\" e WHERE e.batch_id = b.batch_id)"),
              0);
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" WHERE status = 'SEALED' AND event_count <> 5"),
              0);
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" WHERE status = 'OPEN'"), 1);
  };
  ASSERT_TRUE(store().events().append(make_events("p", 3), {5, 3}, kT0).is_ok());
  auto spanning = store().events().append(make_events("q", 13), {5, 3}, kT0 + 1s);
  ASSERT_TRUE(spanning.is_ok()) << spanning.error().message;
  ASSERT_EQ(spanning->sealed.size(), 3u);
  EXPECT_EQ(spanning->results[0].batch_id, spanning->results[1].batch_id);
  EXPECT_NE(spanning->results[1].batch_id, spanning->results[2].batch_id);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" WHERE status = 'OPEN' AND batch_id = '" +
                   spanning->results[12].batch_id + "'"),
            1);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"AnalysisJob\""), 3);
  exact();

  std::vector<NewEvent> mixed{make_event("q-3"), make_event("r-0"), make_event("r-1"),
                              make_event("p-2"), make_event("r-2"), make_event("r-3"),
                              make_event("r-4"), make_event("r-5"), make_event("r-0")};
  auto out = store().events().append(mixed, {5, 3}, kT0 + 2s);
  ASSERT_TRUE(out.is_ok()) << out.error().message;
  EXPECT_TRUE(out->results[0].duplicate);
  EXPECT_EQ(out->results[0].batch_id, spanning->results[3].batch_id);
  EXPECT_TRUE(out->results[3].duplicate);
  EXPECT_TRUE(out->results[8].duplicate);
  EXPECT_EQ(out->results[8].batch_id, out->results[1].batch_id);
  for (size_t i : {1, 2, 4, 5, 6, 7}) EXPECT_FALSE(out->results[i].duplicate) << i;
  EXPECT_EQ(*store().events().count(), 3 + 13 + 6);
  EXPECT_EQ(out->sealed.size(), 1u);  // 1 open + 4 of the 6 new, then 2 left open
  exact();
}

// On PostgreSQL an append that knows the open batch from the store's last one
// goes in one round trip; another writer, a seal by hand or a duplicate makes
// that guess stale, which must cost a fallback and never an event out of place.
TEST_F(StoreContract, AppendsThatGuessTheOpenBatchStayExactWhenItMoved) {
  const BatchPolicy policy{5, 3};
  OpenedStore other = db_->open_another();
  int stored = 0;
  auto append = [&](EventStore& events, std::vector<NewEvent> batch, Timestamp at = kT0) {
    auto out = events.append(batch, policy, at);
    EXPECT_TRUE(out.is_ok()) << (out ? "" : out.error().message);
    for (const auto& r : out->results) stored += r.duplicate ? 0 : 1;
    return out.is_ok() ? std::move(out).value() : AppendOutcome{};
  };
  auto exact = [this, &stored] {
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" b WHERE b.event_count <> (SELECT COUNT(*) "
                     "FROM \"Event\" e WHERE e.batch_id = b.batch_id)"),
              0);
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" WHERE event_count > 5"), 0);
    EXPECT_LE(scalar("SELECT COUNT(*) FROM \"Batch\" WHERE status = 'OPEN'"), 1);
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Event\""), stored);
  };
  // Appends on `events` until one goes in one round trip (at most `tries`).
  auto until_one_round_trip = [&](EventStore& events, const std::string& prefix, int tries) {
    for (int i = 0; i < tries; ++i) {
      if (append(events, make_events(fmt::format("{}{}", prefix, i), 2)).path ==
          AppendPath::kOneRoundTrip) {
        return true;
      }
    }
    return false;
  };
  EventStore& mine = store().events();
  append(mine, make_events("a", 3));
  const AppendOutcome learn = append(mine, make_events("b", 1));
  const AppendOutcome spanning = append(mine, make_events("c", 8));  // 4+8: 1, 5, 2 left open
  ASSERT_EQ(spanning.results.size(), 8u);
  EXPECT_EQ(spanning.sealed.size(), 2u);
  EXPECT_EQ(spanning.results[0].batch_id, learn.results[0].batch_id);
  EXPECT_NE(spanning.results[1].batch_id, spanning.results[0].batch_id);
  EXPECT_NE(spanning.results[6].batch_id, spanning.results[5].batch_id);
  EXPECT_EQ(spanning.results[7].batch_id, spanning.results[6].batch_id);
  if (!db_->is_postgres()) {
    EXPECT_EQ(spanning.path, AppendPath::kChunked);
  } else {
    EXPECT_EQ(learn.path, AppendPath::kTwoRoundTrips);
    EXPECT_EQ(spanning.path, AppendPath::kOneRoundTrip);
  }
  exact();

  // Another writer adds to the open batch: this store's guess is stale.
  const AppendOutcome theirs = append(other.store->events(), make_events("d", 2));
  EXPECT_EQ(theirs.results[0].batch_id, spanning.results[7].batch_id);
  const AppendOutcome after_theirs = append(mine, make_events("e", 1));
  EXPECT_NE(after_theirs.path, AppendPath::kOneRoundTrip);
  EXPECT_EQ(after_theirs.results[0].batch_id, spanning.results[7].batch_id);
  EXPECT_EQ(after_theirs.sealed.size(), 1u);  // 2 + 2 + 1
  exact();
  if (db_->is_postgres()) {
    EXPECT_TRUE(until_one_round_trip(mine, "f", 4));
  }

  // A duplicate under a good guess: the one round trip fails on the unique
  // index, and the answer says where the event was first stored.
  const AppendOutcome dup = append(mine, {make_event("g-0"), make_event("a-0")});
  EXPECT_FALSE(dup.results[0].duplicate);
  EXPECT_TRUE(dup.results[1].duplicate);
  EXPECT_NE(dup.path, AppendPath::kOneRoundTrip);
  auto first = mine.find("a-0");
  ASSERT_TRUE(first.is_ok() && first->has_value());
  EXPECT_EQ(dup.results[1].batch_id, (*first)->batch_id);
  exact();

  // Sealed by hand under a good guess: no batch is open where one was guessed.
  if (db_->is_postgres()) {
    EXPECT_TRUE(until_one_round_trip(mine, "h", 4));
  }
  auto by_hand = store().batches().seal_open(policy, kT0);
  ASSERT_TRUE(by_hand.is_ok() && by_hand->has_value());
  const AppendOutcome after_seal = append(mine, make_events("i", 1));
  EXPECT_NE(after_seal.path, AppendPath::kOneRoundTrip);
  EXPECT_NE(after_seal.results[0].batch_id, (*by_hand)->batch_id);
  exact();

  // Filled to the limit exactly: the guess is "no batch open", and the next
  // append opens one in the same round trip.
  if (db_->is_postgres()) {
    EXPECT_TRUE(until_one_round_trip(mine, "j", 4));
  }
  const int64_t open_count =
      scalar("SELECT COALESCE(MAX(event_count), 0) FROM \"Batch\" WHERE status = 'OPEN'");
  const AppendOutcome to_limit = append(mine, make_events("k", static_cast<int>(5 - open_count)));
  EXPECT_EQ(to_limit.sealed.size(), 1u);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" WHERE status = 'OPEN'"), 0);
  const AppendOutcome opens = append(mine, make_events("l", 1));
  if (db_->is_postgres()) {
    EXPECT_EQ(to_limit.path, AppendPath::kOneRoundTrip);
    EXPECT_EQ(opens.path, AppendPath::kOneRoundTrip);
  }
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" WHERE status = 'OPEN'"), 1);
  exact();
}

TEST_F(StoreContract, OldBatchesSealByAgeAndEmptyOnesNever) {
  auto none = store().batches().seal_open({100, 5}, kT0);
  ASSERT_TRUE(none.is_ok());
  EXPECT_FALSE(none->has_value());
  fill("a", 2, 100);
  auto early = store().batches().seal_expired(10min, {100, 5}, kT0 + 9min);
  ASSERT_TRUE(early.is_ok()) << early.error().message;
  EXPECT_TRUE(early->empty());
  auto late = store().batches().seal_expired(10min, {100, 5}, kT0 + 10min);
  ASSERT_TRUE(late.is_ok());
  ASSERT_EQ(late->size(), 1u);
  EXPECT_EQ((*late)[0].reason, SealReason::kAge);
  EXPECT_EQ((*late)[0].event_count, 2);
  EXPECT_TRUE(store().batches().seal_expired(10min, {100, 5}, kT0 + 30min)->empty());
}

TEST_F(StoreContract, IllegalBatchTransitionsAreRefused) {
  fill("m", 3, 100);
  auto sealed = store().batches().seal_open({100, 5}, kT0 + 1s);
  ASSERT_TRUE(sealed.is_ok() && sealed->has_value());
  EXPECT_EQ((*sealed)->reason, SealReason::kManual);
  const std::string id = (*sealed)->batch_id;
  auto twice = store().batches().seal(id, SealReason::kManual, {100, 5}, kT0 + 2s);
  ASSERT_FALSE(twice.is_ok());
  EXPECT_EQ(twice.code(), ErrorCode::kIllegalTransition);
  auto missing = store().batches().seal("batch_nope", SealReason::kManual, {100, 5}, kT0);
  EXPECT_EQ(missing.code(), ErrorCode::kNotFound);
  // An OPEN batch with no events (all of its events were duplicates) stays open.
  auto conn = db_->pool().acquire();
  ASSERT_TRUE((*conn)
                  ->execute("INSERT INTO \"Batch\" (batch_id, status, event_count, created_at, "
                            "updated_at) VALUES ('batch_empty', 'OPEN', 0, $1, $1)",
                            {sql_time(kT0)})
                  .is_ok());
  auto empty = store().batches().seal("batch_empty", SealReason::kManual, {100, 5}, kT0);
  EXPECT_EQ(empty.code(), ErrorCode::kConflict);
  // Analysis of an OPEN batch is refused; of a SEALED one with an active job, 409.
  EXPECT_EQ(store().jobs().create("batch_empty", JobTrigger::kManual, {100, 5}, kT0).code(),
            ErrorCode::kIllegalTransition);
  EXPECT_EQ(store().jobs().create(id, JobTrigger::kManual, {100, 5}, kT0).code(),
            ErrorCode::kConflict);
}

TEST_F(StoreContract, AJobRunsClaimHeartbeatComplete) {
  auto sealed = fill("j", 4, 4);
  ASSERT_EQ(sealed.size(), 1u);
  auto job = store().jobs().claim("worker-a", 30s, kT0 + 1s);
  ASSERT_TRUE(job.is_ok() && job->has_value()) << (job ? "" : job.error().message);
  EXPECT_EQ((*job)->job_id, sealed[0].job_id);
  EXPECT_EQ((*job)->status, JobStatus::kRunning);
  EXPECT_EQ((*job)->attempt_count, 1);
  EXPECT_EQ((*job)->lease_owner, "worker-a");
  EXPECT_EQ((*job)->lease_expires_at, kT0 + 31s);
  const std::string token = *(*job)->lease_token;
  EXPECT_FALSE((*store().jobs().claim("worker-b", 30s, kT0 + 1s)).has_value());

  EXPECT_TRUE(store().jobs().heartbeat((*job)->job_id, token, 30s, kT0 + 10s).is_ok());
  EXPECT_EQ((*store().jobs().get((*job)->job_id))->lease_expires_at, kT0 + 40s);
  EXPECT_EQ(store().jobs().heartbeat((*job)->job_id, "wrong", 30s, kT0 + 10s).code(),
            ErrorCode::kLeaseLost);

  NewInsight content;
  content.summary = "4 page views";
  content.confidence = 0.25;
  content.analyzer = "builtin";
  content.statistics_json = R"({"events":4})";
  auto insight = store().jobs().complete((*job)->job_id, token, content, kT0 + 3s);
  ASSERT_TRUE(insight.is_ok()) << insight.error().message;
  EXPECT_EQ(insight->batch_id, sealed[0].batch_id);
  auto done = store().jobs().get((*job)->job_id);
  EXPECT_EQ((*done)->status, JobStatus::kSuccess);
  EXPECT_EQ((*done)->duration_ms, 2000);
  EXPECT_FALSE((*done)->lease_token.has_value());
  EXPECT_EQ((*store().batches().get(sealed[0].batch_id))->status, BatchStatus::kAnalyzed);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"KafkaOutbox\" WHERE topic = 'insight.created'"), 1);

  // A second completion, or a failure after success, is refused.
  EXPECT_EQ(store().jobs().complete((*job)->job_id, token, content, kT0 + 4s).code(),
            ErrorCode::kLeaseLost);
  EXPECT_EQ(store().jobs().fail((*job)->job_id, token, "late", kT0, kT0 + 4s).code(),
            ErrorCode::kLeaseLost);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Insight\""), 1);

  auto listed = store().insights().list(10, std::nullopt, sealed[0].batch_id);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].content.summary, "4 page views");
  EXPECT_DOUBLE_EQ((*listed)[0].content.confidence, 0.25);

  // Re-analysis of an ANALYZED batch makes a new job and leaves it ANALYZED.
  auto again = store().jobs().create(sealed[0].batch_id, JobTrigger::kManual, {4, 5}, kT0 + 5s);
  ASSERT_TRUE(again.is_ok()) << again.error().message;
  EXPECT_EQ(again->trigger, JobTrigger::kManual);
  auto second = store().jobs().claim("worker-a", 30s, kT0 + 5s);
  ASSERT_TRUE(second->has_value());
  ASSERT_TRUE(
      store().jobs().complete(again->job_id, *(*second)->lease_token, content, kT0 + 6s).is_ok());
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Insight\""), 2);
  EXPECT_EQ((*store().batches().get(sealed[0].batch_id))->status, BatchStatus::kAnalyzed);
}

TEST_F(StoreContract, FailuresRetryWithBackoffThenDeadLetterWithEveryError) {
  auto sealed = fill("f", 2, 2, /*attempts=*/2);
  auto first = store().jobs().claim("w", 30s, kT0);
  ASSERT_TRUE(first->has_value());
  auto out1 =
      store().jobs().fail((*first)->job_id, *(*first)->lease_token, "boom 1", kT0 + 10s, kT0 + 1s);
  ASSERT_TRUE(out1.is_ok()) << out1.error().message;
  EXPECT_EQ(out1->status, JobStatus::kPending);
  EXPECT_EQ(out1->attempt_count, 1);
  auto pending = store().jobs().get((*first)->job_id);
  EXPECT_EQ((*pending)->status, JobStatus::kPending);
  EXPECT_EQ((*pending)->last_error, "boom 1");
  EXPECT_EQ((*pending)->run_after, kT0 + 10s);
  // Not runnable before its backoff ends.
  EXPECT_FALSE(store().jobs().claim("w", 30s, kT0 + 9s)->has_value());
  auto second = store().jobs().claim("w", 30s, kT0 + 10s);
  ASSERT_TRUE(second->has_value());
  EXPECT_EQ((*second)->attempt_count, 2);
  auto out2 = store().jobs().fail((*second)->job_id, *(*second)->lease_token, "boom 2", kT0 + 20s,
                                  kT0 + 11s);
  ASSERT_TRUE(out2.is_ok()) << out2.error().message;
  EXPECT_EQ(out2->status, JobStatus::kDead);
  ASSERT_TRUE(out2->dlq_id.has_value());
  EXPECT_EQ((*store().jobs().get((*first)->job_id))->status, JobStatus::kDead);

  auto dl = store().dead_letters().get(*out2->dlq_id);
  ASSERT_TRUE(dl.is_ok() && dl->has_value());
  EXPECT_EQ((*dl)->attempt_count, 2);
  EXPECT_EQ((*dl)->last_error, "boom 2");
  auto errors = boost::json::parse((*dl)->errors_json).as_array();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].at("error").as_string(), "boom 1");
  EXPECT_EQ(errors[1].at("error").as_string(), "boom 2");
  EXPECT_EQ(errors[1].at("attempt").as_int64(), 2);
  EXPECT_EQ(*store().dead_letters().count(), 1);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"KafkaOutbox\" WHERE topic = 'job.dead_lettered'"), 1);

  // Redrive: a fresh job with fresh attempts; a second redrive conflicts.
  auto redriven = store().dead_letters().redrive(*out2->dlq_id, {2, 5}, kT0 + 1min);
  ASSERT_TRUE(redriven.is_ok()) << redriven.error().message;
  EXPECT_EQ(redriven->status, JobStatus::kPending);
  EXPECT_EQ(redriven->attempt_count, 0);
  EXPECT_EQ(redriven->max_attempts, 5);
  EXPECT_EQ(redriven->batch_id, sealed[0].batch_id);
  EXPECT_EQ((*store().dead_letters().get(*out2->dlq_id))->redriven_job_id, redriven->job_id);
  EXPECT_EQ(store().dead_letters().redrive(*out2->dlq_id, {2, 5}, kT0 + 1min).code(),
            ErrorCode::kConflict);
  ASSERT_TRUE(store().dead_letters().discard(*out2->dlq_id).is_ok());
  EXPECT_EQ(store().dead_letters().discard(*out2->dlq_id).code(), ErrorCode::kNotFound);
  EXPECT_TRUE(store().dead_letters().list(10)->empty());
}

TEST_F(StoreContract, ReleaseHandsAJobBackWithoutUsingAnAttempt) {
  fill("r", 1, 1);
  auto job = store().jobs().claim("w", 30s, kT0);
  ASSERT_TRUE(job->has_value());
  ASSERT_TRUE(store()
                  .jobs()
                  .release((*job)->job_id, *(*job)->lease_token, "circuit open", kT0 + 10min, kT0)
                  .is_ok());
  auto back = store().jobs().get((*job)->job_id);
  EXPECT_EQ((*back)->status, JobStatus::kPending);
  EXPECT_EQ((*back)->attempt_count, 0);
  EXPECT_EQ((*back)->last_error, "circuit open");
  EXPECT_EQ((*back)->run_after, kT0 + 10min);
  EXPECT_EQ(store().jobs().release((*job)->job_id, *(*job)->lease_token, "again", kT0, kT0).code(),
            ErrorCode::kLeaseLost);
}

TEST_F(StoreContract, NextRunAfterIsWhenTheEarliestPendingJobFallsDue) {
  auto none = store().jobs().next_run_after();
  ASSERT_TRUE(none.is_ok());
  EXPECT_FALSE(none->has_value());
  fill("n", 2, 1);  // two PENDING jobs, both runnable at kT0
  EXPECT_EQ(store().jobs().next_run_after().value(), kT0);
  auto job = store().jobs().claim("w", 30s, kT0);
  ASSERT_TRUE(job->has_value());
  ASSERT_TRUE(
      store().jobs().fail((*job)->job_id, *(*job)->lease_token, "x", kT0 + 5s, kT0).is_ok());
  auto other = store().jobs().claim("w", 30s, kT0);
  ASSERT_TRUE(other->has_value());
  // RUNNING jobs do not count; the failed one is due again in 5 s.
  EXPECT_EQ(store().jobs().next_run_after().value(), kT0 + 5s);
}

TEST_F(StoreContract, ExpiredLeasesAreRecoveredAndTheStaleWorkerIsRefused) {
  auto sealed = fill("k", 1, 1, /*attempts=*/2);
  auto a = store().jobs().claim("worker-a", 30s, kT0);
  ASSERT_TRUE(a->has_value());
  const std::string stale = *(*a)->lease_token;
  EXPECT_TRUE(store().jobs().recover_expired(kT0 - 15min, kT0 + 29s)->empty());
  auto recovered = store().jobs().recover_expired(kT0 - 15min, kT0 + 31s);
  ASSERT_TRUE(recovered.is_ok()) << recovered.error().message;
  ASSERT_EQ(recovered->size(), 1u);
  EXPECT_EQ((*recovered)[0].outcome.status, JobStatus::kPending);
  EXPECT_EQ((*recovered)[0].outcome.attempt_count, 1);
  auto job = store().jobs().get((*a)->job_id);
  EXPECT_EQ((*job)->crash_count, 1);

  auto b = store().jobs().claim("worker-b", 30s, kT0 + 32s);
  ASSERT_TRUE(b->has_value());
  NewInsight content{.summary = "x", .confidence = 0.5, .analyzer = "builtin"};
  EXPECT_EQ(store().jobs().complete((*a)->job_id, stale, content, kT0 + 33s).code(),
            ErrorCode::kLeaseLost);
  ASSERT_TRUE(
      store().jobs().complete((*b)->job_id, *(*b)->lease_token, content, kT0 + 34s).is_ok());
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Insight\""), 1);

  // A job recovered after its last attempt goes to the dead-letter queue.
  fill("k2", 1, 1, /*attempts=*/1);
  auto c = store().jobs().claim("worker-c", 30s, kT0 + 40s);
  ASSERT_TRUE(c->has_value());
  auto dead = store().jobs().recover_expired(kT0 - 15min, kT0 + 2min);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].outcome.status, JobStatus::kDead);
  EXPECT_EQ(*store().dead_letters().count(), 1);

  // Untouched for too long counts as stuck even with a far-off lease.
  fill("k3", 1, 1);
  auto d = store().jobs().claim("worker-d", 24h, kT0 + 3min);
  ASSERT_TRUE(d->has_value());
  auto stuck = store().jobs().recover_expired(kT0 + 4min, kT0 + 20min);
  ASSERT_EQ(stuck->size(), 1u);
  EXPECT_EQ(stuck->front().job.job_id, (*d)->job_id);
}

TEST_F(StoreContract, TwoConnectionsNeverClaimTheSameJob) {
  fill("c", 24, 1);  // 24 batches of one event: 24 jobs
  OpenedStore other = db_->open_another();
  std::mutex mu;
  std::vector<std::string> claimed;
  std::atomic<int> errors{0};
  auto worker = [&](Store* s, std::string name) {
    while (true) {
      auto job = s->jobs().claim(name, 30s, kT0 + 1s);
      if (!job) {
        if (job.code() == ErrorCode::kUnavailable) continue;  // SQLite busy: try again
        ++errors;
        return;
      }
      if (!job->has_value()) return;
      std::lock_guard lock(mu);
      claimed.push_back((*job)->job_id);
    }
  };
  std::thread a(worker, &store(), "a");
  std::thread b(worker, other.store.get(), "b");
  a.join();
  b.join();
  EXPECT_EQ(errors.load(), 0);
  std::set<std::string> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(claimed.size(), 24u);
  EXPECT_EQ(unique.size(), 24u);
}

TEST_F(StoreContract, ClaimManyTakesTheOldestRunnableJobsEachWithItsOwnLease) {
  std::vector<std::string> order;
  for (int i = 0; i < 5; ++i) {
    order.push_back(fill(fmt::format("m{}", i), 1, 1, 5, kT0 + std::chrono::seconds(i))[0].job_id);
  }
  auto first = store().jobs().claim_many("w", 30s, 3, kT0 + 10s);
  ASSERT_TRUE(first.is_ok()) << first.error().message;
  ASSERT_EQ(first->size(), 3u);
  std::set<std::string> tokens;
  for (size_t i = 0; i < 3; ++i) {
    const Job& j = (*first)[i];
    EXPECT_EQ(j.job_id, order[i]) << "oldest first";
    EXPECT_EQ(j.status, JobStatus::kRunning);
    EXPECT_EQ(j.attempt_count, 1);
    EXPECT_EQ(j.lease_owner, "w");
    EXPECT_EQ(j.lease_expires_at, kT0 + 40s);
    ASSERT_TRUE(j.lease_token.has_value());
    tokens.insert(*j.lease_token);
  }
  EXPECT_EQ(tokens.size(), 3u) << "each job has its own token";
  // A token fences only its own job.
  const Job& a = (*first)[0];
  const Job& b = (*first)[1];
  EXPECT_EQ(store().jobs().heartbeat(a.job_id, *b.lease_token, 30s, kT0 + 11s).code(),
            ErrorCode::kLeaseLost);
  EXPECT_TRUE(store().jobs().heartbeat(a.job_id, *a.lease_token, 30s, kT0 + 11s).is_ok());
  auto rest = store().jobs().claim_many("w", 30s, 10, kT0 + 10s);
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].job_id, order[3]);
  EXPECT_TRUE(store().jobs().claim_many("w", 30s, 10, kT0 + 10s)->empty());
  EXPECT_TRUE(store().jobs().claim_many("w", 30s, 0, kT0 + 10s)->empty());
}

TEST_F(StoreContract, ClaimManyFromTwoConnectionsNeverOverlaps) {
  fill("cm", 40, 1);
  OpenedStore other = db_->open_another();
  std::mutex mu;
  std::vector<std::string> claimed;
  std::atomic<int> errors{0};
  auto worker = [&](Store* s) {
    while (true) {
      auto jobs = s->jobs().claim_many("w", 30s, 3, kT0 + 1s);
      if (!jobs) {
        if (jobs.code() == ErrorCode::kUnavailable) continue;  // SQLite busy: try again
        ++errors;
        return;
      }
      if (jobs->empty()) return;
      std::lock_guard lock(mu);
      for (const Job& j : *jobs) claimed.push_back(j.job_id);
    }
  };
  std::thread a(worker, &store());
  std::thread b(worker, other.store.get());
  std::thread c(worker, other.store.get());
  a.join();
  b.join();
  c.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claimed.size(), 40u);
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(), 40u);
}

TEST_F(StoreContract, CompleteManyCompletesEachJobAndRefusesOnlyTheLostLeases) {
  auto sealed = fill("cp", 3, 1);
  auto jobs = store().jobs().claim_many("w", 30s, 3, kT0);
  ASSERT_EQ(jobs->size(), 3u);
  // The second job's lease is taken back and the job claimed by someone else.
  ASSERT_TRUE(
      store().jobs().release((*jobs)[1].job_id, *(*jobs)[1].lease_token, "x", kT0, kT0).is_ok());
  ASSERT_TRUE(store().jobs().claim("other", 30s, kT0 + 1s)->has_value());
  std::vector<Completion> items;
  for (const Job& j : *jobs) {
    NewInsight insight;
    insight.summary = "done " + j.job_id;
    insight.confidence = 0.5;
    insight.analyzer = "builtin";
    items.push_back({j.job_id, *j.lease_token, *j.started_at, insight});
  }
  auto done = store().jobs().complete_many(items, kT0 + 2500ms);
  ASSERT_TRUE(done.is_ok()) << done.error().message;
  ASSERT_EQ(done->size(), 3u);
  EXPECT_TRUE((*done)[0].is_ok());
  EXPECT_EQ((*done)[1].code(), ErrorCode::kLeaseLost);
  EXPECT_TRUE((*done)[2].is_ok());
  for (size_t i : {size_t{0}, size_t{2}}) {
    const Insight& ins = (*done)[i].value();
    EXPECT_EQ(ins.job_id, (*jobs)[i].job_id);
    EXPECT_EQ(ins.batch_id, (*jobs)[i].batch_id);
    auto stored = store().insights().get(ins.insight_id);
    ASSERT_TRUE(stored->has_value());
    EXPECT_EQ((*stored)->content.summary, "done " + (*jobs)[i].job_id);
    auto job = store().jobs().get((*jobs)[i].job_id);
    EXPECT_EQ((*job)->status, JobStatus::kSuccess);
    EXPECT_EQ((*job)->duration_ms, 2500);
    EXPECT_FALSE((*job)->lease_token.has_value());
    EXPECT_EQ((*store().batches().get((*jobs)[i].batch_id))->status, BatchStatus::kAnalyzed);
  }
  EXPECT_EQ((*store().jobs().get((*jobs)[1].job_id))->status, JobStatus::kRunning);
  EXPECT_EQ((*store().batches().get((*jobs)[1].batch_id))->status, BatchStatus::kSealed);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Insight\""), 2);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"KafkaOutbox\" WHERE topic = 'insight.created'"), 2);
  // Completing again changes nothing: every lease is gone.
  auto again = store().jobs().complete_many(items, kT0 + 3s);
  ASSERT_TRUE(again.is_ok());
  for (const auto& r : *again) EXPECT_EQ(r.code(), ErrorCode::kLeaseLost);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Insight\""), 2);
  (void)sealed;
}

TEST_F(StoreContract, ConcurrentAppendsKeepEveryEventInExactlyOneBatchUnderTheLimit) {
  OpenedStore other = db_->open_another();
  std::atomic<int> errors{0};
  auto writer = [&](Store* s, std::string prefix) {
    for (int round = 0; round < 30; ++round) {
      auto events = make_events(fmt::format("{}-{}", prefix, round), 7);
      while (true) {
        auto out = s->events().append(events, {10, 5}, kT0);
        if (out) break;
        if (out.code() != ErrorCode::kUnavailable) {
          ++errors;
          ADD_FAILURE() << out.error().message;
          return;
        }
      }
    }
  };
  std::thread a(writer, &store(), "a");
  std::thread b(writer, other.store.get(), "b");
  a.join();
  b.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(*store().events().count(), 420);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" WHERE event_count > 10"), 0);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" WHERE status = 'SEALED' AND event_count <> 10"),
            0);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" WHERE status = 'SEALED'"), 42);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" WHERE status = 'OPEN'"), 0);
  EXPECT_EQ(scalar("SELECT COALESCE(SUM(event_count), 0) FROM \"Batch\""), 420);
  // Each batch's counter matches the events that name it.
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" b WHERE b.event_count <> "
                   "(SELECT COUNT(*) FROM \"Event\" e WHERE e.batch_id = b.batch_id)"),
            0);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"AnalysisJob\""), 42);
}

// Two writers send the same event ids at once (a client retrying on another
// node): each event is stored once, both are told the batch that holds it, and
// batches still fill to the limit exactly.
TEST_F(StoreContract, ConcurrentAppendsOfTheSameEventsStoreEachOnceAndAgreeOnItsBatch) {
  OpenedStore other = db_->open_another();
  std::mutex mu;
  std::map<std::string, std::set<std::string>> batches_told;  // event id -> batch ids acked
  int duplicates = 0;
  auto writer = [&](Store* s, int offset) {
    for (int round = 0; round < 25; ++round) {
      // Overlapping windows: each round shares some ids with the other writer's.
      std::vector<NewEvent> events;
      for (int i = 0; i < 8; ++i) {
        events.push_back(make_event(fmt::format("same-{}", round * 6 + offset + i), kT0));
      }
      while (true) {
        auto out = s->events().append(events, {10, 5}, kT0);
        if (!out) {
          ASSERT_EQ(out.code(), ErrorCode::kUnavailable) << out.error().message;
          continue;
        }
        std::lock_guard lock(mu);
        for (const AppendResult& r : out->results) {
          batches_told[r.event_id].insert(r.batch_id);
          if (r.duplicate) ++duplicates;
        }
        break;
      }
    }
  };
  std::thread a(writer, &store(), 0);
  std::thread b(writer, other.store.get(), 3);
  a.join();
  b.join();
  const int64_t stored = *store().events().count();
  EXPECT_EQ(stored, static_cast<int64_t>(batches_told.size()));
  EXPECT_EQ(duplicates, 2 * 25 * 8 - stored);
  for (const auto& [event_id, told] : batches_told) {
    ASSERT_EQ(told.size(), 1u) << event_id << " was acked with two different batches";
    auto found = store().events().find(event_id);
    ASSERT_TRUE(found && found->has_value()) << event_id;
    EXPECT_EQ((*found)->batch_id, *told.begin()) << event_id;
  }
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" WHERE status = 'SEALED' AND event_count <> 10"),
            0);
  EXPECT_EQ(scalar("SELECT COALESCE(SUM(event_count), 0) FROM \"Batch\""), stored);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"Batch\" b WHERE b.event_count <> "
                   "(SELECT COUNT(*) FROM \"Event\" e WHERE e.batch_id = b.batch_id)"),
            0);
}

TEST_F(StoreContract, BreakerStateIsSharedThroughCompareAndSet) {
  auto b = store().breakers().load("analyzer", kT0);
  ASSERT_TRUE(b.is_ok()) << b.error().message;
  EXPECT_EQ(b->state, BreakerState::kClosed);
  EXPECT_EQ(b->version, 0);
  BreakerRecord open = *b;
  open.state = BreakerState::kOpen;
  open.failure_count = 5;
  open.changed_at = kT0 + 1s;
  open.open_until = kT0 + 10min;
  auto won = store().breakers().compare_and_set(open, R"({"state":"OPEN"})", kT0 + 1s);
  ASSERT_TRUE(won.is_ok()) << won.error().message;
  EXPECT_TRUE(*won);
  // A second writer holding the old version loses.
  auto lost = store().breakers().compare_and_set(open, R"({"state":"OPEN"})", kT0 + 1s);
  ASSERT_TRUE(lost.is_ok());
  EXPECT_FALSE(*lost);
  auto now = store().breakers().load("analyzer", kT0 + 2s);
  EXPECT_EQ(now->state, BreakerState::kOpen);
  EXPECT_EQ(now->failure_count, 5);
  EXPECT_EQ(now->open_until, kT0 + 10min);
  EXPECT_EQ(now->version, 1);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"KafkaOutbox\" WHERE topic = 'circuit.state_changed'"),
            1);
}

// The read-only counts GET /metrics takes at scrape time.
TEST_F(StoreContract, MonitoringReadsCreateNothingAndCountOnlyWaitingDeadLetters) {
  auto none = store().breakers().list();
  ASSERT_TRUE(none.is_ok()) << none.error().message;
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM \"CircuitBreaker\""), 0);
  ASSERT_TRUE(store().breakers().load("zeta", kT0).is_ok());
  auto analyzer = store().breakers().load("analyzer", kT0);
  ASSERT_TRUE(analyzer.is_ok());
  BreakerRecord open = *analyzer;
  open.state = BreakerState::kOpen;
  open.failure_count = 5;
  open.changed_at = kT0 + 1s;
  ASSERT_TRUE(store().breakers().compare_and_set(open, std::nullopt, kT0 + 1s).value());
  auto all = store().breakers().list();
  ASSERT_TRUE(all.is_ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "analyzer");
  EXPECT_EQ((*all)[0].state, BreakerState::kOpen);
  EXPECT_EQ((*all)[0].failure_count, 5);
  EXPECT_EQ((*all)[0].changed_at, kT0 + 1s);
  EXPECT_EQ((*all)[1].name, "zeta");
  EXPECT_EQ((*all)[1].state, BreakerState::kClosed);

  EXPECT_EQ(store().dead_letters().count_waiting().value(), 0);
  fill("w", 2, 1, /*attempts=*/1);  // two jobs with one attempt each
  for (int i = 0; i < 2; ++i) {
    auto job = store().jobs().claim("w", 30s, kT0);
    ASSERT_TRUE(job.is_ok() && job->has_value());
    ASSERT_EQ(store().jobs().fail((*job)->job_id, *(*job)->lease_token, "x", kT0, kT0)->status,
              JobStatus::kDead);
  }
  EXPECT_EQ(store().dead_letters().count_waiting().value(), 2);
  auto dead = store().dead_letters().list(10);
  ASSERT_TRUE(dead.is_ok() && dead->size() == 2u);
  ASSERT_TRUE(store().dead_letters().redrive((*dead)[0].dlq_id, {1, 5}, kT0 + 1s).is_ok());
  EXPECT_EQ(store().dead_letters().count_waiting().value(), 1);
  EXPECT_EQ(store().dead_letters().count().value(), 2);  // redriven entries stay listed
}

TEST_F(StoreContract, OutboxHandsOutMessagesInOrderUntilPublished) {
  fill("o", 6, 2);  // three batch.sealed messages
  auto pending = store().outbox().unpublished(0, 10);
  ASSERT_TRUE(pending.is_ok()) << pending.error().message;
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_LT((*pending)[0].id, (*pending)[1].id);
  EXPECT_EQ((*pending)[0].kind, "batch.sealed");
  EXPECT_FALSE((*pending)[0].next_attempt_at.has_value());
  auto payload = boost::json::parse((*pending)[0].payload_json);
  EXPECT_EQ(payload.at("event_count").as_int64(), 2);
  // A failed message stays unpublished, with the time of its next attempt.
  ASSERT_TRUE(store().outbox().mark_failed((*pending)[0].id, "broker down", kT0 + 1min).is_ok());
  auto after_failure = store().outbox().unpublished(0, 10);
  ASSERT_EQ(after_failure->size(), 3u);
  EXPECT_EQ((*after_failure)[0].next_attempt_at, kT0 + 1min);
  EXPECT_EQ((*after_failure)[0].attempts, 1);
  // Paging by id.
  auto page = store().outbox().unpublished((*pending)[0].id, 1);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, (*pending)[1].id);
  const int64_t ids[] = {(*pending)[0].id, (*pending)[1].id};
  ASSERT_TRUE(store().outbox().mark_published(ids, kT0 + 2min).is_ok());
  EXPECT_EQ(*store().outbox().count_pending(), 1);
  EXPECT_EQ(store().outbox().unpublished(0, 10)->front().id, (*pending)[2].id);
}

TEST_F(StoreContract, OutboxMarksThousandsPublishedAtOnce) {
  fill("m", 1200, 1);  // 1,200 batch.sealed messages
  auto pending = store().outbox().unpublished(0, 2000);
  ASSERT_TRUE(pending.is_ok()) << pending.error().message;
  ASSERT_EQ(pending->size(), 1200u);
  std::vector<int64_t> ids;
  for (size_t i = 0; i + 1 < pending->size(); ++i) ids.push_back((*pending)[i].id);
  ASSERT_TRUE(store().outbox().mark_published(ids, kT0).is_ok());
  EXPECT_EQ(*store().outbox().count_pending(), 1);
}

TEST_F(StoreContract, RelayLeaseHasOneOwnerUntilItExpiresOrIsReleased) {
  OutboxStore& o = store().outbox();
  EXPECT_TRUE(*o.take_lease("outbox", "a", kT0, kT0 + 10s));
  EXPECT_FALSE(*o.take_lease("outbox", "b", kT0 + 5s, kT0 + 15s));  // held by a
  EXPECT_TRUE(*o.take_lease("outbox", "a", kT0 + 5s, kT0 + 15s));   // renewed
  EXPECT_FALSE(*o.take_lease("outbox", "b", kT0 + 14s, kT0 + 24s));
  EXPECT_TRUE(*o.take_lease("outbox", "b", kT0 + 16s, kT0 + 26s));  // a's expired
  EXPECT_FALSE(*o.take_lease("outbox", "a", kT0 + 17s, kT0 + 27s));
  EXPECT_TRUE(*o.take_lease("other", "a", kT0 + 17s, kT0 + 27s));  // leases are by name
  ASSERT_TRUE(o.release_lease("outbox", "a").is_ok());             // not a's: nothing happens
  EXPECT_FALSE(*o.take_lease("outbox", "a", kT0 + 18s, kT0 + 28s));
  ASSERT_TRUE(o.release_lease("outbox", "b").is_ok());
  EXPECT_TRUE(*o.take_lease("outbox", "a", kT0 + 18s, kT0 + 28s));
}

TEST_F(StoreContract, TheEventStreamReadsTheLogInIdOrderFromItsCursor) {
  OutboxStore& o = store().outbox();
  EXPECT_EQ(*o.last_event_id(), 0);
  EXPECT_FALSE(o.cursor("events")->has_value());
  fill("s", 7, 100);
  const int64_t last = *o.last_event_id();
  auto all_events = o.events_after(0, 100);
  ASSERT_TRUE(all_events.is_ok()) << all_events.error().message;
  ASSERT_EQ(all_events->size(), 7u);
  EXPECT_EQ(all_events->back().first, last);
  for (size_t i = 1; i < all_events->size(); ++i) {
    EXPECT_LT((*all_events)[i - 1].first, (*all_events)[i].first);
  }
  EXPECT_EQ((*all_events)[0].second.event.event_id, "s-0");
  EXPECT_FALSE((*all_events)[0].second.batch_id.empty());
  auto rest = o.events_after((*all_events)[4].first, 100);
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ(o.events_after(0, 3)->size(), 3u);
  ASSERT_TRUE(o.save_cursor("events", 5).is_ok());
  ASSERT_TRUE(o.save_cursor("events", 9).is_ok());
  EXPECT_EQ(o.cursor("events")->value_or(-1), 9);
}

TEST_F(StoreContract, OutboxRetentionKeepsUnpublishedRowsUnlessAsked) {
  fill("r", 4, 1);  // four messages, created at kT0
  auto pending = store().outbox().unpublished(0, 10);
  ASSERT_EQ(pending->size(), 4u);
  const int64_t published[] = {(*pending)[0].id};
  ASSERT_TRUE(store().outbox().mark_published(published, kT0).is_ok());
  OutboxStore& o = store().outbox();
  EXPECT_EQ(*o.delete_created_before(kT0, true, 100), 0);        // none older than kT0
  EXPECT_EQ(*o.delete_created_before(kT0 + 1s, false, 100), 1);  // only the published one
  EXPECT_EQ(*o.count_pending(), 3);
  EXPECT_EQ(*o.delete_created_before(kT0 + 1s, true, 2), 2);  // bounded per call
  EXPECT_EQ(*o.delete_created_before(kT0 + 1s, true, 100), 1);
  EXPECT_EQ(*o.count_pending(), 0);
}

TEST_F(StoreContract, ListsPageNewestFirst) {
  auto sealed = fill("p", 5, 1);  // five sealed batches
  auto page1 = store().batches().list(BatchStatus::kSealed, 2, std::nullopt);
  ASSERT_TRUE(page1.is_ok()) << page1.error().message;
  ASSERT_EQ(page1->batches.size(), 2u);
  ASSERT_TRUE(page1->next_cursor.has_value());
  auto page2 = store().batches().list(BatchStatus::kSealed, 10, page1->next_cursor);
  EXPECT_EQ(page2->batches.size(), 3u);
  EXPECT_FALSE(page2->next_cursor.has_value());
  EXPECT_GT(page1->batches[0].batch_id, page1->batches[1].batch_id);
  EXPECT_GT(page1->batches[1].batch_id, page2->batches[0].batch_id);
  EXPECT_TRUE(store().batches().list(BatchStatus::kAnalyzed, 10, std::nullopt)->batches.empty());
  EXPECT_EQ(store().jobs().list(JobStatus::kPending, 100)->size(), 5u);
  EXPECT_TRUE(store().jobs().list(JobStatus::kRunning, 100)->empty());
  EXPECT_EQ(store().jobs().count_by_status()->at(JobStatus::kPending), 5);
  EXPECT_TRUE(store().ping().is_ok());
}

}  // namespace
}  // namespace insightd::store
