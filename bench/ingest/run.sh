#!/usr/bin/env bash
# The ingestion benchmark of docs/BENCHMARKS.md, every figure in one run so the
# ratios compare like with like on this (shared, noisy) machine:
#   bench/ingest/run.sh [--durable] [--peer DIR] [POSTGRESQL_URL] [SECONDS]
# With a URL, that PostgreSQL (its database is used for scratch schemas,
# dropped at the end); without one, or with --durable, a private PostgreSQL 15
# this script starts and stops: --durable gives it PostgreSQL's default
# durability (fsync and synchronous_commit on, as users run it), else
# fsync=off. Every figure is labelled with the durability it ran with.
# --peer DIR adds the group-commit Node.js peer (its folder, `npm ci` done);
# the seed's stack (bench/ingest/seed_stack.mjs) always runs.
# Needs build/insightd, build/bench/pg_insert_baseline, build/bench/loadgen_ws (cmake --preset
# default && cmake --build --preset default), `npm ci` at the root (the official
# socket.io-client) and `npm ci --prefix bench/ingest` (the official server, pg).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=lib.sh
source bench/ingest/lib.sh
durable=0 peer="" url="" secs=10
while [ $# -gt 0 ]; do
  case "$1" in
    --durable) durable=1 ;;
    --peer) peer=$(cd "$2" && pwd); shift ;;
    postgres*) url=$1 ;;
    [0-9]*) secs=$1 ;;
    *) echo "usage: bench/ingest/run.sh [--durable] [--peer DIR] [POSTGRESQL_URL] [SECONDS]" >&2; exit 2 ;;
  esac
  shift
done
port=3190
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  drop_schema "$url" bench_ingest
  stop_private_pg
  rm -rf "$work"
}
trap cleanup EXIT
if [ -z "$url" ] || [ "$durable" -eq 1 ]; then
  private_pg 55720 "$durable"
  psql "$PG_BASE/postgres" -q -c "CREATE DATABASE bench" >/dev/null
  url="$PG_BASE/bench"
fi
echo "PostgreSQL: $(pg_durability "$url")"

loadgen() { node bench/ingest/loadgen.mjs --url "http://127.0.0.1:$port" --duration "$secs" "$@"; }
# The C++ client (bench/ingest/loadgen_ws.cpp): the same events for a fraction of the CPU.
loadgen_cxx() { build/bench/loadgen_ws --port "$port" --duration "$secs" --connections 8 --window 64; }

# insightd serve (ingestion only, no workers) on a fresh database.
start_insightd() {
  local db=$1
  PORT=$port HOST=127.0.0.1 DATABASE_URL=$db LOG_LEVEL=warn build/insightd serve \
    >"$work/insightd.log" 2>&1 &
  pids+=($!)
  wait_port $port
}
stop_last() {
  kill "${pids[-1]}" 2>/dev/null || true
  wait "${pids[-1]}" 2>/dev/null || true
  unset 'pids[-1]'
}
fresh_pg() { fresh_schema "$url" bench_ingest; }

echo "== PostgreSQL's own multi-row INSERT into the Event shape (the baseline)"
build/bench/pg_insert_baseline "$url" 200000 100 values
build/bench/pg_insert_baseline "$url" 200000 100 upsert

echo "== The official client against a do-nothing official Socket.IO server (the client's ceiling)"
node bench/ingest/noop_server.mjs --port $port >"$work/noop.log" 2>&1 &
pids+=($!)
wait_port $port
loadgen --client official --connections 8 --window 64
loadgen --client raw --connections 8 --window 64
loadgen_cxx
stop_last

# Each figure on a fresh schema and a fresh insightd, as the baseline inserts
# into a fresh table: a table already holding the previous figures' rows has
# deeper indexes and makes later figures slower than earlier ones.
on_fresh_pg() {
  start_insightd "$(fresh_pg)"
  "$@"
  stop_last
}
echo "== insightd serve on PostgreSQL (a fresh schema for each figure)"
on_fresh_pg loadgen --client official --connections 8 --window 64
on_fresh_pg loadgen --client raw --connections 8 --window 64
on_fresh_pg loadgen_cxx
on_fresh_pg loadgen --client http --connections 8 --window 200 --per-request 50
on_fresh_pg loadgen --client official --connections 8 --window 64 --rate 5000

# A server of another stack on a fresh database of the same PostgreSQL.
on_fresh_db() {  # what: seed | peer
  psql "$url" -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench_other" \
    -c "CREATE DATABASE bench_other" >/dev/null
  local db="${url%/*}/bench_other"
  case "$1" in
    seed) node bench/ingest/seed_stack.mjs --port $port --db "$db" >"$work/seed.log" 2>&1 & ;;
    peer) (cd "$peer" && PORT=$port DATABASE_URL=$db exec node server.js) >"$work/peer.log" 2>&1 & ;;
  esac
  pids+=($!)
  wait_port $port
  sleep 1  # its schema
  shift
  "$@"
  stop_last
}
echo "== The seed's stack: official socket.io server, one INSERT per event, then the ack"
on_fresh_db seed loadgen --client official --connections 8 --window 64
on_fresh_db seed loadgen --client official --connections 8 --window 64 --rate 5000
if [ -n "$peer" ]; then
  echo "== The group-commit Node.js peer ($peer)"
  on_fresh_db peer loadgen --client official --connections 8 --window 64
  on_fresh_db peer loadgen --client official --connections 8 --window 64 --rate 5000
fi
psql "$url" -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench_other" >/dev/null 2>&1 || true

echo "== insightd serve on SQLite (synchronous=FULL: every commit is fsynced)"
start_insightd "sqlite://$work/bench.db"
loadgen --client official --connections 8 --window 64
loadgen --client official --connections 8 --window 64 --rate 5000
stop_last
