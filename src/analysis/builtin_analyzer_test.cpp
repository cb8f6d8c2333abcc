#include "analysis/builtin_analyzer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "analysis/json_schema.h"
#include "analysis/json_text.h"
#include "analysis/testing/planted_batches.h"

namespace insightd::analysis {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::Not;

Insight analyze(const std::vector<NewEvent>& events,
                const std::vector<MetricSnapshot>& history = {}) {
  BuiltinAnalyzer analyzer;
  AnalysisResult result = analyzer.analyze(events, history);
  EXPECT_TRUE(result) << (result ? "" : result.error().message);
  return std::move(result).value();
}

std::string all_text(const InsightContent& c) {
  std::string text = c.summary + "\n";
  for (const auto& p : c.patterns) text += p.title + ": " + p.detail + "\n";
  for (const auto& r : c.recommendations) text += r + "\n";
  return text;
}

// What the built-in analyzer writes must pass the same checks as a model's reply.
void expect_valid_and_grounded(const Insight& insight) {
  const json::object content = to_json(insight.content);
  Status schema = validate_against_schema(content, insight_content_schema());
  EXPECT_TRUE(schema) << schema.message();
  auto parsed = parse_insight_content(json::parse(to_json_text(content)));
  EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().message);
  Status grounded = check_grounded(insight.content, insight.metrics);
  EXPECT_TRUE(grounded) << grounded.message() << "\n" << all_text(insight.content);
}

TEST(BuiltinAnalyzerTest, OrdinaryPageViewsReadAsOrdinary) {
  const Insight insight = analyze(planted::page_views(100));
  const InsightContent& c = insight.content;
  EXPECT_EQ(insight.analyzer, "builtin");
  EXPECT_FALSE(insight.model);
  EXPECT_EQ(insight.tokens.prompt, 0);
  EXPECT_THAT(c.summary, HasSubstr("Ordinary traffic: 100 events from 20 users in 25 sessions"));
  EXPECT_THAT(c.summary, HasSubstr("page_view (100.0%)"));
  EXPECT_THAT(c.summary, HasSubstr("no error-like events"));
  EXPECT_THAT(c.summary, HasSubstr("no earlier batches to compare with"));
  EXPECT_THAT(all_text(c), Not(HasSubstr("drop-off")));
  EXPECT_TRUE(c.anomalies.empty());
  EXPECT_EQ(c.recommendations,
            std::vector<std::string>{"No action needed: keep watching the next batches"});
  // Plenty of events, but nothing to act on: middling confidence.
  EXPECT_GT(c.confidence, 0.35);
  EXPECT_LT(c.confidence, 0.6);
  ASSERT_GE(c.patterns.size(), 2u);
  EXPECT_EQ(c.patterns[0].title, "Traffic overview");
  EXPECT_EQ(c.patterns[1].title, "Top pages");
  expect_valid_and_grounded(insight);
}

TEST(BuiltinAnalyzerTest, ACheckoutCollapseNamesTheStepAndItsNumbers) {
  const Insight insight = analyze(planted::checkout_collapse());
  const InsightContent& c = insight.content;
  EXPECT_THAT(c.summary,
              HasSubstr("Funnel drop-off at checkout_start → purchase: 22 sessions reached "
                        "checkout_start but only 2 went on to purchase (90.9% drop-off)"));
  EXPECT_THAT(c.summary,
              HasSubstr("Error spike: 20 error-like events (20.0% of all events), mostly "
                        "payment_failed (20)"));
  const Pattern* funnel = nullptr;
  for (const auto& p : c.patterns) {
    if (p.title == "Funnel drop-off: checkout_start → purchase") funnel = &p;
  }
  ASSERT_NE(funnel, nullptr) << all_text(c);
  EXPECT_THAT(funnel->detail,
              HasSubstr("Of the 20 sessions that stopped, 20 went to payment_failed next"));
  ASSERT_GE(funnel->evidence.size(), 3u);
  EXPECT_EQ(funnel->evidence[0].metric, "funnel[2].sessions");
  EXPECT_DOUBLE_EQ(funnel->evidence[0].value, 22);
  EXPECT_DOUBLE_EQ(funnel->evidence[1].value, 2);
  EXPECT_DOUBLE_EQ(funnel->evidence[2].value, 0.9091);
  EXPECT_THAT(all_text(c),
              HasSubstr("Fix what makes sessions hit payment_failed after checkout_start"));
  EXPECT_THAT(all_text(c), HasSubstr("card_declined"));
  EXPECT_GE(c.confidence, 0.85);
  expect_valid_and_grounded(insight);

  // The two batches must not read alike.
  const Insight plain = analyze(planted::page_views(100));
  EXPECT_NE(plain.content.summary.substr(0, 20), c.summary.substr(0, 20));
  EXPECT_GT(c.confidence, plain.content.confidence + 0.3);
}

