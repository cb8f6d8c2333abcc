#!/usr/bin/env bash
# Ingestion latency while the analysis workers drain a backlog, two binaries
# side by side, alternating, each figure on a fresh database:
#   bench/ingest/drain_latency.sh OLD_BINARY NEW_BINARY [ROUNDS] [DATABASE] [LAYOUT]
# DATABASE: "sqlite" (default; a fresh file each time) or a PostgreSQL URL (a
# fresh schema each time). LAYOUT: "all" (default; one all-in-one process,
# where ingestion and the workers share the database) or "split" (PostgreSQL
# only: `insightd serve` + `insightd work`). Per round and binary, with the
# official client:
#   fresh  – 5 s paced at 5,000 events/s on an idle server: ack p50/p99/max
#   burst  – 6 s (BURST_SECONDS) at full speed, 20 connections × 50 in flight
#            (seals thousands of batches: the backlog); then the jobs run during
#            it, the jobs still waiting, and how long the oldest of them waited
#   after  – at once, 5 s paced at 5,000 events/s again: ack p50/p99/max,
#            while the workers drain; the same traffic goes on until no job
#            waits: the seconds from the end of the burst ("drain with traffic")
#   quiet  – a second identical burst, then no traffic: the seconds until no
#            job waits ("drain without traffic")
# Job counts are read from the database itself (exact, not /metrics' cached
# figures). Needs `npm ci` at the root, sqlite3 or psql, jq, bc.
# docs/BENCHMARKS.md quotes the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=lib.sh
source bench/ingest/lib.sh
old=${1:?usage: drain_latency.sh OLD NEW [ROUNDS] [sqlite|POSTGRESQL_URL] [all|split]}
new=${2:?}
rounds=${3:-3}
database=${4:-sqlite}
layout=${5:-all}
burst_seconds=${BURST_SECONDS:-6}
if [ "$layout" = split ] && [ "$database" = sqlite ]; then
  echo "the split layout needs PostgreSQL" >&2
  exit 2
fi
port=3192
work=$(mktemp -d)
pids=()
traffic=
cleanup() {
  [ -n "$traffic" ] && kill "$traffic" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "$database" = sqlite ] || drop_schema "$database" bench_drain
  rm -rf "$work"
}
trap cleanup EXIT

url=
fresh_db() {
  if [ "$database" = sqlite ]; then
    rm -rf "$work/db"
    url="sqlite://$work/db/insightd.db"
  else
    url=$(fresh_schema "$database" bench_drain)
  fi
}
sql() {
  if [ "$database" = sqlite ]; then
    sqlite3 "$work/db/insightd.db" ".timeout 10000" "$1"
  else
    psql "$database" -qtA -c "SET search_path = bench_drain; $1" | tail -1
  fi
}
# The jobs still to run (pending + running).
waiting_jobs() { sql "SELECT count(*) FROM \"AnalysisJob\" WHERE status IN ('PENDING', 'RUNNING')"; }
# Every job so far (one per sealed batch).
all_jobs() { sql "SELECT count(*) FROM \"AnalysisJob\""; }
# How long the oldest job that has not started yet has waited, in seconds.
oldest_wait() {
  if [ "$database" = sqlite ]; then
    sql "SELECT coalesce(round((julianday('now') - julianday(min(created_at))) * 86400, 2), 0)
         FROM \"AnalysisJob\" WHERE status = 'PENDING'"
  else
    sql "SELECT coalesce(round(extract(epoch FROM now() - min(created_at))::numeric, 2), 0)
         FROM \"AnalysisJob\" WHERE status = 'PENDING'"
  fi
}
loadgen() {
  node bench/ingest/loadgen.mjs --url "http://127.0.0.1:$port" --client official --connections 20 \
    --window 50 --warmup 0 --json "$@"
}
paced() { loadgen --rate 5000 "$@"; }
burst() { loadgen --duration "$burst_seconds" | tail -1; }
# Seconds (since START, from `date +%s.%N`) until no job waits, polled every 0.2 s.
until_drained() {
  while [ "$(waiting_jobs)" -gt 0 ]; do sleep 0.2; done
  echo "$(date +%s.%N) - $1" | bc
}
start_server() {
  local bin=$1
  if [ "$layout" = all ]; then
    PORT=$port HOST=127.0.0.1 DATABASE_URL=$url LOG_LEVEL=warn "$bin" >"$work/log" 2>&1 &
    pids+=($!)
  else
    PORT=$port HOST=127.0.0.1 DATABASE_URL=$url LOG_LEVEL=warn "$bin" serve >"$work/log" 2>&1 &
    pids+=($!)
    DATABASE_URL=$url LOG_LEVEL=warn "$bin" work >"$work/log.work" 2>&1 &
    pids+=($!)
  fi
  wait_port $port
}
stop_server() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}

for r in $(seq "$rounds"); do
  for which in old new; do
    bin=$old
    [ $which = new ] && bin=$new
    fresh_db
    start_server "$bin"
    fresh=$(paced --duration 5 | tail -1)
    rate=$(burst | jq -r '.ackedPerSec')
    end=$(date +%s.%N)
    backlog=$(waiting_jobs)
    waited=$(oldest_wait)
    ran=$(($(all_jobs) - backlog))
    # The measured 5 s, then more of the same traffic until the drain is over.
    rm -f "$work/after.json"
    (
      paced --duration 5 | tail -1 >"$work/after.json.part"
      mv "$work/after.json.part" "$work/after.json"
      exec node bench/ingest/loadgen.mjs --url "http://127.0.0.1:$port" --client official \
        --connections 20 --window 50 --warmup 0 --rate 5000 --duration 300 >/dev/null 2>&1
    ) &
    traffic=$!
    with_traffic=$(until_drained "$end")
    while [ ! -s "$work/after.json" ]; do sleep 0.1; done
    after=$(cat "$work/after.json")
    kill "$traffic" 2>/dev/null || true
    wait "$traffic" 2>/dev/null || true
    traffic=
    burst >/dev/null
    quiet=$(until_drained "$(date +%s.%N)")
    stop_server
    echo "$r $which $(jq -r '"\(.p50ms) \(.p99ms) \(.maxms)"' <<<"$fresh") $rate $ran $backlog $waited" \
      "$(jq -r '"\(.p50ms) \(.p99ms) \(.maxms)"' <<<"$after") $with_traffic $quiet" |
      tee -a "$work/rows"
  done
done
echo "== medians over $rounds rounds ($database, $layout):"
echo "   fresh p50 p99 max | burst events/s, jobs run in it, jobs waiting, oldest waited s |" \
  "after p50 p99 max |" \
  "drain s with traffic, without"
for which in old new; do
  printf '%s' "$which"
  for col in 3 4 5 6 7 8 9 10 11 12 13 14; do
    printf ' %s' "$(awk -v w=$which -v c=$col '$2 == w {print $c}' "$work/rows" | sort -n |
      awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')"
  done
  echo
done
