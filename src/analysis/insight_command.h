// `insightd insight --from FILE.jsonl [--analyzer builtin|openai]`: analyzes a
// file of events as one batch and prints the insight as JSON. Useful on its own
// (try the analyzers on exported data) and the end-to-end check of analysis.
#pragma once

#include <iosfwd>
#include <string>

#include "analysis/openai_protocol.h"

namespace insightd::analysis {

struct InsightCommandOptions {
  std::string from_path;  // one event per line, the user:event shape; blank lines skipped
  // "builtin", "openai", or empty: openai when openai.api_key is set, else builtin.
  std::string analyzer;
  OpenAiOptions openai;
};

// Exit codes as the rest of the CLI: 0 the insight was printed to `out`; 1 the
// file could not be read, a line is not a valid event, or the analyzer failed
// (the reason on `err`, with the line number or the error's class); 2 bad usage
// (an unknown analyzer, or openai without OPENAI_API_KEY). Events with the same
// eventId count once, as they would in a stored batch.
int run_insight_command(const InsightCommandOptions& options, std::ostream& out, std::ostream& err);

}  // namespace insightd::analysis
