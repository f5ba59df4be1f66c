#!/usr/bin/env bash
# Runs every test (unit and, as root, end to end) and ends with one count
# line. Skips are counted apart: a skip is never a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export RUNG_BIN="$PWD/bin/rung"
go test -count=1 -v -timeout 30m ./... 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
echo
echo "skipped tests and why:"
# go test -v prints a skip's reason on the line before its "--- SKIP".
awk '/^[ \t]*--- SKIP/ { name = $0; sub(/^[ \t]*--- SKIP: /, "", name); sub(/ \(.*/, "", name); print "  " name ": " why; next }
     /^[ \t]+[^ \t]+\.go:[0-9]+: / { why = $0; sub(/^[ \t]+/, "", why) }' "$log" | head -60
pass=$(grep -cE -- '^\s*--- PASS' "$log")
fail=$(grep -cE -- '^\s*--- FAIL' "$log")
skip=$(grep -cE -- '^\s*--- SKIP' "$log")
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
  echo "go test failed outside any test (build error or panic)"
  fail=1
fi
echo "tests: $pass passed, $fail failed, $skip skipped"
exit "$rc"
