#include "store/sql.h"

#include <fmt/format.h>

#include <charconv>
#include <condition_variable>
#include <deque>
#include <iterator>
#include <mutex>
#include <stdexcept>

#include "store/detail/append.h"
#include "store/migrations_embedded.h"
#include "store/postgres/pg_append.h"

namespace insightd::store {

const std::string& Row::text(size_t i) const {
  const auto& c = cols_.at(i);
  if (!c) throw std::logic_error(fmt::format("column {} is NULL", i));
  return *c;
}

int64_t Row::integer(size_t i) const {
  const std::string& s = text(i);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    throw std::logic_error(fmt::format("column {} is not an integer: '{}'", i, s));
  }
  return v;
}

std::optional<int64_t> Row::opt_integer(size_t i) const {
  if (is_null(i)) return std::nullopt;
  return integer(i);
}

double Row::real(size_t i) const {
  const std::string& s = text(i);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc()) throw std::logic_error(fmt::format("column {} is not a number", i));
  return v;
}

Timestamp Row::time(size_t i) const {
  auto t = parse_db_timestamp(text(i));
  if (!t) throw std::logic_error(fmt::format("column {} is not a timestamp: '{}'", i, text(i)));
  return *t;
}

std::optional<Timestamp> Row::opt_time(size_t i) const {
  if (is_null(i)) return std::nullopt;
  return time(i);
}

const Dialect& sqlite_dialect() {
  static const Dialect d{
      .name = "sqlite",
      .lock_rows = "",
      .skip_locked = "",
      .supports_notify = false,
      .notify = "",
      // received_at is RFC 3339 text: its first 16 characters are the minute.
      .events_per_minute =
          "SELECT substr(received_at, 1, 16) AS m, COUNT(*) FROM \"Event\" "
          "WHERE received_at >= $1 GROUP BY m ORDER BY m",
      .migrations = &sqlite_migrations,
      .migrations_table_exists =
          "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
      // SQLite: one IMMEDIATE transaction holds the write lock for the whole run.
      .migration_lock = "",
      .migration_unlock = "",
      .make_append = &detail::make_chunked_append,
  };
  return d;
}

const Dialect& postgres_dialect() {
  static const Dialect d{
      .name = "postgresql",
      .lock_rows = " FOR UPDATE",
      .skip_locked = " FOR UPDATE SKIP LOCKED",
      .supports_notify = true,
      .notify = "SELECT pg_notify($1, $2)",
      // received_at is a timestamptz: its UTC minute, as text.
      .events_per_minute =
          "SELECT to_char(date_trunc('minute', received_at AT TIME ZONE 'UTC'), "
          "'YYYY-MM-DD\"T\"HH24:MI') AS m, COUNT(*) FROM \"Event\" "
          "WHERE received_at >= $1 GROUP BY m ORDER BY m",
      .migrations = &postgres_migrations,
      .migrations_table_exists =
          "SELECT 1 FROM information_schema.tables WHERE table_name = 'schema_migrations'"
          " AND table_schema = current_schema()",
      // A session-level advisory lock serialises migrators across processes.
      .migration_lock = "SELECT pg_advisory_lock($1)",
      .migration_unlock = "SELECT pg_advisory_unlock($1)",
      .make_append = &make_pg_append,
  };
  return d;
}

struct ConnectionPool::State {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::unique_ptr<SqlConnection>> idle;
  size_t open = 0;  // idle + on loan
};

ConnectionPool::ConnectionPool(const Dialect& dialect, Factory factory, size_t max_size,
                               Millis acquire_timeout)
    : dialect_(dialect),
      factory_(std::move(factory)),
      max_size_(max_size),
      acquire_timeout_(acquire_timeout),
      state_(std::make_unique<State>()) {}

ConnectionPool::~ConnectionPool() = default;

Result<PooledConnection> ConnectionPool::acquire() {
  std::unique_lock lock(state_->mu);
  const auto deadline = std::chrono::steady_clock::now() + acquire_timeout_;
  while (true) {
    if (!state_->idle.empty()) {
      auto conn = std::move(state_->idle.front());
      state_->idle.pop_front();
      return PooledConnection(this, std::move(conn));
    }
    if (state_->open < max_size_) {
      ++state_->open;
      lock.unlock();
      auto conn = factory_();
      if (!conn) {
        lock.lock();
        --state_->open;
        state_->cv.notify_one();
        return conn.error();
      }
      return PooledConnection(this, std::move(conn).value());
    }
    if (state_->cv.wait_until(lock, deadline) == std::cv_status::timeout) {
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("no database connection free within {} ms (pool of {})",
                                    acquire_timeout_.count(), max_size_));
    }
  }
}

void ConnectionPool::give_back(std::unique_ptr<SqlConnection> conn) {
  std::lock_guard lock(state_->mu);
  if (conn && conn->usable()) {
    state_->idle.push_back(std::move(conn));
  } else {
    --state_->open;  // dropped: the next acquire opens a fresh session
  }
  state_->cv.notify_one();
}

PooledConnection::~PooledConnection() {
  if (pool_ != nullptr && conn_) pool_->give_back(std::move(conn_));
}

Status ConnectionPool::in_transaction(TxMode mode,
                                      const std::function<Status(SqlConnection&)>& fn) {
  auto conn = acquire();
  if (!conn) return conn.error();
  SqlConnection& c = **conn;
  if (Status s = c.begin(mode); !s) return s;
  Status result;
  try {
    result = fn(c);
  } catch (const std::exception& e) {
    c.rollback();  // never hand back a connection with a transaction open
    return make_error(ErrorCode::kInternal, std::string("transaction failed: ") + e.what());
  }
  if (!result) {
    c.rollback();
    return result;
  }
  if (Status s = c.commit(); !s) {
    c.rollback();
    return s;
  }
  return result;
}

std::string sql_placeholders(size_t first, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i)
    fmt::format_to(std::back_inserter(out), "{}${}", i == 0 ? "" : ", ", first + i);
  return out;
}

}  // namespace insightd::store
