#!/bin/bash
# tests/vm/guest-test.sh [go test flags...]  -- `make guest-test`: build rung, its plugins and the
# guest test binaries on the host, boot one guest (tests/vm/run.sh: pure cgroup v2, AppArmor) and run
# them there, then print the skips with their reasons and one count line. Exit status is non-zero
# if any test failed or the guest gave no exit code. Extra arguments go to every test binary
# (e.g. -test.run 'Pids|AppArmor'); RUNG_GUEST_PKGS picks the packages (default: all three below).
#
# What runs in the guest, in order (see tests/vm/suite.sh):
#   tests/guest             rung containers: cgroup limits, update, pause, devices, events, ps; AppArmor
#   plugins/cgroupv2/...    the stage's own kernel tests (TestLimitsApplied, TestOOMEvent need the guest)
#   plugins/lsm/...         detection and rung-default confinement with AppArmor really on
#
# Binaries go to a private temp dir under .gotmp/, not bin/: other `make` runs may rewrite bin/
# while the guest executes from it over 9p.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
GO=${GO:-go}
PLUGINS=${PLUGINS:-namespaces cgroupv2 seccomp lsm}
mkdir -p .gotmp
out=$(mktemp -d "$PWD/.gotmp/guest.XXXXXX")
trap 'rm -rf "$out"' EXIT
# Kept after the run; one per run, as several runs may share the tree.
log=$out.log
chmod 0755 "$out"

start=$(date +%s)
GO=$GO PLUGINS=$PLUGINS tests/vm/build-bins.sh "$out/bin"
export RUNG_GUEST_PKGS=${RUNG_GUEST_PKGS:-tests/guest plugins/cgroupv2 plugins/cgroupv2/cgroupfs plugins/cgroupv2/devfilter plugins/lsm plugins/lsm/lsmhost plugins/lsm/apparmor}
for pkg in $RUNG_GUEST_PKGS; do
  $GO test -c -o "$out/$(echo "$pkg" | tr / _).test" "./$pkg"
done
built=$(date +%s)
echo "guest-test: built in $((built - start)) s; booting the guest" >&2

rc=0
RUNG_VM_TIMEOUT=${RUNG_VM_TIMEOUT:-660} tests/vm/run.sh sh tests/vm/suite.sh "$out" "$@" 2>&1 | tee "$log" || rc=$?
end=$(date +%s)

echo
# test2json's framing marks the result lines with ^V (0x16).
plain=$out.plain; sed 's/\x16//g' "$log" > "$plain"
echo "skipped tests and why:"
awk '/^[ \t]*--- SKIP/ { name = $0; sub(/^[ \t]*--- SKIP: /, "", name); sub(/ \(.*/, "", name); print "  " name ": " why; next }
     /^[ \t]+[^ \t]+\.go:[0-9]+: / { why = $0; sub(/^[ \t]+/, "", why) }' "$plain" | head -40
pass=$(grep -cE -- '^\s*--- PASS' "$plain" || true)
fail=$(grep -cE -- '^\s*--- FAIL' "$plain" || true)
skip=$(grep -cE -- '^\s*--- SKIP' "$plain" || true)
rm -f "$plain"
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
  echo "guest-test: the guest run failed outside any test (exit $rc)"
  fail=1
fi
# RUNG_GUEST_JSON=FILE: the results as `go test -json`, each package named guest/PKG (the same
# packages also run on the host), for tests/run.sh's summary. A package with no exit code from the
# guest (it hung, or the guest died) counts as a failure outside any test.
if [ -n "${RUNG_GUEST_JSON:-}" ]; then
  for pkg in $RUNG_GUEST_PKGS; do
    name=$(echo "$pkg" | tr / _)
    [ -f "$out/$name.out" ] && $GO tool test2json -p "guest/$pkg" < "$out/$name.out"
    if [ ! -s "$out/$name.rc" ] || [ "$(cat "$out/$name.rc")" != 0 ]; then
      printf '{"Action":"output","Package":"guest/%s","Output":"guest-test: no success exit code from the guest (run exit %s)\\n"}\n{"Action":"fail","Package":"guest/%s"}\n' "$pkg" "$rc" "$pkg"
    fi
  done > "$RUNG_GUEST_JSON"
fi
echo "guest tests: $pass passed, $fail failed, $skip skipped; build $((built - start)) s, guest $((end - built)) s; log $log"
exit "$rc"
