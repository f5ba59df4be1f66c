package security

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// hostFds opens what a shim or a careless caller could leave open in the
// runtime: a pipe, the host's cgroup root and /, and a directory holding a
// marker file, so an escape through any of them is visible. They become fds
// 3, 4, 5, 6 of the runtime process.
func hostFds(t *testing.T) (files []*os.File, marker string) {
	t.Helper()
	r, w, err := os.Pipe()
	must(t, err)
	dir := filepath.Join(filepath.Dir(tu.RootfsOf(tu.Bundle(t, nil))), "hostdir")
	must(t, os.Mkdir(dir, 0o755))
	marker = "HOST-MARKER-" + strconv.Itoa(os.Getpid())
	must(t, os.WriteFile(filepath.Join(dir, marker), nil, 0o644))
	var out []*os.File
	out = append(out, w)
	for _, p := range []string{"/sys/fs/cgroup", "/", dir} {
		f, err := os.Open(p)
		must(t, err)
		out = append(out, f)
	}
	t.Cleanup(func() {
		r.Close()
		for _, f := range out {
			f.Close()
		}
	})
	return out, marker
}

// CVE-2024-21626: process.cwd = /proc/self/fd/N resolves through a
// descriptor the init still holds; if that is a host directory the
// container starts with its cwd outside its root. For each N the create
// must fail with a clear error or the cwd must be inside the container.
func TestCwdThroughProcSelfFd(t *testing.T) {
	t.Parallel()
	for n := 3; n <= 10; n++ {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			rt, snap := setup(t)
			files, marker := hostFds(t)
			id := tu.ID(t)
			bundle := tu.Bundle(t, func(s *specs.Spec) {
				s.Process.Cwd = fmt.Sprintf("/proc/self/fd/%d", n)
				s.Process.Args = []string{"sh", "-c", "echo CWD $(readlink /proc/self/cwd); ls -a; ls -a ..; ls -a ../.."}
			})
			res := rt.Exec(t, tu.ExecOpts{Args: []string{"run", "--bundle", bundle, id}, Dir: bundle, ExtraFiles: files})
			checkCwd(t, res, marker)
			tu.CheckNoLeaks(t, snap, id)
		})
	}
}

// The exec variant: `exec --cwd /proc/self/fd/N` into a running container,
// with host descriptors open in the exec'ing runtime.
func TestExecCwdThroughProcSelfFd(t *testing.T) {
	t.Parallel()
	rt, snap := setup(t)
	id := tu.ID(t)
	rt.Create(t, id, tu.Bundle(t, tu.Args("sleep", "600")))
	rt.Start(t, id)
	for n := 3; n <= 10; n++ {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			files, marker := hostFds(t)
			res := rt.Exec(t, tu.ExecOpts{
				Args: []string{"exec", "--cwd", fmt.Sprintf("/proc/self/fd/%d", n), id,
					"sh", "-c", "echo CWD $(readlink /proc/self/cwd); ls -a; ls -a ..; ls -a ../.."},
				ExtraFiles: files,
			})
			checkCwd(t, res, marker)
		})
	}
	rt.Kill(t, id, "KILL")
	rt.WaitStatus(t, id, specs.StateStopped)
	rt.MustDelete(t, id, false)
	tu.CheckNoLeaks(t, snap, id)
}

func checkCwd(t *testing.T, res tu.Result, marker string) {
	t.Helper()
	if res.TimedOut {
		t.Fatalf("runtime hung: %s", res)
	}
	all := res.Stdout + res.Stderr
	if strings.Contains(all, marker) || strings.Contains(all, "cgroup.procs") || strings.Contains(all, "cgroup.controllers") {
		t.Fatalf("container escaped: its cwd reaches a host directory:\n%s", all)
	}
	if strings.Contains(all, "unreachable") {
		t.Fatalf("container cwd is outside its root:\n%s", all)
	}
	if res.Exit != 0 {
		if len(res.Errors()) > 0 {
			t.Logf("refused (exit %d): %s", res.Exit, res.Errors()[len(res.Errors())-1])
		} else {
			t.Logf("failed (exit %d): %.300s", res.Exit, all)
		}
		return
	}
	var cwd string
	for _, l := range tu.Lines(res.Stdout) {
		if v, ok := strings.CutPrefix(l, "CWD "); ok {
			cwd = v
		}
	}
	if !strings.HasPrefix(cwd, "/") {
		t.Errorf("container ran, but its cwd %q is not a path inside it:\n%s", cwd, all)
	}
	t.Logf("ran with cwd %s", cwd)
}

