#!/usr/bin/env bash
# Two insightd binaries side by side on one PostgreSQL, alternating, each figure
# on a fresh schema: for "this change costs less than X %" claims on a shared,
# noisy machine (docs/BENCHMARKS.md quotes the medians).
#   bench/ingest/side_by_side.sh OLD_BINARY NEW_BINARY POSTGRESQL_URL [ROUNDS] [SECONDS]
# Per round and binary: the official client 8 × 64 (events/s), the C++ client
# 8 × 64 (events/s), and the official client paced at 5,000 events/s (p99 ms).
# Needs `npm ci` at the root and build/bench/loadgen_ws.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=lib.sh
source bench/ingest/lib.sh
old=${1:?usage: side_by_side.sh OLD NEW POSTGRESQL_URL [ROUNDS] [SECONDS]}
new=${2:?}
url=${3:?}
rounds=${4:-5}
secs=${5:-8}
port=3191
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  drop_schema "$url" bench_sbs
  rm -rf "$work"
}
trap cleanup EXIT

fresh_pg() { fresh_schema "$url" bench_sbs; }
# Runs one figure against a fresh insightd ($1) on a fresh schema; prints the JSON line.
figure() {
  local bin=$1
  shift
  PORT=$port HOST=127.0.0.1 DATABASE_URL=$(fresh_pg) LOG_LEVEL=warn "$bin" serve >"$work/log" 2>&1 &
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

for r in $(seq "$rounds"); do
  for which in old new; do
    bin=$old
    [ $which = new ] && bin=$new
    o=$(figure "$bin" official --client official --connections 8 --window 64 | tail -1)
    c=$(figure "$bin" cxx | tail -1)
    p=$(figure "$bin" official --client official --connections 8 --window 64 --rate 5000 | tail -1)
    echo "$r $which $(jq -r .ackedPerSec <<<"$o") $(jq -r .ackedPerSec <<<"$c") $(jq -r .p99ms <<<"$p")" |
      tee -a "$work/rows"
  done
done
echo "== medians over $rounds rounds: official events/s, C++ events/s, p99 ms at 5,000/s"
for which in old new; do
  printf '%s' "$which"
  for col in 3 4 5; do
    printf ' %s' "$(awk -v w=$which -v c=$col '$2 == w {print $c}' "$work/rows" | sort -n |
      awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')"
  done
  echo
done
