// Package integration runs real containers through the runtime's CLI. It
// needs root and RUNG_BIN (default <repo>/bin/rung); every test skips with
// the reason otherwise. Point RUNG_BIN at runc to check the tests
// themselves: tests of rung-only behaviour skip then, saying so.
package integration

import (
	"os"
	"testing"

	"github.com/rung-runtime/rung/tests/testutil"
)

// setup is the start of every test: parallel, skipped without root or a
// runtime binary, and a leak snapshot to check against at the end.
func setup(t *testing.T) (*testutil.Runtime, *testutil.LeakSnapshot) {
	t.Helper()
	t.Parallel()
	rt := testutil.NewRuntime(t)
	return rt, testutil.Snapshot()
}

// expectFailure is testutil.ExpectFailure: the containerd-visible error
// contract (non-zero exit, a one-line JSON error in --log).
func expectFailure(t *testing.T, res testutil.Result) string {
	t.Helper()
	return testutil.ExpectFailure(t, res)
}

// nsOf is the namespace link of a host process, e.g. "net:[4026531840]".
func nsOf(t *testing.T, pid, ns string) string {
	t.Helper()
	l, err := os.Readlink("/proc/" + pid + "/ns/" + ns)
	if err != nil {
		t.Fatalf("readlink ns: %v", err)
	}
	return l
}