// fdList runs /attacker fds output through report: fd number -> target.
func fdList(t *testing.T, out string) map[int]string {
	t.Helper()
	r := report(out)
	if len(r["DONE"]) != 1 {
		t.Fatalf("attacker fds did not finish: %q", out)
	}
	m := map[int]string{}
	for _, v := range r["FD"] {
		n, target, _ := strings.Cut(v, " ")
		fd, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("bad FD line %q", v)
		}
		m[fd] = target
	}
	return m
}

func pipeTarget(t *testing.T, f *os.File) string {
	t.Helper()
	var st syscall.Stat_t
	must(t, syscall.Fstat(int(f.Fd()), &st))
	return fmt.Sprintf("pipe:[%d]", st.Ino)
}

// No descriptor of the runtime's beyond 0-2 and --preserve-fds may reach the
// container, whatever the runtime itself was given (containerd's shim hands
// it its socket as fd 3). Checked for create, run and exec, with and
// without --preserve-fds 1; the listing is exact, made with raw syscalls.
func TestNoFdLeaks(t *testing.T) {
	t.Parallel()
	rt, snap := setup(t)
	var ids []string
	check := func(t *testing.T, what, out string, preserved string) {
		t.Helper()
		fds := fdList(t, out)
		t.Logf("%s: %v", what, fds)
		for _, fd := range []int{0, 1, 2} {
			if _, ok := fds[fd]; !ok {
				t.Errorf("%s: fd %d is missing", what, fd)
			}
		}
		for fd, target := range fds {
			switch {
			case fd <= 2:
			case fd == 3 && preserved != "":
				if target != preserved {
					t.Errorf("%s: preserved fd 3 is %s, want %s", what, target, preserved)
				}
			default:
				t.Errorf("%s: fd %d -> %s reached the container", what, fd, target)
			}
		}
		if _, ok := fds[3]; preserved != "" && !ok {
			t.Errorf("%s: --preserve-fds 1 but fd 3 is not in the container", what)
		}
	}
	bundle := func() string {
		return tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
			withAttacker(t, rootfs)
			s.Process.Args = []string{"/attacker", "fds"}
		})
	}

	for _, preserve := range []int{0, 1} {
		t.Run(fmt.Sprintf("create-preserve-%d", preserve), func(t *testing.T) {
			files, _ := hostFds(t)
			id := tu.ID(t)
			ids = append(ids, id)
			b := bundle()
			out, err := os.Create(filepath.Join(b, "stdout"))
			must(t, err)
			defer out.Close()
			res := rt.Exec(t, tu.ExecOpts{
				Args: []string{"create", "--bundle", b, "--pid-file", filepath.Join(b, "pid"),
					"--preserve-fds", strconv.Itoa(preserve), id},
				Dir: b, Stdout: out, ExtraFiles: files,
			})
			if res.Exit != 0 {
				t.Fatalf("create: %s", res)
			}
			rt.Start(t, id)
			rt.WaitStatus(t, id, specs.StateStopped)
			got, _ := os.ReadFile(out.Name())
			want := ""
			if preserve == 1 {
				want = pipeTarget(t, files[0])
			}
			check(t, "create", string(got), want)
			rt.MustDelete(t, id, false)
		})
		t.Run(fmt.Sprintf("run-preserve-%d", preserve), func(t *testing.T) {
			files, _ := hostFds(t)
			id := tu.ID(t)
			ids = append(ids, id)
			b := bundle()
			res := rt.Exec(t, tu.ExecOpts{
				Args:       []string{"run", "--preserve-fds", strconv.Itoa(preserve), "--bundle", b, id},
				Dir:        b,
				ExtraFiles: files,
			})
			if res.Exit != 0 {
				t.Fatalf("run: %s", res)
			}
			want := ""
			if preserve == 1 {
				want = pipeTarget(t, files[0])
			}
			check(t, "run", res.Stdout, want)
		})
	}

	t.Run("exec", func(t *testing.T) {
		id := tu.ID(t)
		ids = append(ids, id)
		b := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
			withAttacker(t, rootfs)
			s.Process.Args = []string{"sleep", "600"}
		})
		rt.Create(t, id, b)
		// Into the created container (the init still waits, holding its
		// own descriptors) and into the running one.
		for _, phase := range []string{"created", "running"} {
			if phase == "running" {
				rt.Start(t, id)
			}
			for _, preserve := range []int{0, 1} {
				files, _ := hostFds(t)
				res := rt.Exec(t, tu.ExecOpts{
					Args:       []string{"exec", "--preserve-fds", strconv.Itoa(preserve), id, "/attacker", "fds"},
					ExtraFiles: files,
				})
				if res.Exit != 0 {
					t.Errorf("exec (%s): %s", phase, res)
					continue
				}
				want := ""
				if preserve == 1 {
					want = pipeTarget(t, files[0])
				}
				check(t, fmt.Sprintf("exec into %s, --preserve-fds %d", phase, preserve), res.Stdout, want)
			}
		}
		// The container's own process, started by the init: it too must see
		// only its stdio.
		res := rt.Exec(t, tu.ExecOpts{Args: []string{"exec", id, "ls", "-l", "/proc/1/fd"}})
		t.Logf("ls -l /proc/1/fd:\n%s", res.Stdout)
		if n := len(tu.Lines(res.Stdout)); res.Exit != 0 || n > 4 { // "total 0" + 0,1,2
			t.Errorf("the container's init holds more than its stdio: %s", res)
		}
		rt.Kill(t, id, "KILL")
		rt.WaitStatus(t, id, specs.StateStopped)
		rt.MustDelete(t, id, false)
	})
	tu.CheckNoLeaks(t, snap, ids...)
}

