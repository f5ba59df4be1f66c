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
go test -count=1 -json -timeout 30m ./... 2>&1 | "$work/summary" -stream -out "$work/first.json"
failed=$("$work/summary" -failed "$work/first.json")
files=("$work/first.json")
if [ -n "$failed" ]; then
  echo
  echo "retrying the packages that failed:" $failed
  # shellcheck disable=SC2086
  go test -count=1 -json -timeout 30m $failed 2>&1 | "$work/summary" -stream -out "$work/retry.json"
  files+=("$work/retry.json")
fi
"$work/summary" "${files[@]}"
