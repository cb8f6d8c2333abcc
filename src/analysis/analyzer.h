// The analyzer interface: a batch's events (and the snapshots of recent batches)
// in, an insight or a classified error out. The pipeline's worker decides from
// the error whether to retry (and when), count a failure against the circuit
// breaker, or give up; analyzers never retry on their own.
#pragma once

#include <cassert>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "analysis/insight.h"
#include "analysis/statistics.h"
#include "core/model.h"
#include "core/time.h"

namespace insightd::analysis {

enum class AnalysisErrorKind {
  kInvalidInput,  // nothing to analyze (no events)
  kTimeout,       // the analyzer's service did not answer in time
  kConnection,    // could not reach it, or the connection broke
  kRateLimited,   // 429
  kServerError,   // 5xx, or 408
  kAuth,          // 401 / 403: the key is wrong or lacks access
  kBadRequest,    // another 4xx, or a configuration the service refuses (URL, model)
  kInvalidReply,  // a reply that is not JSON, breaks the schema, or cites figures we lack
};

std::string_view to_string(AnalysisErrorKind kind);

struct AnalysisError {
  AnalysisErrorKind kind = AnalysisErrorKind::kInvalidInput;
  // True when the same request may succeed later: timeouts, connection errors,
  // 429 and 5xx. False for auth errors, bad requests and invalid replies.
  bool retryable = false;
  // The service's own word on when to come back (Retry-After), when it gave one.
  std::optional<Millis> retry_after;
  std::optional<int> http_status;
  // For logs and last_error: what happened, never a secret.
  std::string message;
};

class [[nodiscard]] AnalysisResult {
 public:
  AnalysisResult(Insight insight) : v_(std::move(insight)) {}    // NOLINT: implicit by design
  AnalysisResult(AnalysisError error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }
  const Insight& value() const& {
    assert(is_ok());
    return std::get<0>(v_);
  }
  Insight&& value() && {
    assert(is_ok());
    return std::get<0>(std::move(v_));
  }
  const Insight* operator->() const { return &value(); }
  const AnalysisError& error() const {
    assert(!is_ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<Insight, AnalysisError> v_;
};

class Analyzer {
 public:
  virtual ~Analyzer() = default;
  // "builtin" or "openai": the insight's analyzer field.
  virtual std::string_view name() const = 0;
  // Analyzes one batch. `history` holds the snapshots of recent earlier batches
  // (statistics.h), possibly none. Thread-safe: one analyzer serves every worker.
  virtual AnalysisResult analyze(std::span<const NewEvent> events,
                                 std::span<const MetricSnapshot> history) = 0;
};

}  // namespace insightd::analysis
