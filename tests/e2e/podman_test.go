package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/tests/testutil"
)

// podmanConf keeps podman off the host's shared state: file locks in its
// tmpdir (not /dev/shm/libpod_lock), no events journal, no network (the
// CNI backend with a private, empty config dir: netavark would create
// /run/containers/networks), cgroupfs.
//
// pids_limit = 0 makes podman leave linux.resources.pids out of the spec.
// Its default (2048), and --pids-limit 0 or -1 (sent as "limit": 0), ask
// for a pids limit, which needs the pids controller in the cgroup2
// hierarchy; this host has none, and rung refuses a limit it cannot apply.
const podmanConf = `[containers]
netns = "none"
pids_limit = 0

[engine]
lock_type = "file"
events_logger = "none"
cgroup_manager = "cgroupfs"

[network]
network_backend = "cni"
network_config_dir = "%[1]s/net"
cni_plugin_dirs = ["%[1]s/net"]
`

const storageConf = `[storage]
driver = "vfs"
graphroot = "%[1]s/root"
runroot = "%[1]s/runroot"
`

// podman runs podman on a private storage root with the runtime under test.
type podman struct {
	dir    string
	parent string // cgroup parent: a unique test id
	image  string
	env    []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	dir, err := os.MkdirTemp("", "rung-e2e-podman-")
	if err != nil {
		t.Fatal(err)
	}
	p := &podman{dir: dir, parent: testutil.ID(t)}
	t.Cleanup(func() { p.cleanup(t) })
	// MkdirTemp's 0700 would stop the root of a user-namespaced container
	// (an unmapped host uid) from reaching its rootfs in our storage.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"root", "runroot", "tmp", "net"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{"containers.conf": podmanConf, "storage.conf": storageConf}
	for name, tmpl := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf(tmpl, dir)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p.env = []string{
		"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(dir, "storage.conf"),
	}
	return p
}

// global are podman's flags before the subcommand. podman passes the
// runtime no --root: it keeps its state in its default root.
func (p *podman) global() []string {
	return []string{
		"--root", filepath.Join(p.dir, "root"),
		"--runroot", filepath.Join(p.dir, "runroot"),
		"--tmpdir", filepath.Join(p.dir, "tmp"),
		"--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "none",
		"--network-config-dir", filepath.Join(p.dir, "net"),
		"--runtime", testutil.RuntimeBin(),
	}
}

func (p *podman) cmd(args ...string) []string {
	return append(append([]string{"podman"}, p.global()...), args...)
}

func (p *podman) podman(t testing.TB, args ...string) result {
	t.Helper()
	a := p.cmd(args...)
	return run(t, cmdOpts{env: p.env}, a[0], a[1:]...)
}

// podmanIn is podman with stdin fed from a string.
func (p *podman) podmanIn(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	a := p.cmd(args...)
	return run(t, cmdOpts{env: p.env, stdin: stdin}, a[0], a[1:]...)
}

var loadedRe = regexp.MustCompile(`Loaded image(?:\(s\))?: (\S+)`)

// load imports the OCI archive. image copies record blob metadata in
// /var/lib/containers/cache whatever the storage root, so the load runs
// in a private mount namespace with a tmpfs over /var/lib: the image lands
// in our storage and the host's /var/lib is untouched.
func (p *podman) load(t *testing.T, archive string) {
	t.Helper()
	a := p.cmd("load", "--input", archive)
	var r result
	if _, err := exec.LookPath("unshare"); err == nil {
		r = run(t, cmdOpts{env: p.env}, "unshare", append([]string{"--mount", "--propagation", "private", "--",
			"sh", "-c", `mount -t tmpfs -o size=16m,mode=0700 rung-e2e /var/lib && exec "$@"`, "sh"}, a...)...)
	} else {
		r = run(t, cmdOpts{env: p.env}, a[0], a[1:]...)
	}
	mustOK(t, r)
	m := loadedRe.FindStringSubmatch(r.stdout + r.stderr)
	if m == nil {
		t.Fatalf("podman load did not name the image: %s", r)
	}
	p.image = m[1]
}

// runFlags are `podman run` flags for container name. RLIMIT_NPROC:
// rootful podman asks for 1048576, above this host's hard limit, and
// raising a hard limit needs CAP_SYS_RESOURCE, which the host lacks. So ask
// for the limit the runtime will have: ours, which podman itself lowers to
// kernel.pid_max.
func (p *podman) runFlags(t testing.TB, name string, extra ...string) []string {
	t.Helper()
	f := []string{
		"--name", name,
		"--cgroup-parent", "/" + p.parent,
		"--network", "none",
		"--ulimit", "nofile=1024:1024",
		"--ulimit", "nproc=" + nprocLimit(t),
		"--env", markerEnv + "=" + name,
	}
	return append(f, extra...)
}

