// The LLM analyzer over real HTTP against a local fake of the API: every answer
// a real server gives must end in the right classification, and a malformed
// reply must never become an insight.
#include "analysis/openai_analyzer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "analysis/testing/fake_openai_server.h"
#include "analysis/testing/planted_batches.h"
#include "net/http_server.h"
#include "net/router.h"

namespace insightd::analysis {
namespace {

using testing::FakeOpenAiServer;
using ::testing::HasSubstr;
using ::testing::Not;
using Answer = FakeOpenAiServer::Answer;

const std::string kKey = "sk-test-analyzer-0123456789abcdef";
const std::string kModel = "insight-model-small";

class OpenAiAnalyzerTest : public ::testing::Test {
 protected:
  OpenAiAnalyzerTest() : server_(kKey, kModel) {
    options_.base_url = server_.base_url();
    options_.api_key = kKey;
    options_.model = kModel;
    options_.timeout = std::chrono::seconds(10);
  }

  AnalysisResult run(Answer answer) {
    server_.answer(answer);
    OpenAiAnalyzer analyzer(options_);
    return analyzer.analyze(planted::checkout_collapse(), {});
  }

  void expect_error(const AnalysisResult& result, AnalysisErrorKind kind, bool retryable) {
    ASSERT_FALSE(result) << "a faulty answer became an insight";
    EXPECT_EQ(result.error().kind, kind) << result.error().message;
    EXPECT_EQ(result.error().retryable, retryable) << result.error().message;
    EXPECT_THAT(result.error().message, Not(HasSubstr(kKey)));
    EXPECT_THAT(result.error().message, Not(HasSubstr("0123456789abcdef")));
  }

  void TearDown() override { EXPECT_THAT(server_.problems(), ::testing::IsEmpty()); }

