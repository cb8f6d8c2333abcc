// The LLM analyzer: statistics first (statistics.h), then one Chat Completions
// request to an OpenAI-compatible server (OPENAI_BASE_URL + "/chat/completions",
// bearer OPENAI_API_KEY) over net's HTTP client, with a strict JSON-schema response
// format. The reply must pass the schema and cite only figures of the
// statistics, or it never becomes an insight. No retries here: the error says
// whether and when to retry, and the pipeline decides.
#pragma once

#include "analysis/analyzer.h"
#include "analysis/openai_protocol.h"
#include "core/time.h"

namespace insightd::analysis {

class OpenAiAnalyzer final : public Analyzer {
 public:
  // `clock` reads Retry-After dates; it must outlive the analyzer.
  explicit OpenAiAnalyzer(OpenAiOptions options, const Clock& clock = SystemClock::instance());

  std::string_view name() const override { return "openai"; }

  // One request, bounded by options.timeout. Errors: kTimeout and kConnection
  // (retryable), kRateLimited and kServerError (retryable, retry_after from the
  // server), kAuth and kBadRequest (not retryable), kInvalidReply (not
  // retryable), kInvalidInput for an empty batch. Messages never hold the key.
  AnalysisResult analyze(std::span<const NewEvent> events,
                         std::span<const MetricSnapshot> history) override;

 private:
  OpenAiOptions options_;
  const Clock& clock_;
};

}  // namespace insightd::analysis
