package guest

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	// criu first: on the development host its reason to skip is the news.
	requireCriu(t)
	requireGuest(t)
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
	// A pre-dump copies memory and leaves the container running; the dump
	// then writes only what changed since (--parent-path, relative to the
	// images as runc and CRIU take it).
	dir := t.TempDir()
	pre := filepath.Join(dir, "pre")
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"checkpoint", "--pre-dump", "--image-path", pre, id}})
	if res.Exit != 0 {
		t.Fatalf("checkpoint --pre-dump: %s\n%s", res, criuLogTail(filepath.Join(pre, "dump.log")))
	}
	if st := rt.State(t, id); st.Status != specs.StateRunning {
		t.Fatalf("after a pre-dump: status %q, want running", st.Status)
	}
	before := counterOf(t, pid)
	images := filepath.Join(dir, "images")
	work := filepath.Join(t.TempDir(), "work")
	res = rt.Exec(t, tu.ExecOpts{Args: []string{"checkpoint", "--image-path", images, "--work-path", work,
		"--parent-path", "../pre", "--manage-cgroups-mode", "soft", id}})
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
	t.Logf("counter %d before the checkpoint, %d read first after restore", before, first)
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

	// A restore CRIU refuses (rung's record of the dump without CRIU's
	// images) fails with criu's error in one line and leaves no container,
	// cgroup or mount behind.
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.Mkdir(bad, 0o700); err != nil {
		t.Fatal(err)
	}
	meta, err := os.ReadFile(filepath.Join(images, "rung-checkpoint.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "rung-checkpoint.json"), meta, 0o600); err != nil {
		t.Fatal(err)
	}
	res = rt.Exec(t, tu.ExecOpts{Dir: bundle, Args: []string{"restore", "--image-path", bad, "--bundle", bundle, "--detach", id}})
	if res.Exit == 0 {
		t.Fatalf("restore from a dir without CRIU images succeeded: %s", res)
	}
	errs := res.Errors()
	t.Logf("failed restore: %q", errs)
	if len(errs) == 0 || !strings.Contains(errs[len(errs)-1], "criu restore failed: Error (") {
		t.Errorf("failed restore: want one error line carrying criu's error, got %q", errs)
	}
	if _, r := rt.TryState(t, id); r.Exit == 0 {
		t.Errorf("a failed restore left container %s", id)
	}
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

// With pipes for stdio, as containerd's shim gives, the dumped init's pipes
// are handed the restoring caller's stdio (runc's descriptors.json and
// --inherit-fd): its output reaches the new reader. --leave-running keeps
// the container going; a restore without --detach waits for the container
// and removes it when it exits.
func TestCheckpointRestorePipes(t *testing.T) {
	requireCriu(t)
	requireGuest(t)
	rt, snap := setup(t)
	id := tu.ID(t)
	bundle := tu.Bundle(t, tu.Shell(`i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done`))
	inR, inW := pipe(t)
	outR, outW := pipe(t)
	res := rt.Exec(t, tu.ExecOpts{Dir: bundle, Args: []string{"create", "--bundle", bundle, "--pid-file", filepath.Join(bundle, "init.pid"), id},
		Stdin: inR, Stdout: outW, Stderr: outW})
	if res.Exit != 0 {
		t.Fatalf("create: %s", res)
	}
	inR.Close()
	outW.Close()
	rt.Start(t, id)
	lines := readLines(t, outR)
	if n := waitCount(lines, 3); n < 3 {
		t.Fatalf("container printed nothing (last %d)", n)
	}

	images := filepath.Join(t.TempDir(), "images")
	res = rt.Exec(t, tu.ExecOpts{Args: []string{"checkpoint", "--image-path", images, "--leave-running", id}})
	if res.Exit != 0 {
		t.Fatalf("checkpoint --leave-running: %s\n%s", res, criuLogTail(filepath.Join(images, "dump.log")))
	}
	if st := rt.State(t, id); st.Status != specs.StateRunning {
		t.Fatalf("after checkpoint --leave-running: status %q, want running", st.Status)
	}
	mark := waitCount(lines, 0)
	if n := waitCount(lines, mark+2); n < mark+2 {
		t.Errorf("output stopped at %d after checkpoint --leave-running", n)
	}

	images2 := filepath.Join(t.TempDir(), "images2")
	res = rt.Exec(t, tu.ExecOpts{Args: []string{"checkpoint", "--image-path", images2, id}})
	if res.Exit != 0 {
		t.Fatalf("checkpoint: %s\n%s", res, criuLogTail(filepath.Join(images2, "dump.log")))
	}
	if st := rt.State(t, id); st.Status != specs.StateStopped {
		t.Errorf("after checkpoint: status %q, want stopped", st.Status)
	}
	// The dumped tree was the pipe's last writer: read it to the end.
	dumpedAt, eof := waitEOF(lines)
	if !eof {
		t.Errorf("the checkpointed container's stdout pipe still has a writer")
	}
	rt.MustDelete(t, id, false)
	inW.Close()

	// Foreground restore: rung waits for the restored container.
	inR2, inW2 := pipe(t)
	outR2, outW2 := pipe(t)
	defer inW2.Close()
	pidFile := filepath.Join(t.TempDir(), "restored.pid")
	cmd := exec.Command(rt.Bin, "--root", rt.Root, "--log", rt.Log, "--log-format", "json",
		"restore", "--image-path", images2, "--bundle", bundle, "--pid-file", pidFile, id)
	cmd.Dir = bundle
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR2, outW2, outW2
	cmd.Env = append(os.Environ(), rt.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	inR2.Close()
	outW2.Close()
	lines2 := readLines(t, outR2)
	// Pipe data unread at the dump may be replayed, so the first number
	// can repeat an old one; a restarted loop would print 1.
	first := waitCount(lines2, 1)
	t.Logf("the checkpoint ended the output at %d; the restored container printed %d first", dumpedAt, first)
	if first <= 1 {
		t.Errorf("restored container printed %d first: its loop started over", first)
	}
	if n := waitCount(lines2, dumpedAt+2); n < dumpedAt+2 {
		t.Errorf("restored output stopped at %d, the checkpoint was at %d", n, dumpedAt)
	}
	if st := rt.State(t, id); st.Status != specs.StateRunning {
		t.Errorf("after restore: status %q, want running", st.Status)
	}
	if r := rt.Exec(t, tu.ExecOpts{Args: []string{"kill", id, "KILL"}}); r.Exit != 0 {
		t.Fatalf("kill: %s", r)
	}
	err := <-done
	done <- err
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 137 {
		t.Errorf("foreground restore ended with %v, want exit 137 (the container's SIGKILL)", err)
	}
	if _, r := rt.TryState(t, id); r.Exit == 0 {
		t.Errorf("container %s still exists after a foreground restore ended", id)
	}
	tu.CheckNoLeaks(t, snap, id)
}

func pipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// counter is the last number a container printed, updated by a reader.
type counter struct {
	mu   sync.Mutex
	last int
	eof  bool
}

func readLines(t *testing.T, r *os.File) *counter {
	t.Helper()
	c := &counter{last: -1}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if n, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
				c.mu.Lock()
				c.last = n
				c.mu.Unlock()
			}
		}
		c.mu.Lock()
		c.eof = true
		c.mu.Unlock()
	}()
	return c
}

// waitCount polls until the counter reaches at least n and returns it.
func waitCount(c *counter, n int) int {
	get := func() int { c.mu.Lock(); defer c.mu.Unlock(); return c.last }
	tu.Poll(func() bool { return get() >= n })
	return get()
}

// waitEOF polls until every writer of the pipe is gone and returns the last
// number read.
func waitEOF(c *counter) (int, bool) {
	get := func() (int, bool) { c.mu.Lock(); defer c.mu.Unlock(); return c.last, c.eof }
	tu.Poll(func() bool { _, eof := get(); return eof })
	return get()
}
