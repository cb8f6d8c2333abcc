// The seed's "Inspect Database State" queries must run unchanged on PostgreSQL
// and see insightd's data (SPEC.md §3).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "store/testing/test_database.h"

namespace insightd::store {
namespace {

using namespace std::chrono_literals;

TEST(PgSeedDebugQueries, RunUnchangedAndSeeOurRows) {
  auto db = testing::TestDatabase::create();
  ASSERT_NE(db, nullptr);
  const Timestamp now = SystemClock::instance().now();
  // One OPEN batch, one sealed batch with a PENDING job, one RUNNING job stuck
  // for 20 minutes with a circuit error, one dead job.
  std::vector<NewEvent> events;
  for (int i = 0; i < 7; ++i) {
    NewEvent e;
    e.event_id = fmt::format("seed-{}", i);
    e.event_type = "page_view";
    e.timestamp = e.received_at = now;
    events.push_back(e);
  }
  auto out = db->store().events().append(events, {2, 1}, now - 20min);
  ASSERT_TRUE(out.is_ok()) << out.error().message;
  ASSERT_EQ(out->sealed.size(), 3u);
  auto stuck = db->store().jobs().claim("w", 1h, now - 20min);
  ASSERT_TRUE(stuck.is_ok() && stuck->has_value());
  auto dead = db->store().jobs().claim("w", 1h, now - 20min);
  ASSERT_TRUE(dead.is_ok() && dead->has_value());
  ASSERT_TRUE(db->store()
                  .jobs()
                  .fail((*dead)->job_id, *(*dead)->lease_token,
                        "Circuit breaker is OPEN: analyzer unavailable", now, now)
                  .is_ok());

  struct Query {
    const char* sql;
    size_t expected_rows;
  };
  // Verbatim from the seed's quickstart, "Inspect Database State".
  const Query queries[] = {
      {R"(SELECT batch_id, status, event_count, created_at
FROM "Batch"
WHERE status = 'OPEN';)",
       1},
      {R"(SELECT job_id, batch_id, status, attempt_count, created_at
FROM "AnalysisJob"
WHERE status = 'PENDING'
ORDER BY created_at ASC;)",
       1},
      {R"(SELECT job_id, batch_id, status, updated_at,
       EXTRACT(EPOCH FROM (now() - updated_at)) as age_seconds
FROM "AnalysisJob"
WHERE status = 'RUNNING'
  AND updated_at < now() - interval '15 minutes';)",
       1},
      {R"(SELECT * FROM "DeadLetterJob" ORDER BY failed_at DESC LIMIT 10;)", 1},
      {R"(SELECT job_id, last_error, created_at
FROM "AnalysisJob"
WHERE last_error LIKE '%circuit%'
  AND created_at > now() - interval '1 hour';)",
       0},
  };
  auto conn = db->pool().acquire();
  ASSERT_TRUE(conn.is_ok());
  for (const Query& q : queries) {
    auto rows = (*conn)->query(q.sql, {});
    ASSERT_TRUE(rows.is_ok()) << q.sql << "\n" << rows.error().message;
    EXPECT_EQ(rows->size(), q.expected_rows) << q.sql;
  }
  // LIKE is case-sensitive: the seed's lower-case 'circuit' matches our message
  // once it is spelled that way.
  ASSERT_TRUE((*conn)
                  ->execute("UPDATE \"AnalysisJob\" SET last_error = 'circuit open' WHERE "
                            "status = 'DEAD'",
                            {})
                  .is_ok());
  auto rows = (*conn)->query(queries[4].sql, {});
  ASSERT_TRUE(rows.is_ok());
  EXPECT_EQ(rows->size(), 1u);
}

}  // namespace
}  // namespace insightd::store
