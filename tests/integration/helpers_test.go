// Package integration runs real containers through the runtime's CLI. It
// needs root and RUNG_BIN (default <repo>/bin/rung); every test skips with
// the reason otherwise. Point RUNG_BIN at runc to check the tests
// themselves: tests of rung-only behaviour skip then, saying so.
package integration

import (
	"os"
	"strings"
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

// expectFailure asserts the containerd-visible error contract: non-zero
// exit, every --log line JSON, at least one {"level":"error"} line whose msg
// is one non-empty line. It returns the last error message.
func expectFailure(t *testing.T, res testutil.Result) string {
	t.Helper()
	if res.TimedOut {
		t.Fatalf("runtime hung: %s", res)
	}
	if res.Exit == 0 {
		t.Fatalf("expected failure, got success: %s", res)
	}
	for _, e := range res.Log {
		if e.Bad {
			t.Errorf("--log-format json line is not JSON: %q", e.Raw)
		}
	}
	errs := res.Errors()
	if len(errs) == 0 {
		t.Fatalf("no {\"level\":\"error\"} line in --log: %s", res)
	}
	msg := errs[len(errs)-1]
	if strings.TrimSpace(msg) == "" || strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error message must be one non-empty line, got %q", msg)
	}
	t.Logf("runtime error (exit %d): %s", res.Exit, msg)
	return msg
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
