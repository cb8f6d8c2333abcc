#include "pipeline/stored_insight.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "analysis/json_text.h"

namespace insightd::pipeline {
namespace {

namespace json = boost::json;

TEST(StoredInsight, CarriesEveryPartInItsColumn) {
  analysis::Insight insight;
  insight.content.summary = "Funnel drop-off at checkout_start → purchase (90.9%).";
  insight.content.confidence = 0.9;
  insight.content.patterns.push_back(
      {"Funnel drop-off", "22 → 2", {{"funnel[3].sessions", 2}, {"funnel[3].drop_off", 0.9091}}});
  insight.content.anomalies.push_back({"error_rate", 0.2, 0, 0.07, "high", "robust z-score 10"});
  insight.content.recommendations.push_back("Fix the payment step");
  const json::object stats =
      json::parse(R"({"event_count": 100, "funnel": [{"sessions": 2.0}]})").as_object();
  insight.metrics = stats;
  insight.analyzer = "builtin";
  insight.latency_ms = 1;
  insight.tokens.prompt = 7;

  const store::NewInsight stored = to_new_insight(insight);
  EXPECT_EQ(stored.summary, insight.content.summary);
  EXPECT_DOUBLE_EQ(stored.confidence, 0.9);
  EXPECT_EQ(stored.analyzer, "builtin");
  EXPECT_FALSE(stored.model);
  EXPECT_EQ(stored.latency_ms, 1);
  EXPECT_EQ(stored.prompt_tokens, 7);
  const json::object content = analysis::to_json(insight.content);
  // Compared as text: 2.0 is stored as "2" and reads back as an integer.
  EXPECT_EQ(stored.patterns_json, analysis::to_json_text(content.at("patterns")));
  EXPECT_EQ(stored.anomalies_json, analysis::to_json_text(content.at("anomalies")));
  EXPECT_EQ(stored.recommendations_json, analysis::to_json_text(content.at("recommendations")));
  EXPECT_EQ(stored.statistics_json, analysis::to_json_text(stats));
  EXPECT_TRUE(json::parse(stored.patterns_json).is_array());
}

}  // namespace
}  // namespace insightd::pipeline
