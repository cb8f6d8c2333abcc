#include "store/sqlite/sqlite_connection.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <charconv>
#include <filesystem>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/sqlite/write_gate.h"

namespace insightd::store {
namespace {

Error sqlite_error(sqlite3* db, int rc, std::string_view what) {
  const int primary = rc & 0xff;
  ErrorCode code = ErrorCode::kInternal;
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    code = ErrorCode::kAlreadyExists;
  } else if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_FULL ||
             primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN) {
    code = ErrorCode::kUnavailable;
  }
  const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return make_error(code, fmt::format("sqlite: {}: {}", what, msg));
}

// As long as SQLite's busy_timeout: past it, a write is refused as busy.
constexpr Millis kGateTimeout{10'000};

class SqliteConnection final : public SqlConnection {
 public:
  SqliteConnection(sqlite3* db, std::shared_ptr<WriteGate> gate, WritePriority priority)
      : db_(db), gate_(std::move(gate)), priority_(priority) {}
  ~SqliteConnection() override {
    for (auto& [sql, prepared] : cache_) sqlite3_finalize(prepared.stmt);
    sqlite3_close_v2(db_);
    if (gate_held_) gate_->release();
  }
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  Result<Rows> query(std::string_view sql, std::span<const SqlValue> params) override {
    Rows rows;
    Status s = run(sql, params, &rows);
    if (!s) return s.error();
    return rows;
  }

  Result<int64_t> execute(std::string_view sql, std::span<const SqlValue> params) override {
    Status s = run(sql, params, nullptr);
    if (!s) return s.error();
    return static_cast<int64_t>(sqlite3_changes64(db_));
  }

  // A script may write: outside a transaction it takes the gate for its run
  // (and keeps it if it leaves a transaction open).
  Status execute_script(std::string_view sql) override {
    const bool took = !gate_held_ && in_autocommit();
    if (took) {
      if (Status s = take_gate(); !s) return s;
    }
    Status s = exec(sql);
    if (took) release_gate_if_done();
    return s;
  }

  Status begin(TxMode mode) override {
    // IMMEDIATE takes the write lock up front, so a read-then-write transaction
    // never fails half-way with SQLITE_BUSY. The gate is taken first: it, not
    // SQLite's busy handler, decides whose turn it is.
    if (mode == TxMode::kRead) return exec("BEGIN DEFERRED");
    if (!gate_held_) {
      if (Status s = take_gate(); !s) return s;
    }
    Status s = exec("BEGIN IMMEDIATE");
    release_gate_if_done();
    return s;
  }
  Status commit() override {
    Status s = exec("COMMIT");
    release_gate_if_done();  // a COMMIT that failed leaves the transaction open
    return s;
  }
  void rollback() override {
    if (!in_autocommit()) (void)exec("ROLLBACK");
    release_gate_if_done();
  }
  // A connection given back inside a write transaction (a bug) is dropped: closing
  // it rolls back and frees the gate.
  bool usable() const override { return !gate_held_; }

 private:
  bool in_autocommit() const { return sqlite3_get_autocommit(db_) != 0; }

  Status take_gate() {
    if (Status s = gate_->acquire(priority_, kGateTimeout); !s) return s;
    gate_held_ = true;
    return Status::ok();
  }
  // The gate goes back as soon as SQLite is out of any transaction.
  void release_gate_if_done() {
    if (gate_held_ && in_autocommit()) {
      gate_held_ = false;
      gate_->release();
    }
  }

  Status exec(std::string_view sql) {
    char* err = nullptr;
    const std::string text(sql);
    const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      return make_error(ErrorCode::kInternal, "sqlite: script failed: " + msg);
    }
    return Status::ok();
  }

  // A cached statement, and where each of our parameters goes in it.
  struct Prepared {
    sqlite3_stmt* stmt = nullptr;
    // slots[i] is the SQLite index of "$<i+1>" (0: the statement does not use it).
    std::vector<int> slots;
  };

  Result<const Prepared*> prepare(std::string_view sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return &it->second;
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return sqlite_error(db_, rc, "prepare");
    // Statements write their parameters $1..$n in both dialects; SQLite treats "$1" as a
    // named parameter. The names are looked up once here: by name per bind, a
    // statement of 2,560 parameters spent most of its time comparing names.
    Prepared prepared{stmt, {}};
    const int count = sqlite3_bind_parameter_count(stmt);
    for (int idx = 1; idx <= count; ++idx) {
      const char* name = sqlite3_bind_parameter_name(stmt, idx);
      if (name == nullptr || name[0] != '$') continue;
      size_t number = 0;
      const std::string_view digits(name + 1);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
      if (ec != std::errc() || end != digits.data() + digits.size() || number == 0) continue;
      if (prepared.slots.size() < number) prepared.slots.resize(number, 0);
      prepared.slots[number - 1] = idx;
    }
    return &cache_.emplace(std::string(sql), std::move(prepared)).first->second;
  }

  // Binds without copying: the values outlive the statement's run (run() resets
  // the statement and clears its bindings before it returns).
  Status bind(const Prepared& prepared, std::span<const SqlValue> params) {
    sqlite3_stmt* stmt = prepared.stmt;
    for (size_t i = 0; i < params.size() && i < prepared.slots.size(); ++i) {
      const int idx = prepared.slots[i];
      if (idx == 0) continue;  // a parameter the statement does not use
      const SqlValue& v = params[i];
      int rc = SQLITE_OK;
      if (std::holds_alternative<std::monostate>(v)) {
        rc = sqlite3_bind_null(stmt, idx);
      } else if (const auto* n = std::get_if<int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt, idx, *n);
      } else if (const auto* d = std::get_if<double>(&v)) {
        rc = sqlite3_bind_double(stmt, idx, *d);
      } else if (const auto* b = std::get_if<SqlBlob>(&v)) {
        rc = sqlite3_bind_blob64(stmt, idx, b->bytes.data(), b->bytes.size(), SQLITE_STATIC);
      } else {
        const auto& s = std::get<std::string>(v);
        rc = sqlite3_bind_text64(stmt, idx, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8);
      }
      if (rc != SQLITE_OK) return sqlite_error(db_, rc, "bind");
    }
    return Status::ok();
  }

  Status run(std::string_view sql, std::span<const SqlValue> params, Rows* rows) {
    auto prepared = prepare(sql);
    if (!prepared) return prepared.error();
    sqlite3_stmt* st = (*prepared)->stmt;
    // A writing statement outside a transaction (a claim, a heartbeat) is a
    // write transaction of its own: it queues at the gate like BEGIN IMMEDIATE.
    const bool took = !gate_held_ && in_autocommit() && sqlite3_stmt_readonly(st) == 0;
    if (took) {
      if (Status s = take_gate(); !s) return s;
    }
    // Declared in this order so that the statement is reset (its implicit
    // transaction ended) before the gate goes back.
    struct GiveBack {
      SqliteConnection* self;
      bool took;
      ~GiveBack() {
        if (took) self->release_gate_if_done();
      }
    } give_back{this, took};
    struct Reset {
      sqlite3_stmt* st;
      ~Reset() {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
      }
    } reset{st};
    if (Status s = bind(**prepared, params); !s) return s;
    while (true) {
      const int rc = sqlite3_step(st);
      if (rc == SQLITE_DONE) return Status::ok();
      if (rc != SQLITE_ROW) return sqlite_error(db_, sqlite3_extended_errcode(db_), "step");
      if (rows == nullptr) continue;
      const int n = sqlite3_column_count(st);
      std::vector<std::optional<std::string>> cols;
      cols.reserve(static_cast<size_t>(n));
      for (int c = 0; c < n; ++c) {
        if (sqlite3_column_type(st, c) == SQLITE_NULL) {
          cols.emplace_back(std::nullopt);
        } else {
          const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
          cols.emplace_back(std::string(text, static_cast<size_t>(sqlite3_column_bytes(st, c))));
        }
      }
      rows->emplace_back(std::move(cols));
    }
  }

  sqlite3* db_;
  std::shared_ptr<WriteGate> gate_;
  WritePriority priority_;
  bool gate_held_ = false;
  // Looked up by the SQL text without copying it (a 256-row INSERT is 30 KB).
  struct SqlHash {
    using is_transparent = void;
    size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
  };
  std::unordered_map<std::string, Prepared, SqlHash, std::equal_to<>> cache_;
};

}  // namespace

