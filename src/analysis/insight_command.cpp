#include "analysis/insight_command.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <ostream>
#include <set>
#include <vector>

#include "analysis/builtin_analyzer.h"
#include "analysis/json_text.h"
#include "analysis/openai_analyzer.h"
#include "core/event_validation.h"

namespace insightd::analysis {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

}  // namespace

int run_insight_command(const InsightCommandOptions& options, std::ostream& out,
                        std::ostream& err) {
  std::string analyzer_name = options.analyzer;
  if (analyzer_name.empty()) analyzer_name = options.openai.api_key.empty() ? "builtin" : "openai";
  std::unique_ptr<Analyzer> analyzer;
  if (analyzer_name == "builtin") {
    analyzer = std::make_unique<BuiltinAnalyzer>();
  } else if (analyzer_name == "openai") {
    if (options.openai.api_key.empty()) {
      err << "insightd insight: --analyzer openai needs OPENAI_API_KEY (environment or .env)\n";
      return kExitUsage;
    }
    analyzer = std::make_unique<OpenAiAnalyzer>(options.openai);
  } else {
    err << fmt::format("insightd insight: unknown analyzer \"{}\" (builtin, openai)\n",
                       analyzer_name);
    return kExitUsage;
  }

  std::ifstream in(options.from_path, std::ios::binary);
  if (!in) {
    err << fmt::format("insightd insight: cannot read {}: {}\n", options.from_path,
                       std::strerror(errno));
    return kExitFailure;
  }
  const Timestamp received_at = SystemClock::instance().now();
  std::vector<NewEvent> events;
  std::set<std::string> seen_ids;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    EventVerdict verdict = validate_event_text(line, received_at);
    if (!verdict) {
      const EventRejection& r = verdict.rejection();
      err << fmt::format("insightd insight: {}:{}: {}: {}\n", options.from_path, number, r.code,
                         r.message);
      return kExitFailure;
    }
    if (!seen_ids.insert(verdict.event().event_id).second) continue;
    events.push_back(std::move(verdict).event());
  }
  if (in.bad()) {
    err << fmt::format("insightd insight: error reading {}\n", options.from_path);
    return kExitFailure;
  }
  if (events.empty()) {
    err << fmt::format("insightd insight: {} holds no events\n", options.from_path);
    return kExitFailure;
  }

  AnalysisResult result = analyzer->analyze(events, {});
  if (!result) {
    const AnalysisError& e = result.error();
    std::string how = std::string(to_string(e.kind));
    how += e.retryable ? ", retryable" : ", not retryable";
    if (e.retry_after) how += fmt::format(", retry after {} ms", e.retry_after->count());
    err << fmt::format("insightd insight: the {} analyzer failed ({}): {}\n", analyzer->name(), how,
                       e.message);
    return kExitFailure;
  }
  out << to_json_text(to_json(result.value()), JsonLayout::kPretty) << "\n";
  out.flush();
  return out ? kExitOk : kExitFailure;
}

}  // namespace insightd::analysis
