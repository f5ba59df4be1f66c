#!/usr/bin/env bash
# Runs every test (unit and, as root, end to end) and ends with one count
# line. Skips are listed with their reasons: a skip is never a pass. A
# package that fails is run once more; a test that then passes is listed as
# flaky, so a retry never hides.
set -uo pipefail
cd "$(dirname "$0")/.."
export RUNG_BIN="$PWD/bin/rung"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/summary" ./tests/summary || exit 1
# RUNG_GUEST_TESTS=1 also runs the qemu guest suite (tests/vm/guest-test.sh); its packages count
# as guest/PKG.
guest() {
  echo
  echo "guest suite ($1):"
  RUNG_GUEST_JSON=$work/$1.guest.json tests/vm/guest-test.sh >&2 || true
  files+=("$work/$1.guest.json")
}
files=()
go test -count=1 -json -timeout 30m ./... 2>&1 | "$work/summary" -stream -out "$work/first.json"
files+=("$work/first.json")
[ "${RUNG_GUEST_TESTS:-}" = 1 ] && guest first
failed=$("$work/summary" -failed "${files[@]}")
if [ -n "$failed" ]; then
  echo
  echo "retrying the packages that failed:" $failed
  host=$(printf '%s\n' $failed | grep -v '^guest/' | tr '\n' ' ')
  if [ -n "$host" ]; then
    # shellcheck disable=SC2086
    go test -count=1 -json -timeout 30m $host 2>&1 | "$work/summary" -stream -out "$work/retry.json"
    files+=("$work/retry.json")
  fi
  inguest=$(printf '%s\n' $failed | sed -n 's|^guest/||p' | tr '\n' ' ')
  [ -n "$inguest" ] && RUNG_GUEST_PKGS=$inguest guest retry
fi
"$work/summary" "${files[@]}"
