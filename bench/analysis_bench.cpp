// Analysis of one batch: what a worker spends per job with the built-in
// analyzer (the acceptance bound of issue 4: well under 1 ms of CPU for 100
// events), and its parts. Run: build/bench/analysis_bench
#include <benchmark/benchmark.h>

#include "analysis/builtin_analyzer.h"
#include "analysis/openai_protocol.h"
#include "analysis/testing/planted_batches.h"

namespace insightd::analysis {
namespace {

// The whole built-in analysis: statistics, rules, and the statistics as JSON.
void BM_BuiltinAnalyze(benchmark::State& state, std::vector<NewEvent> events,
                       std::vector<MetricSnapshot> history) {
  BuiltinAnalyzer analyzer;
  for (auto _ : state) {
    AnalysisResult result = analyzer.analyze(events, history);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
}
BENCHMARK_CAPTURE(BM_BuiltinAnalyze, page_views_100, planted::page_views(100), {})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_BuiltinAnalyze, checkout_collapse_100, planted::checkout_collapse(), {})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_BuiltinAnalyze, checkout_collapse_100_history_8, planted::checkout_collapse(),
                  planted::steady_history(8))
    ->Unit(benchmark::kMicrosecond);

void BM_ComputeStatistics(benchmark::State& state) {
  const auto events = planted::checkout_collapse();
  for (auto _ : state) {
    BatchStatistics stats = compute_statistics(events, {});
    benchmark::DoNotOptimize(stats);
  }
}
BENCHMARK(BM_ComputeStatistics)->Unit(benchmark::kMicrosecond);

// The LLM analyzer's local work before the network: statistics and the request body.
void BM_BuildChatRequest(benchmark::State& state) {
  const auto events = planted::checkout_collapse();
  const OpenAiOptions options;
  for (auto _ : state) {
    ChatRequest request =
        build_chat_request(options, to_json(compute_statistics(events, {})), events);
    benchmark::DoNotOptimize(request);
  }
}
BENCHMARK(BM_BuildChatRequest)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace insightd::analysis

BENCHMARK_MAIN();
