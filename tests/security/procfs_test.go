package security

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/procfs"
)

// childEnv selects a child mode of this test binary (see runChild).
const childEnv = "RUNG_SEC_CHILD"

func init() {
	switch os.Getenv(childEnv) {
	case "":
		return
	case "procfs-redirect":
		procfsRedirectChild()
	default:
		fmt.Println("unknown child mode")
	}
	os.Exit(0)
}

// runChild re-executes this test binary in a private mount namespace (Go
// makes its mounts private), where the child may mount over /proc freely.
func runChild(t *testing.T, mode string, args ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the child mounts over /proc in a private mount namespace")
	}
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", mode, err, out)
	}
	return string(out)
}

// procfsRedirectChild redirects the init's LSM attribute files the two ways
// CVE-2025-52881 did (a bind mount over the file itself, and a fake
// filesystem over /proc), then writes through internal/procfs, as the init
// does for a plan's ProcAttr. Lines: "STEP name result", "DECOY name
// content", "VERIFY result".
func procfsRedirectChild() {
	runtime.LockOSThread()
	dir, err := os.MkdirTemp("", "rung-sec-procfs-")
	if err != nil {
		fmt.Println("ERROR", err)
		return
	}
	defer os.RemoveAll(dir)
	decoy := func(name string) string {
		p := filepath.Join(dir, name)
		_ = os.WriteFile(p, nil, 0o666)
		return p
	}
	tid := unix.Gettid()
	task := fmt.Sprintf("/proc/%d/task/%d/attr", os.Getpid(), tid)
	bound := map[string]string{}
	for _, f := range []string{"exec", "current", "apparmor/exec"} {
		target := task + "/" + f
		if _, err := os.Stat(target); err != nil {
			continue
		}
		d := decoy("bind-" + strings.ReplaceAll(f, "/", "-"))
		if err := unix.Mount(d, target, "", unix.MS_BIND, ""); err != nil {
			fmt.Println("ERROR bind over", target, err)
			return
		}
		bound[f] = d
	}
	for _, c := range []struct{ lsm, attr string }{{"", "exec"}, {"apparmor", "exec"}} {
		err := procfs.WriteThreadSelfAttr(c.lsm, c.attr, "hostile-label")
		fmt.Printf("STEP bind-%s-%s %v\n", c.lsm, c.attr, err)
	}
	// Now a tmpfs over all of /proc, with files where the attributes are.
	if err := unix.Mount("tmpfs", "/proc", "tmpfs", 0, "size=1m"); err != nil {
		fmt.Println("ERROR tmpfs over /proc", err)
		return
	}
	for _, p := range []string{"thread-self/attr/apparmor", "self/attr", "sys/kernel"} {
		_ = os.MkdirAll("/proc/"+p, 0o755)
	}
	fake := []string{"/proc/thread-self/attr/exec", "/proc/thread-self/attr/apparmor/exec", "/proc/self/attr/exec", "/proc/sys/kernel/hostname"}
	for _, p := range fake {
		_ = os.WriteFile(p, nil, 0o666)
	}
	for _, c := range []struct{ lsm, attr string }{{"", "exec"}, {"apparmor", "exec"}} {
		err := procfs.WriteThreadSelfAttr(c.lsm, c.attr, "hostile-label")
		fmt.Printf("STEP tmpfs-%s-%s %v\n", c.lsm, c.attr, err)
	}
	// Opened only, never written: which filesystem the handle is on is the
	// whole question.
	if f, err := procfs.OpenSysctl("kernel.hostname", unix.O_RDONLY); err == nil {
		var sfs unix.Statfs_t
		_ = unix.Fstatfs(int(f.Fd()), &sfs)
		fmt.Printf("SYSCTL fstype %#x\n", sfs.Type)
		f.Close()
	} else {
		fmt.Println("STEP tmpfs-sysctl", err)
	}
	fmt.Println("VERIFY", procfs.VerifyProcMount("/proc"))
	for name, d := range bound {
		b, _ := os.ReadFile(d)
		fmt.Printf("DECOY bind:%s %q\n", name, b)
	}
	for _, p := range fake {
		b, _ := os.ReadFile(p)
		fmt.Printf("DECOY tmpfs:%s %q\n", p, b)
	}
}

// CVE-2025-52881: the init's writes to /proc/thread-self/attr/* (the LSM
// exec label a plan's ProcAttr asks for) are redirected, by a bind mount over
// the attribute file or by a fake filesystem over /proc, into a file the
// attacker chose; the label is then silently not applied. This host has no
// AppArmor, so the test is at the level of internal/procfs, which the init
// uses for every such write: no decoy may receive a byte, and a /proc that is
// not procfs must fail verification.
func TestProcAttrWriteNotRedirected(t *testing.T) {
	t.Parallel()
	out := runChild(t, "procfs-redirect")
	t.Logf("child:\n%s", out)
	if strings.Contains(out, "ERROR") {
		t.Fatalf("child could not set up the redirection:\n%s", out)
	}
	var decoys int
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "DECOY "); ok {
			decoys++
			if !strings.HasSuffix(rest, ` ""`) {
				t.Errorf("an LSM attribute write was redirected into a decoy: %s", rest)
			}
		}
		if rest, ok := strings.CutPrefix(l, "SYSCTL fstype "); ok && rest != fmt.Sprintf("%#x", unix.PROC_SUPER_MAGIC) {
			t.Errorf("a sysctl opened through internal/procfs is on filesystem %s, not procfs", rest)
		}
		if rest, ok := strings.CutPrefix(l, "VERIFY "); ok && rest == "<nil>" {
			t.Errorf("a tmpfs over /proc passed VerifyProcMount")
		}
	}
	if decoys < 4 {
		t.Errorf("expected at least 4 decoys checked, got %d", decoys)
	}
}
