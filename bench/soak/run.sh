#!/usr/bin/env bash
# The soak run: `insightd serve` on a private PostgreSQL 15 with its default
# durability (fsync and synchronous_commit on), fed by the official
# socket.io-client at a steady rate for a long time. Every 10 s it samples the
# server's resident memory, its open file descriptors, the ack latency p50/p99
# of those 10 s and the commit time (mean and p99 bucket), into a CSV, then
# plots all four over time with gnuplot (Debian's gnuplot-nox).
#
#   bench/soak/run.sh [--minutes 30] [--rate 10000] [--connections 10] [--out docs/soak]
# writes OUT.csv and OUT.png. Needs build/insightd, `npm ci` at the root and
# `npm ci --prefix bench/ingest`; gnuplot for the plot (apt-get install gnuplot-nox).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../ingest/lib.sh
source bench/ingest/lib.sh
minutes=30 rate=10000 connections=10 out=docs/soak
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift ;;
    --rate) rate=$2; shift ;;
    --connections) connections=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

pgport=55710 port=3291 server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  stop_private_pg
}
trap cleanup EXIT
private_pg $pgport 1
base=$PG_BASE
pgdir=$PG_DIR
psql "$base/postgres" -q -c "CREATE DATABASE soak" >/dev/null

PORT=$port HOST=127.0.0.1 DATABASE_URL="$base/soak" LOG_LEVEL=warn build/insightd serve \
  >"$pgdir/server.log" 2>&1 &
server_pid=$!
wait_port $port
echo "soak: insightd serve (pid $server_pid) on PostgreSQL 15, default durability;" \
  "$rate events/s over $connections official clients for $minutes min, a sample every 10 s"
mkdir -p "$(dirname "$out")"
node bench/soak/sample.mjs --pid "$server_pid" --url "http://127.0.0.1:$port" --rate "$rate" \
  --connections "$connections" --minutes "$minutes" --every 10 --csv "$out.csv"
echo "soak: $(psql "$base/soak" -Atc 'SELECT COUNT(*) FROM "Event"') events stored"
# PostgreSQL's checkpoints (logged by default), to set beside the latency's peaks.
grep -E "checkpoint (starting|complete)" "$pgdir/log" | sed 's/^/soak: postgres: /' || true

if command -v gnuplot >/dev/null; then
  gnuplot -e "csv='$out.csv'; png='$out.png'; title='insightd serve, $rate events/s, PostgreSQL default durability'" \
    bench/soak/plot.gp
  echo "soak: $out.csv and $out.png"
else
  echo "soak: $out.csv (no gnuplot: apt-get install gnuplot-nox for the plot)"
fi
