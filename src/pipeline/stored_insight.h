// The stored form of an insight (store::NewInsight): the one place where the
// analysis library's result meets the store. It lives in the pipeline, the
// only module that links both, so that analysis stays free of the store.
#pragma once

#include "analysis/insight.h"
#include "store/store.h"

namespace insightd::pipeline {

// Patterns, recommendations, anomalies and the statistics become compact JSON
// text in their columns, in the same JSON form as analysis::to_json(const Insight&).
store::NewInsight to_new_insight(const analysis::Insight& insight);

}  // namespace insightd::pipeline
