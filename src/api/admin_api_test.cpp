// The admin REST API through Router::dispatch over a real SQLite store and the
// real sign-in service: who may call it, and that each answer tells the truth
// about the database.
#include "api/admin_api.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>

#include "auth/auth_routes.h"
#include "core/testing/builders.h"
#include "store/testing/test_database.h"

namespace insightd::api {
namespace {

using namespace std::chrono_literals;
namespace http = net::http;
namespace json = boost::json;

using insightd::testing::kT0;

NewEvent event(std::string id, Timestamp at) {
  return insightd::testing::EventBuilder(std::move(id))
      .session(std::nullopt)
      .at(at)
      .metadata(R"({"page":"/home"})");
}

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = store::testing::TestDatabase::create();
    ASSERT_NE(db_, nullptr);
    auth::AuthOptions options;
    options.admin_password = "correct horse battery staple";
    auto service = auth::AuthService::open(std::move(options), db_->pool(), clock_);
    ASSERT_TRUE(service.is_ok()) << service.error().message;
    auth_ = std::move(service).value();
    auth::Principal admin{.admin_id = "admin"};
    auto token = auth_->create_api_token("tests", admin);
    ASSERT_TRUE(token.is_ok()) << token.error().message;
    token_ = token->token;
    add_admin_routes(router_, *auth_, db_->store(), clock_,
                     AdminApiOptions{.policy = policy_, .wake_workers = [this] { ++wakes_; }});
  }

  store::Store& store() { return db_->store(); }

  net::Response call(http::verb method, std::string target, bool signed_in = true) {
    net::Request req(method, target, 11);
    if (signed_in) req.set(http::field::authorization, "Bearer " + token_);
    req.prepare_payload();
    return router_.dispatch(req);
  }
  json::object get_json(std::string target) {
    auto res = call(http::verb::get, std::move(target));
    EXPECT_EQ(res.result(), http::status::ok) << res.body();
    return json::parse(res.body()).as_object();
  }

  // Appends `n` events at `at`; batches seal at policy_.max_events.
  void append(std::string prefix, int n, Timestamp at) {
    std::vector<NewEvent> events;
    for (int i = 0; i < n; ++i) events.push_back(event(fmt::format("{}-{}", prefix, i), at));
    ASSERT_TRUE(store().events().append(events, policy_, at).is_ok());
  }

  store::BatchPolicy policy_{5, 1};
  FakeClock clock_{kT0};
  std::unique_ptr<store::testing::TestDatabase> db_;
  std::unique_ptr<auth::AuthService> auth_;
  std::string token_;
  net::Router router_;
  int wakes_ = 0;
};

TEST_F(AdminApiTest, EveryRouteRefusesAnonymousCallers) {
  const std::pair<http::verb, std::string> routes[] = {
      {http::verb::get, "/api/insights"},
      {http::verb::get, "/api/admin/metrics"},
      {http::verb::get, "/api/admin/batches"},
      {http::verb::get, "/api/admin/batches/batch_x"},
      {http::verb::post, "/api/admin/batches/batch_x/seal"},
      {http::verb::post, "/api/admin/batches/batch_x/analyze"},
      {http::verb::get, "/api/admin/jobs"},
      {http::verb::get, "/api/admin/jobs/job_x"},
      {http::verb::get, "/api/admin/dlq"},
      {http::verb::post, "/api/admin/dlq/dlq_x/retry"},
      {http::verb::delete_, "/api/admin/dlq/dlq_x"},
      {http::verb::get, "/api/admin/events"},
      {http::verb::get, "/api/admin/events/per-minute"},
  };
  for (const auto& [method, target] : routes) {
    auto res = call(method, target, /*signed_in=*/false);
    EXPECT_EQ(res.result(), http::status::unauthorized) << target;
    EXPECT_NE(res.body().find("\"unauthorized\""), std::string::npos) << target;
  }
}

