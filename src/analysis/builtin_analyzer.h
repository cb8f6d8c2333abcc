// The built-in analyzer: rules over the batch statistics, no network. The
// default when no model is configured, and what an LLM reply is measured
// against: every figure it writes comes from the statistics.
//
// Rules: a funnel step that loses half or more of the sessions that reached the
// step before it; error-like events at 5% or more of the batch; metrics outside
// their range over recent batches; a majority of single-event sessions; and a
// plain description of the traffic when none of these fire. Confidence grows
// with the number of events (1 - e^(-n/40)) and with the strength of the
// strongest finding, so 5 events never read as certain and 100 ordinary page
// views read as "nothing to act on" rather than as a finding.
#pragma once

#include "analysis/analyzer.h"

namespace insightd::analysis {

// The insight content the rules draw from `stats`. Pure and deterministic.
InsightContent interpret_statistics(const BatchStatistics& stats);

class BuiltinAnalyzer final : public Analyzer {
 public:
  std::string_view name() const override { return "builtin"; }
  // Fails only for an empty batch (kInvalidInput, not retryable).
  AnalysisResult analyze(std::span<const NewEvent> events,
                         std::span<const MetricSnapshot> history) override;
};

}  // namespace insightd::analysis
