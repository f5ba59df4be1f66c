// Package e2e drives rung through the real clients it must be a drop-in for:
// Debian's containerd 1.6 (ctr and the io.containerd.runc.v2 shim, on a
// private containerd the test starts) and podman 4.3 (through conmon, on a
// private storage root). The image is a busybox OCI image built locally with
// umoci, so nothing is pulled.
//
// Every test skips, saying why, when not root or when a tool is missing.
// RUNG_BIN picks the runtime (default <repo>/bin/rung); RUNG_BIN=runc runs
// the same flows against runc to check the tests themselves.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rung-runtime/rung/tests/testutil"
)

// cmdTimeout bounds every client call: a hung runtime fails the call, not
// the suite.
const cmdTimeout = 60 * time.Second

// markerEnv is put in every test container's environment with the
// container's test id as value: the leak checker recognises a process by an
// id in its cmdline or environ, and a container's own processes (sleep, sh)
// carry none in their cmdline.
const markerEnv = "RUNG_E2E_ID"

// packages names the Debian package of each tool, for skip messages.
var packages = map[string]string{
	"containerd": "containerd", "ctr": "containerd", "containerd-shim-runc-v2": "containerd",
	"podman": "podman", "conmon": "conmon", "umoci": "umoci", "tar": "tar",
	"script": "bsdutils", "unshare": "util-linux",
}

// requireTools skips unless we are root, the runtime binary exists and every
// tool is on PATH.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	testutil.RequireRoot(t)
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian package %s): %v", tool, packages[tool], err)
		}
	}
}

// result is one finished client call.
type result struct {
	args     []string
	stdout   string
	stderr   string
	exit     int
	timedOut bool
	err      error // set when the command could not be run at all
}

func (r result) String() string {
	s := fmt.Sprintf("%s: exit %d", strings.Join(r.args, " "), r.exit)
	if r.timedOut {
		s += " (timed out)"
	}
	if r.err != nil {
		s += fmt.Sprintf(" (%v)", r.err)
	}
	return s + fmt.Sprintf("\nstdout: %q\nstderr: %q", r.stdout, r.stderr)
}

type cmdOpts struct {
	env     []string
	stdin   string // default /dev/null
	timeout time.Duration
}

// run runs a command in its own process group with a deadline; on timeout
// the whole group is killed (the group is ours: Setpgid made it). Output
// goes to files, not pipes, because a client may leave a daemonised child
// (conmon, a shim) holding its stdio.
func run(t testing.TB, o cmdOpts, name string, args ...string) result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = cmdTimeout
	}
	res := result{args: append([]string{name}, args...), exit: -1}
	outf, err := os.CreateTemp("", "rung-e2e-out-")
	if err != nil {
		t.Fatalf("temp file: %v", err)
	}
	errf, err := os.CreateTemp("", "rung-e2e-err-")
	if err != nil {
		t.Fatalf("temp file: %v", err)
	}
	defer func() {
		outf.Close()
		errf.Close()
		os.Remove(outf.Name())
		os.Remove(errf.Name())
	}()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), o.env...)
	cmd.Stdout, cmd.Stderr = outf, errf
	if o.stdin != "" {
		cmd.Stdin = strings.NewReader(o.stdin)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	res.timedOut = ctx.Err() != nil
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.exit = 0
	case errors.As(err, &ee):
		res.exit = ee.ExitCode()
	default:
		res.err = err
	}
	res.stdout = readAll(outf)
	res.stderr = readAll(errf)
	t.Logf("$ %s -> exit %d", shellJoin(res.args), res.exit)
	return res
}

