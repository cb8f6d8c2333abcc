#!/usr/bin/env bash
# The data lifecycle's figures on PostgreSQL (docs/BENCHMARKS.md, "Archive,
# export, import"), every one in one run:
#   bench/lifecycle/run.sh POSTGRESQL_URL [EVENTS] [PER_BATCH]
# (defaults 1,000,000 events in batches of 100, the issue's 10,000 batches).
# A schema is filled by SQL with ANALYZED batches of events shaped like the
# load generator's (bench/ingest/loadgen.mjs), sealed long ago; then, each
# command timed with its peak RSS (getrusage of the child):
#   archive  `insightd archive` of every batch (events/s, compression ratio)
#   export   `insightd export` of them all, archived, to a file; the same of a
#            second, hot copy; and of a fifth of it (memory against size)
#   import   `insightd import` of the export into an empty schema, against
#            the live ingestion rate of the C++ load generator
#            (build/bench/loadgen_ws, 8 x 64, 10 s) into `insightd serve`
# Needs build/insightd and build/bench/loadgen_ws. The schemas are dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../ingest/lib.sh
source bench/ingest/lib.sh
# shellcheck source=lib.sh
source bench/lifecycle/lib.sh
url=${1:?usage: bench/lifecycle/run.sh POSTGRESQL_URL [EVENTS] [PER_BATCH]}
events=${2:-1000000}
per_batch=${3:-100}
batches=$((events / per_batch))
bin=$(realpath build/insightd)
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  for s in bench_lc_cold bench_lc_hot bench_lc_import bench_lc_live; do drop_schema "$url" "$s"; done
  rm -rf "$work"
}
trap cleanup EXIT

# measure NAME ENV... -- COMMAND...: runs it, prints "NAME seconds peak_rss_kb"
# and keeps its stderr in $work/NAME.err.
measure() {
  local name=$1
  shift
  python3 - "$work/$name.err" "$@" <<'PY'
import os, resource, subprocess, sys, time
err, args = sys.argv[1], sys.argv[2:]
env = dict(os.environ)
while args and args[0] != "--":
    k, v = args.pop(0).split("=", 1)
    env[k] = v
args.pop(0)
t = time.monotonic()
with open(err, "w") as e:
    rc = subprocess.run(args, env=env, stderr=e, stdout=subprocess.DEVNULL).returncode
secs = time.monotonic() - t
print(f"{secs:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
sys.exit(0 if rc in (0, 3) else rc)
PY
}

echo "== filling: $events events in $batches batches (twice)"
cold=$(fill "$url" bench_lc_cold "$events" "$per_batch")
hot=$(fill "$url" bench_lc_hot "$events" "$per_batch")

read -r secs rss < <(measure archive DATABASE_URL="$cold" ARCHIVE_AFTER_DAYS=1 -- "$bin" archive)
summary=$(tail -1 "$work/archive.err" 2>/dev/null || true)
stats=$(psql "$cold" -Atc 'SELECT COUNT(*), SUM(event_count), SUM(raw_bytes), SUM(length(data)) FROM "ArchivedBatch"')
IFS='|' read -r n_batches n_events raw stored <<<"$stats"
printf 'archive: %s batches, %s events in %.1f s = %.0f events/s; %s bytes -> %s (%.1fx); peak RSS %d KB\n' \
  "$n_batches" "$n_events" "$secs" "$(div $n_events $secs)" "$raw" "$stored" \
  "$(div $raw $stored)" "$rss"

for which in cold hot; do
  db=${!which}
  read -r secs rss < <(measure "export_$which" DATABASE_URL="$db" -- "$bin" export --output "$work/$which.jsonl")
  lines=$(wc -l <"$work/$which.jsonl")
  printf 'export (%s): %s events in %.1f s = %.0f events/s; peak RSS %d KB\n' \
    "$([ $which = cold ] && echo archived || echo hot)" "$lines" "$secs" "$(div $lines $secs)" "$rss"
done
# A fifth of the events: the memory should not depend on the count.
fifth=$(psql "$hot" -Atc "SELECT to_char((MIN(received_at) + (MAX(received_at) - MIN(received_at)) / 5) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM \"Event\"")
read -r secs rss < <(measure export_fifth DATABASE_URL="$hot" -- "$bin" export --to "$fifth" --output "$work/fifth.jsonl")
printf 'export (hot, a fifth): %s events in %.1f s; peak RSS %d KB\n' "$(wc -l <"$work/fifth.jsonl")" "$secs" "$rss"

imp=$(fresh_schema "$url" bench_lc_import)
read -r secs rss < <(measure import DATABASE_URL="$imp" BATCH_MAX_EVENTS="$per_batch" -- "$bin" import "$work/hot.jsonl")
imported=$(psql "$imp" -Atc 'SELECT COUNT(*) FROM "Event"')
import_rate=$(div $imported $secs)
printf 'import: %s events in %.1f s = %.0f events/s; peak RSS %d KB (%s)\n' "$imported" "$secs" "$import_rate" "$rss" \
  "$(tail -1 "$work/import.err")"
head -c "$(( $(stat -c %s "$work/hot.jsonl") / 5 ))" "$work/hot.jsonl" | sed '$d' >"$work/fifth_import.jsonl"
imp5=$(fresh_schema "$url" bench_lc_import)
read -r secs5 rss5 < <(measure import_fifth DATABASE_URL="$imp5" BATCH_MAX_EVENTS="$per_batch" -- "$bin" import "$work/fifth_import.jsonl")
printf 'import (a fifth): %s lines in %.1f s; peak RSS %d KB\n' "$(wc -l <"$work/fifth_import.jsonl")" "$secs5" "$rss5"

live=$(fresh_schema "$url" bench_lc_live)
PORT=3195 HOST=127.0.0.1 DATABASE_URL=$live BATCH_MAX_EVENTS=$per_batch LOG_LEVEL=warn "$bin" serve >"$work/serve.log" 2>&1 &
pid=$!
wait_port 3195
live_rate=$(build/bench/loadgen_ws --port 3195 --duration 10 --connections 8 --window 64 |
  sed -E 's/.*: ([0-9]+) acked events\/s.*/\1/')
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
printf 'live ingestion (C++ client 8 x 64, 10 s): %s events/s; import / live = %.2f\n' "$live_rate" \
  "$(div $import_rate $live_rate)"
