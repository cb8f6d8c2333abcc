#include "store/migrations.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>

namespace insightd::store {
namespace {

// An arbitrary constant naming insightd's migration lock (Dialect::migration_lock).
constexpr int64_t kMigrationLockKey = 0x696e7369676874;  // "insight"

constexpr std::string_view kCreateTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
    " applied_at text NOT NULL)";
constexpr std::string_view kSelectApplied =
    "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version";
constexpr std::string_view kInsertApplied =
    "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)";

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) out += fmt::format("{:02x}", digest[i]);
  return out;
}

Result<std::vector<AppliedMigration>> read_applied(SqlConnection& conn) {
  auto rows = conn.query(kSelectApplied, {});
  if (!rows) return rows.error();
  std::vector<AppliedMigration> out;
  for (const Row& r : *rows) {
    out.push_back({static_cast<int>(r.integer(0)), r.text(1), r.text(2), r.time(3)});
  }
  return out;
}

// Applied migrations must match what this build carries, byte for byte.
Status verify(std::span<const Migration> known, const std::vector<AppliedMigration>& applied) {
  for (const auto& a : applied) {
    auto it = std::find_if(known.begin(), known.end(),
                           [&](const Migration& m) { return m.version == a.version; });
    if (it == known.end()) {
      return make_error(ErrorCode::kInternal,
                        fmt::format("the database has migration {} ({}) that this build does not "
                                    "know: it was migrated by a newer insightd",
                                    a.version, a.name));
    }
    if (sha256_hex(it->sql) != a.checksum) {
      return make_error(
          ErrorCode::kInternal,
          fmt::format("migration {} ({}) differs from the one applied to the database; "
                      "released migrations must never be edited",
                      a.version, a.name));
    }
  }
  return Status::ok();
}

std::vector<Migration> pending_of(std::span<const Migration> known,
                                  const std::vector<AppliedMigration>& applied) {
  std::vector<Migration> pending;
  for (const auto& m : known) {
    const bool done = std::any_of(applied.begin(), applied.end(), [&](const AppliedMigration& a) {
      return a.version == m.version;
    });
    if (!done) pending.push_back(m);
  }
  return pending;
}

Result<std::vector<AppliedMigration>> apply_pending(SqlConnection& conn, const Dialect& dialect,
                                                    const Clock& clock, bool own_transactions) {
  if (auto r = conn.execute(kCreateTable, {}); !r) return r.error();
  auto applied = read_applied(conn);
  if (!applied) return applied.error();
  const auto known = embedded_migrations(dialect);
  if (Status s = verify(known, *applied); !s) return s.error();
  std::vector<AppliedMigration> done;
  for (const Migration& m : pending_of(known, *applied)) {
    if (own_transactions) {
      if (Status s = conn.begin(TxMode::kWrite); !s) return s.error();
    }
    AppliedMigration rec{m.version, std::string(m.name), sha256_hex(m.sql), clock.now()};
    Status s = conn.execute_script(m.sql);
    if (s) {
      auto ins = conn.execute(
          kInsertApplied, {int64_t{rec.version}, rec.name, rec.checksum, sql_time(rec.applied_at)});
      if (!ins) s = ins.status();
    }
    if (own_transactions) {
      if (s) s = conn.commit();
      if (!s) conn.rollback();
    }
    if (!s) {
      return make_error(
          s.code(), fmt::format("migration {} ({}) failed: {}", m.version, m.name, s.message()));
    }
    done.push_back(std::move(rec));
  }
  return done;
}

}  // namespace

std::span<const Migration> embedded_migrations(const Dialect& dialect) {
  return dialect.migrations();
}

Result<std::vector<AppliedMigration>> migrate_up(ConnectionPool& pool, const Clock& clock) {
  auto conn = pool.acquire();
  if (!conn) return conn.error();
  SqlConnection& c = **conn;
  const Dialect& dialect = pool.dialect();
  if (!dialect.migration_lock.empty()) {
    // A session lock (PostgreSQL: an advisory lock) serialises migrators across
    // processes; each migration then runs in its own transaction.
    if (auto r = c.query(dialect.migration_lock, {kMigrationLockKey}); !r) return r.error();
    auto result = apply_pending(c, dialect, clock, /*own_transactions=*/true);
    (void)c.query(dialect.migration_unlock, {kMigrationLockKey});
    return result;
  }
  // Else (SQLite) one IMMEDIATE transaction holds the write lock for the whole run.
  if (Status s = c.begin(TxMode::kWrite); !s) return s.error();
  auto result = apply_pending(c, dialect, clock, /*own_transactions=*/false);
  if (result) {
    if (Status s = c.commit(); !s) {
      c.rollback();
      return s.error();
    }
  } else {
    c.rollback();
  }
  return result;
}

Result<MigrationStatus> migration_status(ConnectionPool& pool) {
  auto conn = pool.acquire();
  if (!conn) return conn.error();
  SqlConnection& c = **conn;
  const Dialect& dialect = pool.dialect();
  MigrationStatus status;
  auto exists = c.query(dialect.migrations_table_exists, {});
  if (!exists) return exists.error();
  if (!exists->empty()) {
    auto applied = read_applied(c);
    if (!applied) return applied.error();
    status.applied = std::move(applied).value();
  }
  const auto known = embedded_migrations(dialect);
  if (Status s = verify(known, status.applied); !s) return s.error();
  status.pending = pending_of(known, status.applied);
  return status;
}

}  // namespace insightd::store
