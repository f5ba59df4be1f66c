#!/bin/sh
# tests/vm/conformance.sh BINDIR RUNNER SUITE OUT [runner flags...]  -- runs in the guest
# (`make conformance-guest` boots it): the runtime-tools suite (tests/conformance) against rung from
# BINDIR and the host's runc, on pure cgroup v2 with AppArmor, results under OUT.
set -u
bindir=$1 runner=$2 suite=$3 out=$4; shift 4
. "$(dirname "$0")/rung-env.sh" "$bindir" || exit 2
runc=$(command -v runc)
exec "$runner" -suite "$suite" -work /tmp/conformance -out "$out" -runtime rung="$RUNG_BIN" ${runc:+-runtime runc=$runc} "$@"
