// Liveness and readiness: GET /healthz answers 200 while the process serves;
// GET /readyz answers 200 only when the database answers and its schema is
// current, 503 with the reason otherwise (load balancers and systemd use these).
#pragma once

#include "net/router.h"
#include "store/sql.h"
#include "store/store.h"

namespace insightd::api {

// Registers both routes. `store` and `pool` must outlive the router.
void add_health_routes(net::Router& router, store::Store& store, store::ConnectionPool& pool);

}  // namespace insightd::api
