// The admin REST API (SPEC §10), every route behind the admin gate
// (auth::add_admin_route: a session cookie with CSRF on state changes, or a
// Bearer API token). JSON in camelCase; errors are {"error": {"code", "message"}};
// lists are newest first and page by cursor ({"nextCursor"} → ?cursor=).
//
//   GET    /api/insights?limit&cursor&batchId   insights, newest first
//   GET    /api/admin/metrics                   the pipeline at a glance (seed keys)
//   GET    /api/admin/batches?status&limit&cursor
//   GET    /api/admin/batches/{id}?eventLimit   the batch, its events and jobs
//   POST   /api/admin/batches/{id}/seal         OPEN → SEALED by hand (creates its job)
//   POST   /api/admin/batches/{id}/analyze      a new job; 409 while one is PENDING/RUNNING
//   GET    /api/admin/jobs?status&limit
//   GET    /api/admin/jobs/{id}
//   GET    /api/admin/dlq?limit
//   POST   /api/admin/dlq/{id}/retry            redrive: a fresh job for the batch
//   DELETE /api/admin/dlq/{id}                  discard
//   GET    /api/admin/events?limit              the most recent events
//   GET    /api/admin/events/per-minute?minutes events per minute, zero-filled, oldest first
#pragma once

#include <boost/json/object.hpp>
#include <functional>
#include <string>

#include "auth/auth_service.h"
#include "core/event_json.h"
#include "core/shared_counts.h"
#include "core/time.h"
#include "net/router.h"
#include "store/store.h"

namespace insightd::api {

struct AdminApiOptions {
  store::BatchPolicy policy;           // for jobs made by hand (max attempts)
  std::function<void()> wake_workers;  // a job may be runnable now (may be empty)
  std::string breaker_name = "analyzer";
  // The nodes' shared cache of the figures (REDIS_URL), or null: each call computes.
  SharedCache* cache = nullptr;
};

// What GET /api/admin/metrics answers; also what the dashboard's cards show.
Result<boost::json::object> pipeline_metrics(store::Store& store, const std::string& breaker_name,
                                             Timestamp now);

// pipeline_metrics() as some node computed it less than `ttl` ago (through
// `cache`, when given), else computed now and left there for the others: ten
// open dashboards on five nodes cost one computation a second, not fifty.
Result<boost::json::object> shared_pipeline_metrics(store::Store& store,
                                                    const std::string& breaker_name, Timestamp now,
                                                    SharedCache* cache,
                                                    Millis ttl = std::chrono::seconds(1));

// Registers the routes above. `auth`, `store` and `clock` must outlive the router.
void add_admin_routes(net::Router& router, auth::AuthService& auth, store::Store& store,
                      const Clock& clock, const AdminApiOptions& options);

}  // namespace insightd::api
