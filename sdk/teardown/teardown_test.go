package teardown

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// cgroupMount is a cgroup (v1 or v2) mount where this test may make
// directories: the host's own, left as mounted.
func cgroupMount(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make cgroups")
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 0 || sep+1 >= len(fields) || (fields[sep+1] != "cgroup" && fields[sep+1] != "cgroup2") {
			continue
		}
		dir := filepath.Join(fields[4], "rung-teardown-probe")
		if err := os.Mkdir(dir, 0o755); err == nil {
			_ = unix.Rmdir(dir)
			return fields[4]
		}
	}
	t.Skip("no cgroup mount here lets a test make a cgroup")
	return ""
}

func mkCgroup(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Children first; ignore what the test already removed.
		_ = unix.Rmdir(dir)
	})
	return dir
}

func TestRunRemovesTheCgroupsAndEmptyParents(t *testing.T) {
	mnt := cgroupMount(t)
	parent := mkCgroup(t, filepath.Join(mnt, "rung-teardown-"+strconv.Itoa(os.Getpid())))
	leaf := mkCgroup(t, filepath.Join(parent, "c1"))
	if err := Run([]string{leaf}, []string{parent}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{leaf, parent} {
		if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there (err %v)", d, err)
		}
	}
	// A leaf already gone under its existing parent is removed; one whose
	// parent is gone as well (a moved mount?) goes to Destroy.
	if err := Run([]string{filepath.Join(mnt, "rung-teardown-gone")}, nil); err != nil {
		t.Errorf("a cgroup already gone: %v", err)
	}
	if err := Run([]string{leaf}, []string{parent}); !errors.Is(err, unix.ENOENT) {
		t.Errorf("a cgroup whose parent is gone too: %v, want ENOENT for Destroy to judge", err)
	}
}

func TestRunLeavesAParentInUse(t *testing.T) {
	mnt := cgroupMount(t)
	parent := mkCgroup(t, filepath.Join(mnt, "rung-teardown-shared-"+strconv.Itoa(os.Getpid())))
	leaf := mkCgroup(t, filepath.Join(parent, "c1"))
	other := mkCgroup(t, filepath.Join(parent, "c2"))
	if err := Run([]string{leaf}, []string{parent}); err != nil {
		t.Fatalf("a parent another container uses is no failure: %v", err)
	}
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("the other container's cgroup: %v", err)
	}
}

// A cgroup with a process is not removed, and the error sends the delete
// to the plugin's Destroy.
func TestRunFailsOnABusyCgroup(t *testing.T) {
	mnt := cgroupMount(t)
	leaf := mkCgroup(t, filepath.Join(mnt, "rung-teardown-busy-"+strconv.Itoa(os.Getpid())))
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleep.Process.Kill(); _ = sleep.Wait() }()
	procs := "cgroup.procs"
	if _, err := os.Stat(filepath.Join(leaf, procs)); err != nil {
		procs = "tasks"
	}
	if err := os.WriteFile(filepath.Join(leaf, procs), []byte(strconv.Itoa(sleep.Process.Pid)), 0o644); err != nil {
		t.Skipf("cannot move a process into %s: %v", leaf, err)
	}
	if err := Run([]string{leaf}, nil); !errors.Is(err, unix.EBUSY) {
		t.Errorf("teardown of a cgroup with a process: %v, want EBUSY", err)
	}
	if _, err := os.Lstat(leaf); err != nil {
		t.Errorf("busy cgroup removed: %v", err)
	}
	// Back to the root cgroup, so the cleanup can remove it.
	_ = os.WriteFile(filepath.Join(mnt, procs), []byte(strconv.Itoa(sleep.Process.Pid)), 0o644)
}

// The paths are a plugin's: an empty directory elsewhere is not the host's
// to remove, nor one reached through a symlink.
func TestRunRemovesNothingOutsideCgroupfs(t *testing.T) {
	tmp := t.TempDir()
	plain := filepath.Join(tmp, "empty")
	if err := os.Mkdir(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Run([]string{plain}, nil); err == nil || !strings.Contains(err.Error(), "not on a cgroup filesystem") {
		t.Errorf("teardown of %s: %v, want a refusal", plain, err)
	}
	if _, err := os.Lstat(plain); err != nil {
		t.Errorf("%s removed: %v", plain, err)
	}
	for _, bad := range []string{"relative", "/a/../b", "/", "/a/"} {
		if err := Run([]string{bad}, nil); err == nil {
			t.Errorf("teardown of %q: no error", bad)
		}
	}
}

func TestRunRemovesNoParentOutsideCgroupfs(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "empty")
	if err := os.Mkdir(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(cgroupMount(t), "rung-teardown-gone")
	if err := Run([]string{gone}, []string{plain}); err == nil {
		t.Errorf("teardown of the empty parent %s outside cgroupfs: no error", plain)
	}
	if _, err := os.Lstat(plain); err != nil {
		t.Errorf("%s removed: %v", plain, err)
	}
}

func TestRunFollowsNoSymlink(t *testing.T) {
	mnt := cgroupMount(t)
	parent := mkCgroup(t, filepath.Join(mnt, "rung-teardown-link-"+strconv.Itoa(os.Getpid())))
	leaf := mkCgroup(t, filepath.Join(parent, "c1"))
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(parent, link); err != nil {
		t.Fatal(err)
	}
	if err := Run([]string{filepath.Join(link, "c1")}, nil); err == nil {
		t.Error("teardown through a symlink: no error")
	}
	if _, err := os.Lstat(leaf); err != nil {
		t.Errorf("cgroup removed through a symlink: %v", err)
	}
	_ = unix.Rmdir(leaf)
}