func nprocLimit(t testing.TB) string {
	t.Helper()
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &rl); err != nil {
		t.Fatal(err)
	}
	lim := rl.Max
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		if pm, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && pm < lim {
			lim = pm
		}
	}
	if lim == unix.RLIM_INFINITY {
		return "-1:-1"
	}
	return fmt.Sprintf("%d:%d", lim, lim)
}

// containerID is podman's (and so the runtime's) id of a container.
func (p *podman) containerID(t testing.TB, name string) string {
	t.Helper()
	r := mustOK(t, p.podman(t, "container", "inspect", "--format", "{{.ID}}", name))
	return strings.TrimSpace(r.stdout)
}

func (p *podman) status(t testing.TB, name string) string {
	t.Helper()
	r := p.podman(t, "container", "inspect", "--format", "{{.State.Status}}", name)
	return strings.TrimSpace(r.stdout)
}

// checkClean asserts nothing is left of containers (names and runtime ids)
// once podman has removed them: no podman container, no runtime state in
// its default root, no mount (podman's /dev/shm for the container), no
// cgroup <parent>/libpod-<id>, no process naming the id (conmon, podman's
// cleanup), and testutil's checks on the names (processes through
// markerEnv and conmon's -n).
func (p *podman) checkClean(t *testing.T, snap *testutil.LeakSnapshot, names, ids []string) {
	t.Helper()
	v2, v1 := cgroupMounts()
	for _, name := range names {
		if r := p.podman(t, "container", "exists", name); r.exit == 0 {
			t.Errorf("podman still has container %s", name)
		}
	}
	for _, id := range ids {
		var left []string
		testutil.Poll(func() bool {
			left = nil
			if _, err := os.Lstat(filepath.Join(defaultRoot(), id)); err == nil {
				left = append(left, "runtime state "+filepath.Join(defaultRoot(), id))
			}
			for _, m := range mountsUnder(p.dir) {
				if strings.Contains(m, id) {
					left = append(left, "mount "+m)
				}
			}
			for _, root := range append(v1, v2) {
				d := filepath.Join(root, p.parent, "libpod-"+id)
				if _, err := os.Lstat(d); err == nil {
					left = append(left, "cgroup "+d)
				}
			}
			for _, pid := range procsWithCmdline(id) {
				left = append(left, fmt.Sprintf("process %d", pid))
			}
			return len(left) == 0
		})
		for _, l := range left {
			t.Errorf("container %s: leak: %s", id, l)
		}
	}
	testutil.CheckNoLeaks(t, snap, names...)
}

// cleanup force-removes whatever a failed test left, waits for conmon and
// podman's cleanup processes (they name our dir), removes podman's own
// conmon cgroups under our parent, unmounts and removes the dir.
func (p *podman) cleanup(t *testing.T) {
	p.podman(t, "rm", "--all", "--force", "--time", "0")
	if !testutil.Poll(func() bool { return len(procsWithCmdline(p.dir)) == 0 }) {
		reapByCmdline(t, p.dir)
	}
	dropParentCgroup(t, p.parent, []string{"conmon"}, false)
	unmountUnder(t, p.dir)
	if os.Getenv("RUNG_TEST_KEEP") != "" {
		t.Logf("RUNG_TEST_KEEP: leaving %s", p.dir)
		return
	}
	if err := os.RemoveAll(p.dir); err != nil {
		t.Errorf("remove podman dir: %v", err)
	}
}

