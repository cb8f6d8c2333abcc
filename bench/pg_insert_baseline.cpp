// The ceiling insightd's PostgreSQL ingestion is measured against: how many rows
// per second PostgreSQL itself takes into a table shaped like "Event" (same
// columns and indexes), one client, each statement its own committed
// transaction. Usage:
//   pg_insert_baseline URL [ROWS=200000] [ROWS_PER_STATEMENT=500] [MODE=values]
// MODE says how the rows travel, so the ways insightd could write are compared
// on the same table in the same run:
//   values  one prepared multi-row INSERT ... VALUES (the baseline of SPEC §13)
//   upsert  the same with ON CONFLICT (event_id) DO NOTHING RETURNING event_id
//   unnest  INSERT ... SELECT FROM unnest(<one array per column>) ON CONFLICT
//           DO NOTHING RETURNING event_id: one statement text for any row count
//   copy    COPY ... FROM STDIN (text format), no duplicate handling
#include <libpq-fe.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kCols = 9;

bool ok_result(PGresult* r) {
  const ExecStatusType s = PQresultStatus(r);
  const bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  if (!ok) std::fprintf(stderr, "%s\n", PQresultErrorMessage(r));
  PQclear(r);
  return ok;
}

bool exec(PGconn* c, const std::string& sql) {
  return ok_result(PQexec(c, sql.c_str()));
}

// The row's columns as text: event_id, event_type, user_id, session_id,
// timestamp, received_at, batch_id, metadata, created_at.
void fill_row(long n, std::string* out) {
  out[0] = "evt_" + std::to_string(n);
  out[1] = "page_view";
  out[2] = "user_" + std::to_string(n % 100);
  out[3] = "session_" + std::to_string(n % 20);
  out[4] = "2026-11-29T10:00:00.000Z";
  out[5] = "2026-11-29T10:00:00.000Z";
  out[6] = "batch_" + std::to_string(n / 100);
  out[7] = R"({"page":"/products","referrer":"/home"})";
  out[8] = "2026-11-29T10:00:00.000Z";
}

const char* kColumns =
    "event_id, event_type, user_id, session_id, \"timestamp\", received_at, batch_id, metadata, "
    "created_at";

std::string values_sql(long per, bool upsert) {
  std::string sql = std::string("INSERT INTO bench_event (") + kColumns + ") VALUES ";
  for (long i = 0; i < per; ++i) {
    sql += i ? ", (" : "(";
    for (int k = 0; k < kCols; ++k) {
      sql += (k ? ", $" : "$") + std::to_string(i * kCols + k + 1);
    }
    sql += ")";
  }
  if (upsert) sql += " ON CONFLICT (event_id) DO NOTHING RETURNING event_id";
  return sql;
}

// A PostgreSQL array literal of text elements, each quoted and escaped.
void append_array_element(std::string& array, const std::string& value) {
  array += array.size() == 1 ? "\"" : ",\"";
  for (char ch : value) {
    if (ch == '"' || ch == '\\') array += '\\';
    array += ch;
  }
  array += '"';
}