Result<std::unique_ptr<SqlConnection>> open_sqlite(const std::string& path,
                                                   WritePriority priority) {
  const std::filesystem::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(p.parent_path(), ec);
    if (ec) {
      return make_error(
          ErrorCode::kUnavailable,
          fmt::format("cannot create folder {}: {}", p.parent_path().string(), ec.message()));
    }
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error e = sqlite_error(db, rc, fmt::format("cannot open {}", path));
    sqlite3_close_v2(db);
    e.code = ErrorCode::kUnavailable;
    return e;
  }
  // SQLite's own full path name: every spelling of one file shares one gate.
  const char* full = sqlite3_db_filename(db, "main");
  auto conn = std::make_unique<SqliteConnection>(
      db, WriteGate::for_file(full != nullptr && *full != '\0' ? full : path), priority);
  sqlite3_busy_timeout(db, static_cast<int>(kGateTimeout.count()));
  // WAL lets readers run beside the writer; synchronous=FULL makes every commit
  // (and so every ack) survive a crash of the process and of the machine.
  // Not through the gate: a thread may open a connection while it writes on
  // another (the switch to WAL, once per file, waits in SQLite's busy handler).
  const int pragmas =
      sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                   nullptr, nullptr, nullptr);
  if (pragmas != SQLITE_OK) return sqlite_error(db, pragmas, "set up the connection");
  return std::unique_ptr<SqlConnection>(std::move(conn));
}

}  // namespace insightd::store
