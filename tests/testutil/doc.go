// Package testutil is the harness of rung's end-to-end tests: busybox
// bundles, a runc-compatible CLI driver and a leak checker.
//
// Everything here talks to the runtime only through its CLI, the way
// containerd's shim does, so the same tests run against rung and against
// runc (RUNG_BIN=/usr/sbin/runc). That is how the tests themselves were
// checked before rung existed.
//
// Environment:
//
//	RUNG_BIN         runtime binary under test (default <repo>/bin/rung)
//	RUNG_PLUGIN_DIR  set by rung-only tests on the runtime's environment to
//	                 point rung at a directory of plugin binaries
//	RUNG_TEST_KEEP   if set, leave the per-test temp dirs behind for debugging
//	RUNG_TEST_BUSYBOX  busybox binary to copy (default /bin/busybox)
package testutil