// readCID reads a --cidfile.
func readCID(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("podman --cidfile: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func TestPodman(t *testing.T) {
	requireTools(t, "podman", "conmon", "umoci", "tar", "script")
	snap := testutil.Snapshot()
	archive := busyboxArchive(t)
	p := newPodman(t)
	p.load(t, archive)

	t.Run("RunRm", func(t *testing.T) {
		snap := testutil.Snapshot()
		name := testutil.ID(t)
		cid := filepath.Join(t.TempDir(), "cid")
		r := mustOK(t, p.podman(t, append(append([]string{"run", "--rm", "--cidfile", cid}, p.runFlags(t, name)...), p.image, "echo", "hi")...))
		if r.stdout != "hi\n" {
			t.Errorf("stdout %q, want exactly \"hi\\n\"", r.stdout)
		}
		id := readCID(t, cid)
		name2 := testutil.ID(t)
		cid2 := filepath.Join(t.TempDir(), "cid")
		r = p.podman(t, append(append([]string{"run", "--rm", "--cidfile", cid2}, p.runFlags(t, name2)...), p.image, "sh", "-c", `ls /proc/$$/fd; echo err >&2; exit 4`)...)
		if r.exit != 4 {
			t.Errorf("exit %d, want the container's 4: %s", r.exit, r)
		}
		if r.stdout != "0\n1\n2\n" {
			t.Errorf("container's open fds %q, want only 0 1 2", r.stdout)
		}
		if !strings.Contains(r.stderr, "err\n") {
			t.Errorf("stderr %q lacks the container's \"err\"", r.stderr)
		}
		// stdin reaches the container and its end is passed on (cat exits).
		name3 := testutil.ID(t)
		cid3 := filepath.Join(t.TempDir(), "cid")
		r = p.podmanIn(t, "from-stdin\n", append(append([]string{"run", "--rm", "--interactive", "--cidfile", cid3}, p.runFlags(t, name3)...), p.image, "cat")...)
		if r.exit != 0 || r.stdout != "from-stdin\n" {
			t.Errorf("run -i: want stdin echoed back by cat: %s", r)
		}
		p.checkClean(t, snap, []string{name, name2, name3}, []string{id, readCID(t, cid2), readCID(t, cid3)})
	})

	t.Run("Terminal", func(t *testing.T) {
		snap := testutil.Snapshot()
		name := testutil.ID(t)
		cid := filepath.Join(t.TempDir(), "cid")
		r := inTerminal(t, cmdOpts{env: p.env}, p.cmd(append(append([]string{"run", "--rm", "--tty", "--cidfile", cid}, p.runFlags(t, name)...),
			p.image, "sh", "-c", `test -t 0 && test -t 1 && test -t 2 && echo all-tty; tty`)...)...)
		if r.exit != 0 || !strings.Contains(r.stdout, "all-tty") || !strings.Contains(r.stdout, "/dev/pts/0") {
			t.Errorf("run --tty: want the container's stdio on its /dev/pts/0: %s", r)
		}
		p.checkClean(t, snap, []string{name}, []string{readCID(t, cid)})
	})

	t.Run("Detached", func(t *testing.T) {
		snap := testutil.Snapshot()
		name := testutil.ID(t)
		mustOK(t, p.podman(t, append(append([]string{"run", "--detach"}, p.runFlags(t, name)...), p.image, "sh", "-c", `trap 'exit 7' TERM; sleep 1000 & wait`)...))
		id := p.containerID(t, name)
		if st := p.status(t, name); st != "running" {
			t.Fatalf("status %q after run -d, want running", st)
		}

		r := mustOK(t, p.podman(t, "exec", name, "sh", "-c", `echo exec-ok; tr '\0' ' ' </proc/1/cmdline; echo; cat /proc/self/cgroup`))
		if !strings.Contains(r.stdout, "exec-ok") || !strings.Contains(r.stdout, "trap") {
			t.Errorf("exec should run in the container's pid namespace (see the init as pid 1): %q", r.stdout)
		}
		if want := "libpod-" + id; !strings.Contains(r.stdout, want) {
			t.Errorf("exec not in the container's cgroup: /proc/self/cgroup %q lacks %q", r.stdout, want)
		}
		if r := p.podmanIn(t, "to-exec\n", "exec", "--interactive", name, "cat"); r.exit != 0 || r.stdout != "to-exec\n" {
			t.Errorf("exec -i: want stdin echoed back by cat: %s", r)
		}
		if r := p.podman(t, "exec", name, "sh", "-c", "exit 3"); r.exit != 3 {
			t.Errorf("exec exit %d, want 3: %s", r.exit, r)
		}
		// conmon calls `exec --tty --console-socket`.
		r = inTerminal(t, cmdOpts{env: p.env}, p.cmd("exec", "--tty", name, "sh", "-c", `test -t 0 && test -t 1 && test -t 2 && echo all-tty; tty`)...)
		if r.exit != 0 || !strings.Contains(r.stdout, "all-tty") || !strings.Contains(r.stdout, "/dev/pts/") {
			t.Errorf("exec --tty: want all-tty and a /dev/pts name: %s", r)
		}

		mustOK(t, p.podman(t, "pause", name))
		if st := p.status(t, name); st != "paused" {
			t.Errorf("status %q after pause", st)
		}
		if st := runtimeState(t, defaultRoot(), id); st != "paused" {
			t.Errorf("runtime state %q while podman says paused", st)
		}
		mustOK(t, p.podman(t, "unpause", name))
		if st := p.status(t, name); st != "running" {
			t.Errorf("status %q after unpause", st)
		}

		// stop sends SIGTERM through `kill ID 15`; the trap's exit code
		// shows it arrived (a SIGKILL after the timeout would give 137).
		mustOK(t, p.podman(t, "stop", "--time", "30", name))
		r = mustOK(t, p.podman(t, "container", "inspect", "--format", "{{.State.ExitCode}}", name))
		if code := strings.TrimSpace(r.stdout); code != "7" {
			t.Errorf("exit code %s after stop, want the trap's 7", code)
		}
		mustOK(t, p.podman(t, "rm", name))
		p.checkClean(t, snap, []string{name}, []string{id})
	})

	// restart and start re-create the container under the same id, so the
	// runtime must have forgotten everything of the old one.
	t.Run("Restart", func(t *testing.T) {
		snap := testutil.Snapshot()
		name := testutil.ID(t)
		mustOK(t, p.podman(t, append(append([]string{"run", "--detach"}, p.runFlags(t, name)...), p.image, "sh", "-c", `trap 'exit 7' TERM; sleep 1000 & wait`)...))
		id := p.containerID(t, name)
		mustOK(t, p.podman(t, "restart", "--time", "30", name))
		if r := mustOK(t, p.podman(t, "exec", name, "echo", "after-restart")); r.stdout != "after-restart\n" {
			t.Errorf("exec after restart: %s", r)
		}
		mustOK(t, p.podman(t, "stop", "--time", "30", name))
		mustOK(t, p.podman(t, "start", name))
		if st := p.status(t, name); st != "running" {
			t.Errorf("status %q after start, want running", st)
		}
		mustOK(t, p.podman(t, "kill", "--signal", "KILL", name))
		waitFor(t, func() bool { return p.status(t, name) == "exited" },
			func() string { return "status " + p.status(t, name) + " after kill, want exited" })
		mustOK(t, p.podman(t, "rm", name))
		p.checkClean(t, snap, []string{name}, []string{id})
	})

	// podman makes a chowned copy of the image for the mapping and a spec
	// with a user namespace; the runtime writes the maps.
	t.Run("UserNamespace", func(t *testing.T) {
		snap := testutil.Snapshot()
		name := testutil.ID(t)
		cid := filepath.Join(t.TempDir(), "cid")
		r := mustOK(t, p.podman(t, append(append([]string{"run", "--rm", "--cidfile", cid,
			"--uidmap", "0:231072:65536", "--gidmap", "0:231072:65536"}, p.runFlags(t, name)...),
			p.image, "sh", "-c", `id -u; cat /proc/self/uid_map /proc/self/gid_map; stat -c %u /bin/busybox`)...))
		if got := testutil.Fields(r.stdout); got != "0 0 231072 65536 0 231072 65536 0" {
			t.Errorf("want root in a user namespace mapped to 231072, owning its rootfs: %q", r.stdout)
		}
		p.checkClean(t, snap, []string{name}, []string{readCID(t, cid)})
	})

	// A container running as a non-root user, with the rlimits podman
	// always sets: the runtime must set them although the process is no
	// longer root when it is ready.
	t.Run("NonRootUser", func(t *testing.T) {
		snap := testutil.Snapshot()
		name := testutil.ID(t)
		cid := filepath.Join(t.TempDir(), "cid")
		r := p.podman(t, append(append([]string{"run", "--rm", "--cidfile", cid, "--user", "65534:65534"}, p.runFlags(t, name)...),
			p.image, "sh", "-c", `id -u; ulimit -n`)...)
		if r.exit != 0 || r.stdout != "65534\n1024\n" {
			t.Errorf("run --user 65534: want uid 65534 with nofile 1024: %s", r)
		}
		var ids []string
		if b, err := os.ReadFile(cid); err == nil {
			ids = append(ids, strings.TrimSpace(string(b)))
		}
		p.checkClean(t, snap, []string{name}, ids)
	})

	t.Run("CreateFails", func(t *testing.T) {
		snap := testutil.Snapshot()
		name := testutil.ID(t)
		cid := filepath.Join(t.TempDir(), "cid")
		r := p.podman(t, append(append([]string{"run", "--rm", "--cidfile", cid}, p.runFlags(t, name)...), p.image, "/nonexistent")...)
		if r.exit == 0 || r.timedOut {
			t.Fatalf("want a failed create: %s", r)
		}
		if !strings.Contains(r.stderr, "stat /nonexistent: no such file or directory") {
			t.Errorf("podman should show the runtime's error: %s", r)
		}
		t.Logf("podman shows: %s", strings.TrimSpace(r.stderr))
		var ids []string
		if b, err := os.ReadFile(cid); err == nil {
			ids = append(ids, strings.TrimSpace(string(b)))
		}
		p.checkClean(t, snap, []string{name}, ids)
	})

	// The cgroup parent goes now (with podman's own conmon cgroups below
	// it, in every v1 hierarchy on this hybrid host), so the leak checker
	// sees only what the runtime left.
	if !testutil.Poll(func() bool { return len(procsWithCmdline(p.dir)) == 0 }) {
		t.Errorf("podman processes still running: %v", procsWithCmdline(p.dir))
	}
	dropParentCgroup(t, p.parent, []string{"conmon"}, true)
	testutil.CheckNoLeaks(t, snap)
}
