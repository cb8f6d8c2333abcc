// The small SQL layer under the repositories: one connection interface, two
// drivers (SQLite, PostgreSQL) and a Dialect that holds every difference between them.
// Repositories are written once against this; all SQL text lives in src/store/.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.h"
#include "core/time.h"

namespace insightd::store {

// Bytes for a binary column (bytea, BLOB), bound as binary rather than text.
// Read back, such a column's text is its bytes, in both drivers.
struct SqlBlob {
  std::string bytes;
};

// A bound parameter. Timestamps travel as RFC 3339 text, JSON as text; both
// databases convert them to the column's type.
using SqlValue = std::variant<std::monostate, int64_t, double, std::string, SqlBlob>;

inline SqlValue sql_null() {
  return std::monostate{};
}
inline SqlValue sql_time(Timestamp t) {
  return format_timestamp(t);
}
inline SqlValue sql_opt_time(const std::optional<Timestamp>& t) {
  return t ? sql_time(*t) : sql_null();
}
// "$first, $first+1, ..., $first+n-1": the parameters of a list or a row of
// VALUES in a statement built for n values.
std::string sql_placeholders(size_t first, size_t n);

inline SqlValue sql_opt_text(const std::optional<std::string>& s) {
  return s ? SqlValue(*s) : sql_null();
}

// One result row, every column as text (NULL as nullopt).
class Row {
 public:
  explicit Row(std::vector<std::optional<std::string>> cols) : cols_(std::move(cols)) {}
  size_t size() const { return cols_.size(); }
  bool is_null(size_t i) const { return !cols_.at(i).has_value(); }
  const std::string& text(size_t i) const;
  std::optional<std::string> opt_text(size_t i) const { return cols_.at(i); }
  std::span<const std::optional<std::string>> columns() const { return cols_; }
  int64_t integer(size_t i) const;
  std::optional<int64_t> opt_integer(size_t i) const;
  double real(size_t i) const;
  Timestamp time(size_t i) const;
  std::optional<Timestamp> opt_time(size_t i) const;

 private:
  std::vector<std::optional<std::string>> cols_;
};

using Rows = std::vector<Row>;

enum class TxMode { kRead, kWrite };

// Whose writes go first when several connections of this process want to
// write one SQLite file (store/sqlite/write_gate.h): ingestion's group commit
// before the workers'. PostgreSQL ignores it.
enum class WritePriority { kBackground, kIngest };

// One database session. Not thread-safe: a connection is used by one thread at a
// time, handed out by a ConnectionPool. Statements are prepared once per
// connection and cached by their text.
class SqlConnection {
 public:
  virtual ~SqlConnection() = default;
  // Runs one statement with $1..$n placeholders and returns its rows.
  virtual Result<Rows> query(std::string_view sql, std::span<const SqlValue> params) = 0;
  // Runs one statement and returns the number of rows it changed.
  virtual Result<int64_t> execute(std::string_view sql, std::span<const SqlValue> params) = 0;
  // Runs one statement whose only result of interest is success. A driver may
  // send it without waiting for the server (PostgreSQL: pipeline mode, so a run
  // of such statements costs one round trip); its error, if any, is returned by
  // the next query/execute/commit on this connection, and fails the transaction.
  virtual Status execute_deferred(std::string_view sql, std::span<const SqlValue> params) {
    auto r = execute(sql, params);
    return r ? Status::ok() : r.status();
  }
  // Runs a script of several statements without parameters (migrations).
  virtual Status execute_script(std::string_view sql) = 0;
  virtual Status begin(TxMode mode) = 0;
  virtual Status commit() = 0;
  virtual void rollback() = 0;
  // False once the session is known to be broken; the pool then replaces it.
  virtual bool usable() const = 0;

  Result<Rows> query(std::string_view sql, std::initializer_list<SqlValue> params) {
    return query(sql, std::span<const SqlValue>(params.begin(), params.size()));
  }
  Result<int64_t> execute(std::string_view sql, std::initializer_list<SqlValue> params) {
    return execute(sql, std::span<const SqlValue>(params.begin(), params.size()));
  }
  Status execute_deferred(std::string_view sql, std::initializer_list<SqlValue> params) {
    return execute_deferred(sql, std::span<const SqlValue>(params.begin(), params.size()));
  }
};

struct Migration;  // store/migrations.h
class ConnectionPool;
namespace detail {
class AppendStrategy;  // store/detail/append.h
}  // namespace detail

// Everything that differs between the two databases: SQL text, the migrations
// and how they are serialised, what the database can do beyond the shared SQL.
// Code over a pool reads what it needs from here and never asks which database
// it is on; the two values are sqlite_dialect() and postgres_dialect().
struct Dialect {
  std::string_view name;         // "sqlite" or "postgresql": for display and metrics only
  std::string_view lock_rows;    // appended to a SELECT that locks its rows
  std::string_view skip_locked;  // appended to a claim sub-select
  bool supports_notify = false;  // whether `notify` wakes other processes
  // Tells the listeners of channel $1 about $2 when the transaction commits.
  std::string_view notify;
  // Events received per UTC minute from $1 on, oldest first: the minute as
  // "YYYY-MM-DDTHH:MM" text, and its count.
  std::string_view events_per_minute;

