#!/bin/sh
# tests/vm/bench.sh [bench flags...]  -- `make bench-guest`: the bench (tests/bench) in the qemu guest,
# where cgroups are pure v2 (rung-cgroupv2, CLONE_INTO_CGROUP) and crun runs, so rung, rung-warm,
# runc and crun are measured side by side. Binaries are built on the host into .gotmp/ and copied to
# the guest's tmpfs (tests/vm/rung-env.sh); the guest is emulated (TCG), so absolute figures are
# several times the host's and only the ratios carry over.
set -eu
cd "$(dirname "$0")/../.."
GO=${GO:-go}
mkdir -p .gotmp
out=$(mktemp -d "$PWD/.gotmp/bench.XXXXXX")
trap 'rm -rf "$out"' EXIT
chmod 0755 "$out"
GO=$GO PLUGINS="namespaces cgroupv2 seccomp lsm" tests/vm/build-bins.sh "$out/bin"
$GO build -o "$out/bench" ./tests/bench
RUNG_VM_TIMEOUT=${RUNG_VM_TIMEOUT:-3000} tests/vm/run.sh sh -c \
  '. tests/vm/rung-env.sh "$0/bin" || exit 2; cp "$0/bench" /run/rung-guest/ && exec /run/rung-guest/bench -rung "$RUNG_BIN" "$@"' \
  "$out" "$@"