TEST_F(AdminApiTest, MetricsCarryTheSeedKeysWithTrueValues) {
  clock_.set(kT0 + 10min);
  append("a", 12, kT0 + 10min - 30s);  // two sealed batches (5 + 5), one OPEN with 2
  auto m = get_json("/api/admin/metrics");
  EXPECT_EQ(m.at("jobs").at("pending").as_int64(), 2);
  EXPECT_EQ(m.at("jobs").at("running").as_int64(), 0);
  EXPECT_EQ(m.at("jobs").at("oldestPendingAgeMs").as_int64(), 30'000);
  EXPECT_EQ(m.at("batches").at("open").as_int64(), 1);
  EXPECT_EQ(m.at("batches").at("sealed").as_int64(), 2);
  EXPECT_EQ(m.at("circuit_breaker").at("state").as_string(), "CLOSED");
  EXPECT_EQ(m.at("dead_letter_queue").at("total").as_int64(), 0);
  EXPECT_EQ(m.at("dead_letter_queue").at("waiting").as_int64(), 0);
  EXPECT_EQ(m.at("events").at("total").as_int64(), 12);
  EXPECT_EQ(m.at("events").at("lastMinute").as_int64(), 12);
  EXPECT_EQ(m.at("outbox").at("pending").as_int64(), 2);  // two batch.sealed messages
}

TEST_F(AdminApiTest, EventsPerMinuteAreZeroFilledOldestFirst) {
  clock_.set(kT0 + 3min + 20s);
  append("a", 3, kT0 + 1min + 5s);
  append("b", 2, kT0 + 3min + 1s);
  auto m = get_json("/api/admin/events/per-minute?minutes=5");
  const auto& minutes = m.at("minutes").as_array();
  ASSERT_EQ(minutes.size(), 5u);
  const std::pair<std::string, int64_t> want[] = {{"2026-11-29T09:59:00.000Z", 0},
                                                  {"2026-11-29T10:00:00.000Z", 0},
                                                  {"2026-11-29T10:01:00.000Z", 3},
                                                  {"2026-11-29T10:02:00.000Z", 0},
                                                  {"2026-11-29T10:03:00.000Z", 2}};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(minutes[i].at("minute").as_string(), want[i].first) << i;
    EXPECT_EQ(minutes[i].at("count").as_int64(), want[i].second) << i;
  }
  EXPECT_EQ(get_json("/api/admin/events/per-minute").at("minutes").as_array().size(), 60u);
  for (const char* bad : {"0", "1441", "x", "-1"}) {
    auto res = call(http::verb::get, fmt::format("/api/admin/events/per-minute?minutes={}", bad));
    EXPECT_EQ(res.result(), http::status::bad_request) << bad;
  }
}

TEST_F(AdminApiTest, BatchesListFilterDetailSealAndAnalyze) {
  append("b", 7, kT0);  // one SEALED (5), one OPEN (2)
  auto all = get_json("/api/admin/batches");
  ASSERT_EQ(all.at("batches").as_array().size(), 2u);
  auto open = get_json("/api/admin/batches?status=OPEN");
  ASSERT_EQ(open.at("batches").as_array().size(), 1u);
  const std::string open_id(open.at("batches").at(0).at("batchId").as_string());
  EXPECT_EQ(call(http::verb::get, "/api/admin/batches?status=NOPE").result(),
            http::status::bad_request);
  EXPECT_EQ(call(http::verb::get, "/api/admin/batches?limit=0").result(),
            http::status::bad_request);

  auto detail = get_json("/api/admin/batches/" + open_id);
  EXPECT_EQ(detail.at("batch").at("eventCount").as_int64(), 2);
  ASSERT_EQ(detail.at("events").as_array().size(), 2u);
  EXPECT_EQ(detail.at("events").at(0).at("metadata").at("page").as_string(), "/home");
  EXPECT_EQ(call(http::verb::get, "/api/admin/batches/batch_none").result(),
            http::status::not_found);

  // Analyze an OPEN batch: refused; seal it by hand, then analyze: 409 while
  // its job waits.
  EXPECT_EQ(call(http::verb::post, "/api/admin/batches/" + open_id + "/analyze").result(),
            http::status::conflict);
  auto sealed = call(http::verb::post, "/api/admin/batches/" + open_id + "/seal");
  ASSERT_EQ(sealed.result(), http::status::ok) << sealed.body();
  EXPECT_EQ(wakes_, 1);
  auto batch = store().batches().get(open_id);
  ASSERT_TRUE(batch.is_ok() && batch->has_value());
  EXPECT_EQ((*batch)->status, BatchStatus::kSealed);
  EXPECT_EQ((*batch)->seal_reason, SealReason::kManual);
  auto again = call(http::verb::post, "/api/admin/batches/" + open_id + "/analyze");
  EXPECT_EQ(again.result(), http::status::conflict) << again.body();
  EXPECT_EQ(call(http::verb::post, "/api/admin/batches/" + open_id + "/seal").result(),
            http::status::conflict);

  auto jobs = get_json("/api/admin/jobs?status=PENDING");
  EXPECT_EQ(jobs.at("jobs").as_array().size(), 2u);
}

