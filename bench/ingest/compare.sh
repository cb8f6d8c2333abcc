#!/usr/bin/env bash
# Side by side, in one run, on a private PostgreSQL 15 this script starts and
# stops: the official client (20 connections × 50 events in flight, best of
# --runs) and its ack latency paced at 5,000 events/s over 10 connections,
# against
#   ceiling   a do-nothing official socket.io server (noop_server.mjs)
#   seed      the seed's stack: socket.io + one INSERT per event (seed_stack.mjs)
#   peer      a group-commit Node.js server (--peer DIR: its folder, `npm ci` done)
#   insightd  `insightd serve`
#   sqlite    `insightd serve` on a SQLite file, the embedded default
#             (synchronous=FULL: every commit fsynced; no PostgreSQL figure)
# with the CPU each server and PostgreSQL spent per acknowledged event in the
# closed-loop run (utime + stime from /proc/PID/stat), and the server's CPU per
# event at a paced 40,000 events/s (20 connections; not for the seed's stack,
# which cannot reach it).
#
#   bench/ingest/compare.sh [--durable] [--peer DIR] [--runs 2] [--seconds 6] [--only NAMES]
# --only "insightd ceiling": those servers only. --base BIN adds a server
# "base", another build of insightd (before/after in one run).
# --durable: PostgreSQL with its default durability (fsync and
# synchronous_commit on), as users run it; without it, fsync=off (labelled).
# Needs build/insightd, `npm ci` at the root and `npm ci --prefix bench/ingest`.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=lib.sh
source bench/ingest/lib.sh
durable=0 peer="" runs=2 secs=6 only="" base_bin=
while [ $# -gt 0 ]; do
  case "$1" in
    --durable) durable=1 ;;
    --peer) peer=$(cd "$2" && pwd); shift ;;
    --runs) runs=$2; shift ;;
    --seconds) secs=$2; shift ;;
    --only) only=$2; shift ;;
    --base) base_bin=$(realpath "$2"); shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

pgport=55700 port=3290 server_pid=""
stop_server() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; server_pid=""; }
cleanup() {
  stop_server
  stop_private_pg
}
trap cleanup EXIT
private_pg $pgport $durable
base=$PG_BASE
pgdir=$PG_DIR
echo "PostgreSQL 15: $(pg_durability "$base/postgres")"

# CPU seconds (user + system) of a process, and of every PostgreSQL process.
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }
pg_cpu() {
  local sum=0 p pm
  pm=$(head -1 "$pgdir/data/postmaster.pid")
  for p in "$pm" $(pgrep -P "$pm" || true); do
    if [ -r "/proc/$p/stat" ]; then sum=$(awk -v s="$sum" -v t="$(getconf CLK_TCK)" '{ print s + ($14 + $15) / t }' "/proc/$p/stat"); fi
  done
  echo "$sum"
}
field() { node -e "process.stdout.write(String(JSON.parse(process.argv[1])[process.argv[2]]))" "$1" "$2"; }
loadgen() { node bench/ingest/loadgen.mjs --url "http://127.0.0.1:$port" --json --client official "$@"; }

start_server() {  # name database-url
  case "$1" in
    ceiling) node bench/ingest/noop_server.mjs --port $port >"$pgdir/server.log" 2>&1 & ;;
    seed) node bench/ingest/seed_stack.mjs --port $port --db "$2" >"$pgdir/server.log" 2>&1 & ;;
    peer) (cd "$peer" && PORT=$port DATABASE_URL=$2 exec node server.js) >"$pgdir/server.log" 2>&1 & ;;
    insightd) PORT=$port HOST=127.0.0.1 DATABASE_URL=$2 LOG_LEVEL=warn build/insightd serve >"$pgdir/server.log" 2>&1 & ;;
    base) PORT=$port HOST=127.0.0.1 DATABASE_URL=$2 LOG_LEVEL=warn "$base_bin" serve >"$pgdir/server.log" 2>&1 & ;;
    sqlite)
      rm -f "$pgdir"/bench.db*
      PORT=$port HOST=127.0.0.1 DATABASE_URL="sqlite://$pgdir/bench.db" LOG_LEVEL=warn build/insightd serve >"$pgdir/server.log" 2>&1 &
      ;;
  esac
  server_pid=$!
  wait_port $port
  sleep 1
}

servers=(ceiling seed)
[ -n "$peer" ] && servers+=(peer)
servers+=(insightd sqlite)
[ -n "$base_bin" ] && servers+=(base)
# shellcheck disable=SC2206
[ -n "$only" ] && servers=($only)
printf '%-9s %14s %12s %14s %14s %22s\n' server "acked events/s" "p99 @5,000/s" "server µs/ev" "postgres µs/ev" "µs/ev @40,000/s"
for name in "${servers[@]}"; do
  best=0 best_cpu="" best_pg=""
  for _ in $(seq "$runs"); do
    psql "$base/postgres" -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench" >/dev/null
    start_server "$name" "$base/bench"
    c0=$(cpu_of "$server_pid") p0=$(pg_cpu)
    out=$(loadgen --connections 20 --window 50 --duration "$secs" --warmup 0)
    c1=$(cpu_of "$server_pid") p1=$(pg_cpu)
    rate=$(field "$out" ackedPerSec) acked=$(field "$out" acked)
    if [ "$rate" -gt "$best" ]; then
      best=$rate
      best_cpu=$(awk -v a="$c0" -v b="$c1" -v n="$acked" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
      best_pg=$(awk -v a="$p0" -v b="$p1" -v n="$acked" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
    fi
    stop_server
  done
  psql "$base/postgres" -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench" >/dev/null
  start_server "$name" "$base/bench"
  paced=$(loadgen --connections 10 --window 50 --rate 5000 --duration "$secs")
  stop_server
  at40="-"
  if [ "$name" != seed ]; then
    psql "$base/postgres" -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench" >/dev/null
    start_server "$name" "$base/bench"
    c0=$(cpu_of "$server_pid")
    out=$(loadgen --connections 20 --window 50 --rate 40000 --duration "$secs" --warmup 0)
    c1=$(cpu_of "$server_pid")
    # The CPU per event, and the rate reached (a server that cannot reach
    # 40,000/s is measured at its own ceiling).
    at40=$(awk -v a="$c0" -v b="$c1" -v n="$(field "$out" acked)" -v r="$(field "$out" ackedPerSec)" \
      'BEGIN { printf "%.1f (%d/s)", (b - a) * 1e6 / n, r }')
    stop_server
  fi
  [ "$name" = ceiling ] || [ "$name" = sqlite ] && best_pg="-"
  printf '%-9s %14s %9s ms %14s %14s %22s\n' "$name" "$best" "$(field "$paced" p99ms)" "$best_cpu" "$best_pg" "$at40"
done
