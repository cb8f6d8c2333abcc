// The SQL repositories of store/store.h, each in a file of its own under
// src/store (event_repository.cpp, batch_repository.cpp, ...) and made over one
// connection pool, which must outlive it; sql_store.cpp composes them into a
// Store. Not for use outside src/store.
#pragma once

#include <memory>

#include "store/sql.h"
#include "store/store.h"

namespace insightd::store {

std::unique_ptr<EventStore> make_event_repository(ConnectionPool& pool);
std::unique_ptr<BatchStore> make_batch_repository(ConnectionPool& pool);
std::unique_ptr<JobStore> make_job_repository(ConnectionPool& pool);
std::unique_ptr<InsightStore> make_insight_repository(ConnectionPool& pool);
std::unique_ptr<DeadLetterStore> make_dead_letter_repository(ConnectionPool& pool);
std::unique_ptr<OutboxStore> make_outbox_repository(ConnectionPool& pool);
std::unique_ptr<BreakerStore> make_breaker_repository(ConnectionPool& pool);
std::unique_ptr<ArchiveStore> make_archive_repository(ConnectionPool& pool);

}  // namespace insightd::store
