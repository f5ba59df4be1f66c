#!/bin/sh
# tests/vm/suite.sh OUT [test flags...]  -- runs in the guest (tests/vm/guest-test.sh boots it): each
# package's test binary OUT/<pkg with / as _>.test in its package directory, as `go test` would, with
# -test.v=test2json, its output also kept in OUT/<pkg with / as _>.out. RUNG_GUEST_PKGS lists the
# packages. Exit status is the first failure's.
#
# rung and its plugins are copied from OUT/bin to the guest's tmpfs first (tests/vm/rung-env.sh).
set -u
out=$1; shift
repo=$(pwd)
. "$(dirname "$0")/rung-env.sh" "$out/bin" || exit 2
rc=0
for pkg in ${RUNG_GUEST_PKGS:-tests/guest}; do
  t="$out/$(echo "$pkg" | tr / _).test"
  cp "$t" /run/rung-guest/ && t=/run/rung-guest/${t##*/}
  # tests/guest runs two containers at a time, one per vCPU. The plugins' packages run -short: their
  # plugin-process tests `go build` the plugin (slow here; `make test` runs them on the host).
  par=-test.short; [ "$pkg" = tests/guest ] && par="-test.parallel 2"
  echo "=== guest: $pkg"
  t0=$(date +%s)
  # test2json's framing, so the host can turn the output into `go test -json` (guest-test.sh):
  # still readable as it streams by.
  name=$(echo "$pkg" | tr / _)
  { (cd "$repo/$pkg" && "$t" -test.v=test2json -test.count=1 -test.timeout 8m $par "$@"); echo $? > "$out/$name.rc"; } |
    tee "$out/$name.out"
  r=$(cat "$out/$name.rc")
  echo "=== guest: $pkg exit $r in $(($(date +%s) - t0)) s"
  [ "$rc" -ne 0 ] || rc=$r
done
exit $rc