func readAll(f *os.File) string {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func mustOK(t testing.TB, r result) result {
	t.Helper()
	if r.exit != 0 || r.timedOut {
		t.Fatalf("command failed: %s", r)
	}
	return r
}

// shellQuote quotes s for sh, for the command line script(1) runs.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=/.:,@+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// inTerminal runs a command with a pty as its controlling terminal and
// stdio, through script(1): ctr -t and podman -t refuse to run otherwise.
// The output has the terminal's \r\n line ends.
func inTerminal(t testing.TB, o cmdOpts, args ...string) result {
	t.Helper()
	o.env = append(o.env, "SHELL=/bin/sh")
	return run(t, o, "script", "-qec", shellJoin(args), "/dev/null")
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	var out []string
	for _, m := range testutil.Mounts() {
		if m.Point == dir || strings.HasPrefix(m.Point, dir+"/") {
			out = append(out, m.Point)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}

// fsTypeOf is the filesystem type of the mount holding path.
func fsTypeOf(path string) string {
	best, typ := "", ""
	for _, m := range testutil.Mounts() {
		if (path == m.Point || strings.HasPrefix(path, strings.TrimSuffix(m.Point, "/")+"/")) && len(m.Point) >= len(best) {
			best, typ = m.Point, m.FSType
		}
	}
	return typ
}

// cgroupMounts are the cgroup2 mount point (found from mountinfo, never
// assumed: this host is hybrid, with cgroup2 at /sys/fs/cgroup/unified)
// and every v1 hierarchy.
func cgroupMounts() (v2 string, v1 []string) {
	seen := map[string]bool{}
	for _, m := range testutil.Mounts() {
		if seen[m.Point] {
			continue
		}
		seen[m.Point] = true
		switch m.FSType {
		case "cgroup2":
			if v2 == "" {
				v2 = m.Point
			}
		case "cgroup":
			v1 = append(v1, m.Point)
		}
	}
	return v2, v1
}

// cgroup2Has reports whether the cgroup2 hierarchy offers a controller.
func cgroup2Has(controller string) bool {
	v2, _ := cgroupMounts()
	if v2 == "" {
		return false
	}
	b, err := os.ReadFile(filepath.Join(v2, "cgroup.controllers"))
	if err != nil {
		return false
	}
	for _, c := range strings.Fields(string(b)) {
		if c == controller {
			return true
		}
	}
	return false
}

// removeCgroupTree rmdirs the cgroup directory /name and everything below
// it, deepest first, in the given hierarchies. rmdir only: it never moves
// or kills a process, so a cgroup still in use stays (and is reported by
// the leak checker). name must be one of this test's unique ids.
func removeCgroupTree(t testing.TB, roots []string, name string) {
	t.Helper()
	if len(name) < 14 || strings.Contains(name, "/") {
		t.Fatalf("refusing to remove cgroup tree %q: not a unique test id", name)
	}
	for _, root := range roots {
		top := filepath.Join(root, name)
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				t.Logf("rmdir %s: %v", d, err)
			}
		}
	}
}

// dropParentCgroup removes the test's parent cgroup /name (a unique test
// id: a ctr namespace or a podman --cgroup-parent) in every hierarchy. The
// parent is shared by the test's containers and no one container's to
// remove (runc never does; rung only with the container that made it), so
// an empty one is no leak. A directory below it is, unless its name is in
// clientOwned (podman's "conmon"): with report set each is an error, and
// then the whole tree goes (rmdir only; a cgroup in use stays and the leak
// checker reports it).
func dropParentCgroup(t testing.TB, name string, clientOwned []string, report bool) {
	t.Helper()
	v2, v1 := cgroupMounts()
	roots := v1
	if v2 != "" {
		roots = append(roots, v2)
	}
	for _, root := range roots {
		top := filepath.Join(root, name)
		ents, err := os.ReadDir(top)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			owned := false
			for _, o := range clientOwned {
				owned = owned || e.Name() == o
			}
			if !owned && report {
				t.Errorf("leak: cgroup %s", filepath.Join(top, e.Name()))
			}
		}
		removeCgroupTree(t, []string{root}, name)
	}
}

// procsWithCmdline lists the pids (not ours, not our ancestors) whose
// cmdline contains marker, a unique temp dir path of this test.
func procsWithCmdline(marker string) []int {
	protected := map[int]bool{1: true, os.Getpid(): true, os.Getppid(): true}
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || protected[pid] {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		if bytes.Contains(b, []byte(marker)) {
			out = append(out, pid)
		}
	}
	return out
}

// reapByCmdline is the last resort after a failed test: it kills, by pid,
// the processes started on our behalf (shims of our containerd, podman
// cleanup processes) that still name our unique temp dir. A handful at most
// can be ours; more means the marker is wrong and nothing is killed.
func reapByCmdline(t testing.TB, marker string) {
	t.Helper()
	if !strings.Contains(marker, "/rung-e2e-") || len(marker) < 20 {
		t.Errorf("refusing to kill by marker %q: not a test temp dir", marker)
		return
	}
	pids := procsWithCmdline(marker)
	if len(pids) == 0 {
		return
	}
	if len(pids) > 16 {
		t.Errorf("%d processes name %s; refusing to kill that many", len(pids), marker)
		return
	}
	for _, pid := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		t.Errorf("leftover process %d %q: killing it", pid, strings.ReplaceAll(string(b), "\x00", " "))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	testutil.Poll(func() bool { return len(procsWithCmdline(marker)) == 0 })
}

// unmountUnder detaches every mount left below dir (our own temp dir), so
// it can be removed.
func unmountUnder(t testing.TB, dir string) {
	t.Helper()
	for _, m := range mountsUnder(dir) {
		t.Logf("unmounting leftover %s", m)
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			t.Logf("unmount %s: %v", m, err)
		}
	}
}

// defaultRoot is the state directory a runtime uses without --root (podman
// passes none).
func defaultRoot() string {
	if testutil.IsRunc() {
		return "/run/runc"
	}
	return "/run/rung"
}

// waitFor polls cond (bounded) and fails with what() when it never holds.
func waitFor(t testing.TB, cond func() bool, what func() string) {
	t.Helper()
	if !testutil.Poll(cond) {
		t.Fatalf("gave up waiting: %s", what())
	}
}
