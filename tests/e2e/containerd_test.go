package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rung-runtime/rung/internal/launcher"
	"github.com/rung-runtime/rung/tests/testutil"
)

// bbImage is the name ctr import gives the umoci image (base name + tag).
const bbImage = "localhost/bb:latest"

// containerdConfig keeps every path of the daemon in its temp dir (%[1]s):
// root, state, the gRPC, ttrpc and debug sockets, the opt dir. CRI is off
// (it would start a CNI/sandbox machinery we do not test) and so are the
// snapshotters that need a special filesystem.
const containerdConfig = `version = 2
root = "%[1]s/root"
state = "%[1]s/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "%[1]s/containerd.sock"

[ttrpc]
  address = "%[1]s/containerd.sock.ttrpc"

[debug]
  address = "%[1]s/debug.sock"
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "%[1]s/opt"
`

// containerd is a private containerd daemon started by the test.
type containerd struct {
	dir         string // temp dir holding all of its state and sockets
	sock        string
	ns          string // ctr namespace: a unique test id, so cgroups are /<ns>/<id>
	snapshotter string
	log         string
	cmd         *exec.Cmd
	done        chan struct{}
}

// startContainerd starts containerd on a private config and waits (bounded)
// for its socket to answer. Cleanup removes leftover containers, stops the
// daemon (only this one: we hold its pid), reaps shims that still name its
// socket, unmounts whatever is left below its dir and removes the dir.
func startContainerd(t *testing.T) *containerd {
	t.Helper()
	dir, err := os.MkdirTemp("", "rung-e2e-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	c := &containerd{
		dir:  dir,
		sock: filepath.Join(dir, "containerd.sock"),
		ns:   testutil.ID(t),
		log:  filepath.Join(dir, "containerd.log"),
		done: make(chan struct{}),
		// overlayfs cannot take its upper dir on overlayfs (a container or
		// the test VM's overlay root): copy layers there instead.
		snapshotter: "overlayfs",
	}
	if fsTypeOf(dir) == "overlay" {
		c.snapshotter = "native"
	}
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(containerdConfig, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c.cmd = exec.Command("containerd", "--config", cfg)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("start containerd: %v", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { c.stop(t) })

	exited := false
	ready := testutil.Poll(func() bool {
		select {
		case <-c.done:
			exited = true
			return true
		default:
		}
		if _, err := os.Stat(c.sock); err != nil {
			return false
		}
		return run(t, cmdOpts{timeout: 5 * time.Second}, "ctr", "--address", c.sock, "version").exit == 0
	})
	if exited || !ready {
		t.Fatalf("containerd did not come up (exited=%v); its log:\n%s", exited, tail(c.log, 30))
	}
	return c
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (c *containerd) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

func (c *containerd) stop(t *testing.T) {
	if c.running() {
		// Whatever a failed test left: kill and delete its tasks and
		// containers, so their shims exit and their mounts go.
		ls := c.ctr(t, "containers", "list", "--quiet")
		for _, id := range strings.Fields(ls.stdout) {
			t.Logf("cleanup: removing leftover container %s", id)
			c.ctr(t, "tasks", "kill", "--all", "--signal", "SIGKILL", id)
			testutil.Poll(func() bool { st, _ := c.taskStatus(t, id); return st == "" || st == "STOPPED" })
			c.ctr(t, "tasks", "delete", "--force", id)
			c.ctr(t, "containers", "delete", id)
		}
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			t.Errorf("containerd ignored SIGTERM for 15s; killing its process group")
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.done
		}
	}
	// Shims are started by containerd in their own process groups and
	// outlive it by design; ours carry our socket path in their cmdline.
	reapByCmdline(t, c.dir)
	unmountUnder(t, c.dir)
	if os.Getenv("RUNG_TEST_KEEP") != "" {
		t.Logf("RUNG_TEST_KEEP: leaving %s", c.dir)
		return
	}
	if err := os.RemoveAll(c.dir); err != nil {
		t.Errorf("remove containerd dir: %v", err)
	}
}

// ctr runs ctr against this daemon, in the test namespace.
func (c *containerd) ctr(t testing.TB, args ...string) result {
	t.Helper()
	return run(t, cmdOpts{}, "ctr", append([]string{"--address", c.sock, "--namespace", c.ns}, args...)...)
}

// ctrCmd is the argv of a ctr call, for running it under script(1).
func (c *containerd) ctrCmd(args ...string) []string {
	return append([]string{"ctr", "--address", c.sock, "--namespace", c.ns}, args...)
}

// taskStatus is the task's status column in `ctr tasks list` ("" when there
// is no task) and its pid.
func (c *containerd) taskStatus(t testing.TB, id string) (status string, pid int) {
	t.Helper()
	r := c.ctr(t, "tasks", "list")
	for _, l := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == id {
			pid, _ = strconv.Atoi(f[1])
			return f[2], pid
		}
	}
	return "", 0
}

