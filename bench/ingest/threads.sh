#!/usr/bin/env bash
# Where insightd's CPU goes at a paced rate: its CPU per acknowledged event,
# user and system, per thread (every thread carries a name), and its commits,
# around one run of the official client (20 connections × 50 in flight) on a
# private PostgreSQL 15 with its default durability, which this script starts
# and stops.
#
#   bench/ingest/threads.sh [--rate 40000] [--connections 20] [--seconds 6] [--bin build/insightd]
#
# Needs build/insightd (or --bin), `npm ci` at the root and
# `npm ci --prefix bench/ingest`.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=lib.sh
source bench/ingest/lib.sh
rate=40000 connections=20 secs=6 bin=build/insightd
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate=$2; shift ;;
    --connections) connections=$2; shift ;;
    --seconds) secs=$2; shift ;;
    --bin) bin=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
bin=$(realpath "$bin")
port=3292 server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  stop_private_pg
}
trap cleanup EXIT
private_pg 55703 1
psql "$PG_BASE/postgres" -q -c "CREATE DATABASE bench" >/dev/null
PORT=$port HOST=127.0.0.1 DATABASE_URL="$PG_BASE/bench" LOG_LEVEL=warn "$bin" serve >"$PG_DIR/server.log" 2>&1 &
server_pid=$!
wait_port $port
sleep 1

tck=$(getconf CLK_TCK)
# name user system, one line per thread name (threads of one name summed)
threads() {
  for t in /proc/"$server_pid"/task/*; do
    echo "$(tr ' ' _ <"$t/comm") $(awk '{ print $14, $15 }' "$t/stat")"
  done | awk '{ u[$1] += $2; s[$1] += $3 } END { for (k in u) print k, u[k], s[k] }' | sort
}
commits() {
  curl -s "http://127.0.0.1:$port/metrics" | awk '/^insightd_ingest_commits_total/ { n += $2 } END { print n + 0 }'
}
threads >"$PG_DIR/before"
c0=$(commits)
out=$(node bench/ingest/loadgen.mjs --url "http://127.0.0.1:$port" --json --client official \
  --connections "$connections" --window 50 --rate "$rate" --duration "$secs" --warmup 0)
threads >"$PG_DIR/after"
c1=$(commits)
read -r acked reached < <(node -e 'const j = JSON.parse(process.argv[1]); console.log(j.acked, j.ackedPerSec)' "$out")

join "$PG_DIR/before" "$PG_DIR/after" | awk -v n="$acked" -v t="$tck" -v r="$reached" -v p="$rate" \
  -v c="$connections" -v commits=$((c1 - c0)) '
  { u = ($4 - $2) / t * 1e6 / n; s = ($5 - $3) / t * 1e6 / n; user += u; sys += s
    if (u + s >= 0.05) line[$1] = sprintf("  %-16s %5.2f µs (user %.2f, system %.2f)", $1, u + s, u, s) }
  END {
    printf "insightd at %d acked events/s (paced %d/s, %d connections): %.2f µs per event (user %.2f, system %.2f)\n", r, p, c, user + sys, user, sys
    printf "commits: %d (%.0f events each)\n", commits, (commits > 0 ? n / commits : 0)
    for (k in line) print line[k]
  }'
