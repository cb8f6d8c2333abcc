#include "store/open_store.h"

#include <fmt/format.h>

#include "store/postgres/pg_connection.h"
#include "store/sqlite/sqlite_connection.h"

namespace insightd::store {

Result<OpenedStore> open_store(const std::string& url, const StoreOptions& options) {
  std::shared_ptr<ConnectionPool> pool;
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    if (Status s = check_postgres_url(url); !s) return s.error();
    pool = std::make_shared<ConnectionPool>(
        postgres_dialect(), [url] { return open_postgres(url); }, options.pool_size,
        options.acquire_timeout);
  } else {
    std::string path = url;
    if (path.starts_with("sqlite://")) path = path.substr(std::string_view("sqlite://").size());
    if (path.empty()) return make_error(ErrorCode::kInvalidArgument, "sqlite URL names no file");
    pool = std::make_shared<ConnectionPool>(
        sqlite_dialect(),
        [path, priority = options.write_priority] { return open_sqlite(path, priority); },
        options.pool_size, options.acquire_timeout);
  }
  OpenedStore opened{pool, make_sql_store(pool)};
  return opened;
}

}  // namespace insightd::store