func (c *containerd) waitStatus(t testing.TB, id, want string) int {
	t.Helper()
	var st string
	var pid int
	waitFor(t, func() bool { st, pid = c.taskStatus(t, id); return st == want },
		func() string { return fmt.Sprintf("task %s status %q, want %q", id, st, want) })
	return pid
}

// sandbox is what one subtest runs containers with: the runtime's state
// root (the shim passes --root <runcRoot>/<ns>) and the fifo dir ctr
// makes the container's stdio fifos in (its default is in /run/containerd).
type sandbox struct {
	c        *containerd
	runcRoot string
	fifoDir  string
	snap     *testutil.LeakSnapshot
	ids      []string
}

func (c *containerd) sandbox(t *testing.T) *sandbox {
	t.Helper()
	return &sandbox{c: c, runcRoot: t.TempDir(), fifoDir: t.TempDir(), snap: testutil.Snapshot()}
}

// newID is a unique container id, also recorded for the leak checks.
func (s *sandbox) newID(t *testing.T) string {
	id := testutil.ID(t)
	s.ids = append(s.ids, id)
	return id
}

// runArgs are `ctr run` flags for the runtime under test. ctr asks for cpu
// shares 1024 unless told otherwise; a cgroup2 hierarchy without the cpu
// controller (this host) cannot apply that and rung refuses it (checked in
// CreateFails), so the flows ask for none.
func (s *sandbox) runArgs(id string, extra ...string) []string {
	a := []string{"run",
		"--runc-binary", testutil.RuntimeBin(),
		"--runc-root", s.runcRoot,
		"--fifo-dir", s.fifoDir,
		"--snapshotter", s.c.snapshotter,
		"--cpu-shares", "0",
		"--env", markerEnv + "=" + id,
	}
	return append(a, extra...)
}

func (s *sandbox) execArgs(execID string, extra ...string) []string {
	return append([]string{"tasks", "exec", "--fifo-dir", s.fifoDir, "--exec-id", execID}, extra...)
}

// stateDir is where the runtime keeps the container's state.
func (s *sandbox) stateDir(id string) string {
	return filepath.Join(s.runcRoot, s.c.ns, id)
}

// checkClean asserts nothing of the subtest's containers is left once they
// are deleted: no container in containerd, no runtime state, no rootfs
// mount, and (testutil's leak checker) no process naming an id (shims,
// container processes through markerEnv), no cgroup naming one.
func (s *sandbox) checkClean(t *testing.T) {
	t.Helper()
	// The runtime keeps its state under the root the shim passes it: if
	// that never appeared, ctr fell back to the host's runc.
	if _, err := os.Stat(filepath.Join(s.runcRoot, s.c.ns)); err != nil {
		t.Errorf("the runtime under test never used its --root (did the shim run the default runc?): %v", err)
	}
	for _, id := range s.ids {
		var left []string
		testutil.Poll(func() bool {
			left = nil
			if ls := s.c.ctr(t, "containers", "list", "--quiet"); strings.Contains(ls.stdout, id) {
				left = append(left, "containerd still lists it")
			}
			if _, err := os.Lstat(s.stateDir(id)); err == nil {
				left = append(left, "runtime state "+s.stateDir(id))
			}
			for _, m := range mountsUnder(s.c.dir) {
				if strings.Contains(m, id) {
					left = append(left, "mount "+m)
				}
			}
			return len(left) == 0
		})
		for _, l := range left {
			t.Errorf("container %s: leak: %s", id, l)
		}
	}
	testutil.CheckNoLeaks(t, s.snap, s.ids...)
}

