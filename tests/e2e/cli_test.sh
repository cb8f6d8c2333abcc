#!/usr/bin/env bash
# End-to-end checks of the insightd binary as an operator meets it: exit codes and
# messages for bad configuration, help, migrate on SQLite and PostgreSQL, serve
# with /healthz and /readyz, a clean SIGTERM, and no secret in any output.
# Usage: cli_test.sh path/to/insightd   (INSIGHTD_TEST_PG_URL must name a server)
set -uo pipefail
bin=$(realpath "$1")
: "${INSIGHTD_TEST_PG_URL:?INSIGHTD_TEST_PG_URL must point at a PostgreSQL server (scripts/test sets it)}"
tmp=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  psql "$INSIGHTD_TEST_PG_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
  rm -rf "$tmp"
}
schema="cli_$$_$RANDOM"
trap cleanup EXIT
cd "$tmp"
failures=0
passes=0
ok() { passes=$((passes + 1)); echo "ok   $*"; }
bad() { failures=$((failures + 1)); echo "FAIL $*"; }

# run_expect CODE PATTERN -- command...: exit code and a pattern in stdout+stderr.
run_expect() {
  local code=$1 pattern=$2; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$code" ]; then bad "$* -> exit $rc, want $code: $out"; return; fi
  if ! grep -qE -- "$pattern" <<<"$out"; then bad "$* -> output lacks /$pattern/: $out"; return; fi
  ok "$* -> $code"
}

# --- Configuration errors exit 2 and name the variable -------------------
run_expect 2 "PORT must be a whole number" -- env PORT=abc "$bin" serve
run_expect 2 "BATCH_MAX_EVENTS must be" -- env BATCH_MAX_EVENTS=0 "$bin"
run_expect 2 "DATABASE_URL must be" -- env DATABASE_URL=mysql://x "$bin" serve
run_expect 2 "--port must be" -- "$bin" --port abc serve
run_expect 2 "unknown-flag|not expected|extras" -- "$bin" --unknown-flag serve
printf 'PORT=abc\n' > .env
run_expect 2 "PORT \(from \.env\) must be" -- "$bin" serve
rm .env
out=$(env DATABASE_URL='mysql://root:hunter2secret@db/x' "$bin" serve 2>&1)
grep -q hunter2secret <<<"$out" && bad "a password in DATABASE_URL was echoed: $out" || ok "DATABASE_URL password not echoed"

# --- Help and version ------------------------------------------------------
run_expect 0 "serve.*|work|migrate" -- "$bin" --help
for sub in serve work migrate "migrate up" "migrate status" seal analyze dlq "dlq list" "dlq retry" "dlq discard" archive restore; do
  # shellcheck disable=SC2086
  run_expect 0 "Usage|usage" -- "$bin" $sub --help
done
run_expect 0 "^insightd [0-9]+\.[0-9]+\.[0-9]+" -- "$bin" --version
run_expect 2 "BATCH is required|required" -- "$bin" analyze
run_expect 2 "subcommand|required" -- "$bin" dlq

# --- migrate on SQLite ---------------------------------------------------------
export DATABASE_URL="sqlite://$tmp/t.db"
run_expect 0 "applied  0001_init" -- "$bin" migrate
run_expect 0 "schema is current; nothing to apply" -- "$bin" migrate up
run_expect 0 "applied  0001_init .*" -- "$bin" migrate status
tables=$(sqlite3 "$tmp/t.db" "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name IN ('Event','Batch','AnalysisJob','Insight','DeadLetterJob','KafkaOutbox','ArchivedBatch')")
[ "$tables" = 7 ] && ok "sqlite: the seven tables exist" || bad "sqlite: $tables of 7 tables"
tables=$(sqlite3 "$tmp/t.db" "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name IN ('AdminCredential','AdminSession','ApiToken','AppSecret')")
[ "$tables" = 4 ] && ok "sqlite: the four sign-in tables exist (0002_admin_auth)" || bad "sqlite: $tables of 4 sign-in tables"

