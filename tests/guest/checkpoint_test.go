package guest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/internal/lifecycle"
	tu "github.com/rung-runtime/rung/tests/testutil"
)

// requireCriu skips unless criu is installed and `criu check` passes on
// this kernel (criu 3.17.1 does not on the development host's 6.18: "vdso:
// Unexpected rt vDSO area bounds").
func requireCriu(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("criu"); err != nil {
		t.Skip("criu is not installed (Debian package criu)")
	}
	if err := lifecycle.CriuCheck(context.Background(), "criu"); err != nil {
		t.Skipf("criu cannot checkpoint on this kernel: %v", err)
	}
}

// checkpoint stops a counting container into CRIU images (state "stopped"
// after it, its processes gone), and restore brings it back as a new
// container of the same id from those images: the counter in its tmpfs /tmp
// and the shell's own variable go on from where they were, not from 1.
func TestCheckpointRestoreCounter(t *testing.T) {
	requireGuest(t)
	requireCriu(t)
	rt, snap := setup(t)
	id := tu.ID(t)
	// The init's stdio is the container's own /dev/null, so nothing of it
	// points outside the checkpointed mount namespace.
	bundle := tu.Bundle(t, tu.Shell(`exec </dev/null >/dev/null 2>&1; i=0; while :; do i=$((i+1)); echo $i > /tmp/counter.new; mv /tmp/counter.new /tmp/counter; sleep 0.05; done`))
	c := rt.Create(t, id, bundle)
	pid := c.Pid(t)
	rt.Start(t, id)
	if !tu.Poll(func() bool { return counterOf(t, pid) >= 5 }) {
		t.Fatalf("counter never reached 5 (now %d, stderr %q)", counterOf(t, pid), c.Stderr())
	}

	// The loop only counts up, so what it had reached before the dump is a
	// floor for what the restored one reads.
	before := counterOf(t, pid)
	images := filepath.Join(t.TempDir(), "images")
	work := filepath.Join(t.TempDir(), "work")
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"checkpoint", "--image-path", images, "--work-path", work, id}})
	if res.Exit != 0 {
		t.Fatalf("checkpoint: %s\n%s", res, criuLogTail(filepath.Join(work, "dump.log")))
	}
	if st := rt.State(t, id); st.Status != specs.StateStopped {
		t.Errorf("after checkpoint: status %q, want stopped", st.Status)
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
		t.Errorf("init %d still exists after checkpoint", pid)
	}
	rt.MustDelete(t, id, false)

	pidFile := filepath.Join(t.TempDir(), "restored.pid")
	res = rt.Exec(t, tu.ExecOpts{Dir: bundle, Args: []string{"restore", "--image-path", images, "--work-path", work,
		"--bundle", bundle, "--detach", "--pid-file", pidFile, id}})
	if res.Exit != 0 {
		t.Fatalf("restore: %s\n%s", res, criuLogTail(filepath.Join(work, "restore.log")))
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	rpid, err := strconv.Atoi(string(b))
	if err != nil || rpid <= 0 {
		t.Fatalf("restore --pid-file holds %q", b)
	}
	st := rt.State(t, id)
	if st.Status != specs.StateRunning || st.Pid != rpid {
		t.Errorf("after restore: state %q pid %d, want running pid %d", st.Status, st.Pid, rpid)
	}
	first := counterOf(t, rpid)
	if first < before {
		t.Errorf("restored counter reads %d, want it to go on from %d, reached before the checkpoint", first, before)
	}
	if !tu.Poll(func() bool { return counterOf(t, rpid) > first }) {
		t.Errorf("restored counter stuck at %d", first)
	}
	// The restored tree is in the cgroup the stage prepared for it.
	if cg := cgroupOf(t, rpid); !strings.Contains(cg, id) {
		t.Errorf("restored init is in cgroup %s, not the container's", cg)
	}
	// It is a container like any other: exec joins it, delete --force ends it.
	if out := strings.TrimSpace(execIn(t, rt, id, "cat", "/tmp/counter")); out == "" {
		t.Errorf("exec in the restored container read no counter")
	}
	rt.MustDelete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)
}

// criuLogTail is the end of a criu log, for a failure message.
func criuLogTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no criu log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return path + ":\n" + strings.Join(lines, "\n")
}