// hostDirLeak reports whether an attacker line shows a host directory: the
// marker dir's file, or the host's cgroup root.
func hostDirLeak(line, marker string) bool {
	return strings.Contains(line, marker) || strings.Contains(line, "cgroup.procs") ||
		strings.Contains(line, "cgroup.controllers") || strings.Contains(line, " unified ")
}

// The other half of CVE-2024-21626 (and CVE-2016-9962): the container does
// not wait for a descriptor to be handed to it, it takes it from a runtime
// process it can see. The init waiting in created state and every `exec`
// init pass through the container's pid namespace while they may still hold
// descriptors the runtime inherited (here: host directories given to
// create and exec). A container process must not be able to open any of
// them through /proc/PID/fd, /proc/PID/cwd or /proc/PID/root.
func TestRuntimeFdsUnreachableFromContainer(t *testing.T) {
	t.Parallel()
	rt, snap := setup(t)
	id := tu.ID(t)
	files, marker := hostFds(t)
	bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
		withAttacker(t, rootfs)
		s.Process.Args = []string{"/attacker", "watch", "/tmp/stop"}
	})
	stdout, err := os.Create(filepath.Join(bundle, "stdout"))
	must(t, err)
	defer stdout.Close()
	res := rt.Exec(t, tu.ExecOpts{
		Args: []string{"create", "--bundle", bundle, "--pid-file", filepath.Join(bundle, "pid"), id},
		Dir:  bundle, Stdout: stdout, ExtraFiles: files,
	})
	if res.Exit != 0 {
		t.Fatalf("create: %s", res)
	}

	// From the host first: whether the container can reach them or not,
	// the init must not hold the caller's descriptors at all.
	pidb, err := os.ReadFile(filepath.Join(bundle, "pid"))
	must(t, err)
	fdDir := "/proc/" + string(pidb) + "/fd"
	ents, err := os.ReadDir(fdDir)
	must(t, err)
	for _, e := range ents {
		// By identity, not by name: the init's private procfs also reads
		// as "/".
		var st syscall.Stat_t
		if syscall.Stat(fdDir+"/"+e.Name(), &st) != nil {
			continue
		}
		for _, f := range files {
			var fst syscall.Stat_t
			if syscall.Fstat(int(f.Fd()), &fst) == nil && fst.Dev == st.Dev && fst.Ino == st.Ino {
				l, _ := os.Readlink(fdDir + "/" + e.Name())
				t.Errorf("the waiting init holds the caller's descriptor: its fd %s -> %s", e.Name(), l)
			}
		}
	}

	// The init waits on the exec fifo as pid 1.
	res = rt.Exec(t, tu.ExecOpts{Args: []string{"exec", id, "/attacker", "procfds", "1"}})
	t.Logf("created init's /proc/1 (exit %d):\n%s%s", res.Exit, res.Stdout, res.Stderr)
	for _, l := range tu.Lines(res.Stdout) {
		if strings.HasPrefix(l, "PDIR fd/") {
			t.Errorf("a container process opened a directory descriptor of the waiting init: %s", l)
		} else if strings.HasPrefix(l, "PDIR") && hostDirLeak(l, marker) {
			t.Errorf("a container process reached a host directory through the waiting init: %s", l)
		}
	}

	// Running: the watcher grabs at every exec init it sees while the test
	// runs execs that hold host descriptors.
	rt.Start(t, id)
	for i := 0; i < 10; i++ {
		files, _ := hostFds(t)
		rt.Exec(t, tu.ExecOpts{Args: []string{"exec", id, "true"}, ExtraFiles: files})
	}
	if res := rt.Exec(t, tu.ExecOpts{Args: []string{"exec", id, "touch", "/tmp/stop"}}); res.Exit != 0 {
		t.Fatalf("stopping the watcher: %s", res)
	}
	rt.WaitStatus(t, id, specs.StateStopped)
	got, _ := os.ReadFile(stdout.Name())
	t.Logf("watcher:\n%s", got)
	for _, l := range tu.Lines(string(got)) {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "GRAB" {
			if strings.HasPrefix(f[2], "fd/") {
				t.Errorf("a container process opened a directory descriptor of an exec init: %s", l)
			} else if hostDirLeak(l, marker) {
				t.Errorf("a container process reached a host directory through an exec init: %s", l)
			}
		}
	}
	rt.MustDelete(t, id, false)
	tu.CheckNoLeaks(t, snap, id)
}

