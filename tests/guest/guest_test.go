// Package guest runs real rung containers where the cgroup v2 stage's limits
// and the AppArmor stage can take effect: a pure cgroup v2 machine with every
// controller and AppArmor on, which is what tests/vm/run.sh boots. This
// host's hybrid hierarchy has no controllers and no AppArmor, so on it (and
// wherever RUNG_GUEST is not 1) every test skips with the reason; `make
// guest-test` compiles this package on the host and runs it in the guest.
//
// The tests drive bin/rung only through its CLI (tests/testutil, as
// tests/integration does) and look at the result from both sides: the
// cgroup files inside the container (its cgroup namespace shows its own
// cgroup at /sys/fs/cgroup) and the kernel's view from the guest.
package guest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// guestEnv is set to 1 by tests/vm/run.sh. The tests load AppArmor profiles
// and fill cgroups up to their limits, so they want a disposable machine and
// do not go by what the kernel offers alone.
const guestEnv = "RUNG_GUEST"

func requireGuest(t *testing.T) {
	t.Helper()
	if os.Getenv(guestEnv) != "1" {
		t.Skip("not in the rung test guest (" + guestEnv + "=1): `make guest-test` boots it; " +
			"these tests need pure cgroup v2 with every controller and AppArmor")
	}
}

// cgroupRoot is the guest's cgroup2 mount.
const cgroupRoot = "/sys/fs/cgroup"

// requireControllers skips unless the cgroup2 root delegates every
// controller the limits tests use.
func requireControllers(t *testing.T) {
	t.Helper()
	requireGuest(t)
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skipf("%s is not a cgroup2 mount (statfs: %v)", cgroupRoot, err)
	}
	b, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"))
	if err != nil {
		t.Skipf("cgroup2 root: %v", err)
	}
	have := map[string]bool{}
	for _, c := range strings.Fields(string(b)) {
		have[c] = true
	}
	for _, c := range []string{"cpu", "cpuset", "io", "memory", "pids", "hugetlb"} {
		if !have[c] {
			t.Skipf("controller %s is not enabled at the cgroup2 root (subtree_control %q)", c, strings.TrimSpace(string(b)))
		}
	}
}

// requireAppArmor skips unless AppArmor is on and profiles can be loaded.
func requireAppArmor(t *testing.T) {
	t.Helper()
	requireGuest(t)
	if b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled"); err != nil || strings.TrimSpace(string(b)) != "Y" {
		t.Skipf("AppArmor is not enabled (%q, %v)", b, err)
	}
	if _, err := os.Stat("/sys/kernel/security/apparmor/profiles"); err != nil {
		t.Skipf("AppArmor's securityfs is not mounted: %v", err)
	}
	if _, err := exec.LookPath("apparmor_parser"); err != nil {
		t.Skip("apparmor_parser is not installed (Debian package apparmor)")
	}
}

// setup is the start of every test, as in tests/integration.
func setup(t *testing.T) (*tu.Runtime, *tu.LeakSnapshot) {
	t.Helper()
	t.Parallel()
	rt := tu.NewRuntime(t)
	tu.RequireRung(t, "the guest suite checks rung's stages")
	return rt, tu.Snapshot()
}

// cgroupOf is the guest path of a process's cgroup2 directory.
func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatalf("cgroup of pid %d: %v", pid, err)
	}
	for _, l := range tu.Lines(string(b)) {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return filepath.Join(cgroupRoot, p)
		}
	}
	t.Fatalf("pid %d has no cgroup2 line: %q", pid, b)
	return ""
}

// readFile is a cgroup (or any) file's trimmed contents, failing the test.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// keyValues parses a flat-keyed cgroup file (memory.events, cpu.stat).
func keyValues(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, l := range tu.Lines(readFile(t, path)) {
		if k, v, ok := strings.Cut(l, " "); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			out[k] = n
		}
	}
	return out
}

// execIn runs a command inside a running container (`rung exec`, not
// detached) and returns its stdout, failing the test unless it exits 0.
func execIn(t *testing.T, rt *tu.Runtime, id string, args ...string) string {
	t.Helper()
	return execWith(t, rt, nil, id, args...)
}

// execWith is execIn with exec flags, which go before the id.
func execWith(t *testing.T, rt *tu.Runtime, flags []string, id string, args ...string) string {
	t.Helper()
	full := append(append(append([]string{"exec"}, flags...), id), args...)
	res := rt.Exec(t, tu.ExecOpts{Args: full})
	if res.Exit != 0 {
		t.Fatalf("%q: %s", full, res)
	}
	return res.Stdout
}

// statsOf runs `events --stats ID` and decodes its one line.
func statsOf(t *testing.T, rt *tu.Runtime, id string) map[string]any {
	t.Helper()
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"events", "--stats", id}})
	if res.Exit != 0 {
		t.Fatalf("events --stats %s: %s", id, res)
	}
	lines := tu.Lines(res.Stdout)
	if len(lines) != 1 {
		t.Fatalf("events --stats printed %d lines, want one JSON object:\n%s", len(lines), res.Stdout)
	}
	var ev map[string]any
	d := json.NewDecoder(bytes.NewReader([]byte(lines[0])))
	d.UseNumber()
	if err := d.Decode(&ev); err != nil {
		t.Fatalf("events --stats output is not JSON: %v\n%s", err, lines[0])
	}
	return ev
}

// field walks a decoded JSON object by keys; nil when a key is missing.
func field(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// num is a decoded JSON number as uint64 (0 when absent: runc's omitempty).
func num(v any) uint64 {
	if n, ok := v.(json.Number); ok {
		u, _ := strconv.ParseUint(n.String(), 10, 64)
		return u
	}
	return 0
}

// randHex is a short random suffix for names outside testutil's ids (AppArmor
// profiles), so parallel and repeated runs do not collide.
func randHex(t *testing.T) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// blockDev is major:minor of the guest's scratch disk (tests/vm/run.sh
// attaches a 4 MiB virtio disk), the one device io.max can name.
func blockDev(t *testing.T) (string, uint32, uint32) {
	t.Helper()
	b, err := os.ReadFile("/sys/block/vda/dev")
	if err != nil {
		t.Skipf("no scratch disk /dev/vda (tests/vm/run.sh attaches one): %v", err)
	}
	mm := strings.TrimSpace(string(b))
	maj, min, _ := strings.Cut(mm, ":")
	a, err1 := strconv.ParseUint(maj, 10, 32)
	c, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("/sys/block/vda/dev: %q", mm)
	}
	return mm, uint32(a), uint32(c)
}

// background starts a long-running runtime call (`events`) with the global
// flags, in its own process group, stopped at the end of the test. Its
// stdout goes to the returned file.
func background(t *testing.T, rt *tu.Runtime, args ...string) (out string, stop func()) {
	t.Helper()
	out = filepath.Join(t.TempDir(), "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(rt.Bin, append([]string{"--root", rt.Root, "--log", rt.Log, "--log-format", "json"}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), rt.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	stop = func() {
		if done {
			return
		}
		done = true
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}
	t.Cleanup(stop)
	return out, stop
}
