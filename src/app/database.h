// The database as the configuration names it, for the server and the one-shot
// commands alike: its URL, opening it with the pending migrations applied, and
// the batch policy every seal and job creation uses.
#pragma once

#include <string>

#include "app/config.h"
#include "core/result.h"
#include "store/open_store.h"
#include "store/store.h"

namespace insightd::app {

// DATABASE_URL for PostgreSQL, "sqlite://" + SQLITE_PATH otherwise.
std::string store_url(const Config& config);

// Opens the database and applies pending migrations, logging each. PostgreSQL
// may still be starting (systemd, compose): retries for a while before giving up.
Result<store::OpenedStore> open_and_migrate(const Config& config);

// BATCH_MAX_EVENTS and MAX_ATTEMPTS.
store::BatchPolicy batch_policy(const Config& config);

}  // namespace insightd::app