// Even with a caller that leaks nothing, the init holds descriptors of its
// own while it waits in created state; one is the private procfs instance
// the verified-procfs code opens (fsopen), which has none of the
// container's maskedPaths or readonlyPaths. A container process (here one
// `exec`ed into the created container, as root with the default
// capabilities) must not be able to open any descriptor of the init; if it
// can, reading a masked file through it shows the masks are bypassed.
func TestWaitingInitFdsUnreachable(t *testing.T) {
	t.Parallel()
	rt, snap := setup(t)
	id := tu.ID(t)
	bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
		withAttacker(t, rootfs)
		s.Process.Args = []string{"true"}
	})
	rt.Create(t, id, bundle)
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"exec", id, "/attacker", "procfds", "1"}})
	t.Logf("created init's /proc/1 (exit %d):\n%s%s", res.Exit, res.Stdout, res.Stderr)
	for _, l := range tu.Lines(res.Stdout) {
		rest, ok := strings.CutPrefix(l, "PDIR fd/")
		if !ok {
			continue
		}
		fd, entries, _ := strings.Cut(rest, " ")
		t.Errorf("a container process opened directory fd %s of the waiting init (the init is dumpable, so /proc/1/fd is open to it): %s", fd, l)
		if strings.Contains(" "+entries+" ", " self ") {
			// timer_list is in the default maskedPaths; reading it is
			// harmless, and shows whether the rest (sysrq-trigger) would be
			// reachable through this procfs too.
			r := rt.Exec(t, tu.ExecOpts{Args: []string{"exec", id, "sh", "-c",
				"head -c 200 /proc/1/fd/" + fd + "/timer_list"}})
			if strings.TrimSpace(r.Stdout) != "" {
				t.Errorf("fd %s is an unmasked procfs: /proc/1/fd/%s/timer_list (masked in the container) gives:\n%s", fd, fd, r.Stdout)
			} else {
				t.Logf("fd %s is a procfs without the global files (subset=pid): %s", fd, strings.TrimSpace(r.Stderr))
			}
		}
	}
	rt.MustDelete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)
}
