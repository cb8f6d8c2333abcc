// The seed's "Inspect Database State" queries must run unchanged on PostgreSQL
// and see insightd's data (SPEC.md §3); and the binary arrays the append
// sends read back as written (PostgreSQL only, as the Pg* suites are).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "store/postgres/pg_binary.h"
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

// The binary arrays the append sends (store/postgres/pg_binary.h) read back as
// the values they were made of: NULLs, empty and non-ASCII text, negative and
// large int8, timestamps to the millisecond on both sides of 2000-01-01, and
// jsonb.
TEST(PgBinaryArrays, UnnestReadsBackWhatWasWritten) {
  auto db = testing::TestDatabase::create();
  ASSERT_NE(db, nullptr);
  using pg::BinaryArray;
  using pg::ElementType;
  BinaryArray text(ElementType::kText, 4);
  text.add_text("plain");
  text.add_null();
  text.add_text("");
  text.add_text("caf\xc3\xa9 \"q\" \\");
  BinaryArray int8(ElementType::kInt8, 4);
  for (int64_t v : {int64_t{0}, int64_t{-7}, int64_t{1} << 40, INT64_MIN / 1000}) int8.add_int8(v);
  BinaryArray times(ElementType::kTimestampTz, 4);
  const std::vector<std::string> instants{"2026-12-07T09:41:02.345Z", "1999-12-31T23:59:59.999Z",
                                          "2000-01-01T00:00:00.000Z", "1970-01-01T00:00:00.001Z"};
  for (const auto& t : instants) times.add_timestamptz(*parse_rfc3339(t));
  BinaryArray json(ElementType::kJsonb, 4);
  for (const char* j : {R"({"a":1})", R"({})", R"({"b":[true,null,"x"]})", R"({"c":{"d":2.5}})"}) {
    json.add_jsonb(j);
  }
  auto conn = db->pool().acquire();
  ASSERT_TRUE(conn.is_ok());
  auto rows = (*conn)->query(
      "SELECT t, i, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), j::text "
      "FROM unnest($1::text[], $2::int8[], $3::timestamptz[], $4::jsonb[]) WITH ORDINALITY "
      "AS u(t, i, ts, j, n) ORDER BY n",
      {text.take(), int8.take(), times.take(), json.take()});
  ASSERT_TRUE(rows.is_ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[0].text(0), "plain");
  EXPECT_TRUE((*rows)[1].is_null(0));
  EXPECT_EQ((*rows)[2].text(0), "");
  EXPECT_EQ((*rows)[3].text(0), "caf\xc3\xa9 \"q\" \\");
  EXPECT_EQ((*rows)[0].integer(1), 0);
  EXPECT_EQ((*rows)[1].integer(1), -7);
  EXPECT_EQ((*rows)[2].integer(1), int64_t{1} << 40);
  EXPECT_EQ((*rows)[3].integer(1), INT64_MIN / 1000);
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ((*rows)[k].text(2), instants[k]);
  EXPECT_EQ((*rows)[0].text(3), R"({"a": 1})");
  EXPECT_EQ((*rows)[2].text(3), R"({"b": [true, null, "x"]})");
}

}  // namespace
}  // namespace insightd::store
