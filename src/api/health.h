// Liveness and readiness: GET /healthz answers 200 while the process serves;
// GET /readyz answers 200 only when the database answers and its schema is
// current, 503 with the reason otherwise (load balancers and systemd use these).
#pragma once

#include <functional>

#include "core/time.h"
#include "net/router.h"
#include "store/sql.h"
#include "store/store.h"

namespace insightd::api {

struct HealthOptions {
  // How long the commit in progress has been running (GroupCommitWriter::
  // commit_running_for); unset where there is no ingestion.
  std::function<Millis()> ingest_stalled_for;
  // True once the process is shutting down (the drain has begun): /readyz
  // answers 503 so that a load balancer sends nothing new here. Unset: never.
  std::function<bool()> shutting_down;
  // Past this, a running commit or a readiness check that has not returned
  // means "not ready".
  Millis stall_limit{3'000};
  // A readiness answer is reused this long: probes cannot load the database.
  Millis cache_for{1'000};
};

// Registers both routes: /healthz (liveness: the process answers) and /readyz
// (the database answers, migrations are current, ingestion is not stalled; 503
// with Retry-After otherwise). `store` and `pool` must outlive the router.
void add_health_routes(net::Router& router, store::Store& store, store::ConnectionPool& pool,
                       HealthOptions options = {});

}  // namespace insightd::api
