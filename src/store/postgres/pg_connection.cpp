#include "store/postgres/pg_connection.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <optional>
#include <unordered_map>
#include <variant>
#include <vector>

#include "store/postgres/detail/pg_connect.h"

namespace insightd::store {
namespace {

std::string trim_message(const char* msg) {
  std::string s = msg != nullptr ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

ErrorCode code_for_sqlstate(const char* state) {
  if (state == nullptr) return ErrorCode::kUnavailable;  // no server answer: connection trouble
  const std::string_view s(state);
  if (s == "23505") return ErrorCode::kAlreadyExists;
  if (s == "40001" || s == "40P01" || s == "55P03") return ErrorCode::kUnavailable;
  if (s.substr(0, 2) == "08" || s.substr(0, 2) == "53" || s.substr(0, 3) == "57P") {
    return ErrorCode::kUnavailable;
  }
  return ErrorCode::kInternal;
}

// pg_type's oid of bytea: such columns arrive as hex text (\x0a1b...) and
// are handed on as their bytes, as SQLite hands a BLOB.
constexpr Oid kByteaOid = 17;

std::string unescape_bytea(const char* text) {
  size_t n = 0;
  unsigned char* bytes = PQunescapeBytea(reinterpret_cast<const unsigned char*>(text), &n);
  if (bytes == nullptr) return {};
  std::string out(reinterpret_cast<const char*>(bytes), n);
  PQfreemem(bytes);
  return out;
}

class PgConnection final : public SqlConnection {
 public:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  ~PgConnection() override { PQfinish(conn_); }
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  Result<Rows> query(std::string_view sql, std::span<const SqlValue> params) override {
    auto res = run(sql, params);
    if (!res) return res.error();
    PGresult* r = res->get();
    Rows rows;
    const int n = PQntuples(r);
    const int m = PQnfields(r);
    rows.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      std::vector<std::optional<std::string>> cols;
      cols.reserve(static_cast<size_t>(m));
      for (int j = 0; j < m; ++j) {
        if (PQgetisnull(r, i, j)) {
          cols.emplace_back(std::nullopt);
        } else if (PQftype(r, j) == kByteaOid) {
          cols.emplace_back(unescape_bytea(PQgetvalue(r, i, j)));
        } else {
          cols.emplace_back(
              std::string(PQgetvalue(r, i, j), static_cast<size_t>(PQgetlength(r, i, j))));
        }
      }
      rows.emplace_back(std::move(cols));
    }
    return rows;
  }

  Result<int64_t> execute(std::string_view sql, std::span<const SqlValue> params) override {
    auto res = run(sql, params);
    if (!res) return res.error();
    const char* n = PQcmdTuples(res->get());
    return (n == nullptr || *n == '\0') ? int64_t{0} : std::stoll(n);
  }

  Status execute_deferred(std::string_view sql, std::span<const SqlValue> params) override {
    // Deferred only inside a transaction (begin() opened the pipeline, and
    // commit() or rollback() will read every result). Outside one, nothing
    // would ever sync the pipeline and the statement's implicit transaction
    // would hold its locks until the connection's next use: run it now.
    if (!pipelined()) {
      auto r = execute(sql, params);
      return r ? Status::ok() : r.status();
    }
    return send(sql, params, Op::kDeferred);
  }

  Status execute_script(std::string_view sql) override {
    if (pipelined()) {
      if (auto drained = drain(); !drained) return drained.error();
    }
    const std::string text(sql);
    ResultPtr r(PQexec(conn_, text.c_str()));
    return check(r.get(), "script");
  }

  // BEGIN travels with the transaction's first statement, COMMIT with whatever
  // deferred statements precede it: a transaction costs no round trip of its own.
  Status begin(TxMode) override { return send_plain("BEGIN", Op::kDeferred); }
  Status commit() override {
    if (!pipelined()) return execute_script("COMMIT");
    if (Status s = send_plain("COMMIT", Op::kFinal); !s) return s;
    auto drained = drain();
    return drained ? Status::ok() : drained.status();
  }
  void rollback() override {
    if (pipelined()) (void)drain();
    if (PQtransactionStatus(conn_) != PQTRANS_IDLE) (void)execute_script("ROLLBACK");
  }
  bool usable() const override { return !broken_ && PQstatus(conn_) == CONNECTION_OK; }

 private:
  struct ResultDeleter {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

  // What each statement sent in pipeline mode is, in sending order.
  enum class Op { kPrepare, kDeferred, kFinal };
  struct Sent {
    Op op;
    std::string prepared_key;  // kPrepare: the statement text it prepares
  };

  // The parameters as libpq takes them: C strings (NULL for SQL NULL), and
  // blobs in binary with their lengths.
  struct ParamText {
    explicit ParamText(std::span<const SqlValue> params)
        : text(params.size()), values(params.size(), nullptr) {
      for (size_t i = 0; i < params.size(); ++i) {
        const SqlValue& v = params[i];
        if (std::holds_alternative<std::monostate>(v)) continue;
        if (const auto* n = std::get_if<int64_t>(&v)) {
          text[i] = std::to_string(*n);
          values[i] = text[i].c_str();
        } else if (const auto* d = std::get_if<double>(&v)) {
          text[i] = fmt::format("{}", *d);
          values[i] = text[i].c_str();
        } else if (const auto* b = std::get_if<SqlBlob>(&v)) {
          if (formats.empty()) {
            formats.assign(params.size(), 0);
            lengths.assign(params.size(), 0);
          }
          formats[i] = 1;
          lengths[i] = static_cast<int>(b->bytes.size());
          values[i] = b->bytes.data();
        } else {
          values[i] = std::get<std::string>(v).c_str();
        }
      }
    }
    // Null unless some parameter is binary (libpq reads them only then).
    const int* length_data() const { return lengths.empty() ? nullptr : lengths.data(); }
    const int* format_data() const { return formats.empty() ? nullptr : formats.data(); }
    std::vector<std::string> text;
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
  };

  bool pipelined() const { return PQpipelineStatus(conn_) != PQ_PIPELINE_OFF; }

  Status check(PGresult* r, std::string_view what) {
    const ExecStatusType st = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
      return Status::ok();
    }
    const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    if (PQstatus(conn_) != CONNECTION_OK) broken_ = true;
    const ErrorCode code =
        PQstatus(conn_) != CONNECTION_OK ? ErrorCode::kUnavailable : code_for_sqlstate(state);
    const std::string msg =
        r != nullptr ? trim_message(PQresultErrorMessage(r)) : trim_message(PQerrorMessage(conn_));
    return make_error(code, fmt::format("postgresql: {}: {}", what, msg));
  }

  Status send_failed() {
    broken_ = true;  // a send only fails when the session is in trouble
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("postgresql: send: {}", trim_message(PQerrorMessage(conn_))));
  }