  // The migrations this build carries for the database, in version order.
  std::span<const Migration> (*migrations)() = nullptr;
  // A query that answers one row when the table schema_migrations exists.
  std::string_view migrations_table_exists;
  // Statements that take and give back, for the session, a lock that
  // serialises migrators across processes ($1: the lock's key); each
  // migration then commits on its own. Empty: one write transaction holds the
  // whole run instead.
  std::string_view migration_lock;
  std::string_view migration_unlock;

  // How the event store appends (store/detail/append.h): chunk by chunk, or
  // PostgreSQL's pipelined paths (store/postgres/pg_append.h).
  std::unique_ptr<detail::AppendStrategy> (*make_append)(ConnectionPool& pool) = nullptr;
};

// The PostgreSQL channel a job's id is NOTIFYed on when it becomes runnable
// (store/postgres/pg_listener.h listens to it).
inline constexpr std::string_view kJobNotifyChannel = "insightd_jobs";

const Dialect& sqlite_dialect();
const Dialect& postgres_dialect();

// A connection on loan from a pool; returned (or discarded if broken) on destruction.
class PooledConnection {
 public:
  PooledConnection(ConnectionPool* pool, std::unique_ptr<SqlConnection> conn)
      : pool_(pool), conn_(std::move(conn)) {}
  PooledConnection(PooledConnection&&) = default;
  PooledConnection& operator=(PooledConnection&&) = delete;
  PooledConnection(const PooledConnection&) = delete;
  ~PooledConnection();
  SqlConnection* operator->() const { return conn_.get(); }
  SqlConnection& operator*() const { return *conn_; }

 private:
  ConnectionPool* pool_;
  std::unique_ptr<SqlConnection> conn_;
};

// A bounded set of connections to one database. Thread-safe. Broken connections
// are dropped and new ones opened on demand, so the pool reconnects by itself.
class ConnectionPool {
 public:
  using Factory = std::function<Result<std::unique_ptr<SqlConnection>>()>;
  ConnectionPool(const Dialect& dialect, Factory factory, size_t max_size, Millis acquire_timeout);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Waits up to the acquire timeout for a free connection; kUnavailable otherwise.
  Result<PooledConnection> acquire();
  const Dialect& dialect() const { return dialect_; }

  // Runs `fn` inside a transaction on one pooled connection: commits when it
  // returns ok, rolls back otherwise.
  template <typename T>
  Result<T> in_transaction(TxMode mode, const std::function<Result<T>(SqlConnection&)>& fn);
  Status in_transaction(TxMode mode, const std::function<Status(SqlConnection&)>& fn);

 private:
  friend class PooledConnection;
  void give_back(std::unique_ptr<SqlConnection> conn);

  struct State;
  const Dialect& dialect_;
  Factory factory_;
  size_t max_size_;
  Millis acquire_timeout_;
  std::unique_ptr<State> state_;
};

template <typename T>
Result<T> ConnectionPool::in_transaction(TxMode mode,
                                         const std::function<Result<T>(SqlConnection&)>& fn) {
  auto conn = acquire();
  if (!conn) return conn.error();
  SqlConnection& c = **conn;
  if (Status s = c.begin(mode); !s) return s.error();
  Result<T> result = make_error(ErrorCode::kInternal, "not run");
  try {
    result = fn(c);
  } catch (const std::exception& e) {
    // A row that cannot be read (or a bug): the transaction must not stay open
    // on a connection that goes back to the pool.
    c.rollback();
    return make_error(ErrorCode::kInternal, std::string("transaction failed: ") + e.what());
  }
  if (!result) {
    c.rollback();
    return result;
  }
  if (Status s = c.commit(); !s) {
    c.rollback();
    return s.error();
  }
  return result;
}

}  // namespace insightd::store