# --- migrate on PostgreSQL (a private schema) ----------------------------------
psql "$INSIGHTD_TEST_PG_URL" -qc "CREATE SCHEMA $schema" >/dev/null
pg_url="$INSIGHTD_TEST_PG_URL?options=-csearch_path%3D$schema"
export DATABASE_URL="$pg_url"
run_expect 0 "pending  0001_init" -- "$bin" migrate status
run_expect 0 "applied  0001_init" -- "$bin" migrate
run_expect 0 "schema is current" -- "$bin" migrate status
tables=$(psql "$INSIGHTD_TEST_PG_URL" -Atc "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='$schema' AND table_name IN ('Event','Batch','AnalysisJob','Insight','DeadLetterJob','KafkaOutbox','ArchivedBatch')")
[ "$tables" = 7 ] && ok "postgresql: the seven tables exist" || bad "postgresql: $tables of 7 tables"
tables=$(psql "$INSIGHTD_TEST_PG_URL" -Atc "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='$schema' AND table_name IN ('AdminCredential','AdminSession','ApiToken','AppSecret')")
[ "$tables" = 4 ] && ok "postgresql: the four sign-in tables exist (0002_admin_auth)" || bad "postgresql: $tables of 4 sign-in tables"

# --- serve: health, readiness, shutdown, secrets ---------------------------------
start_server() {  # sets pid and port
  # Emptied here, not by the redirection: that runs in the child, after the loop
  # below may already have read the previous server's port from the old log.
  : > server.log
  "$@" >> server.log 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 1 100); do
    port=$(grep -oE 'Listening on http://[^ ]+:[0-9]+' server.log | grep -oE '[0-9]+$' || true)
    [ -n "$port" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  bad "server did not start: $(cat server.log)"
  return 1
}
http_code() { curl -s -o body.json -w '%{http_code}' "http://127.0.0.1:$port$1"; }
# /readyz reuses its answer for a second: asks until the code is $1 (at most 5 s).
readyz_becomes() {
  local code
  for _ in $(seq 50); do
    code=$(http_code /readyz)
    [ "$code" = "$1" ] && { echo "$code"; return; }
    sleep 0.1
  done
  echo "$code"
}

secret_env=(ADMIN_PASSWORD=supersecret-admin-pw OPENAI_API_KEY=sk-test-secret-key-123
            AUTH_SECRET=0123456789abcdef0123456789abcdef-secret INGEST_KEYS=ingest-key-secret-0001)
pg_url_pw="${INSIGHTD_TEST_PG_URL/postgres@/postgres:pg-secret-password@}?options=-csearch_path%3D$schema"
if start_server env PORT=0 HOST=127.0.0.1 "DATABASE_URL=$pg_url_pw" "${secret_env[@]}" "$bin" serve; then
  [ "$(http_code /healthz)" = 200 ] && ok "GET /healthz 200" || bad "/healthz: $(cat body.json)"
  [ "$(http_code /readyz)" = 200 ] && grep -q '"ready"' body.json && ok "GET /readyz 200 on PostgreSQL" || bad "/readyz: $(cat body.json)"
  [ "$(http_code /nope)" = 404 ] && grep -q '"error"' body.json && ok "unknown route 404 JSON" || bad "/nope: $(cat body.json)"
  # Readiness follows the schema: with the migrations record gone it says not ready.
  psql "$INSIGHTD_TEST_PG_URL" -qc "ALTER TABLE $schema.schema_migrations RENAME TO schema_migrations_away" >/dev/null
  [ "$(readyz_becomes 503)" = 503 ] && grep -q 'pending' body.json && ok "GET /readyz 503 while migrations are pending" || bad "/readyz not 503: $(cat body.json)"
  psql "$INSIGHTD_TEST_PG_URL" -qc "ALTER TABLE $schema.schema_migrations_away RENAME TO schema_migrations" >/dev/null
  [ "$(readyz_becomes 200)" = 200 ] && ok "GET /readyz 200 again" || bad "/readyz: $(cat body.json)"
  kill -TERM "$pid"; wait "$pid"; rc=$?; pid=""
  [ "$rc" = 0 ] && grep -q "Stopped cleanly" server.log && ok "SIGTERM stops cleanly" || bad "SIGTERM exit $rc: $(tail -5 server.log)"
  grep -q "postgresql://postgres:\*\*\*@" server.log && ok "database URL shown redacted" || bad "no redacted URL in log"
  leaked=0
  for s in supersecret-admin-pw sk-test-secret-key-123 0123456789abcdef0123456789abcdef-secret ingest-key-secret-0001 pg-secret-password; do
    grep -q -- "$s" server.log && { leaked=1; bad "secret $s appears in the log"; }
  done
  [ $leaked = 0 ] && ok "no secret in the server's output"
