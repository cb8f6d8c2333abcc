// POST /api/events: one event, an array, or {"events": [...]}, answered with one
// result per event once they are committed (SPEC.md §4). 400 malformed body,
// 401 missing/invalid write key, 413 over 500 KB or an event over 32 KB (nothing
// stored), 503 + Retry-After when the queue is full or the database is down.
// CORS for the configured public origin (any origin when none is configured).
//
// For navigator.sendBeacon and fetch without a preflight (the JavaScript
// client's fallbacks), the body may come as text/plain, and the write key in
// the body ({"events": [...], "writeKey": "..."}) or the query
// (?writeKey=...) as well as in X-Write-Key / Authorization (a key in the
// body is looked for only in bodies up to 128 KB: 401 beyond). Such a request
// from a page of another origin than PUBLIC_URL (its Origin header) is refused
// 403 `origin_not_allowed`, as the browser would refuse its JSON twin.
#pragma once

#include <optional>
#include <string>

#include "ingest/ingest_service.h"
#include "net/router.h"

namespace insightd::ingest {

// The largest body searched for a write key when no header or query holds one.
inline constexpr size_t kMaxBodyKeyBytes = size_t{128} * 1024;

struct HttpIngestOptions {
  std::optional<std::string> cors_origin;  // PUBLIC_URL; unset: "*"
  size_t max_body_bytes = size_t{500} * 1024;
};

// Registers POST and OPTIONS /api/events. `service` must outlive the router.
void add_ingest_routes(net::Router& router, IngestService& service,
                       const HttpIngestOptions& options);

}  // namespace insightd::ingest