TEST_F(AdminApiTest, DeadLettersAreListedRedrivenAndDiscarded) {
  append("d", 5, kT0);  // one sealed batch, its job with max_attempts 1
  auto claimed = store().jobs().claim("w", 30s, kT0);
  ASSERT_TRUE(claimed.is_ok() && claimed->has_value());
  const Job job = **claimed;
  auto failed =
      store().jobs().fail(job.job_id, *job.lease_token, "HTTP 500 from the model", kT0 + 1s, kT0);
  ASSERT_TRUE(failed.is_ok()) << failed.error().message;
  ASSERT_EQ(failed->status, JobStatus::kDead);

  auto dlq = get_json("/api/admin/dlq");
  EXPECT_EQ(dlq.at("total").as_int64(), 1);
  const auto& item = dlq.at("deadLetters").at(0).as_object();
  EXPECT_EQ(item.at("lastError").as_string(), "HTTP 500 from the model");
  EXPECT_EQ(item.at("attemptCount").as_int64(), 1);
  const std::string dlq_id(item.at("dlqId").as_string());
  EXPECT_EQ(get_json("/api/admin/metrics").at("dead_letter_queue").at("waiting").as_int64(), 1);

  auto retry = call(http::verb::post, "/api/admin/dlq/" + dlq_id + "/retry");
  ASSERT_EQ(retry.result(), http::status::accepted) << retry.body();
  EXPECT_EQ(json::parse(retry.body()).at("job").at("status").as_string(), "PENDING");
  EXPECT_EQ(wakes_, 1);
  // Redriven: still listed (and counted in total), no longer waiting.
  auto after = get_json("/api/admin/metrics").at("dead_letter_queue");
  EXPECT_EQ(after.at("total").as_int64(), 1);
  EXPECT_EQ(after.at("waiting").as_int64(), 0);
  EXPECT_EQ(call(http::verb::delete_, "/api/admin/dlq/" + dlq_id).result(), http::status::ok);
  EXPECT_EQ(call(http::verb::delete_, "/api/admin/dlq/dlq_none").result(), http::status::not_found);
}

TEST_F(AdminApiTest, InsightsPageNewestFirstAndRecentEventsShowTheLatest) {
  for (int b = 0; b < 3; ++b) {
    append(fmt::format("i{}", b), 5, kT0 + std::chrono::seconds(b));
    auto claimed = store().jobs().claim("w", 30s, kT0 + std::chrono::seconds(b));
    ASSERT_TRUE(claimed.is_ok() && claimed->has_value());
    store::NewInsight insight;
    insight.summary = fmt::format("summary {}", b);
    insight.confidence = 0.5;
    insight.analyzer = "builtin";
    ASSERT_TRUE(store()
                    .jobs()
                    .complete((*claimed)->job_id, *(*claimed)->lease_token, insight,
                              kT0 + std::chrono::seconds(b))
                    .is_ok());
  }
  auto first = get_json("/api/insights?limit=2");
  ASSERT_EQ(first.at("insights").as_array().size(), 2u);
  EXPECT_EQ(first.at("insights").at(0).at("summary").as_string(), "summary 2");
  ASSERT_TRUE(first.at("nextCursor").is_string());
  auto second =
      get_json(fmt::format("/api/insights?limit=2&cursor={}", first.at("nextCursor").as_string()));
  ASSERT_EQ(second.at("insights").as_array().size(), 1u);
  EXPECT_EQ(second.at("insights").at(0).at("summary").as_string(), "summary 0");
  EXPECT_TRUE(second.at("nextCursor").is_null());

  auto events = get_json("/api/admin/events?limit=3");
  ASSERT_EQ(events.at("events").as_array().size(), 3u);
  EXPECT_EQ(events.at("events").at(0).at("eventId").as_string(), "i2-4");
}

}  // namespace
}  // namespace insightd::api
