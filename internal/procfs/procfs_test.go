//go:build linux

package procfs

import (
	"errors"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSysctlPath(t *testing.T) {
	for key, want := range map[string]string{
		"net.ipv4.ip_forward":               "net/ipv4/ip_forward",
		"kernel.shm_rmid_forced":            "kernel/shm_rmid_forced",
		"net/ipv4/conf/eth0.100/forwarding": "net/ipv4/conf/eth0.100/forwarding",
		"fs.mqueue.queues_max":              "fs/mqueue/queues_max",
	} {
		got, err := SysctlPath(key)
		if err != nil || got != want {
			t.Errorf("SysctlPath(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	for _, bad := range []string{
		"", "..", ".", "kernel..x", ".kernel", "kernel.", "../../etc/passwd",
		"net/../../../etc/shadow", "/etc/passwd", "kernel/", "a\x00b", "net//x", "net/./x",
	} {
		if p, err := SysctlPath(bad); err == nil {
			t.Errorf("SysctlPath(%q) = %q, want an error", bad, p)
		}
	}
}

func TestVerifyProcRoot(t *testing.T) {
	if err := VerifyProcMount("/proc"); err != nil {
		t.Errorf("/proc: %v", err)
	}
	if err := VerifyProcMount("/proc/sys"); err == nil || !strings.Contains(err.Error(), "not the root") {
		t.Errorf("/proc/sys is not a proc root: %v", err)
	}
	if err := VerifyProcMount(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not procfs") {
		t.Errorf("a temp dir is not procfs: %v", err)
	}
	link := t.TempDir() + "/proc"
	if err := os.Symlink("/proc", link); err != nil {
		t.Fatal(err)
	}
	if err := VerifyProcMount(link); err == nil {
		t.Error("a symlink to /proc must not pass")
	}
}

func TestListSelfFds(t *testing.T) {
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fds, err := ListSelfFds()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{0, 1, 2, int(f.Fd())} {
		if !slices.Contains(fds, want) {
			t.Errorf("fd %d missing from %v", want, fds)
		}
	}
	// The descriptor used for the listing is closed again.
	after, err := ListSelfFds()
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(fds) {
		t.Errorf("ListSelfFds leaks descriptors: %v then %v", fds, after)
	}
}

func TestOpenSysctl(t *testing.T) {
	f, err := OpenSysctl("kernel.ostype", unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil || strings.TrimSpace(string(b)) != "Linux" {
		t.Errorf("kernel.ostype = %q, %v", b, err)
	}
	if _, err := OpenSysctl("kernel", unix.O_RDONLY); err == nil || !strings.Contains(err.Error(), "not a sysctl file") {
		t.Errorf("a directory is not a sysctl: %v", err)
	}
	if _, err := OpenSysctl("kernel.nope_nope", unix.O_RDONLY); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing sysctl: %v", err)
	}
	if _, err := OpenSysctl("../self/environ", unix.O_RDONLY); err == nil {
		t.Error("a key walking out of /proc/sys was accepted")
	}
}

func TestReadSelf(t *testing.T) {
	b, err := ReadSelf("status")
	if err != nil || !strings.Contains(string(b), "Pid:") {
		t.Errorf("ReadSelf(status) = %.40q, %v", b, err)
	}
	for _, bad := range []string{"../1/environ", "", "fd/../../1/environ", "/etc/passwd"} {
		if _, err := ReadSelf(bad); err == nil {
			t.Errorf("ReadSelf(%q) accepted", bad)
		}
	}
}

func TestWriteThreadSelfAttr(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, c := range []struct{ lsm, attr string }{
		{"../..", "current"}, {"apparmor", "../../environ"}, {"", "a/b"}, {"x", ""}, {"", "."},
	} {
		if err := WriteThreadSelfAttr(c.lsm, c.attr, "x"); err == nil || !strings.Contains(err.Error(), "not a plain file name") {
			t.Errorf("WriteThreadSelfAttr(%q, %q) = %v, want a refusal", c.lsm, c.attr, err)
		}
	}
	if _, err := os.Stat("/proc/thread-self/attr/apparmor"); err == nil {
		t.Skip("AppArmor is active: the fallback case cannot be exercised without changing this thread's label")
	}
	// No LSM takes the write here; what matters is which file was chosen:
	// without a per-LSM directory the top-level attr file is used.
	err := WriteThreadSelfAttr("apparmor", "exec", "unconfined")
	if err == nil {
		t.Skip("an LSM accepted the exec label write")
	}
	if !strings.Contains(err.Error(), "/proc/thread-self/attr/exec") || strings.Contains(err.Error(), "attr/apparmor") {
		t.Errorf("fallback to attr/exec expected: %v", err)
	}
}
