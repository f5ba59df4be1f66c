package security

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// openFds counts this process's descriptors: the test plays the long-lived
// caller (containerd's shim), which must not gain one per container.
func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	must(t, err)
	return len(ents)
}

// stateBytes is what the state root holds: entries and bytes.
func stateBytes(root string) (entries int, size int64) {
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return nil
		}
		entries++
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
			size += fi.Size()
		}
		return nil
	})
	return entries, size
}

// Twenty containers created at once on one state root: every create must
// succeed (the store's locking and the plugins' shared cgroup parent are
// what is under test), every container must run, and afterwards nothing is
// left: no process, mount, cgroup, state entry or descriptor of the caller.
func TestConcurrentCreates(t *testing.T) {
	rt, snap := setup(t)
	const n = 20
	fdsBefore := openFds(t)
	ids := make([]string, n)
	bundles := make([]string, n)
	for i := range ids {
		ids[i] = tu.ID(t) + fmt.Sprintf("-c%d", i)
		bundles[i] = tu.Bundle(t, tu.Shell(fmt.Sprintf("echo container-%d", i)))
	}
	conts := make([]*tu.Container, n)
	results := make([]tu.Result, n)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conts[i], results[i] = rt.TryCreate(t, ids[i], bundles[i], tu.CreateOpts{})
		}()
	}
	wg.Wait()
	failed := 0
	for i, res := range results {
		if res.Exit != 0 {
			failed++
			t.Errorf("concurrent create %d of %d failed: %s", i, n, res)
		}
	}
	if failed == 0 {
		for i := range ids {
			rt.Start(t, ids[i])
		}
		for i := range ids {
			rt.WaitStatus(t, ids[i], specs.StateStopped)
			if out := conts[i].Stdout(); out != fmt.Sprintf("container-%d\n", i) {
				t.Errorf("container %d printed %q", i, out)
			}
		}
	}
	var dwg sync.WaitGroup
	for i := range ids {
		dwg.Add(1)
		go func() {
			defer dwg.Done()
			if res := rt.Delete(t, ids[i], true); res.Exit != 0 {
				t.Errorf("concurrent delete %d: %s", i, res)
			}
		}()
	}
	dwg.Wait()
	if e, _ := stateBytes(rt.Root); e != 0 {
		t.Errorf("state root %s holds %d entries after every container was deleted", rt.Root, e)
	}
	if after := openFds(t); after > fdsBefore {
		t.Errorf("the caller's descriptors grew from %d to %d", fdsBefore, after)
	}
	tu.CheckNoLeaks(t, snap, ids...)
}

// Create/start/delete in a row, 50 times (500 with RUNG_TEST_LONG=1): no
// failure, no growth of the caller's descriptors or of the state root, and
// no leaked mount or cgroup (the leak checker knows every id).
func TestCreateDeleteCycles(t *testing.T) {
	rt, snap := setup(t)
	n := 50
	if os.Getenv("RUNG_TEST_LONG") == "1" {
		n = 500
	}
	t.Logf("%d create/start/delete cycles (RUNG_TEST_LONG=1 for 500)", n)
	bundle := tu.Bundle(t, tu.Args("true"))
	var fdsBase int
	var ids []string
	for i := 0; i < n; i++ {
		id := tu.ID(t) + fmt.Sprintf("-n%d", i)
		ids = append(ids, id)
		c, res := rt.TryCreate(t, id, bundle, tu.CreateOpts{})
		if res.Exit != 0 {
			t.Fatalf("cycle %d: create: %s", i, res)
		}
		rt.Start(t, id)
		rt.WaitStatus(t, id, specs.StateStopped)
		if res := rt.Delete(t, id, false); res.Exit != 0 {
			t.Fatalf("cycle %d: delete: %s", i, res)
		}
		if out := c.Stdout() + c.Stderr(); out != "" {
			t.Fatalf("cycle %d: unexpected output %q", i, out)
		}
		if e, size := stateBytes(rt.Root); e != 0 {
			t.Fatalf("cycle %d: state root holds %d entries (%d bytes) after delete", i, e, size)
		}
		// After the first cycle, so one-time allocations (the log file)
		// do not count.
		if i == 0 {
			fdsBase = openFds(t)
		} else if fds := openFds(t); fds > fdsBase {
			t.Fatalf("cycle %d: the caller's descriptors grew from %d to %d", i, fdsBase, fds)
		}
		if i%10 == 9 {
			if leaks := tu.FindLeaks(t, snap); len(leaks) > 0 {
				t.Fatalf("cycle %d: leaks: %v", i, leaks)
			}
		}
	}
	if st, err := os.Stat(rt.Log); err == nil && st.Size() > 0 {
		b, _ := os.ReadFile(rt.Log)
		if strings.Contains(string(b), `"level":"error"`) || strings.Contains(string(b), `"level":"warning"`) {
			t.Errorf("the runtime logged errors or warnings during the cycles:\n%.2000s", b)
		}
	}
	tu.CheckNoLeaks(t, snap, ids...)
}
