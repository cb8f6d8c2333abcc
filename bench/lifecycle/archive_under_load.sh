#!/usr/bin/env bash
# Ingestion at full speed with the archiver at work beside it, and without
# (docs/BENCHMARKS.md, "Archive, export, import"), on PostgreSQL:
#   bench/lifecycle/archive_under_load.sh POSTGRESQL_URL [ROUNDS] [EVENTS]
# Each round runs both cases, alternating which goes first, each on a schema
# freshly filled with EVENTS (default 1,000,000) old analyzed events in
# batches of 100 (lib.sh's fill), so the database is the same size in both:
#   archiving  the all-in-one `insightd` with ARCHIVE_AFTER_DAYS=1: its first
#              pass starts with the process and moves every old batch
#   idle       the same with ARCHIVE_AFTER_DAYS=36500: nothing to move
# and the C++ load generator at full speed (8 connections x 64 in flight,
# 2 s warm-up, 10 s measured). Prints acked events/s of both, how many events
# the archiver had moved when the window ended (it must still be running
# then for the figure to mean anything), and checks that every event acked
# in the window is stored. Needs build/insightd and build/bench/loadgen_ws.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../ingest/lib.sh
source bench/ingest/lib.sh
# shellcheck source=lib.sh
source bench/lifecycle/lib.sh
url=${1:?usage: bench/lifecycle/archive_under_load.sh POSTGRESQL_URL [ROUNDS] [EVENTS]}
rounds=${2:-3}
events=${3:-1000000}
bin=$(realpath build/insightd)
port=3196
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  drop_schema "$url" bench_lc_load
  rm -rf "$work"
}
trap cleanup EXIT

# one CASE DAYS: prints "rate archived_in_window"
one() {
  local db out rate acked stored archived
  db=$(fill "$url" bench_lc_load "$events" 100)
  PORT=$port HOST=127.0.0.1 DATABASE_URL=$db ARCHIVE_AFTER_DAYS=$2 BATCH_MAX_EVENTS=100 \
    LOG_LEVEL=warn "$bin" >"$work/$1.log" 2>&1 &
  pid=$!
  wait_port $port
  out=$(build/bench/loadgen_ws --port $port --duration 10 --warmup 2 --connections 8 --window 64)
  archived=$(psql "$db" -Atc 'SELECT COALESCE(SUM(event_count), 0) FROM "ArchivedBatch"')
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  rate=$(sed -E 's/.*: ([0-9]+) acked events\/s.*/\1/' <<<"$out")
  acked=$(sed -E 's/.*\(([0-9]+) in .*/\1/' <<<"$out")
  stored=$(psql "$db" -Atc "SELECT COUNT(*) FROM \"Event\" WHERE event_id LIKE 'lgc-%'")
  if [ "$stored" -lt "$acked" ]; then
    echo "LOST: $acked events acked in the window, $stored stored" >&2
    exit 1
  fi
  echo "$rate $archived"
}

declare -a with without
for r in $(seq "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then
    read -r a moved < <(one archiving 1)
    read -r b _ < <(one idle 36500)
  else
    read -r b _ < <(one idle 36500)
    read -r a moved < <(one archiving 1)
  fi
  with+=("$a")
  without+=("$b")
  printf 'round %d: idle %s events/s, archiving %s events/s (%s); %s of %s events archived in the window\n' \
    "$r" "$b" "$a" "$(div "$a" "$b")" "$moved" "$events"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m_with=$(median "${with[@]}")
m_without=$(median "${without[@]}")
printf 'medians of %d rounds: idle %s events/s, archiving %s events/s: %s\n' "$rounds" "$m_without" \
  "$m_with" "$(div "$m_with" "$m_without")"
