#include "analysis/insight.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "analysis/json_text.h"

namespace insightd::analysis {
namespace {

namespace json = boost::json;

InsightContent sample_content() {
  InsightContent c;
  c.summary =
      "Funnel drop-off at checkout_start → purchase: 22 sessions reached checkout_start, 2 "
      "purchased (90.9%).";
  c.confidence = 0.9;
  c.patterns.push_back(
      {"Funnel drop-off", "22 → 2", {{"funnel[3].sessions", 2}, {"funnel[3].drop_off", 0.9091}}});
  c.anomalies.push_back({"error_rate", 0.2, 0, 0.07, "high", "robust z-score 10"});
  c.recommendations.push_back("Fix the payment step");
  return c;
}

const json::object kStats = json::parse(R"({
  "event_count": 100,
  "time": {"first_event": "2026-03-02T10:00:00.000Z", "events_per_minute": 10.0167},
  "funnel": [{"sessions": 22}, {"sessions": 2, "drop_off": 0.9091}],
  "top_pages": [{"value": "/products/42", "count": 14}],
  "anomalies": [{"metric": "error_rate", "observed": 0.2, "expected_low": 0, "expected_high": 0.07, "z": 10}]
})")
                                .as_object();

json::value reply_with(const std::function<void(json::object&)>& change) {
  json::object o = to_json(sample_content());
  change(o);
  return o;
}

TEST(InsightTest, ContentRoundTripsThroughItsJsonForm) {
  const json::object o = to_json(sample_content());
  auto back = parse_insight_content(json::parse(to_json_text(o)));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->summary, sample_content().summary);
  EXPECT_DOUBLE_EQ(back->confidence, 0.9);
  ASSERT_EQ(back->patterns.size(), 1u);
  EXPECT_EQ(back->patterns[0].evidence[1].metric, "funnel[3].drop_off");
  ASSERT_EQ(back->anomalies.size(), 1u);
  EXPECT_DOUBLE_EQ(back->anomalies[0].expected_high, 0.07);
  EXPECT_EQ(back->anomalies[0].severity, "high");
  EXPECT_EQ(back->recommendations, sample_content().recommendations);
}

TEST(InsightTest, ParsingRefusesWhatBreaksTheSchemaOrTheBounds) {
  struct Case {
    std::string name;
    std::function<void(json::object&)> change;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"missing", [](json::object& o) { o.erase("confidence"); },
       "missing required field \"confidence\""},
      {"extra", [](json::object& o) { o["mood"] = "good"; }, "unexpected field \"mood\""},
      {"type", [](json::object& o) { o["confidence"] = "high"; }, "$.confidence: expected number"},
      {"range", [](json::object& o) { o["confidence"] = 1.5; },
       "$.confidence: 1.5 is outside 0..1"},
      {"enum",
       [](json::object& o) { o["anomalies"].as_array()[0].as_object()["severity"] = "extreme"; },
       "$.anomalies[0].severity"},
      {"empty", [](json::object& o) { o["summary"] = "  "; }, "$.summary: empty"},
      {"long", [](json::object& o) { o["summary"] = std::string(kMaxTextBytes + 1, 'a'); },
       "longer than"},
      {"many",
       [](json::object& o) {
         json::array recs;
         for (size_t i = 0; i <= kMaxRecommendations; ++i) recs.push_back("r");
         o["recommendations"] = recs;
       },
       "$.recommendations: more than"},
      {"range order",
       [](json::object& o) {
         o["anomalies"].as_array()[0].as_object()["expected"] =
             json::object{{"low", 5}, {"high", 1}};
       },
       "low is above high"},
  };
  for (const auto& c : cases) {
    auto parsed = parse_insight_content(reply_with(c.change));
    ASSERT_FALSE(parsed) << c.name;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument) << c.name;
    EXPECT_NE(parsed.error().message.find(c.expect), std::string::npos)
        << c.name << ": " << parsed.error().message;
  }
  EXPECT_FALSE(parse_insight_content(json::parse("[]")));
}

TEST(InsightTest, GroundedFiguresPass) {
  EXPECT_TRUE(check_grounded(sample_content(), kStats));
  InsightContent c = sample_content();
  // Rounded when cited, fractions as percentages, figures inside texts, and
  // small counts and digits glued to words are all fine.
  c.summary =
      "10.02 events/min, 90.9% drop-off at /products/42 on 2026-03-02; top 3 pages; 5xx; "
      "1,4 and v22b, v37.5; expected 0–0.07";
  EXPECT_TRUE(check_grounded(c, kStats)) << check_grounded(c, kStats).message();
}

TEST(InsightTest, AFigureWithoutSourceIsRefused) {
  InsightContent c = sample_content();
  c.patterns[0].evidence.push_back({"purchases", 12345});
  Status s = check_grounded(c, kStats);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("12345 is not a figure"), std::string::npos) << s.message();

  c = sample_content();
  c.summary = "Revenue fell by 37% in 1,500 sessions.";
  s = check_grounded(c, kStats);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("\"37\""), std::string::npos) << s.message();

  c = sample_content();
  c.anomalies[0].expected_high = 0.5;
  EXPECT_FALSE(check_grounded(c, kStats));

  c = sample_content();
  c.recommendations.push_back("Expect 64 more purchases");
  EXPECT_FALSE(check_grounded(c, kStats));
}

TEST(InsightTest, TheWholeInsightCarriesWhoMadeItAndAtWhatCost) {
  Insight insight;
  insight.content = sample_content();
  insight.metrics = kStats;
  insight.analyzer = "openai";
  insight.model = "gpt-4o-mini";
  insight.tokens = {1200, 80};
  insight.latency_ms = 2450;
  const json::object o = to_json(insight);
  EXPECT_EQ(o.at("analyzer"), "openai");
  EXPECT_EQ(o.at("model"), "gpt-4o-mini");
  EXPECT_EQ(o.at("tokens").at("prompt"), 1200);
  EXPECT_EQ(o.at("tokens").at("completion"), 80);
  EXPECT_EQ(o.at("latency_ms"), 2450);
  EXPECT_EQ(o.at("metrics"), json::value(kStats));
  EXPECT_EQ(o.at("summary"), json::value(sample_content().summary));

  insight.model.reset();
  EXPECT_TRUE(to_json(insight).at("model").is_null());
}

}  // namespace
}  // namespace insightd::analysis
