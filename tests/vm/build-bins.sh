#!/bin/sh
# tests/vm/build-bins.sh DIR  -- builds rung, rung-init and the plugins into DIR for a guest run (not
# bin/, which other builds may rewrite while the guest runs from it). VERSION names the build.
set -eu
GO=${GO:-go}
PLUGINS=${PLUGINS:-namespaces cgroupv1 cgroupv2 seccomp lsm landlock}
mkdir -p "$1"
# The Makefile's own build, flags and tags, into DIR.
make -s --no-print-directory GO="$GO" BIN="$1" PLUGINS="$PLUGINS" VERSION="${VERSION:-guest-test}" all
