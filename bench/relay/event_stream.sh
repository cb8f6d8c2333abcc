#!/usr/bin/env bash
# What KAFKA_EVENTS costs ingestion, and how soon events reach the broker: one
# binary, all-in-one on PostgreSQL, relaying to build/kafka-mock, with the
# event stream off (KAFKA_BROKERS set, KAFKA_EVENTS=false) and on, alternating,
# each figure on a fresh schema:
#   bench/relay/event_stream.sh BINARY POSTGRESQL_URL [ROUNDS] [SECONDS]
# Per round and setting: the official client 8 × 64 (events/s), the C++ client
# 8 × 64 (events/s), the official client paced at 5,000 events/s (p99 ack ms)
# and, with the stream on, the p99 from an event's receipt to the broker's
# acknowledgement during that paced run (insightd_kafka_event_lag_seconds, the
# upper bound of its bucket). Needs `npm ci` at the root, build/bench/loadgen_ws
# and build/kafka-mock. docs/BENCHMARKS.md quotes the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../ingest/lib.sh
source bench/ingest/lib.sh
bin=${1:?usage: event_stream.sh BINARY POSTGRESQL_URL [ROUNDS] [SECONDS]}
url=${2:?}
rounds=${3:-3}
secs=${4:-8}
port=3193
work=$(mktemp -d)
pid=
mock=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  [ -n "$mock" ] && kill "$mock" 2>/dev/null || true
  wait 2>/dev/null || true
  drop_schema "$url" bench_events
  rm -rf "$work"
}
trap cleanup EXIT

build/kafka-mock >"$work/bootstrap" &
mock=$!
for _ in $(seq 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
brokers=$(head -1 "$work/bootstrap")

# The event lag histogram's buckets: "le cumulative" lines.
lag_buckets() {
  curl -s "http://127.0.0.1:$port/metrics" |
    sed -nE 's/^insightd_kafka_event_lag_seconds_bucket\{le="([^"]+)"\} ([0-9]+)$/\1 \2/p'
}
# The p99 bucket bound (ms) of the events between two lag_buckets snapshots.
lag_p99() {
  paste "$1" "$2" | awk '{ n++; bound[n] = $1; d[n] = $4 - $2 } END {
    total = d[n]; if (total <= 0) { print "-"; exit }
    for (i = 1; i <= n; i++) if (d[i] >= 0.99 * total) { print (bound[i] == "+Inf" ? "inf" : bound[i] * 1000); exit }
  }'
}
# One figure against a fresh all-in-one (events: true|false) on a fresh schema.
figure() {
  local events=$1
  shift
  KAFKA_BROKERS=$brokers KAFKA_TOPIC_PREFIX=bench. KAFKA_EVENTS=$events PORT=$port HOST=127.0.0.1 \
    DATABASE_URL=$(fresh_schema "$url" bench_events) LOG_LEVEL=warn "$bin" >"$work/log" 2>&1 &
  pid=$!
  wait_port $port
  "$@"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}
official() { node bench/ingest/loadgen.mjs --url "http://127.0.0.1:$port" --duration "$secs" --json "$@"; }
cxx() {
  build/bench/loadgen_ws --port "$port" --duration "$secs" --connections 8 --window 64 |
    sed -E 's/.*: ([0-9]+) acked events\/s.*/{"ackedPerSec":\1}/'
}
# Warm up (the producer connects, the stream starts), then the measured run;
# the lag is that of the measured run's events only.
paced() {
  official --client official --connections 8 --window 64 --rate 5000 --duration 2 >/dev/null
  sleep 1
  lag_buckets >"$work/before"
  official --client official --connections 8 --window 64 --rate 5000 | tail -1 >"$work/paced"
  sleep 1  # the last events reach the broker
  lag_buckets >"$work/after"
  lag_p99 "$work/before" "$work/after" >"$work/lag"
}

for r in $(seq "$rounds"); do
  for events in false true; do
    o=$(figure $events official --client official --connections 8 --window 64 | tail -1)
    c=$(figure $events cxx | tail -1)
    figure $events paced
    echo "$r $events $(jq -r .ackedPerSec <<<"$o") $(jq -r .ackedPerSec <<<"$c")" \
      "$(jq -r .p99ms "$work/paced") $(cat "$work/lag")" | tee -a "$work/rows"
  done
done
echo "== medians over $rounds rounds: official events/s, C++ events/s, p99 ack ms at 5,000/s," \
  "p99 receipt -> broker ms (bucket bound)"
for events in false true; do
  printf 'KAFKA_EVENTS=%s' "$events"
  for col in 3 4 5 6; do
    printf ' %s' "$(awk -v w=$events -v c=$col '$2 == w {print $c}' "$work/rows" | sort -n |
      awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')"
  done
  echo
done
