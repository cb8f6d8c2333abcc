// SQLite driver: one sqlite3 handle in WAL mode with a statement cache.
#pragma once

#include <memory>
#include <string>

#include "store/sql.h"

namespace insightd::store {

// Opens (creating the file and its folder if needed) a SQLite database. Its
// writes queue at the file's WriteGate with `priority`.
Result<std::unique_ptr<SqlConnection>> open_sqlite(
    const std::string& path, WritePriority priority = WritePriority::kBackground);

}  // namespace insightd::store