  FakeOpenAiServer server_;
  OpenAiOptions options_;
};

TEST_F(OpenAiAnalyzerTest, AValidReplyBecomesAnInsightWithUsageAndLatency) {
  AnalysisResult result = run(Answer::kValidInsight);
  ASSERT_TRUE(result) << result.error().message;
  const Insight& insight = result.value();
  EXPECT_EQ(insight.analyzer, "openai");
  EXPECT_EQ(insight.model, "fake-model-2026");  // as the server names it
  EXPECT_EQ(insight.tokens.prompt, 1234);
  EXPECT_EQ(insight.tokens.completion, 56);
  EXPECT_GE(insight.latency_ms, 0);
  EXPECT_EQ(insight.content.summary, "The batch holds 100 events from 28 users.");
  EXPECT_DOUBLE_EQ(insight.content.confidence, 0.8);
  // The metrics are ours, never the model's.
  EXPECT_EQ(insight.metrics.at("event_count"), 100);
  EXPECT_EQ(server_.requests(), 1);
  // The request carried the strict schema and the statistics (the fake checks
  // both; TearDown asserts it found no problem).
  const auto body = server_.last_body();
  EXPECT_EQ(body.at("response_format").at("json_schema").at("strict"), boost::json::value(true));
}

TEST_F(OpenAiAnalyzerTest, ABaseUrlWithATrailingSlashWorks) {
  options_.base_url += "/";
  EXPECT_TRUE(run(Answer::kValidInsight));
}

TEST_F(OpenAiAnalyzerTest, AReplyThatBreaksTheSchemaIsInvalid) {
  AnalysisResult result = run(Answer::kSchemaBreaking);
  expect_error(result, AnalysisErrorKind::kInvalidReply, false);
  EXPECT_THAT(result.error().message, HasSubstr("missing required field \"confidence\""));
  EXPECT_EQ(result.error().http_status, 200);
}

TEST_F(OpenAiAnalyzerTest, AReplyCitingFiguresWeDoNotHaveIsInvalid) {
  AnalysisResult result = run(Answer::kUngroundedInsight);
  expect_error(result, AnalysisErrorKind::kInvalidReply, false);
  EXPECT_THAT(result.error().message, HasSubstr("12345 is not a figure of the statistics"));
}

TEST_F(OpenAiAnalyzerTest, InvalidJsonIsInvalid) {
  expect_error(run(Answer::kContentNotJson), AnalysisErrorKind::kInvalidReply, false);
  expect_error(run(Answer::kBodyNotJson), AnalysisErrorKind::kInvalidReply, false);
}

TEST_F(OpenAiAnalyzerTest, UnauthorizedIsNotRetryableAndHidesTheKey) {
  AnalysisResult result = run(Answer::kUnauthorized);
  expect_error(result, AnalysisErrorKind::kAuth, false);
  EXPECT_EQ(result.error().http_status, 401);
  EXPECT_THAT(result.error().message, HasSubstr("Incorrect API key provided: ***"));
}

TEST_F(OpenAiAnalyzerTest, AWrongKeyIsUnauthorized) {
  // The fake refuses the key like the real API does; its complaint is the point.
  options_.api_key = "sk-wrong-key-000";
  AnalysisResult result = run(Answer::kValidInsight);
  expect_error(result, AnalysisErrorKind::kAuth, false);
  EXPECT_THAT(result.error().message, Not(HasSubstr("sk-wrong-key-000")));
  EXPECT_THAT(server_.problems(), ::testing::ElementsAre("wrong or missing bearer key"));
  server_.clear_problems();
}

TEST_F(OpenAiAnalyzerTest, RateLimitIsRetryableAfterTheServersDelay) {
  AnalysisResult result = run(Answer::kRateLimited);
  expect_error(result, AnalysisErrorKind::kRateLimited, true);
  EXPECT_EQ(result.error().http_status, 429);
  ASSERT_TRUE(result.error().retry_after);
  EXPECT_EQ(result.error().retry_after->count(), 7000);
}

TEST_F(OpenAiAnalyzerTest, AServerErrorIsRetryable) {
  AnalysisResult result = run(Answer::kServerError);
  expect_error(result, AnalysisErrorKind::kServerError, true);
  EXPECT_EQ(result.error().http_status, 500);
  EXPECT_FALSE(result.error().retry_after);
  EXPECT_THAT(result.error().message, HasSubstr("The server had an error"));
}

TEST_F(OpenAiAnalyzerTest, AReplySlowerThanTheTimeoutIsARetryableTimeout) {
  options_.timeout = std::chrono::milliseconds(300);
  const auto started = std::chrono::steady_clock::now();
  AnalysisResult result = run(Answer::kSlow);
  const auto waited = std::chrono::steady_clock::now() - started;
  server_.release_slow();
  expect_error(result, AnalysisErrorKind::kTimeout, true);
  EXPECT_THAT(result.error().message, HasSubstr("within 300 ms"));
  EXPECT_LT(waited, std::chrono::seconds(2));
}

TEST_F(OpenAiAnalyzerTest, AnOversizedReplyIsRefused) {
  options_.max_reply_bytes = 100;
  expect_error(run(Answer::kValidInsight), AnalysisErrorKind::kInvalidReply, false);
}

TEST_F(OpenAiAnalyzerTest, LargeEventsStayWithinTheRequestLimit) {
  // The fake refuses bodies over kMaxRequestBytes (TearDown reports it).
  auto events = planted::page_views(100);
  for (auto& e : events) e.metadata_json = R"({"blob":")" + std::string(30000, 'y') + R"("})";
  server_.answer(Answer::kValidInsight);
  OpenAiAnalyzer analyzer(options_);
  AnalysisResult result = analyzer.analyze(events, {});
  EXPECT_TRUE(result) << result.error().message;
}

TEST(OpenAiAnalyzerConnectionTest, NobodyListeningIsARetryableConnectionError) {
  // Take a free port, then close it again: connecting to it is refused.
  uint16_t port = 0;
  {
    net::HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    net::HttpServer server(options, net::Router{});
    ASSERT_TRUE(server.start());
    port = server.port();
  }
  OpenAiOptions options;
  options.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  options.api_key = kKey;
  OpenAiAnalyzer analyzer(options);
  AnalysisResult result = analyzer.analyze(planted::page_views(10), {});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, AnalysisErrorKind::kConnection) << result.error().message;
  EXPECT_TRUE(result.error().retryable);
  EXPECT_THAT(result.error().message, Not(HasSubstr(kKey)));
}

TEST(OpenAiAnalyzerConnectionTest, AnUnusableBaseUrlIsNotRetryable) {
  OpenAiOptions options;
  options.base_url = "ftp://127.0.0.1/v1";
  options.api_key = kKey;
  OpenAiAnalyzer analyzer(options);
  AnalysisResult result = analyzer.analyze(planted::page_views(10), {});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, AnalysisErrorKind::kBadRequest) << result.error().message;
  EXPECT_FALSE(result.error().retryable);
}

TEST(OpenAiAnalyzerConnectionTest, AnEmptyBatchIsRefusedWithoutARequest) {
  OpenAiOptions options;
  options.base_url = "http://127.0.0.1:1/v1";
  options.api_key = kKey;
  OpenAiAnalyzer analyzer(options);
  AnalysisResult result = analyzer.analyze({}, {});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, AnalysisErrorKind::kInvalidInput);
}

}  // namespace
}  // namespace insightd::analysis