  Status enter_pipeline() {
    if (pipelined()) return Status::ok();
    return PQenterPipelineMode(conn_) == 1 ? Status::ok() : send_failed();
  }

  // Sends a statement without parameters (BEGIN, COMMIT) in pipeline mode.
  Status send_plain(const char* sql, Op op) {
    if (Status s = enter_pipeline(); !s) return s;
    if (PQsendQueryParams(conn_, sql, 0, nullptr, nullptr, nullptr, nullptr, 0) != 1) {
      return send_failed();
    }
    sent_.push_back({op, {}});
    return Status::ok();
  }

  // Queues a prepared statement (preparing it first when new) in pipeline mode.
  // Nothing is flushed here: the sync at drain() sends the whole transaction
  // with one write, which wakes the server once. (Flushing each statement cost
  // a loopback send and a server wake-up per statement; libpq still flushes on
  // its own once 8 KiB are queued.)
  Status send(std::string_view sql, std::span<const SqlValue> params, Op op) {
    if (Status s = enter_pipeline(); !s) return s;
    std::string key(sql);
    auto it = prepared_.find(key);
    if (it == prepared_.end()) {
      std::string name = fmt::format("s{}", next_name_++);
      if (PQsendPrepare(conn_, name.c_str(), key.c_str(), 0, nullptr) != 1) return send_failed();
      sent_.push_back({Op::kPrepare, key});
      it = prepared_.emplace(std::move(key), std::move(name)).first;
    }
    const ParamText p(params);
    if (PQsendQueryPrepared(conn_, it->second.c_str(), static_cast<int>(p.values.size()),
                            p.values.data(), p.length_data(), p.format_data(), 0) != 1) {
      return send_failed();
    }
    sent_.push_back({op, {}});
    return Status::ok();
  }

