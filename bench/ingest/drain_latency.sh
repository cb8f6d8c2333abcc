#!/usr/bin/env bash
# Ingestion latency while the analysis workers drain a backlog (the all-in-one
# process, where ingestion and workers share one database), two binaries side
# by side, alternating, each figure on a fresh database:
#   bench/ingest/drain_latency.sh OLD_BINARY NEW_BINARY [ROUNDS] [DATABASE]
# DATABASE: "sqlite" (default; a fresh file each time) or a PostgreSQL URL (a
# fresh schema each time). Per round and binary, with the official client:
#   fresh  – 5 s paced at 5,000 events/s on an idle server: ack p50/p99/max
#   burst  – 6 s at full speed, 20 connections × 50 in flight (seals thousands
#            of batches: the backlog)
#   after  – at once, 5 s paced at 5,000 events/s again: ack p50/p99/max,
#            while the workers drain; jobs finished during it (with traffic)
#   drain  – then, with no traffic, the seconds until no job waits
# Needs `npm ci` at the root. docs/BENCHMARKS.md quotes the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=lib.sh
source bench/ingest/lib.sh
old=${1:?usage: drain_latency.sh OLD NEW [ROUNDS] [sqlite|POSTGRESQL_URL]}
new=${2:?}
rounds=${3:-3}
database=${4:-sqlite}
port=3192
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [ "$database" = sqlite ] || drop_schema "$database" bench_drain
  rm -rf "$work"
}
trap cleanup EXIT

fresh_db() {
  if [ "$database" = sqlite ]; then
    rm -rf "$work/db"
    echo "sqlite://$work/db/insightd.db"
  else
    fresh_schema "$database" bench_drain
  fi
}
# The jobs still to run (pending + running), from /metrics.
waiting_jobs() {
  curl -s "http://127.0.0.1:$port/metrics" |
    awk '/^insightd_jobs\{status="(pending|running)"\}/ {n += $2} END {print n + 0}'
}
paced() {
  node bench/ingest/loadgen.mjs --url "http://127.0.0.1:$port" --client official --connections 20 \
    --window 50 --rate 5000 --duration 5 --warmup 0 --json | tail -1
}

for r in $(seq "$rounds"); do
  for which in old new; do
    bin=$old
    [ $which = new ] && bin=$new
    PORT=$port HOST=127.0.0.1 DATABASE_URL=$(fresh_db) LOG_LEVEL=warn "$bin" >"$work/log" 2>&1 &
    pid=$!
    wait_port $port
    fresh=$(paced)
    node bench/ingest/loadgen.mjs --url "http://127.0.0.1:$port" --client official --connections 20 \
      --window 50 --duration 6 --warmup 0 --json >"$work/burst.json"
    backlog=$(waiting_jobs)  # /metrics' store figures may be up to a second old
    after=$(paced)
    sleep 1.2
    left=$(waiting_jobs)
    start=$(date +%s.%N)
    while [ "$(waiting_jobs)" -gt 0 ]; do sleep 0.2; done
    drain=$(echo "$(date +%s.%N) - $start" | bc)
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    echo "$r $which $(jq -r '"\(.p50ms) \(.p99ms) \(.maxms)"' <<<"$fresh")" \
      "$(jq -r '.ackedPerSec' "$work/burst.json") $backlog" \
      "$(jq -r '"\(.p50ms) \(.p99ms) \(.maxms)"' <<<"$after") $((backlog - left)) $left $drain" |
      tee -a "$work/rows"
  done
done
echo "== medians over $rounds rounds ($database):"
echo "   fresh p50 p99 max | burst events/s, jobs waiting | after p50 p99 max | jobs run in the 5 s, left | quiet drain s"
for which in old new; do
  printf '%s' "$which"
  for col in 3 4 5 6 7 8 9 10 11 12 13; do
    printf ' %s' "$(awk -v w=$which -v c=$col '$2 == w {print $c}' "$work/rows" | sort -n |
      awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')"
  done
  echo
done
