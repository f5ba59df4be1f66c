#!/usr/bin/env bash
# build-suite.sh DIR -- build the opencontainers/runtime-tools v0.9.0
# validation suite into DIR/src: runtimetest, rootfs-<arch>.tar.gz and
# validation/<name>/<name>.t, the tree tests/conformance runs.
#
# The module comes from the Go module proxy (go mod download); its code is
# never committed here. It predates Go modules, so suite.mod/suite.sum
# (beside this script) are its go.mod/go.sum. Nothing is rebuilt while the
# stamp (suite version, pinned files, Go version) is unchanged.
set -euo pipefail

DIR=${1:?usage: build-suite.sh DIR}
GO=${GO:-go}
MODULE=github.com/opencontainers/runtime-tools
VERSION=v0.9.0
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
want="$MODULE@$VERSION $(cat "$HERE/suite.mod" "$HERE/suite.sum" "$HERE/build-suite.sh" | sha256sum | cut -c1-16) $($GO env GOVERSION)"
if [ -f "$DIR/src/.built" ] && [ "$(cat "$DIR/src/.built")" = "$want" ]; then
  exit 0
fi

echo "build-suite: building $MODULE@$VERSION into $DIR/src" >&2
# Outside any module, so nothing touches rung's go.mod.
src=$(cd / && "$GO" mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src/validation" ] || { echo "build-suite: no validation/ in $src" >&2; exit 1; }

rm -rf "$DIR/src"
cp -r "$src" "$DIR/src"
chmod -R u+w "$DIR/src"
cp "$HERE/suite.mod" "$DIR/src/go.mod"
cp "$HERE/suite.sum" "$DIR/src/go.sum"

cd "$DIR/src"
export GOFLAGS="-mod=readonly -buildvcs=false"
# runtimetest runs inside the containers' busybox rootfs: static.
CGO_ENABLED=0 "$GO" build -o runtimetest ./cmd/runtimetest
mkdir -p .bin
"$GO" build -o .bin/ ./validation/...
n=0
for b in .bin/*; do
  name=$(basename "$b")
  [ -d "validation/$name" ] || continue
  mv "$b" "validation/$name/$name.t"
  n=$((n + 1))
done
rm -rf .bin
echo "build-suite: $n test binaries" >&2
echo "$want" > .built
