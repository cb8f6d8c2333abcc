// GET /metrics: the process's metrics in the Prometheus text exposition format
// 0.0.4, for Prometheus to scrape. Public like /healthz (no admin sign-in): it
// says how much and how fast, never what (no event content, ids or secrets).
//
// Besides the counters the modules keep (ingestion, jobs), each scrape reads
// the pipeline's state from the database with a few aggregate queries, so every
// node reports the same shared numbers (alert rules aggregate them with max).
#pragma once

#include <cstddef>
#include <functional>

#include "core/time.h"
#include "net/router.h"
#include "obs/metrics.h"
#include "store/store.h"

namespace insightd::api {

// Registers the families read from `store` at scrape time:
//   insightd_batches{status}, insightd_jobs{status}          (gauges by status)
//   insightd_oldest_pending_job_age_seconds                  (0 when none waits)
//   insightd_last_event_age_seconds                          (absent until the first event)
//   insightd_dead_letter_jobs                                (not redriven yet)
//   insightd_outbox_pending_messages                         (unpublished KafkaOutbox rows)
//   insightd_circuit_breaker_state{breaker}                  (0 closed, 1 half-open, 2 open)
//   insightd_circuit_breaker_failures{breaker}               (consecutive failures)
//   insightd_database_up                                     (1 when every query answered)
// A query that fails leaves its families out of that scrape (and
// insightd_database_up at 0) rather than reporting a made-up value. `store`
// and `clock` must outlive the registry's renders. With `cache_for` above zero
// the store's part of a scrape is reused that long, computed by one scrape at a
// time: /metrics needs no sign-in, and a flood of scrapes must not load the
// database or hold the threads ingestion shares.
void add_store_metrics(obs::Registry& registry, store::Store& store, const Clock& clock,
                       Millis cache_for = Millis(0));

// Registers insightd_http_requests_total{method, route, status} and returns the
// hook for net::HttpServerOptions::on_answer that counts into it: `route` is
// the route's pattern (never the raw path, so the set of series is bounded),
// "(none)" for requests no route took; `status` is the class ("2xx").
// `router` must already hold every route. After a series' first request,
// counting is an atomic load and an atomic add.
std::function<void(size_t route_id, unsigned status)> count_http_requests(
    obs::Registry& registry, const net::Router& router);

// GET /metrics, rendering `registry` (blocking: collectors query the
// database). `registry` must outlive the router.
void add_metrics_route(net::Router& router, obs::Registry& registry);

}  // namespace insightd::api
