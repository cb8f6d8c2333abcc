// The ceiling insightd's PostgreSQL ingestion is measured against: how many rows
// per second PostgreSQL itself takes through multi-row INSERTs into a table
// shaped like "Event" (same columns and indexes), one client, each statement its
// own committed transaction. Usage:
//   pg_insert_baseline URL [ROWS=200000] [ROWS_PER_STATEMENT=500]
#include <libpq-fe.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

bool exec(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok) std::fprintf(stderr, "%s\n", PQresultErrorMessage(r));
  PQclear(r);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s URL [ROWS] [ROWS_PER_STATEMENT]\n", argv[0]);
    return 2;
  }
  const long rows = argc > 2 ? std::atol(argv[2]) : 200000;
  const long per = argc > 3 ? std::atol(argv[3]) : 500;
  PGconn* c = PQconnectdb(argv[1]);
  if (PQstatus(c) != CONNECTION_OK) {
    std::fprintf(stderr, "%s", PQerrorMessage(c));
    return 1;
  }
  if (!exec(c,
            "DROP TABLE IF EXISTS bench_event; CREATE TABLE bench_event (id bigserial PRIMARY KEY, "
            "event_id text NOT NULL UNIQUE, event_type text NOT NULL, user_id text, session_id "
            "text, \"timestamp\" timestamptz NOT NULL, received_at timestamptz NOT NULL, "
            "clock_skew_ms bigint NOT NULL DEFAULT 0, batch_id text NOT NULL, metadata jsonb NOT "
            "NULL, created_at timestamptz NOT NULL); CREATE INDEX ON bench_event (batch_id, id); "
            "CREATE INDEX ON bench_event (received_at)")) {
    return 1;
  }
  std::string sql =
      "INSERT INTO bench_event (event_id, event_type, user_id, session_id, \"timestamp\", "
      "received_at, batch_id, metadata, created_at) VALUES ";
  for (long i = 0; i < per; ++i) {
    const long b = i * 9;
    sql += (i ? ", " : "") +
           ("($" + std::to_string(b + 1) + ", $" + std::to_string(b + 2) + ", $" +
            std::to_string(b + 3) + ", $" + std::to_string(b + 4) + ", $" + std::to_string(b + 5) +
            ", $" + std::to_string(b + 6) + ", $" + std::to_string(b + 7) + ", $" +
            std::to_string(b + 8) + ", $" + std::to_string(b + 9) + ")");
  }
  PGresult* prep = PQprepare(c, "ins", sql.c_str(), 0, nullptr);
  if (PQresultStatus(prep) != PGRES_COMMAND_OK) {
    std::fprintf(stderr, "%s", PQresultErrorMessage(prep));
    return 1;
  }
  PQclear(prep);
  std::vector<std::string> text(static_cast<size_t>(per) * 9);
  std::vector<const char*> values(text.size());
  const auto start = std::chrono::steady_clock::now();
  for (long done = 0; done < rows; done += per) {
    for (long i = 0; i < per; ++i) {
      const size_t b = static_cast<size_t>(i) * 9;
      text[b] = "evt_" + std::to_string(done + i);
      text[b + 1] = "page_view";
      text[b + 2] = "user_" + std::to_string((done + i) % 100);
      text[b + 3] = "session_" + std::to_string((done + i) % 20);
      text[b + 4] = "2026-11-29T10:00:00.000Z";
      text[b + 5] = "2026-11-29T10:00:00.000Z";
      text[b + 6] = "batch_" + std::to_string((done + i) / 100);
      text[b + 7] = R"({"page":"/products","referrer":"/home"})";
      text[b + 8] = "2026-11-29T10:00:00.000Z";
    }
    for (size_t k = 0; k < text.size(); ++k) values[k] = text[k].c_str();
    PGresult* r = PQexecPrepared(c, "ins", static_cast<int>(values.size()), values.data(), nullptr,
                                 nullptr, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      std::fprintf(stderr, "%s", PQresultErrorMessage(r));
      return 1;
    }
    PQclear(r);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("pg_multirow_insert rows=%ld rows_per_statement=%ld seconds=%.3f rows_per_s=%.0f\n",
              rows, per, secs, static_cast<double>(rows) / secs);
  exec(c, "DROP TABLE bench_event");
  PQfinish(c);
  return 0;
}