  // Ends the pipeline: a sync, then every result in sending order. Returns the
  // first error (the server skips what follows a failed statement), else the
  // result of the kFinal statement (null when there is none).
  Result<ResultPtr> drain() {
    if (PQpipelineSync(conn_) != 1) {
      sent_.clear();
      return send_failed();
    }
    std::optional<Error> first;
    ResultPtr final_result;
    size_t index = 0;
    size_t nulls = 0;
    while (true) {
      ResultPtr r(PQgetResult(conn_));
      if (!r) {
        // One null ends each statement's results; more than that means the
        // session is gone.
        if (PQstatus(conn_) != CONNECTION_OK || ++nulls > sent_.size() + 1) {
          broken_ = true;
          if (!first) first = make_error(ErrorCode::kUnavailable, "postgresql: connection lost");
          break;
        }
        continue;
      }
      const ExecStatusType st = PQresultStatus(r.get());
      if (st == PGRES_PIPELINE_SYNC) break;
      const Sent sent = index < sent_.size() ? sent_[index] : Sent{Op::kDeferred, {}};
      ++index;
      Status s = st == PGRES_PIPELINE_ABORTED
                     ? make_error(ErrorCode::kInternal, "postgresql: skipped after an error")
                     : check(r.get(), sent.op == Op::kPrepare ? "prepare" : "query");
      if (!s) {
        if (sent.op == Op::kPrepare) prepared_.erase(sent.prepared_key);
        if (!first && st != PGRES_PIPELINE_ABORTED) first = s.error();
        continue;
      }
      if (sent.op == Op::kFinal) final_result = std::move(r);
    }
    sent_.clear();
    if (PQexitPipelineMode(conn_) != 1) broken_ = true;
    if (first) return *first;
    return final_result;
  }

  Result<ResultPtr> run(std::string_view sql, std::span<const SqlValue> params) {
    if (pipelined()) {
      // Goes out behind the deferred statements; one round trip for all.
      if (Status s = send(sql, params, Op::kFinal); !s) {
        (void)drain();
        return s.error();
      }
      return drain();
    }
    const std::string key(sql);
    auto it = prepared_.find(key);
    if (it == prepared_.end()) {
      const std::string name = fmt::format("s{}", next_name_++);
      ResultPtr prep(PQprepare(conn_, name.c_str(), key.c_str(), 0, nullptr));
      if (Status s = check(prep.get(), "prepare"); !s) return s.error();
      it = prepared_.emplace(key, name).first;
    }
    const ParamText p(params);
    ResultPtr r(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(p.values.size()),
                               p.values.data(), p.length_data(), p.format_data(), 0));
    if (Status s = check(r.get(), "query"); !s) return s.error();
    return r;
  }

  PGconn* conn_;
  bool broken_ = false;
  std::unordered_map<std::string, std::string> prepared_;  // text -> statement name
  size_t next_name_ = 0;    // names are never reused, even after a failed prepare
  std::vector<Sent> sent_;  // pipeline mode: sent, results not read yet
};

}  // namespace

Status check_postgres_url(const std::string& url) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (opts == nullptr) {
    std::string msg = err != nullptr ? trim_message(err) : "not a valid connection URL";
    PQfreemem(err);
    return make_error(ErrorCode::kInvalidArgument, msg);
  }
  PQconninfoFree(opts);
  return Status::ok();
}

namespace detail {

Result<PGconn*> connect_postgres(const std::string& url) {
  // Defaults first: what the URL says wins. The keepalives and tcp_user_timeout
  // notice a server or network that went silent (a wedged host, a cut cable)
  // within about 30 s instead of the kernel's two hours.
  const char* keys[] = {"application_name",
                        "connect_timeout",
                        "keepalives",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "tcp_user_timeout",
                        "dbname",
                        nullptr};
  const char* vals[] = {"insightd", "5", "1", "10", "5", "3", "30000", url.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    std::string msg = conn != nullptr ? trim_message(PQerrorMessage(conn)) : "out of memory";
    PQfinish(conn);
    return make_error(ErrorCode::kUnavailable, "postgresql: cannot connect: " + msg);
  }
  // Server notices ("relation already exists, skipping") are not errors; keep
  // them out of stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return conn;
}

}  // namespace detail

Result<std::unique_ptr<SqlConnection>> open_postgres(const std::string& url) {
  auto conn = detail::connect_postgres(url);
  if (!conn) return conn.error();
  auto c = std::make_unique<PgConnection>(*conn);
  // No statement of insightd's runs for long; one that does is stuck behind a lock
  // or a wedged server, and a transaction left open would hold its locks.
  if (Status s = c->execute_script(
          "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET statement_timeout = '30s'; "
          "SET idle_in_transaction_session_timeout = '60s'");
      !s) {
    return s.error();
  }
  return std::unique_ptr<SqlConnection>(std::move(c));
}

}  // namespace insightd::store
