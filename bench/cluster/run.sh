#!/usr/bin/env bash
# Live fan-out across two nodes through Redis (bench/cluster/fanout.mjs).
#   bench/cluster/run.sh POSTGRES_URL [fanout.mjs options: --runs 5 --events 1000 --rate 500]
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { echo "usage: $0 POSTGRES_URL [--runs N] [--events N] [--rate N]" >&2; exit 2; }
pg=$1
shift
INSIGHTD_BIN=$(pwd)/build/insightd INSIGHTD_TEST_PG_URL=$pg \
  REDIS_SERVER_BIN=$(command -v redis-server) exec node bench/cluster/fanout.mjs "$@"
