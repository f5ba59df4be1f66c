# tests/vm/rung-env.sh BINDIR  -- sourced in the guest by suite.sh and conformance.sh: puts rung and
# its plugins (BINDIR/*) on the guest's tmpfs, exports RUNG_BIN and a RUNG_CONFIG with deadlines for
# emulation, and warms the plugins up once.
#
# Executing binaries over 9p re-reads every page from the host, which under TCG can push a plugin's
# start past rung's deadline: hence the copy.
bin=/run/rung-guest/bin
mkdir -p "$bin" && chmod 0755 /run/rung-guest "$bin" && cp "$1"/* "$bin"/ || return 2
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
