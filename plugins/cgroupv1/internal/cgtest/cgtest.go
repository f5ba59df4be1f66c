// Package cgtest has the helpers the cgroup v1 stage's root tests share:
// the host's hierarchies or a skip, test-named cgroups that are checked
// to be gone afterwards, and processes placed in a cgroup in every
// hierarchy before they run.
package cgtest

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/rung-runtime/rung/plugins/cgroupv1/cgroupfs"
	v2fs "github.com/rung-runtime/rung/plugins/cgroupv2/cgroupfs"
	cgshared "github.com/rung-runtime/rung/plugins/internal/cgtest"
)

// Prefix starts the name of every top-level cgroup a test makes.
const Prefix = "rung-v1test-"

// Host returns the host's cgroup layout, or skips the test where v1
// cgroups cannot be made: not root, or no v1 hierarchies.
func Host(t *testing.T) *cgroupfs.Host {
	t.Helper()
	cgshared.NeedRoot(t)
	h, err := cgroupfs.Find()
	if err != nil {
		t.Skipf("no cgroup v1 hierarchies here: %v", err)
	}
	if !h.Mounted("devices") {
		t.Skip("no devices hierarchy: the stage refuses to run")
	}
	t.Cleanup(func() { leaks(t, h) })
	return h
}

// Top returns a fresh top-level test cgroup ("/rung-v1test-NAME-PID") that
// the test creates; it is checked to be gone at the end.
func Top(t *testing.T) string {
	return cgshared.Top(t, Prefix)
}

// leaks fails the test if a cgroup made by this test process is left in
// any hierarchy, and removes it so the host stays clean.
func leaks(t *testing.T, h *cgroupfs.Host) {
	t.Helper()
	for _, x := range h.Hierarchies {
		for _, d := range cgshared.Leftovers(x.Path, Prefix) {
			t.Errorf("leaked cgroup %s", d)
			_ = cgroupfs.Remove(context.Background(), cgroupfs.Cgroup{"leak": d})
		}
	}
	if h.Unified != nil {
		// A hybrid host's cgroup2 directories are cgroup2's to remove.
		for _, d := range cgshared.Leftovers(h.Unified.Path, Prefix) {
			t.Errorf("leaked cgroup %s", d)
			_ = v2fs.Remove(context.Background(), d)
		}
	}
}

// Proc is a process started by Start.
type Proc struct {
	*exec.Cmd
	done chan struct{}
	err  error
}

// Wait waits for the process and returns what exec.Cmd.Wait returned.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Start runs argv in the cgroup c (every hierarchy) and, if unified is
// not "", in that cgroup2 directory, before it runs anything: a shell
// places itself and then execs argv. It is killed at the end of the test.
func Start(t *testing.T, c cgroupfs.Cgroup, unified string, argv ...string) *Proc {
	t.Helper()
	dirs := c.Dirs()
	if unified != "" {
		dirs = append(dirs, unified)
	}
	script := `for d in ` + strings.Join(dirs, " ") + `; do echo $$ > "$d/cgroup.procs" || exit 99; done; exec "$@"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, argv...)...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	Eventually(t, fmt.Sprintf("pid %d to be placed in %s", cmd.Process.Pid, c.ProcsDir()), func() bool {
		select {
		case <-p.done:
			return true // it ran and ended already
		default:
		}
		pids, _ := v2fs.Procs(c.ProcsDir())
		return slices.Contains(pids, cmd.Process.Pid)
	})
	return p
}

// Eventually and Busybox are the helpers of plugins/internal/cgtest, here
// too so that a test of this plugin needs only this package for them.
var (
	Eventually = cgshared.Eventually
	Busybox    = cgshared.Busybox
)
