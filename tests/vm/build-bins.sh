#!/bin/sh
# tests/vm/build-bins.sh DIR  -- builds rung, rung-init and the plugins into DIR for a guest run (not
# bin/, which other builds may rewrite while the guest runs from it). VERSION names the build.
set -eu
GO=${GO:-go}
PLUGINS=${PLUGINS:-namespaces cgroupv1 cgroupv2 seccomp lsm landlock}
ldflags="-s -w -X github.com/rung-runtime/rung/internal/version.Version=${VERSION:-guest-test}"
mkdir -p "$1"
$GO build -trimpath -ldflags "$ldflags" -tags urfave_cli_no_docs -o "$1/rung" ./cmd/host
$GO build -trimpath -ldflags "$ldflags" -o "$1/rung-init" ./cmd/host/init
for p in $PLUGINS; do $GO build -trimpath -ldflags "$ldflags" -o "$1/rung-$p" "./plugins/$p"; done
