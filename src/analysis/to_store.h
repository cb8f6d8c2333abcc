// The stored form of an insight (store::NewInsight). Kept out of the analysis
// library proper (it is its own target, insightd_analysis_store) so that
// analysis does not depend on the store; the pipeline links both.
#pragma once

#include "analysis/insight.h"
#include "store/store.h"

namespace insightd::analysis {

// Patterns, recommendations, anomalies and the statistics become compact JSON
// text in their columns, in the same JSON form as to_json(const Insight&).
store::NewInsight to_new_insight(const Insight& insight);

}  // namespace insightd::analysis
