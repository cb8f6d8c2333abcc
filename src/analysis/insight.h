// The insight: what an analyzer makes of one batch. One C++ type, one JSON form
// and one JSON Schema for the part an analyzer writes (summary, confidence,
// patterns, anomalies, recommendations). The same schema instructs the language
// model (as its strict response format) and validates what comes back; the rest
// of the JSON form (metrics, analyzer, model, tokens, latency_ms) is filled in by
// insightd itself and never taken from a model.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace insightd::analysis {

// A number an analyzer cites, and where in the statistics it comes from.
struct Evidence {
  std::string metric;  // a path into the statistics: "funnel[3].sessions", "errors.rate"
  double value = 0;
};

struct Pattern {
  std::string title;
  std::string detail;
  std::vector<Evidence> evidence;
};

struct Anomaly {
  std::string metric;
  double observed = 0;
  double expected_low = 0;
  double expected_high = 0;
  std::string severity;  // "low", "medium" or "high"
  std::string detail;
};

// The part of an insight an analyzer writes.
struct InsightContent {
  std::string summary;
  double confidence = 0;  // 0..1
  std::vector<Pattern> patterns;
  std::vector<Anomaly> anomalies;
  std::vector<std::string> recommendations;
};

struct TokenUsage {
  int64_t prompt = 0;
  int64_t completion = 0;
};

struct Insight {
  InsightContent content;
  boost::json::object metrics;  // the batch statistics (statistics.h's to_json)
  std::string analyzer;         // "builtin" or "openai"
  std::optional<std::string> model;
  TokenUsage tokens;
  int64_t latency_ms = 0;
};

// Bounds on what an analyzer may write; a model's reply beyond them is refused.
inline constexpr size_t kMaxPatterns = 10;
inline constexpr size_t kMaxEvidence = 10;
inline constexpr size_t kMaxAnomalies = 20;
inline constexpr size_t kMaxRecommendations = 10;
inline constexpr size_t kMaxTextBytes = 2000;

// The JSON Schema of InsightContent's JSON form: strict-mode compatible (every
// field required, additionalProperties false, no numeric or length keywords,
// which several OpenAI-compatible servers reject; those bounds are checked by
// parse_insight_content instead and stated in the descriptions).
const boost::json::object& insight_content_schema();

// The JSON form: {"summary", "confidence", "patterns": [{"title", "detail",
// "evidence": [{"metric", "value"}]}], "anomalies": [{"metric", "observed",
// "expected": {"low", "high"}, "severity", "detail"}], "recommendations": [...]}.
boost::json::object to_json(const InsightContent& content);

// The whole insight: the content's fields plus "metrics", "analyzer", "model",
// "tokens": {"prompt", "completion"} and "latency_ms".
boost::json::object to_json(const Insight& insight);

// Reads content as a model returns it: the value must satisfy
// insight_content_schema() and the bounds above (confidence in 0..1, at most
// kMaxPatterns patterns, texts up to kMaxTextBytes, a non-empty summary).
// kInvalidArgument says which rule broke and where.
Result<InsightContent> parse_insight_content(const boost::json::value& value);

// Checks that every number the content cites comes from the statistics: each
// evidence value and anomaly figure must equal a number in `statistics` (or, for
// a fraction, the same as a percentage), up to the rounding of the cited
// figure; numbers written in the texts must too, except whole numbers up to 10
// ("top 3", "5xx") and digits inside words. kInvalidArgument names the first
// number that has no source.
Status check_grounded(const InsightContent& content, const boost::json::object& statistics);

}  // namespace insightd::analysis