func TestContainerd(t *testing.T) {
	requireTools(t, "containerd", "ctr", "containerd-shim-runc-v2", "umoci", "tar", "script")
	snap := testutil.Snapshot()
	archive := busyboxArchive(t)
	c := startContainerd(t)
	mustOK(t, c.ctr(t, "images", "import", "--base-name", "localhost/bb", "--snapshotter", c.snapshotter, archive))
	if ls := c.ctr(t, "images", "list", "--quiet"); !strings.Contains(ls.stdout, bbImage) {
		t.Fatalf("imported image %s not listed: %s", bbImage, ls)
	}

	t.Run("RunRm", func(t *testing.T) {
		s := c.sandbox(t)
		id := s.newID(t)
		r := mustOK(t, c.ctr(t, append(s.runArgs(id, "--rm"), bbImage, id, "echo", "hi")...))
		if r.stdout != "hi\n" {
			t.Errorf("stdout %q, want exactly \"hi\\n\" (nothing of the runtime's may reach the container's stdio)", r.stdout)
		}
		// stdio are the shim's fifos, nothing else is open in the
		// container (the shim's fd 3 must not leak), and the exit status
		// comes back through the shim.
		id2 := s.newID(t)
		r = c.ctr(t, append(s.runArgs(id2, "--rm"), bbImage, id2, "sh", "-c", `ls /proc/$$/fd; echo err >&2; exit 5`)...)
		if r.exit != 5 {
			t.Errorf("exit %d, want the container's 5: %s", r.exit, r)
		}
		if r.stdout != "0\n1\n2\n" {
			t.Errorf("container's open fds %q, want only 0 1 2", r.stdout)
		}
		if r.stderr != "err\n" {
			t.Errorf("stderr %q, want exactly \"err\\n\"", r.stderr)
		}
		s.checkClean(t)
	})

	t.Run("Detached", func(t *testing.T) {
		s := c.sandbox(t)
		id := s.newID(t)
		// A trapped SIGTERM shows the signal reached the init; sh is pid 1
		// of its pid namespace, which ignores untrapped SIGTERM.
		mustOK(t, c.ctr(t, append(s.runArgs(id, "--detach"), bbImage, id, "sh", "-c", `trap 'exit 7' TERM; sleep 1000 & wait`)...))
		initPid := c.waitStatus(t, id, "RUNNING")

		r := mustOK(t, c.ctr(t, append(s.execArgs("x1"), id, "sh", "-c", `echo exec-ok; tr '\0' ' ' </proc/1/cmdline; echo; cat /proc/self/cgroup`)...))
		if !strings.Contains(r.stdout, "exec-ok") {
			t.Errorf("exec output %q lacks exec-ok", r.stdout)
		}
		if !strings.Contains(r.stdout, "trap") {
			t.Errorf("exec does not see the init as pid 1 (not in its pid namespace?): %q", r.stdout)
		}
		if want := "0::/" + c.ns + "/" + id + "\n"; !strings.Contains(r.stdout, want) {
			t.Errorf("exec not in the container's cgroup: /proc/self/cgroup %q lacks %q", r.stdout, want)
		}
		if r := c.ctr(t, append(s.execArgs("x2"), id, "sh", "-c", "exit 3")...); r.exit != 3 {
			t.Errorf("exec exit %d, want 3: %s", r.exit, r)
		}
		mustOK(t, c.ctr(t, append(s.execArgs("x3", "--detach"), id, "sleep", "1000")...))

		// ps goes through the runtime's `ps --format json`.
		var pids []int
		waitFor(t, func() bool {
			pids = nil
			for _, l := range strings.Split(c.ctr(t, "tasks", "ps", id).stdout, "\n")[1:] {
				if f := strings.Fields(l); len(f) > 0 {
					if p, err := strconv.Atoi(f[0]); err == nil {
						pids = append(pids, p)
					}
				}
			}
			// init sh, its sleep, the exec'd sleep
			return len(pids) >= 3
		}, func() string {
			return fmt.Sprintf("ctr tasks ps %s: pids %v, want the init, its child and the exec", id, pids)
		})
		found := false
		for _, p := range pids {
			found = found || p == initPid
		}
		if !found {
			t.Errorf("ctr tasks ps %v lacks the init pid %d", pids, initPid)
		}

		// An exec with a terminal: the shim passes --console-socket and
		// --tty; the pty master comes back over the socket.
		r = inTerminal(t, cmdOpts{}, c.ctrCmd(append(s.execArgs("x4", "--tty"), id, "sh", "-c", `test -t 0 && test -t 1 && test -t 2 && echo all-tty; tty`)...)...)
		if r.exit != 0 || !strings.Contains(r.stdout, "all-tty") || !strings.Contains(r.stdout, "/dev/pts/") {
			t.Errorf("exec --tty: want all-tty and a /dev/pts name: %s", r)
		}

		mustOK(t, c.ctr(t, "tasks", "pause", id))
		c.waitStatus(t, id, "PAUSED")
		if st := runtimeState(t, filepath.Join(s.runcRoot, c.ns), id); st != "paused" {
			t.Errorf("runtime state %q while ctr says PAUSED", st)
		}
		mustOK(t, c.ctr(t, "tasks", "resume", id))
		c.waitStatus(t, id, "RUNNING")

		mustOK(t, c.ctr(t, "tasks", "kill", id)) // SIGTERM
		c.waitStatus(t, id, "STOPPED")
		r = mustOK(t, c.ctr(t, "tasks", "delete", id))
		if !strings.Contains(r.stderr, "exit code 7") {
			t.Errorf("task delete should report the trap's exit code 7: %s", r)
		}
		mustOK(t, c.ctr(t, "containers", "delete", id))

		// kill --all: every process of the container, here a sleep that
		// as pid 1 would ignore anything but SIGKILL.
		id2 := s.newID(t)
		mustOK(t, c.ctr(t, append(s.runArgs(id2, "--detach"), bbImage, id2, "sleep", "1000")...))
		c.waitStatus(t, id2, "RUNNING")
		mustOK(t, c.ctr(t, "tasks", "kill", "--all", "--signal", "SIGKILL", id2))
		c.waitStatus(t, id2, "STOPPED")
		r = mustOK(t, c.ctr(t, "tasks", "delete", id2))
		if !strings.Contains(r.stderr, "exit code 137") {
			t.Errorf("task delete should report SIGKILL's 137: %s", r)
		}
		mustOK(t, c.ctr(t, "containers", "delete", id2))
		s.checkClean(t)
	})

	// What CRI does to a running pod: concurrent execs (probes), a failing
	// exec, an exec as another user, killing one exec, and a forced delete
	// of the running task.
	t.Run("Execs", func(t *testing.T) {
		s := c.sandbox(t)
		id := s.newID(t)
		mustOK(t, c.ctr(t, append(s.runArgs(id, "--detach"), bbImage, id, "sleep", "1000")...))
		c.waitStatus(t, id, "RUNNING")

		var wg sync.WaitGroup
		res := make([]result, 6)
		for i := range res {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				res[i] = c.ctr(t, append(s.execArgs(fmt.Sprintf("p%d", i)), id, "sh", "-c", fmt.Sprintf("echo par-%d", i))...)
			}(i)
		}
		wg.Wait()
		for i, r := range res {
			if r.exit != 0 || r.stdout != fmt.Sprintf("par-%d\n", i) {
				t.Errorf("concurrent exec %d: %s", i, r)
			}
		}

		r := c.ctr(t, append(s.execArgs("missing"), id, "/nonexistent")...)
		if r.exit == 0 || !strings.Contains(r.stderr, "OCI runtime exec failed") || !strings.Contains(r.stderr, "/nonexistent") {
			t.Errorf("exec of a missing binary should fail with the runtime's error: %s", r)
		}

		mustOK(t, c.ctr(t, append(s.execArgs("long", "--detach"), id, "sleep", "999")...))
		mustOK(t, c.ctr(t, "tasks", "kill", "--exec-id", "long", "--signal", "SIGKILL", id))
		waitFor(t, func() bool { return len(strings.Fields(c.ctr(t, "tasks", "ps", id).stdout)) == 4 },
			func() string { return "the killed exec never left ctr tasks ps: " + c.ctr(t, "tasks", "ps", id).stdout })

		r = mustOK(t, c.ctr(t, "tasks", "delete", "--force", id))
		if !strings.Contains(r.stderr, "exit code 137") {
			t.Errorf("forced delete of a running task should SIGKILL it: %s", r)
		}
		mustOK(t, c.ctr(t, "containers", "delete", id))
		s.checkClean(t)
	})

	// A non-root process of a root container: the exec's rlimits (ctr's
	// spec has RLIMIT_NOFILE) must be set although the process is no
	// longer root by then.
	t.Run("ExecAsUser", func(t *testing.T) {
		s := c.sandbox(t)
		id := s.newID(t)
		mustOK(t, c.ctr(t, append(s.runArgs(id, "--detach"), bbImage, id, "sleep", "1000")...))
		c.waitStatus(t, id, "RUNNING")
		r := c.ctr(t, append(s.execArgs("user", "--user", "65534", "--cwd", "/tmp"), id, "sh", "-c", `id -u; pwd; ulimit -n`)...)
		if r.exit != 0 || r.stdout != "65534\n/tmp\n1024\n" {
			t.Errorf("exec --user 65534 --cwd /tmp: want uid 65534 in /tmp with the spec's nofile 1024: %s", r)
		}
		mustOK(t, c.ctr(t, "tasks", "delete", "--force", id))
		mustOK(t, c.ctr(t, "containers", "delete", id))
		s.checkClean(t)
	})

	// A paused container must still die: kill --all of a frozen cgroup, and
	// a forced delete of another paused one.
	t.Run("KillPaused", func(t *testing.T) {
		s := c.sandbox(t)
		ids := []string{s.newID(t), s.newID(t)}
		for _, id := range ids {
			mustOK(t, c.ctr(t, append(s.runArgs(id, "--detach"), bbImage, id, "sh", "-c", "sleep 1000 & sleep 1000")...))
			c.waitStatus(t, id, "RUNNING")
			mustOK(t, c.ctr(t, "tasks", "pause", id))
			c.waitStatus(t, id, "PAUSED")
		}
		mustOK(t, c.ctr(t, "tasks", "kill", "--all", "--signal", "SIGKILL", ids[0]))
		c.waitStatus(t, ids[0], "STOPPED")
		mustOK(t, c.ctr(t, "tasks", "delete", ids[0]))
		mustOK(t, c.ctr(t, "tasks", "delete", "--force", ids[1]))
		for _, id := range ids {
			mustOK(t, c.ctr(t, "containers", "delete", id))
		}
		s.checkClean(t)
	})

	t.Run("Terminal", func(t *testing.T) {
		s := c.sandbox(t)
		id := s.newID(t)
		r := inTerminal(t, cmdOpts{}, c.ctrCmd(append(s.runArgs(id, "--rm", "--tty"), bbImage, id, "sh", "-c", `test -t 0 && test -t 1 && test -t 2 && echo all-tty; tty`)...)...)
		if r.exit != 0 || !strings.Contains(r.stdout, "all-tty") || !strings.Contains(r.stdout, "/dev/pts/0") {
			t.Errorf("run --tty: want the container's stdio on its /dev/pts/0: %s", r)
		}
		s.checkClean(t)
	})

	t.Run("CreateFails", func(t *testing.T) {
		s := c.sandbox(t)
		type failCase struct {
			name string
			args func(id string) []string
			want string // in ctr's error, from the runtime's --log
		}
		cases := []failCase{
			{"missing-binary", func(id string) []string {
				return append(s.runArgs(id, "--rm"), bbImage, id, "/nonexistent")
			}, `stat /nonexistent: no such file or directory`},
			{"bad-netns-path", func(id string) []string {
				return append(s.runArgs(id, "--rm", "--with-ns", "network:/nonexistent/netns"), bbImage, id, "true")
			}, "/nonexistent/netns"},
		}
		if !testutil.IsRunc() && launcher.CgroupsBinary() == "rung-cgroupv2" && !cgroup2Has("cpu") {
			// ctr's default cpu shares on a cgroup2 without the cpu
			// controller: a limit rung cannot apply is an error naming it.
			// (A hybrid host's v1 cpu controller applies it.)
			cases = append(cases, failCase{"cpu-controller-missing", func(id string) []string {
				a := s.runArgs(id, "--rm", "--cpu-shares", "1024")
				return append(a, bbImage, id, "true")
			}, "linux.resources.cpu"})
		}
		for _, tc := range cases {
			id := s.newID(t)
			r := c.ctr(t, tc.args(id)...)
			if r.exit == 0 || r.timedOut {
				t.Errorf("%s: want a failed create: %s", tc.name, r)
				continue
			}
			if !strings.Contains(r.stderr, "OCI runtime create failed") || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%s: ctr should show the runtime's error (containing %q): %s", tc.name, tc.want, r)
			}
			t.Logf("%s: ctr shows: %s", tc.name, strings.TrimSpace(r.stderr))
		}
		s.checkClean(t)
	})

	t.Run("ReadOnlyBindMount", func(t *testing.T) {
		s := c.sandbox(t)
		id := s.newID(t)
		data := t.TempDir()
		if err := os.WriteFile(filepath.Join(data, "f"), []byte("from-host\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := mustOK(t, c.ctr(t, append(s.runArgs(id, "--rm", "--read-only",
			"--mount", "type=bind,src="+data+",dst=/data,options=rbind:ro"), bbImage, id,
			"sh", "-c", `cat /data/f; touch /data/x 2>/dev/null || echo data-ro; touch /x 2>/dev/null || echo root-ro`)...))
		if r.stdout != "from-host\ndata-ro\nroot-ro\n" {
			t.Errorf("want the bind mount's file, and both it and the rootfs read-only: %q", r.stdout)
		}
		s.checkClean(t)
	})

	// --privileged: every host device and capability the host has, no
	// masked paths; the spec lists the host's whole /dev.
	t.Run("Privileged", func(t *testing.T) {
		s := c.sandbox(t)
		id := s.newID(t)
		r := mustOK(t, c.ctr(t, append(s.runArgs(id, "--rm", "--privileged"), bbImage, id,
			"sh", "-c", `grep CapBnd /proc/self/status; test -c /dev/kmsg && echo has-kmsg`)...))
		f := strings.Fields(r.stdout)
		if len(f) < 2 {
			t.Fatalf("unexpected output %q", r.stdout)
		}
		bnd, err := strconv.ParseUint(f[1], 16, 64)
		if err != nil || bnd&(1<<21) == 0 {
			t.Errorf("privileged container lacks CAP_SYS_ADMIN in its bounding set: %q", r.stdout)
		}
		if _, err := os.Stat("/dev/kmsg"); err == nil && !strings.Contains(r.stdout, "has-kmsg") {
			t.Errorf("privileged container should get the host's devices (/dev/kmsg): %q", r.stdout)
		}
		s.checkClean(t)
	})

	// No user-namespace flow here: with --uidmap/--gidmap (and
	// --no-pivot) ctr 1.6 sends task options of its own that lack
	// --runc-binary and --runc-root, so the shim silently runs the host's
	// runc. TestPodman covers user namespaces.

	// The pod pattern (CRI's sandbox): a second container joins the first
	// one's network, ipc and pid namespaces by path.
	t.Run("SharedNamespaces", func(t *testing.T) {
		s := c.sandbox(t)
		pod := s.newID(t)
		mustOK(t, c.ctr(t, append(s.runArgs(pod, "--detach"), bbImage, pod, "sleep", "1000")...))
		pid := c.waitStatus(t, pod, "RUNNING")
		ns := func(kind string) string {
			l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		var with []string
		for _, kind := range []string{"network", "ipc", "pid"} {
			k := map[string]string{"network": "net"}[kind]
			if k == "" {
				k = kind
			}
			with = append(with, "--with-ns", fmt.Sprintf("%s:/proc/%d/ns/%s", kind, pid, k))
		}
		id := s.newID(t)
		r := mustOK(t, c.ctr(t, append(s.runArgs(id, append([]string{"--rm"}, with...)...), bbImage, id,
			"sh", "-c", `readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; tr '\0' ' ' </proc/1/cmdline; echo`)...))
		want := ns("net") + "\n" + ns("ipc") + "\nsleep 1000 \n"
		if r.stdout != want {
			t.Errorf("joined container: got %q, want the pod's namespaces and its sleep as pid 1 %q", r.stdout, want)
		}
		mustOK(t, c.ctr(t, "tasks", "kill", "--signal", "SIGKILL", pod))
		c.waitStatus(t, pod, "STOPPED")
		mustOK(t, c.ctr(t, "tasks", "delete", pod))
		mustOK(t, c.ctr(t, "containers", "delete", pod))
		s.checkClean(t)
	})

	// runc creates a missing process.cwd inside the rootfs (images often
	// name a WorkingDir they do not ship), so containerd users rely on it.
	t.Run("MissingCwdIsCreated", func(t *testing.T) {
		s := c.sandbox(t)
		id := s.newID(t)
		r := c.ctr(t, append(s.runArgs(id, "--rm", "--cwd", "/nonexistent/work"), bbImage, id, "pwd")...)
		if r.exit != 0 || r.stdout != "/nonexistent/work\n" {
			t.Errorf("cwd missing from the image: want it created (as runc does) and pwd to print it: %s", r)
		}
		s.checkClean(t)
	})

	// Containers are gone; their namespace's parent cgroup goes now, so
	// the leak checker sees only what the runtime left.
	dropParentCgroup(t, c.ns, nil, true)
	testutil.CheckNoLeaks(t, snap)
}

// runtimeState is the status `<runtime> --root root state id` reports.
func runtimeState(t testing.TB, root, id string) string {
	t.Helper()
	r := run(t, cmdOpts{}, testutil.RuntimeBin(), "--root", root, "state", id)
	var st struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Errorf("state %s: %v: %s", id, err, r)
	}
	return st.Status
}
