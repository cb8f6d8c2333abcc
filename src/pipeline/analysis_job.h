// AnalysisJobHandler: what one analysis job does. Loads the batch's events and
// the statistics of recent insights (the baseline for anomalies), asks the
// circuit breaker whether the analyzer may be called, calls it, reports the
// result to the breaker, and hands the insight (or the classified error) back
// to the worker, which writes it under the job's lease.
#pragma once

#include <cstddef>

#include "analysis/analyzer.h"
#include "pipeline/circuit_breaker.h"
#include "pipeline/job_handler.h"
#include "store/store.h"

namespace insightd::pipeline {

struct AnalysisJobOptions {
  // Recent insights whose statistics form the anomaly baseline.
  size_t history_insights = 20;
  // Events loaded per batch; batches seal at BATCH_MAX_EVENTS (at most 100,000).
  size_t max_events = 200'000;
};

class AnalysisJobHandler final : public JobHandler {
 public:
  // `breaker` guards an external analyzer; null runs without one (the built-in
  // analyzer has no service to protect). All must outlive the handler.
  AnalysisJobHandler(store::Store& store, analysis::Analyzer& analyzer, CircuitBreaker* breaker,
                     AnalysisJobOptions options = {});

  JobOutcome run(const Job& job) override;

 private:
  std::vector<analysis::MetricSnapshot> history(const std::string& batch_id);

  store::Store& store_;
  analysis::Analyzer& analyzer_;
  CircuitBreaker* breaker_;
  const AnalysisJobOptions options_;
};

}  // namespace insightd::pipeline
