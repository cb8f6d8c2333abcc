#!/usr/bin/env bash
# The systemd units of deploy/systemd/, checked by `systemd-analyze verify`
# with ExecStart pointing at the built binary (verify checks that it is
# executable); the template is checked as an instance (insightd-serve@3001).
# verify exits 0 on a misspelt key or a value it cannot parse ("…, ignoring"),
# so any line it prints about our units fails the check too; a broken copy
# shows the check can fail. Each unit must also wait longer for the stop than
# SHUTDOWN_GRACE_MS's default (8 s).
#   systemd_verify.sh INSIGHTD_BINARY UNITS_DIR
set -euo pipefail
bin=$1
units=$2
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not found: scripts/deps.sh test installs it (Debian package systemd)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for f in "$units"/*.service; do
  sed "s|/usr/local/bin/insightd|$bin|g" "$f" >"$work/$(basename "$f")"
done

# verify NAME: prints what systemd-analyze says about it; fails when it fails
# or says anything about an insightd unit.
verify() {
  local out
  out=$(cd "$work" && systemd-analyze verify "$work/$1" 2>&1) || {
    echo "$out"
    return 1
  }
  if grep -E "insightd|$1" <<<"$out"; then return 1; fi
  return 0
}

status=0
checked=0
for f in "$work"/*.service; do
  name=$(basename "$f")
  [[ $name == *@.service ]] && name=${name%@.service}@3001.service
  if verify "$name"; then
    echo "ok: $name"
  else
    echo "FAILED: $name"
    status=1
  fi
  stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$f")
  if [ -z "$stop" ] || [ "$stop" -le 8 ]; then
    echo "FAILED: $name: TimeoutStopSec must exceed SHUTDOWN_GRACE_MS's 8 s (got '${stop}')"
    status=1
  fi
  checked=$((checked + 1))
done
[ "$checked" -ge 3 ] || { echo "FAILED: found only $checked units in $units"; status=1; }

# The check itself: a misspelt key must fail it.
sed 's/^ProtectSystem=strict/ProtectSytem=strict/' "$work/insightd.service" >"$work/broken.service"
if verify broken.service >/dev/null; then
  echo "FAILED: a misspelt key went unnoticed"
  status=1
fi
exit $status
