// PostgreSQL's ways of appending events, which lean on libpq's pipeline mode
// (SqlConnection::execute_deferred) and binary arrays unnested into rows
// (postgres/pg_binary.h): one round trip when
// the store knows the open batch from its last append, two when it plans the
// append with one locking statement, and the chunked append otherwise.
// postgres_dialect() hands make_pg_append to the event store.
#pragma once

#include <memory>

#include "store/detail/append.h"
#include "store/sql.h"

namespace insightd::store {

std::unique_ptr<detail::AppendStrategy> make_pg_append(ConnectionPool& pool);

}  // namespace insightd::store
