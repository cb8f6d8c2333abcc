// libpq session set-up shared by the store's PostgreSQL sessions (the pooled
// connections and the LISTEN session). Not for use outside src/store/postgres.
#pragma once

#include <libpq-fe.h>

#include <string>

#include "core/result.h"

namespace insightd::store::detail {

// Connects to a postgresql:// URL (application_name insightd, 5 s connect
// timeout, server notices silenced). kUnavailable when the server cannot be
// reached. The caller owns the session (PQfinish).
Result<PGconn*> connect_postgres(const std::string& url);

}  // namespace insightd::store::detail
