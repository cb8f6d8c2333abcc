#include "ingest/ingest_metrics.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>

#include "ingest/http_ingest.h"
#include "store/testing/test_database.h"

namespace insightd::ingest {
namespace {

namespace http = net::http;

class IngestMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = store::testing::TestDatabase::create();
    ASSERT_NE(db_, nullptr);
    writer_ = std::make_unique<GroupCommitWriter>(db_->store().events(), SystemClock::instance(),
                                                  WriterOptions{.policy = {100, 5}}, nullptr,
                                                  nullptr, &metrics_);
    service_ = std::make_unique<IngestService>(*writer_, SystemClock::instance(),
                                               std::vector<std::string>{}, &metrics_);
    add_ingest_routes(router_, *service_, HttpIngestOptions{});
  }

  net::Response post(std::string body) {
    net::Request req{http::verb::post, "/api/events", 11};
    req.body() = std::move(body);
    req.prepare_payload();
    return router_.dispatch(req);
  }

  std::vector<EventOutcome> ingest_socketio(const std::string& json_array) {
    const boost::json::array events = boost::json::parse(json_array).as_array();
    std::promise<std::vector<EventOutcome>> answer;
    service_->ingest(
        std::span(events.data(), events.size()), Transport::kSocketIo,
        [&](const std::vector<EventOutcome>& outcomes) { answer.set_value(outcomes); });
    return answer.get_future().get();
  }

  uint64_t ingested(std::string_view transport, std::string_view status) {
    return registry_.counter("insightd_events_ingested_total", "", {"transport", "status"})
        .with({transport, status})
        .value();
  }
  uint64_t rejected(std::string_view transport, std::string_view code) {
    return registry_.counter("insightd_events_rejected_total", "", {"transport", "code"})
        .with({transport, code})
        .value();
  }
  obs::Histogram::Snapshot ack_latency(std::string_view transport) {
    return registry_
        .histogram("insightd_ingest_ack_latency_seconds", "", {"transport"},
                   {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5})
        .with({transport})
        .snapshot();
  }

  uint64_t commits(std::string_view path) {
    return registry_.counter("insightd_ingest_commits_total", "", {"path"}).with({path}).value();
  }

  obs::Registry registry_;
  IngestMetrics metrics_{registry_};
  std::unique_ptr<store::testing::TestDatabase> db_;
  std::unique_ptr<GroupCommitWriter> writer_;
  std::unique_ptr<IngestService> service_;
  net::Router router_;
};

TEST_F(IngestMetricsTest, EveryOutcomeIsCountedByFrontDoorStatusAndCode) {
  writer_->start();
  auto res = post(R"([{"eventId":"a","eventType":"click"},{"eventId":"b","eventType":"bad type!"},
                      {"eventId":"a","eventType":"click"},{"eventId":"c","eventType":"view"}])");
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  EXPECT_EQ(ingested("http", "ok"), 2u);
  EXPECT_EQ(ingested("http", "duplicate"), 1u);
  EXPECT_EQ(rejected("http", "invalid_event_type"), 1u);
  auto http_latency = ack_latency("http");
  EXPECT_EQ(http_latency.count, 3u);  // one observation per committed event
  EXPECT_GT(http_latency.sum, 0);

  auto outcomes = ingest_socketio(R"([{"eventId":"c","eventType":"view"},
                                      {"eventId":"d","eventType":"view","timestamp":"yesterday"},
                                      {"eventId":"e","eventType":"view"}])");
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(ingested("socketio", "ok"), 1u);
  EXPECT_EQ(ingested("socketio", "duplicate"), 1u);
  EXPECT_EQ(rejected("socketio", "invalid_timestamp"), 1u);
  EXPECT_EQ(ack_latency("socketio").count, 2u);
  // The other front door's counts did not move.
  EXPECT_EQ(ingested("http", "ok"), 2u);

  // Two commits, each counted by its path (SQLite has one) and timed.
  EXPECT_EQ(commits("chunked"), 2u);
  EXPECT_EQ(commits("one_round_trip") + commits("two_round_trips"), 0u);
  EXPECT_NE(registry_.render().find("insightd_ingest_commit_seconds_count 2\n"), std::string::npos);

  service_->record_rejected(Transport::kSocketIo, "invalid_event");
  service_->record_rejected(Transport::kSocketIo, "something new");
  EXPECT_EQ(rejected("socketio", "invalid_event"), 1u);
  EXPECT_EQ(rejected("socketio", "other"), 1u);
}

TEST_F(IngestMetricsTest, RefusedForOverloadCountsAsRetryableWithoutLatency) {
  // A writer that was never started takes nothing: the queue is "full".
  auto res = post(R"([{"eventId":"a","eventType":"click"},{"eventId":"b","eventType":"click"}])");
  EXPECT_EQ(res.result(), http::status::service_unavailable) << res.body();
  EXPECT_EQ(rejected("http", "overloaded"), 2u);
  EXPECT_EQ(ingested("http", "ok"), 0u);
  EXPECT_EQ(ack_latency("http").count, 0u);
}

TEST_F(IngestMetricsTest, EverySeriesExistsFromTheStartAtZero) {
  const std::string text = registry_.render();
  for (std::string_view transport : {"http", "socketio"}) {
    for (std::string_view code : IngestMetrics::known_codes()) {
      EXPECT_NE(text.find(fmt::format(
                    "insightd_events_rejected_total{{transport=\"{}\",code=\"{}\"}} 0\n", transport,
                    code)),
                std::string::npos)
          << transport << " " << code;
    }
    EXPECT_NE(
        text.find(fmt::format(
            "insightd_events_ingested_total{{transport=\"{}\",status=\"ok\"}} 0\n", transport)),
        std::string::npos);
    EXPECT_NE(text.find(fmt::format(
                  "insightd_ingest_ack_latency_seconds_count{{transport=\"{}\"}} 0\n", transport)),
              std::string::npos);
  }
  for (std::string_view path : {"chunked", "two_round_trips", "one_round_trip"}) {
    EXPECT_NE(text.find(fmt::format("insightd_ingest_commits_total{{path=\"{}\"}} 0\n", path)),
              std::string::npos)
        << path;
  }
  EXPECT_NE(text.find("insightd_ingest_commit_seconds_count 0\n"), std::string::npos);
}

}  // namespace
}  // namespace insightd::ingest
