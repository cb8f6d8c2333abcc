// POST /api/events: one event, an array, or {"events": [...]}, answered with one
// result per event once they are committed (SPEC.md §4). 400 malformed body,
// 401 missing/invalid write key, 413 over 500 KB or an event over 32 KB (nothing
// stored), 503 + Retry-After when the queue is full or the database is down.
// CORS for the configured public origin (any origin when none is configured).
#pragma once

#include <optional>
#include <string>

#include "ingest/ingest_service.h"
#include "net/router.h"

namespace insightd::ingest {

struct HttpIngestOptions {
  std::optional<std::string> cors_origin;  // PUBLIC_URL; unset: "*"
  size_t max_body_bytes = size_t{500} * 1024;
};

// Registers POST and OPTIONS /api/events. `service` must outlive the router.
void add_ingest_routes(net::Router& router, IngestService& service,
                       const HttpIngestOptions& options);

}  // namespace insightd::ingest
