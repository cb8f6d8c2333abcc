// Opens the store a DATABASE_URL names: "postgresql://..." / "postgres://..." or
// "sqlite:///path/to/file.db" (or a plain path). Applies no migrations by itself.
#pragma once

#include <memory>
#include <string>

#include "core/result.h"
#include "store/migrations.h"
#include "store/sql.h"
#include "store/store.h"

namespace insightd::store {

struct StoreOptions {
  size_t pool_size = 8;
  Millis acquire_timeout{5000};
  // On SQLite, whose writes go first (the ingestion writer's store: kIngest).
  WritePriority write_priority = WritePriority::kBackground;
};

// A store and the pool it runs on (migrations and health checks use the pool).
struct OpenedStore {
  std::shared_ptr<ConnectionPool> pool;
  std::unique_ptr<Store> store;
};

Result<OpenedStore> open_store(const std::string& url, const StoreOptions& options);

// The SQL-backed store over an existing pool.
std::unique_ptr<Store> make_sql_store(std::shared_ptr<ConnectionPool> pool);

}  // namespace insightd::store