// COPY text format: tab-separated, backslash escapes.
void append_copy_field(std::string& line, const std::string& value, bool first) {
  if (!first) line += '\t';
  for (char ch : value) {
    switch (ch) {
      case '\\':
        line += "\\\\";
        break;
      case '\t':
        line += "\\t";
        break;
      case '\n':
        line += "\\n";
        break;
      case '\r':
        line += "\\r";
        break;
      default:
        line += ch;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s URL [ROWS] [ROWS_PER_STATEMENT] [values|upsert|unnest|copy]\n",
                 argv[0]);
    return 2;
  }
  const long rows = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 200000;
  const long per = argc > 3 ? std::strtol(argv[3], nullptr, 10) : 500;
  const std::string mode = argc > 4 ? argv[4] : "values";
  if (mode != "values" && mode != "upsert" && mode != "unnest" && mode != "copy") {
    std::fprintf(stderr, "MODE must be values, upsert, unnest or copy\n");
    return 2;
  }
  PGconn* c = PQconnectdb(argv[1]);
  if (PQstatus(c) != CONNECTION_OK) {
    std::fprintf(stderr, "%s", PQerrorMessage(c));
    return 1;
  }
  if (!exec(c,
            "SET client_min_messages = warning; DROP TABLE IF EXISTS bench_event; "
            "CREATE TABLE bench_event (id bigserial PRIMARY KEY, "
            "event_id text NOT NULL UNIQUE, event_type text NOT NULL, user_id text, session_id "
            "text, \"timestamp\" timestamptz NOT NULL, received_at timestamptz NOT NULL, "
            "clock_skew_ms bigint NOT NULL DEFAULT 0, batch_id text NOT NULL, metadata jsonb NOT "
            "NULL, created_at timestamptz NOT NULL); CREATE INDEX ON bench_event (batch_id, id); "
            "CREATE INDEX ON bench_event (received_at)")) {
    return 1;
  }
  std::string sql;
  if (mode == "values" || mode == "upsert") {
    sql = values_sql(per, mode == "upsert");
  } else if (mode == "unnest") {
    sql = std::string("INSERT INTO bench_event (") + kColumns +
          ") SELECT a, b, c, d, e::timestamptz, f::timestamptz, g, h::jsonb, i::timestamptz FROM "
          "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
          "$7::text[], $8::text[], $9::text[]) AS t(a, b, c, d, e, f, g, h, i) "
          "ON CONFLICT (event_id) DO NOTHING RETURNING event_id";
  }
  if (!sql.empty() && !ok_result(PQprepare(c, "ins", sql.c_str(), 0, nullptr))) return 1;
  const std::string copy_sql = std::string("COPY bench_event (") + kColumns + ") FROM STDIN";

  std::vector<std::string> text(static_cast<size_t>(per) * kCols);
  std::vector<const char*> values;
  std::string arrays[kCols];
  std::string copy_data;
  const auto start = std::chrono::steady_clock::now();
  for (long done = 0; done < rows; done += per) {
    for (long i = 0; i < per; ++i) fill_row(done + i, &text[static_cast<size_t>(i) * kCols]);
    if (mode == "copy") {
      copy_data.clear();
      for (long i = 0; i < per; ++i) {
        for (int k = 0; k < kCols; ++k) {
          append_copy_field(copy_data, text[static_cast<size_t>(i * kCols + k)], k == 0);
        }
        copy_data += '\n';
      }
      PGresult* r = PQexec(c, copy_sql.c_str());
      if (PQresultStatus(r) != PGRES_COPY_IN) {
        (void)ok_result(r);  // reports the error
        return 1;
      }
      PQclear(r);
      if (PQputCopyData(c, copy_data.data(), static_cast<int>(copy_data.size())) != 1 ||
          PQputCopyEnd(c, nullptr) != 1) {
        std::fprintf(stderr, "%s", PQerrorMessage(c));
        return 1;
      }
      if (!ok_result(PQgetResult(c))) return 1;
      while (PGresult* extra = PQgetResult(c)) PQclear(extra);
      continue;
    }
    values.clear();
    if (mode == "unnest") {
      for (int k = 0; k < kCols; ++k) {
        arrays[k] = "{";
        for (long i = 0; i < per; ++i) {
          append_array_element(arrays[k], text[static_cast<size_t>(i * kCols + k)]);
        }
        arrays[k] += "}";
        values.push_back(arrays[k].c_str());
      }
    } else {
      for (const std::string& t : text) values.push_back(t.c_str());
    }
    if (!ok_result(PQexecPrepared(c, "ins", static_cast<int>(values.size()), values.data(), nullptr,
                                  nullptr, 0))) {
      return 1;
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("pg_insert mode=%s rows=%ld rows_per_statement=%ld seconds=%.3f rows_per_s=%.0f\n",
              mode.c_str(), rows, per, secs, static_cast<double>(rows) / secs);
  exec(c, "DROP TABLE bench_event");
  PQfinish(c);
  return 0;
}
