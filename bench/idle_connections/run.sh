#!/usr/bin/env bash
# The idle-connection memory benchmark of docs/BENCHMARKS.md:
#   bench/idle_connections/run.sh [--server insightd|node|both] [--clients 5000]
#                                 [--runs 3] [--hold 30] [--bin build/insightd]
# Needs build/insightd (cmake --build --preset default --target insightd), `npm ci`
# at the root (socket.io-client) and `npm ci --prefix bench/ingest` (socket.io,
# for --server node or both). Both this client and the server hold one socket per
# client: the open-file limit is raised as far as the hard limit allows.
set -euo pipefail
cd "$(dirname "$0")/../.."
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec node bench/idle_connections/idle.mjs "$@"
