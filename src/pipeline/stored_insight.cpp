#include "pipeline/stored_insight.h"

#include "analysis/json_text.h"

namespace insightd::pipeline {

using analysis::to_json;
using analysis::to_json_text;

store::NewInsight to_new_insight(const analysis::Insight& insight) {
  const boost::json::object content = to_json(insight.content);
  store::NewInsight out;
  out.summary = insight.content.summary;
  out.confidence = insight.content.confidence;
  out.patterns_json = to_json_text(content.at("patterns"));
  out.recommendations_json = to_json_text(content.at("recommendations"));
  out.anomalies_json = to_json_text(content.at("anomalies"));
  out.statistics_json = to_json_text(insight.metrics);
  out.analyzer = insight.analyzer;
  out.model = insight.model;
  out.prompt_tokens = insight.tokens.prompt;
  out.completion_tokens = insight.tokens.completion;
  out.latency_ms = insight.latency_ms;
  return out;
}

}  // namespace insightd::pipeline
