// Package cgtest has the helpers the cgroup v2 stage's root tests share:
// finding the cgroup2 mount or skipping, a private test cgroup that is gone
// after the test, and processes cloned straight into a cgroup.
package cgtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/plugins/cgroupv2/cgroupfs"
	cgshared "github.com/rung-runtime/rung/plugins/internal/cgtest"
)

// Prefix starts the name of every top-level cgroup a test makes.
const Prefix = "rung-test-"

// Mount returns the cgroup2 mount, or skips the test where cgroups cannot be
// made: not root, or no cgroup2 mounted.
func Mount(t *testing.T) cgroupfs.Mount {
	t.Helper()
	cgshared.NeedRoot(t)
	m, err := cgroupfs.FindMount()
	if err != nil {
		t.Skipf("no cgroup2 hierarchy here: %v", err)
	}
	if err := unix.Access(filepath.Join(m.Path, "cgroup.procs"), unix.W_OK); err != nil {
		t.Skipf("cgroup2 mount %s is not writable: %v", m.Path, err)
	}
	lock(t)
	KeepSubtreeControl(t, m.Path)
	t.Cleanup(func() { Leaks(t, m) })
	return m
}

// lock serialises the root tests of all packages (go test runs packages in
// parallel): each snapshots and restores the root's cgroup.subtree_control,
// which only works if no other test has cgroups below it meanwhile.
func lock(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "rung-cgroupv2-tests.lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// Top returns a fresh top-level test cgroup name ("/rung-test-NAME-PID")
// that the test must create; it is checked to be gone at the end.
func Top(t *testing.T) string {
	return cgshared.Top(t, Prefix)
}

// KeepSubtreeControl restores dir's cgroup.subtree_control after the test,
// so enabling controllers on the host's cgroup2 root does not outlive it.
func KeepSubtreeControl(t *testing.T, dir string) {
	t.Helper()
	before, err := cgroupfs.ReadFile(dir, "cgroup.subtree_control")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		after, err := cgroupfs.ReadFile(dir, "cgroup.subtree_control")
		if err != nil {
			t.Errorf("read %s/cgroup.subtree_control: %v", dir, err)
			return
		}
		had := map[string]bool{}
		for _, c := range strings.Fields(before) {
			had[c] = true
		}
		for _, c := range strings.Fields(after) {
			if !had[c] {
				if err := cgroupfs.WriteFile(dir, "cgroup.subtree_control", "-"+c); err != nil {
					t.Logf("cannot restore %s/cgroup.subtree_control (-%s): %v", dir, c, err)
				}
			}
		}
	})
}

// Leaks fails the test if a cgroup made by this test process is left over.
func Leaks(t *testing.T, m cgroupfs.Mount) {
	t.Helper()
	for _, d := range cgshared.Leftovers(m.Path, Prefix) {
		t.Errorf("leaked cgroup %s", d)
		// Leave the host clean even so.
		_ = cgroupfs.Remove(t.Context(), d)
	}
}

// Start runs argv as a child cloned straight into the cgroup at dir
// (CLONE_INTO_CGROUP) and kills it at the end of the test.
func Start(t *testing.T, dir string, argv ...string) *exec.Cmd {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v in %s: %v", argv, dir, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return cmd
}

// Run runs argv to completion inside the cgroup at dir and returns its
// combined output and error.
func Run(t *testing.T, dir string, argv ...string) (string, error) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// CPUTime returns utime+stime of pid in clock ticks.
func CPUTime(t *testing.T, pid int) uint64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesised command; utime and stime are 14 and 15.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var u, st uint64
	fmt.Sscan(f[11], &u)
	fmt.Sscan(f[12], &st)
	return u + st
}

// Eventually and Busybox are the helpers of plugins/internal/cgtest, here
// too so that a test of this plugin needs only this package for them.
var (
	Eventually = cgshared.Eventually
	Busybox    = cgshared.Busybox
)
