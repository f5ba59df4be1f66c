package integration

import (
	"os"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// A small RLIMIT_AS must not starve the init, a Go process that reserves
// far more address space than 1 GiB, while it waits for start and while
// it execs: the waiting init holds the hard limit as its soft one, and the
// container's process starts with the limits asked for. (runtime-tools'
// process_rlimits lost its output now and then when the init died in
// syscall.Exec's allocations under the lowered limit.)
func TestSmallAddressSpaceLimitDoesNotStarveTheInit(t *testing.T) {
	rt, snap := setup(t)
	const gib = 1 << 30
	bundle := tu.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "grep -E 'Max (address space|data size|processes)' /proc/self/limits"}
		s.Process.Rlimits = append(s.Process.Rlimits,
			specs.POSIXRlimit{Type: "RLIMIT_AS", Soft: 1 * gib, Hard: 2 * gib},
			specs.POSIXRlimit{Type: "RLIMIT_DATA", Soft: 1 * gib, Hard: 2 * gib})
	})
	for i := 0; i < 10; i++ {
		id := tu.ID(t)
		c := rt.Create(t, id, bundle)
		if !tu.IsRunc() {
			limits, err := os.ReadFile("/proc/" + strconv.Itoa(c.Pid(t)) + "/limits")
			if err != nil {
				t.Fatal(err)
			}
			if line := limitLine(string(limits), "Max address space"); !strings.Contains(line, strconv.Itoa(2*gib)+"           "+strconv.Itoa(2*gib)) {
				t.Errorf("the waiting init already has the small soft limit: %q", line)
			}
		}
		rt.Start(t, id)
		out := c.WaitOutput(t, "Max processes")
		if line := limitLine(out, "Max address space"); !strings.Contains(line, strconv.Itoa(1*gib)+"           "+strconv.Itoa(2*gib)) {
			t.Fatalf("run %d: the container's process has %q, want soft 1 GiB, hard 2 GiB (stderr %q)", i, line, c.Stderr())
		}
		rt.MustDelete(t, id, true)
		tu.CheckNoLeaks(t, snap, id)
	}
}

func limitLine(limits, name string) string {
	for _, l := range strings.Split(limits, "\n") {
		if strings.HasPrefix(l, name) {
			return l
		}
	}
	return ""
}
