#!/bin/sh
# tests/vm/suite.sh OUT [test flags...]  -- runs in the guest (tests/vm/guest-test.sh boots it): each
# package's test binary OUT/<pkg with / as _>.test in its package directory, as `go test` would, with
# -test.v=test2json, its output also kept in OUT/<pkg with / as _>.out. RUNG_GUEST_PKGS lists the
# packages. Exit status is the first failure's.
#
# rung and its plugins are copied from OUT/bin to the guest's tmpfs first: executing them over 9p
# re-reads every page from the host, which under TCG can push a plugin's start past rung's deadline.
set -u
out=$1; shift
repo=$(pwd)
bin=/run/rung-guest/bin
mkdir -p "$bin" && chmod 0755 /run/rung-guest "$bin" && cp "$out"/bin/* "$bin"/ || exit 2
export RUNG_BIN="$bin/rung"
# Everything here runs 5-50x slower than on real hardware, and more so when the host is busy: give
# each built-in plugin the deadlines an operator of a slow machine would (rung's defaults are 5 s to
# start and 10 s a call), so the tests measure rung and not the emulator.
export RUNG_CONFIG=/run/rung-guest/config.json
cat > "$RUNG_CONFIG" <<'EOF2'
{"plugins": [
  {"stage": "namespaces", "startTimeout": "60s", "timeout": "60s"},
  {"stage": "cgroups", "startTimeout": "60s", "timeout": "60s"},
  {"stage": "seccomp", "startTimeout": "60s", "timeout": "60s"},
  {"stage": "lsm", "startTimeout": "60s", "timeout": "60s"}
]}
EOF2
chmod 0644 "$RUNG_CONFIG"
# TCG translates code the first time it runs it and keeps the translation for those pages: one
# `features` call (all four plugins) takes the first container's plugins well inside their deadline.
"$RUNG_BIN" features >/dev/null 2>&1 || echo "guest: warm-up \`rung features\` failed" >&2
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
