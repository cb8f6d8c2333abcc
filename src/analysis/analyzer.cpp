#include "analysis/analyzer.h"

namespace insightd::analysis {

std::string_view to_string(AnalysisErrorKind kind) {
  switch (kind) {
    case AnalysisErrorKind::kInvalidInput:
      return "invalid_input";
    case AnalysisErrorKind::kTimeout:
      return "timeout";
    case AnalysisErrorKind::kConnection:
      return "connection";
    case AnalysisErrorKind::kRateLimited:
      return "rate_limited";
    case AnalysisErrorKind::kServerError:
      return "server_error";
    case AnalysisErrorKind::kAuth:
      return "auth";
    case AnalysisErrorKind::kBadRequest:
      return "bad_request";
    case AnalysisErrorKind::kInvalidReply:
      return "invalid_reply";
  }
  return "unknown";
}

}  // namespace insightd::analysis