TEST(BuiltinAnalyzerTest, AnErrorSpikeNamesTheErrorsAndTheServerSide) {
  const Insight insight = analyze(planted::error_spike());
  const InsightContent& c = insight.content;
  EXPECT_THAT(c.summary,
              HasSubstr("Error spike: 25 error-like events (25.0% of all events), mostly "
                        "api_error (25)"));
  EXPECT_THAT(all_text(c), HasSubstr("HTTP status 5xx: 25, 4xx: 0"));
  EXPECT_THAT(all_text(c), HasSubstr("\"upstream timeout\" (25)"));
  EXPECT_THAT(all_text(c),
              HasSubstr("Check the server side: 25 of the error-like events carry a 5xx status"));
  EXPECT_GE(c.confidence, 0.85);
  expect_valid_and_grounded(insight);
}

TEST(BuiltinAnalyzerTest, ATrafficSurgeAgainstHistoryIsAnAnomaly) {
  const auto history = planted::steady_history(8);
  const Insight insight = analyze(planted::page_views(100, std::chrono::minutes(1)), history);
  const InsightContent& c = insight.content;
  EXPECT_THAT(c.summary,
              HasSubstr("Traffic surge: events_per_minute is 100.01 against an expected"));
  EXPECT_THAT(c.summary, HasSubstr("over 8 earlier batches"));
  ASSERT_FALSE(c.anomalies.empty());
  const Anomaly& a = c.anomalies[0];
  EXPECT_EQ(a.metric, "events_per_minute");
  EXPECT_DOUBLE_EQ(a.observed, 100.01);
  EXPECT_EQ(a.severity, "high");
  EXPECT_LT(a.expected_high, 20);
  EXPECT_THAT(all_text(c), HasSubstr("Find where the extra traffic comes from (top referrer: "));
  EXPECT_GE(c.confidence, 0.8);
  expect_valid_and_grounded(insight);

  // The same batch shape at the usual rate: nothing unusual against the history.
  const Insight calm = analyze(planted::page_views(100), history);
  EXPECT_TRUE(calm.content.anomalies.empty());
  EXPECT_THAT(calm.content.summary, HasSubstr("nothing unusual against 8 earlier batches"));
}

TEST(BuiltinAnalyzerTest, ATinyBatchHasLowConfidenceWhateverItHolds) {
  auto events = planted::checkout_collapse();
  events.resize(5);
  const Insight insight = analyze(events);
  EXPECT_LT(insight.content.confidence, 0.2);
  EXPECT_THAT(insight.content.summary,
              HasSubstr("Only 5 events: too few to draw firm conclusions."));
  EXPECT_EQ(insight.content.recommendations.front(),
            "Wait for a larger batch before acting on this one");
  expect_valid_and_grounded(insight);
}

TEST(BuiltinAnalyzerTest, ConfidenceGrowsWithSampleSize) {
  double previous = 0;
  for (int n : {5, 20, 50, 100}) {
    const double confidence = analyze(planted::error_spike()).content.confidence;
    auto events = planted::error_spike();
    events.resize(static_cast<size_t>(n));
    const double c = analyze(events).content.confidence;
    EXPECT_GT(c, previous) << n;
    EXPECT_LE(c, confidence);
    previous = c;
  }
}

TEST(BuiltinAnalyzerTest, TheSameBatchGivesTheSameInsight) {
  const auto a = analyze(planted::checkout_collapse());
  const auto b = analyze(planted::checkout_collapse());
  EXPECT_EQ(to_json_text(to_json(a.content)), to_json_text(to_json(b.content)));
  EXPECT_EQ(to_json_text(a.metrics), to_json_text(b.metrics));
}

TEST(BuiltinAnalyzerTest, AnEmptyBatchIsRefused) {
  BuiltinAnalyzer analyzer;
  AnalysisResult result = analyzer.analyze({}, {});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, AnalysisErrorKind::kInvalidInput);
  EXPECT_FALSE(result.error().retryable);
}

}  // namespace
}  // namespace insightd::analysis
