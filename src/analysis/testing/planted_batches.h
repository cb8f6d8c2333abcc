// Batches with a known effect planted in them, for the analysis tests and the
// benchmark: ordinary page views, a checkout funnel that collapses at payment,
// an error spike, a traffic surge, and the steady history they stand out from.
// Deterministic: the same arguments give the same events.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/statistics.h"
#include "core/model.h"
#include "core/time.h"

namespace insightd::analysis::planted {

// 2026-03-02T10:00:00Z: the start of every planted batch unless told otherwise.
Timestamp base_time();

// `count` page views from 20 users in 25 sessions, evenly over `span`, on five
// pages with three referrers; no errors, no funnel.
std::vector<NewEvent> page_views(int count = 100, Millis span = std::chrono::minutes(10),
                                 Timestamp start = base_time());

// 100 events in 28 sessions: 28 page views, 22 of those sessions add to cart
// and start checkout, then 20 hit payment_failed (card_declined, HTTP 402) and
// only 2 purchase; 6 sessions only browse (a second page view).
std::vector<NewEvent> checkout_collapse(Timestamp start = base_time());

// 100 events: 75 page views and 25 api_error events with HTTP 500/503 and the
// message "upstream timeout", over 10 minutes.
std::vector<NewEvent> error_spike(Timestamp start = base_time());

// Snapshots of `batches` ordinary page-view batches of 100 events each, their
// rates between about 9 and 11 events per minute.
std::vector<MetricSnapshot> steady_history(int batches = 8);

// The user:event JSON of one event, one line of a JSONL file.
std::string to_jsonl(const NewEvent& event);

}  // namespace insightd::analysis::planted
