#include "api/metrics.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>

#include "core/testing/builders.h"
#include "store/testing/test_database.h"

namespace insightd::api {
namespace {

using namespace std::chrono_literals;
namespace http = net::http;

using insightd::testing::kT0;

// The value of one series ("name{labels}") in an exposition; nullopt when absent.
std::optional<std::string> value_of(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return line.substr(series.size() + 1);
    }
  }
  return std::nullopt;
}

std::vector<NewEvent> events(const std::string& prefix, int n, Timestamp at) {
  std::vector<NewEvent> out;
  for (int i = 0; i < n; ++i) {
    NewEvent e;
    e.event_id = prefix + std::to_string(i);
    e.event_type = "page_view";
    e.timestamp = at;
    e.received_at = at;
    out.push_back(std::move(e));
  }
  return out;
}

class StoreMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = store::testing::TestDatabase::create();
    ASSERT_NE(db_, nullptr);
    add_store_metrics(registry_, db_->store(), clock_);
  }
  store::Store& store() { return db_->store(); }

  std::unique_ptr<store::testing::TestDatabase> db_;
  FakeClock clock_{kT0};
  obs::Registry registry_;
};

TEST_F(StoreMetricsTest, AnEmptyDatabaseReportsZerosAndNoLastEvent) {
  const std::string text = registry_.render();
  for (const char* s : {"open", "sealed", "analyzed", "archived"}) {
    EXPECT_EQ(value_of(text, fmt::format("insightd_batches{{status=\"{}\"}}", s)), "0") << s;
  }
  for (const char* s : {"pending", "running", "success", "dead"}) {
    EXPECT_EQ(value_of(text, fmt::format("insightd_jobs{{status=\"{}\"}}", s)), "0") << s;
  }
  EXPECT_EQ(value_of(text, "insightd_oldest_pending_job_age_seconds"), "0");
  EXPECT_NE(text.find("# TYPE insightd_last_event_age_seconds gauge\n"), std::string::npos);
  EXPECT_EQ(value_of(text, "insightd_last_event_age_seconds"), std::nullopt);
  EXPECT_EQ(value_of(text, "insightd_dead_letter_jobs"), "0");
  EXPECT_EQ(value_of(text, "insightd_outbox_pending_messages"), "0");
  EXPECT_EQ(text.find("insightd_circuit_breaker_state{"), std::string::npos);
  EXPECT_EQ(value_of(text, "insightd_database_up"), "1");
  // Scraping created nothing (no breaker row).
  EXPECT_TRUE(store().breakers().list()->empty());
}

TEST_F(StoreMetricsTest, ThePipelinesStateIsReadAtScrapeTime) {
  // 5 events, batches of 2: two sealed batches (two PENDING jobs, two outbox
  // rows), one OPEN batch holding the fifth event.
  ASSERT_TRUE(store().events().append(events("e", 5, kT0), {2, 1}, kT0).is_ok());
  // One job fails on its only attempt: dead-lettered (and its outbox row).
  auto job = store().jobs().claim("w", 30s, kT0 + 10s);
  ASSERT_TRUE(job.is_ok() && job->has_value());
  ASSERT_TRUE(store().jobs().fail((*job)->job_id, *(*job)->lease_token, "x", kT0, kT0 + 20s));
  // The breaker opens after 4 failures.
  auto breaker = store().breakers().load("analyzer", kT0);
  ASSERT_TRUE(breaker.is_ok());
  BreakerRecord open = *breaker;
  open.state = BreakerState::kOpen;
  open.failure_count = 4;
  ASSERT_TRUE(store().breakers().compare_and_set(open, std::nullopt, kT0 + 1s).value());

  clock_.set(kT0 + 90s);
  const std::string text = registry_.render();
  EXPECT_EQ(value_of(text, "insightd_batches{status=\"sealed\"}"), "2");
  EXPECT_EQ(value_of(text, "insightd_batches{status=\"open\"}"), "1");
  EXPECT_EQ(value_of(text, "insightd_jobs{status=\"pending\"}"), "1");
  EXPECT_EQ(value_of(text, "insightd_jobs{status=\"dead\"}"), "1");
  EXPECT_EQ(value_of(text, "insightd_oldest_pending_job_age_seconds"), "90");
  EXPECT_EQ(value_of(text, "insightd_last_event_age_seconds"), "90");
  EXPECT_EQ(value_of(text, "insightd_dead_letter_jobs"), "1");
  EXPECT_EQ(value_of(text, "insightd_outbox_pending_messages"), "3");
  EXPECT_EQ(value_of(text, "insightd_circuit_breaker_state{breaker=\"analyzer\"}"), "2");
  EXPECT_EQ(value_of(text, "insightd_circuit_breaker_failures{breaker=\"analyzer\"}"), "4");
  EXPECT_EQ(value_of(text, "insightd_database_up"), "1");

  // Redriven: no longer waiting in the dead-letter queue.
  auto dead = store().dead_letters().list(1);
  ASSERT_TRUE(dead.is_ok() && dead->size() == 1u);
  ASSERT_TRUE(store().dead_letters().redrive(dead->front().dlq_id, {2, 1}, kT0 + 91s).is_ok());
  EXPECT_EQ(value_of(registry_.render(), "insightd_dead_letter_jobs"), "0");
}

