//go:build linux

package rootfs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Kernel tests run each scenario in a re-executed copy of the test binary
// that starts in fresh mount, pid, uts and ipc namespaces and first makes
// every mount private, so nothing it mounts can reach the host; when it
// exits its mount namespace (and every mount in it) is gone. The parent
// then checks that no mount under the test's directories is left.

const childEnv = "RUNG_ROOTFS_TEST_CHILD"

// childCase is what the parent hands the child (as JSON in a file).
type childCase struct {
	Name    string      `json:"name"`
	Rootfs  string      `json:"rootfs"`
	Outside string      `json:"outside"` // a host directory outside the rootfs
	Spec    *specs.Spec `json:"spec"`
	NoPivot bool        `json:"noPivot"`
	Script  string      `json:"script"` // busybox sh script exec-ed in the container at the end
	Extra   string      `json:"extra"`
}

var childCases = map[string]func(c *childCase) error{}

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(childMain(path))
	}
	os.Exit(m.Run())
}

func childMain(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: read case:", err)
		return 3
	}
	var c childCase
	if err := json.Unmarshal(b, &c); err != nil {
		fmt.Fprintln(os.Stderr, "child: decode case:", err)
		return 3
	}
	// Belt and braces: the namespace is new, but mounts copied from the
	// host may still be shared with it until made private.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Fprintln(os.Stderr, "child: make / rprivate:", err)
		return 3
	}
	fn, ok := childCases[c.Name]
	if !ok {
		fmt.Fprintln(os.Stderr, "child: unknown case", c.Name)
		return 3
	}
	if err := fn(&c); err != nil {
		fmt.Fprintln(os.Stderr, "child error:", err)
		return 1
	}
	return 0
}

// execScript replaces the child with busybox sh running script inside the
// container.
func execScript(script string) error {
	env := []string{"PATH=/bin", "HOME=/"}
	err := syscall.Exec("/bin/busybox", []string{"sh", "-c", script}, env)
	return fmt.Errorf("exec busybox: %w", err)
}

type childResult struct {
	stdout, stderr string
	err            error
}

// runChild runs a case in a private-namespace child and checks afterwards
// that nothing stayed mounted under dirs.
func runChild(t *testing.T, c childCase, dirs ...string) childResult {
	t.Helper()
	return runChildFlags(t, c, 0, dirs...)
}

// runChildUserNS runs the case as root of a new user namespace (ids 0-65535
// mapped to themselves), which owns its mount, pid, uts and ipc namespaces:
// mounts copied from the host are locked there and mknod is not allowed,
// as in a user-namespaced container.
func runChildUserNS(t *testing.T, c childCase, dirs ...string) childResult {
	t.Helper()
	return runChildFlags(t, c, unix.CLONE_NEWUSER, dirs...)
}

func runChildFlags(t *testing.T, c childCase, extraFlags uintptr, dirs ...string) childResult {
	t.Helper()
	requireRoot(t)
	f := filepath.Join(t.TempDir(), "case.json")
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	before := mountsUnder(t, dirs...)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+f)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | extraFlags,
		Pdeathsig:  syscall.SIGKILL,
	}
	if extraFlags&unix.CLONE_NEWUSER != 0 {
		ids := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
		cmd.SysProcAttr.UidMappings = ids
		cmd.SysProcAttr.GidMappings = ids
		cmd.SysProcAttr.GidMappingsEnableSetgroups = true
	}
	err = cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Skipf("cannot start a child in new namespaces here: %v", err)
	}
	if testing.Verbose() {
		t.Logf("child %s stdout:\n%s\nstderr:\n%s", c.Name, out.String(), errb.String())
	}
	after := mountsUnder(t, dirs...)
	if len(after) != len(before) {
		t.Errorf("mounts leaked into the test's mount namespace: before %v, after %v", before, after)
	}
	return childResult{out.String(), errb.String(), err}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts, pivot_root and mknod")
	}
}

// mountsUnder lists mount points in this process's mountinfo under any of
// dirs.
func mountsUnder(t *testing.T, dirs ...string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var found []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := fields[4]
		for _, d := range dirs {
			if mp == d || strings.HasPrefix(mp, d+"/") {
				found = append(found, mp)
			}
		}
	}
	return found
}

var busyboxApplets = []string{
	"sh", "cat", "ls", "mkdir", "echo", "stat", "test", "[", "touch", "grep",
	"id", "head", "readlink", "wc", "true", "false", "env", "rm",
}

// makeRootfs builds a small busybox root in dir. /proc, /sys and /dev are
// left out so that Prepare has to create them.
func makeRootfs(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs a static /bin/busybox")
	}
	for _, d := range []string{"bin", "etc", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	in, err := os.Open("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(filepath.Join(dir, "bin/busybox"), os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	for _, a := range busyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"
	if err := os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runcSpec is `runc spec`'s default, pointed at rootfs.
func runcSpec(rootfs string) *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: rootfs},
		Process: &specs.Process{Args: []string{"sh"}, Cwd: "/", Env: []string{"PATH=/bin"}},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: "pid"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// checkScript wraps checks in the busybox script helpers; the parent looks
// for FAIL lines.
func checkScript(body string) string {
	return `fail=0
check() { n=$1; shift; if "$@" >/dev/null 2>&1; then echo "ok $n"; else echo "FAIL $n"; fail=1; fi; }
refuse() { n=$1; shift; if "$@" >/dev/null 2>&1; then echo "FAIL $n (was allowed)"; fail=1; else echo "ok $n"; fi; }
` + body + `
exit $fail
`
}

func assertChecks(t *testing.T, r childResult) {
	t.Helper()
	if r.err != nil {
		t.Errorf("child failed: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
		return
	}
	n := 0
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "FAIL") {
			t.Error(line)
		}
		if strings.HasPrefix(line, "ok ") {
			n++
		}
	}
	if n == 0 {
		t.Errorf("no checks ran; stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}