fi

# All-in-one on SQLite (what scripts/run starts), with readiness.
unset DATABASE_URL
if start_server env PORT=0 "$bin"; then
  [ "$(http_code /readyz)" = 200 ] && grep -q '"sqlite"' body.json && ok "all-in-one on SQLite: /readyz 200" || bad "/readyz: $(cat body.json)"
  [ -f data/insightd.db ] && ok "default database at ./data/insightd.db" || bad "no ./data/insightd.db"
  code=$(curl -s -o body.json -w '%{http_code}' -X POST "http://127.0.0.1:$port/api/events" \
    -H 'content-type: application/json' -d '[{"eventType":"page_view"},{"eventType":"click"}]')
  [ "$code" = 200 ] && grep -q '"accepted":2' body.json && ok "POST /api/events with curl" || bad "POST /api/events: $code $(cat body.json)"
  kill -INT "$pid"; wait "$pid"; rc=$?; pid=""
  [ "$rc" = 0 ] && ok "SIGINT stops cleanly" || bad "SIGINT exit $rc"
  run_expect 0 "sealed batch_[0-9A-Z]+ \(2 events\); created job job_" -- "$bin" seal
  run_expect 0 "no open batch with events" -- "$bin" seal
  state=$(sqlite3 data/insightd.db "SELECT status || ' ' || seal_reason FROM \"Batch\"; SELECT status FROM \"AnalysisJob\";" | tr '\n' ' ')
  [ "$state" = "SEALED manual PENDING " ] && ok "seal by hand: batch SEALED (manual), job PENDING" || bad "after seal: $state"
  # Manual analysis: refused while the batch's job is PENDING (409 in the API).
  batch=$(sqlite3 data/insightd.db 'SELECT batch_id FROM "Batch"')
  run_expect 1 "already has a PENDING or RUNNING job" -- "$bin" analyze "$batch"
  run_expect 1 "does not exist" -- "$bin" analyze batch_nope
  run_expect 0 "the dead-letter queue is empty" -- "$bin" dlq list
  run_expect 0 "^\[\]$" -- "$bin" dlq list --json
  run_expect 1 "does not exist" -- "$bin" dlq retry dlq_nope
  run_expect 1 "does not exist" -- "$bin" dlq discard dlq_nope
  # `work` (no HTTP) analyzes it, and stops cleanly on SIGTERM.
  env WORKER_POLL_INTERVAL_MS=100 "$bin" work > work.log 2>&1 &
  wpid=$!
  for _ in $(seq 1 100); do
    [ "$(sqlite3 data/insightd.db 'SELECT status FROM "AnalysisJob"')" = SUCCESS ] && break
    sleep 0.1
  done
  kill -TERM "$wpid"; wait "$wpid"; rc=$?
  state=$(sqlite3 data/insightd.db 'SELECT b.status, COUNT(i.insight_id) FROM "Batch" b LEFT JOIN "Insight" i USING (batch_id) GROUP BY b.batch_id' | tr '\n' ' ')
  [ "$state" = "ANALYZED|1 " ] && ok "work: the sealed batch got its insight" || bad "after work: $state $(tail -5 work.log)"
  [ "$rc" = 0 ] && grep -q "All workers started successfully" work.log && grep -q "Stopped cleanly" work.log \
    && ok "work: seed start-up lines, clean SIGTERM" || bad "work exit $rc: $(tail -5 work.log)"
  run_expect 0 "created job job_[0-9A-Z]+ for batch" -- "$bin" analyze "$batch"
fi

# A port in use is a clear start-up error.
if start_server env PORT=0 "$bin"; then
  out=$(env PORT="$port" "$bin" 2>&1); rc=$?
  [ "$rc" = 1 ] && grep -q "already in use" <<<"$out" && ok "port in use -> exit 1 with a clear message" || bad "port in use: exit $rc: $out"
  kill -TERM "$pid"; wait "$pid"; pid=""
fi

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