TEST_F(StoreMetricsTest, AFailingQueryLeavesItsFamilyOutAndMarksTheDatabaseDown) {
  {
    auto conn = db_->pool().acquire();
    ASSERT_TRUE(conn.is_ok());
    ASSERT_TRUE((*conn)->execute_script("DROP TABLE \"KafkaOutbox\""));
  }
  const std::string text = registry_.render();
  EXPECT_EQ(text.find("insightd_outbox_pending_messages"), std::string::npos);
  EXPECT_EQ(value_of(text, "insightd_jobs{status=\"pending\"}"), "0");
  EXPECT_EQ(value_of(text, "insightd_database_up"), "0");
}

TEST(HttpRequestMetrics, AnswersAreCountedByRoutePatternAndStatusClass) {
  net::Router router;
  router.add(http::verb::get, "/healthz", net::RouteKind::kInline,
             [](const net::Request&, const net::PathParams&) { return net::Response{}; });
  router.add(http::verb::post, "/api/admin/batches/{id}/seal", net::RouteKind::kBlocking,
             [](const net::Request&, const net::PathParams&) { return net::Response{}; });
  obs::Registry registry;
  auto count = count_http_requests(registry, router);
  count(0, 200);
  count(0, 204);
  count(1, 409);
  count(1, 503);
  count(1, 200);
  count(net::Router::kNoRoute, 404);
  count(net::Router::kNoRoute, 405);
  const std::string text = registry.render();
  EXPECT_EQ(
      value_of(text, R"(insightd_http_requests_total{method="GET",route="/healthz",status="2xx"})"),
      "2");
  const std::string seal =
      R"(insightd_http_requests_total{method="POST",route="/api/admin/batches/{id}/seal",status=")";
  EXPECT_EQ(value_of(text, seal + "2xx\"}"), "1");
  EXPECT_EQ(value_of(text, seal + "4xx\"}"), "1");
  EXPECT_EQ(value_of(text, seal + "5xx\"}"), "1");
  EXPECT_EQ(
      value_of(text,
               R"x(insightd_http_requests_total{method="(none)",route="(none)",status="4xx"})x"),
      "2");
  // Only series that happened are shown.
  EXPECT_EQ(
      value_of(text, R"(insightd_http_requests_total{method="GET",route="/healthz",status="5xx"})"),
      std::nullopt);
}

TEST(MetricsRoute, ServesTheTextFormat) {
  net::Router router;
  obs::Registry registry;
  registry.counter("demo_total", "Demo.").with({}).inc(3);
  add_metrics_route(router, registry);
  net::Request req{http::verb::get, "/metrics", 11};
  const net::Response res = router.dispatch(req);
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(res.body(), "# HELP demo_total Demo.\n# TYPE demo_total counter\ndemo_total 3\n");
}

}  // namespace
}  // namespace insightd::api
