#include "pipeline/analysis_job.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pipeline/stored_insight.h"

namespace insightd::pipeline {
namespace {

std::string describe(const analysis::AnalysisError& e, std::string_view analyzer) {
  const std::string status = e.http_status ? fmt::format(" (HTTP {})", *e.http_status) : "";
  return fmt::format("{} analyzer: {}{}: {}", analyzer, analysis::to_string(e.kind), status,
                     e.message);
}

}  // namespace

AnalysisJobHandler::AnalysisJobHandler(store::Store& store, analysis::Analyzer& analyzer,
                                       CircuitBreaker* breaker, AnalysisJobOptions options)
    : store_(store), analyzer_(analyzer), breaker_(breaker), options_(options) {}

std::vector<analysis::MetricSnapshot> AnalysisJobHandler::history(const std::string& batch_id) {
  std::vector<analysis::MetricSnapshot> out;
  // One more than needed: an earlier insight of this same batch is no baseline.
  auto recent = store_.insights().list(options_.history_insights + 1, std::nullopt, std::nullopt);
  if (!recent) {
    // Anomalies need a baseline, the insight does not: go on without one.
    spdlog::warn("[Worker] Could not load recent insights for comparison: {}",
                 recent.error().message);
    return out;
  }
  for (const store::Insight& i : *recent) {
    if (i.batch_id == batch_id || out.size() >= options_.history_insights) continue;
    if (auto snapshot = analysis::snapshot_from_statistics_json(i.content.statistics_json)) {
      out.push_back(std::move(*snapshot));
    }
  }
  return out;
}

JobOutcome AnalysisJobHandler::run(const Job& job) {
  auto stored = store_.events().batch_events(job.batch_id, options_.max_events);
  if (!stored) return JobFailed{"loading the batch's events: " + stored.error().message, {}};
  if (stored->empty()) return JobFailed{fmt::format("batch {} holds no events", job.batch_id), {}};
  std::vector<NewEvent> events;
  events.reserve(stored->size());
  for (auto& e : *stored) events.push_back(std::move(e.event));
  const std::vector<analysis::MetricSnapshot> baseline = history(job.batch_id);

  const std::string caller = job.lease_token.value_or(job.job_id);
  if (breaker_ != nullptr) {
    auto ticket = breaker_->admit(caller, job.job_id);
    if (!ticket) return JobFailed{"circuit breaker state: " + ticket.error().message, {}};
    if (ticket->admission == Admission::kRejected) {
      const std::string reason =
          ticket->state == BreakerState::kOpen
              ? fmt::format("circuit breaker OPEN: analyzer calls paused until {}",
                            format_timestamp(ticket->retry_at))
              : std::string("circuit breaker HALF_OPEN: another job is probing the analyzer");
      return JobDeferred{reason, ticket->retry_at};
    }
  }

  spdlog::info("[Worker] Processing batch: {} ({} events)", job.batch_id, events.size());
  spdlog::info("[AI] Analyzing batch...");
  analysis::AnalysisResult result = analyzer_.analyze(events, baseline);

  if (breaker_ != nullptr) {
    Status s = result ? breaker_->record_success(caller) : breaker_->record_failure(caller);
    if (!s) spdlog::warn("[Circuit Breaker] Could not record the result: {}", s.message());
  }
  if (!result) {
    const analysis::AnalysisError& e = result.error();
    return JobFailed{describe(e, analyzer_.name()), e.retry_after};
  }
  return JobSucceeded{to_new_insight(result.value())};
}

}  // namespace insightd::pipeline
