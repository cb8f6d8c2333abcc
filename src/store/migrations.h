// Versioned schema migrations, embedded in the binary, applied in order and
// recorded in "schema_migrations". Safe to run twice and from two processes at
// once (PostgreSQL: an advisory lock; SQLite: the write lock). A migration that
// was edited after it was applied is refused by its checksum.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "store/sql.h"

namespace insightd::store {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

// The migrations this build carries for a dialect, in version order.
std::span<const Migration> embedded_migrations(const Dialect& dialect);

struct AppliedMigration {
  int version = 0;
  std::string name;
  std::string checksum;
  Timestamp applied_at;
};

struct MigrationStatus {
  std::vector<AppliedMigration> applied;
  std::vector<Migration> pending;
  bool current() const { return pending.empty(); }
};

// Applies every pending migration; returns the ones it applied (empty when current).
Result<std::vector<AppliedMigration>> migrate_up(ConnectionPool& pool, const Clock& clock);

// What is applied and what is pending, without changing anything.
Result<MigrationStatus> migration_status(ConnectionPool& pool);

}  // namespace insightd::store
