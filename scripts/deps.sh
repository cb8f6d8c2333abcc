#!/usr/bin/env bash
# Installs the Debian 12 packages insightd needs, only those missing.
#   scripts/deps.sh build        what building and running needs
#   scripts/deps.sh build test   ... plus what the test suite needs
set -euo pipefail

build_pkgs=(
  g++ cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libpq-dev libsqlite3-dev libssl-dev
  libcli11-dev libspdlog-dev libfmt-dev libhowardhinnant-date-dev
  libcurl4-openssl-dev libsodium-dev
  librdkafka-dev  # the outbox relay to Kafka (and its mock cluster for the tests)
  libzstd-dev     # the archive's compression
  libhiredis-dev  # Redis (REDIS_URL): what several nodes share
  libjemalloc-dev # the allocator of the insightd binary (INSIGHTD_JEMALLOC)
  nodejs  # npm installs the dashboard's browser libraries (web/package.json)
)
test_pkgs=(
  libgtest-dev libgmock-dev
  postgresql-15 postgresql-client-15
  curl clang-format procps sqlite3 git
  clang libclang-rt-14-dev nodejs libbenchmark-dev
  prometheus  # promtool: checks the alert rules and the /metrics output
  chromium    # the dashboard's browser tests (driven by playwright-core)
  systemd     # systemd-analyze verify checks the units in deploy/systemd
  nginx-light # the load-balancer test runs deploy/nginx/insightd.conf in front of two nodes
  redis-server # the many-node tests share live events and limits through a real Redis
)

want=()
for group in "$@"; do
  case "$group" in
    build) want+=("${build_pkgs[@]}") ;;
    test) want+=("${test_pkgs[@]}") ;;
    *) echo "deps.sh: unknown group '$group' (build, test)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Debian's nodejs comes without npm (NodeSource's bundles it).
if [ ${#want[@]} -gt 0 ] && ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}"
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
# Packages that ship a service (postgresql-15, prometheus) must not start it:
# the tests start their own servers on ports of their own and stop them. A
# policy-rc.d answering 101 ("not allowed") tells the maintainer scripts so.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
