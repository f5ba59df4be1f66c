package security

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// marker is a host directory outside every rootfs that hostile links point
// at. It is its own tmpfs mount made MS_SHARED, so a container mount
// namespace copied from the host has it in the same peer group: a mount the
// runtime is tricked into making on it would propagate back to the host and
// show in this process's mountinfo, unless the runtime first cut
// propagation (rslave/rprivate), which is the second thing these tests check.
type marker struct {
	Dir  string
	File string // Dir/precious, with content "precious"
}

func newMarker(t *testing.T) *marker {
	t.Helper()
	dir := filepath.Join(filepath.Dir(tu.RootfsOf(tu.Bundle(t, nil))), "host-marker")
	must(t, os.Mkdir(dir, 0o755))
	// Our own temp dir: the only place outside a private namespace where a
	// test may mount.
	must(t, unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0755"))
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	must(t, unix.Mount("", dir, "", unix.MS_SHARED, ""))
	m := &marker{Dir: dir, File: filepath.Join(dir, "precious")}
	must(t, os.WriteFile(m.File, []byte("precious"), 0o644))
	return m
}

// escape is a relative symlink target that climbs from anywhere in a rootfs
// to the host's /, then down to path.
func escape(path string) string {
	return strings.Repeat("../", 24) + strings.TrimPrefix(path, "/")
}

// check fails the test if anything was created in the marker, its file
// changed, or a mount appeared on or below it in the host's mount table.
func (m *marker) check(t *testing.T) {
	t.Helper()
	ents, err := os.ReadDir(m.Dir)
	must(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "precious" {
		t.Errorf("the host directory %s changed: it holds %v, want only [precious]", m.Dir, names)
	}
	if b, err := os.ReadFile(m.File); err != nil || string(b) != "precious" {
		t.Errorf("the host file %s changed: %q, %v", m.File, b, err)
	}
	if got := mountsAt(t, m.Dir); len(got) != 1 {
		t.Errorf("mounts on or below %s in the host's namespace: %v, want only the test's own tmpfs", m.Dir, got)
	}
}

// mountsAt lists the mount points at or below dir in this process's
// mountinfo.
func mountsAt(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	must(t, err)
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			mp := tu.UnescapeMount(fields[4])
			if mp == dir || strings.HasPrefix(mp, dir+"/") {
				out = append(out, mp)
			}
		}
	}
	return out
}

// runOrRefuse runs the bundle and returns its output, or "" after checking
// the refusal is a clean error.
func runOrRefuse(t *testing.T, rt *tu.Runtime, id, bundle string) (out string, ran bool) {
	t.Helper()
	res := rt.TryRun(t, id, bundle)
	if res.TimedOut {
		t.Fatalf("runtime hung: %s", res)
	}
	if res.Exit != 0 && len(res.Errors()) > 0 {
		msg := expectFailure(t, res)
		return msg, false
	}
	if res.Exit != 0 {
		t.Errorf("container failed without a runtime error (exit %d):\n%s\n%s", res.Exit, res.Stdout, res.Stderr)
	}
	t.Logf("ran:\n%s%s", res.Stdout, res.Stderr)
	return res.Stdout + res.Stderr, true
}

// CVE-2019-19921, CVE-2023-27561/28642: /proc in the image is a symlink,
// so procfs would be mounted elsewhere and every later write to /proc (LSM
// labels, sysctls) would go to whatever sits at the real path. The create
// must be refused, or /proc in the container must be the real procfs, and
// nothing may reach the host.
func TestProcSymlink(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"escape", "absolute", "inside"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			rt, _ := setup(t)
			m := newMarker(t)
			snap := tu.Snapshot()
			id := tu.ID(t)
			bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
				must(t, os.Remove(filepath.Join(rootfs, "proc")))
				target := map[string]string{"escape": escape(m.Dir), "absolute": m.Dir, "inside": "tmp"}[kind]
				must(t, os.Symlink(target, filepath.Join(rootfs, "proc")))
				s.Process.Args = []string{"sh", "-c", "stat -f -c FSTYPE=%T /proc/self/; ls /proc/self/attr >/dev/null && echo ATTR-OK"}
			})
			out, ran := runOrRefuse(t, rt, id, bundle)
			if ran && !strings.Contains(out, "FSTYPE=proc") {
				t.Errorf("container ran with a /proc that is not procfs:\n%s", out)
			}
			m.check(t)
			tu.CheckNoLeaks(t, snap, id)
		})
	}
}

// CVE-2021-30465: a mount destination in the image that is a symlink
// climbing out of the rootfs. The mount must land inside the rootfs (where
// the link resolves when the rootfs is the root), or be refused.
func TestMountDestinationSymlink(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"escape", "absolute"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			rt, _ := setup(t)
			m := newMarker(t)
			snap := tu.Snapshot()
			id := tu.ID(t)
			src := filepath.Join(filepath.Dir(tu.RootfsOf(tu.Bundle(t, nil))), "volume")
			must(t, os.Mkdir(src, 0o755))
			must(t, os.WriteFile(filepath.Join(src, "from-volume"), nil, 0o644))
			bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
				must(t, os.MkdirAll(filepath.Join(rootfs, "mnt"), 0o755))
				target := escape(m.Dir)
				if kind == "absolute" {
					target = m.Dir
				}
				must(t, os.Symlink(target, filepath.Join(rootfs, "mnt", "evil")))
				must(t, os.Symlink(target+"/sub", filepath.Join(rootfs, "mnt", "evil2")))
				s.Mounts = append(s.Mounts,
					specs.Mount{Destination: "/mnt/evil", Type: "bind", Source: src, Options: []string{"rbind"}},
					specs.Mount{Destination: "/mnt/evil2", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}},
				)
				// Writable, so the runtime can make mount points where the
				// links resolve (inside) and, if it were fooled, outside.
				s.Root.Readonly = false
				s.Process.Args = []string{"sh", "-c", "ls /mnt/evil/; stat -f -c EVIL2=%T /mnt/evil2/"}
			})
			out, ran := runOrRefuse(t, rt, id, bundle)
			if ran && (!strings.Contains(out, "from-volume") || !strings.Contains(out, "EVIL2=tmpfs")) {
				t.Errorf("the mounts did not land where the links resolve inside the container:\n%s", out)
			}
			m.check(t)
			tu.CheckNoLeaks(t, snap, id)
		})
	}
}

// /dev in the image is a symlink out of the rootfs. Without a /dev mount in
// the spec the runtime creates device nodes and links in the rootfs's own
// /dev: they must not appear on the host; with the usual /dev tmpfs the
// mount must land inside.
func TestDevSymlink(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"no-dev-mount", "dev-tmpfs"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			rt, _ := setup(t)
			m := newMarker(t)
			snap := tu.Snapshot()
			id := tu.ID(t)
			bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
				must(t, os.Remove(filepath.Join(rootfs, "dev")))
				must(t, os.Symlink(escape(m.Dir), filepath.Join(rootfs, "dev")))
				if kind == "no-dev-mount" {
					noDevMount(s)
				}
				s.Process.Args = []string{"sh", "-c", "stat -c 'NULL=%F:%t:%T' /dev/null; ls /dev/"}
			})
			out, ran := runOrRefuse(t, rt, id, bundle)
			if ran && !strings.Contains(out, "NULL=character special file:1:3") {
				t.Errorf("container ran without a real /dev/null:\n%s", out)
			}
			m.check(t)
			tu.CheckNoLeaks(t, snap, id)
		})
	}
}

// CVE-2025-31133: maskedPaths are masked by bind-mounting /dev/null over
// them; a /dev/null that is a symlink (to a procfs file the container then
// writes through the "masked" path) or a regular file must never be what
// gets bound. The runtime must either replace it with the real device or
// refuse; masked paths must read empty and be the 1:3 device. The container
// never writes through them here: a successful attack would change the host.
func TestDevNullReplaced(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"symlink-procfs", "symlink-escape", "regular", "dev-bind-symlink", "dev-bind-regular"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			rt, _ := setup(t)
			m := newMarker(t)
			snap := tu.Snapshot()
			id := tu.ID(t)
			devSrc := filepath.Join(filepath.Dir(tu.RootfsOf(tu.Bundle(t, nil))), "devsrc")
			must(t, os.MkdirAll(filepath.Join(devSrc, "pts"), 0o755))
			bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
				devNull := filepath.Join(rootfs, "dev", "null")
				switch kind {
				case "symlink-procfs":
					noDevMount(s)
					must(t, os.Symlink("/proc/sys/kernel/core_pattern", devNull))
				case "symlink-escape":
					noDevMount(s)
					must(t, os.Symlink(escape(m.File), devNull))
				case "regular":
					noDevMount(s)
					must(t, os.WriteFile(devNull, []byte("LEAKED-SECRET\n"), 0o666))
				case "dev-bind-symlink", "dev-bind-regular":
					// /dev bound from a directory the container (or another
					// one sharing it) controls: the runtime does not populate
					// it, so its null reaches the masking step as is.
					noDevMount(s)
					if kind == "dev-bind-symlink" {
						must(t, os.Symlink(escape(m.File), filepath.Join(devSrc, "null")))
					} else {
						must(t, os.WriteFile(filepath.Join(devSrc, "null"), []byte("LEAKED-SECRET\n"), 0o666))
					}
					s.Mounts = append([]specs.Mount{s.Mounts[0],
						{Destination: "/dev", Type: "bind", Source: devSrc, Options: []string{"rbind"}}}, s.Mounts[1:]...)
				}
				s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/etc/hostname")
				s.Process.Args = []string{"sh", "-c", `for p in /proc/kcore /proc/keys /proc/timer_list /etc/hostname; do
  [ -e $p ] || { echo "ABSENT $p"; continue; }
  echo "MASK $p $(stat -L -c %F:%t:%T $p) $(head -c 64 $p | wc -c)"; done; stat -c "NULL %F:%t:%T" /dev/null`}
			})
			out, ran := runOrRefuse(t, rt, id, bundle)
			if ran {
				for _, l := range tu.Lines(out) {
					if !strings.HasPrefix(l, "MASK ") {
						continue
					}
					if !strings.HasSuffix(l, " character special file:1:3 0") {
						t.Errorf("masked path not masked by the real /dev/null (want a 1:3 device reading empty): %q", l)
					}
				}
				if strings.Contains(out, "LEAKED-SECRET") || strings.Contains(out, "precious") {
					t.Errorf("a masked path showed the fake /dev/null's content:\n%s", out)
				}
				if !strings.Contains(out, "MASK /proc/keys") {
					t.Errorf("masking checks did not run:\n%s", out)
				}
			}
			m.check(t)
			tu.CheckNoLeaks(t, snap, id)
		})
	}
}

// consoleSocket listens where a shim would and receives the pty master
// (SCM_RIGHTS); its output is everything read from the master until the
// container's side closes.
type consoleSocket struct {
	Path   string
	mu     sync.Mutex
	out    []byte
	master *os.File
	done   chan struct{}
	err    error
}

func newConsoleSocket(t *testing.T) *consoleSocket {
	t.Helper()
	dir := filepath.Join(filepath.Dir(tu.RootfsOf(tu.Bundle(t, nil))), "cs")
	must(t, os.Mkdir(dir, 0o700))
	cs := &consoleSocket{Path: filepath.Join(dir, "sock"), done: make(chan struct{})}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: cs.Path, Net: "unix"})
	must(t, err)
	t.Cleanup(func() {
		l.Close()
		cs.mu.Lock()
		if cs.master != nil {
			cs.master.Close()
		}
		cs.mu.Unlock()
	})
	go func() {
		defer close(cs.done)
		conn, err := l.AcceptUnix()
		if err != nil {
			cs.err = err
			return
		}
		defer conn.Close()
		buf := make([]byte, 4096)
		oob := make([]byte, unix.CmsgSpace(4*4))
		_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			cs.err = err
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			cs.err = err
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			cs.err = err
			return
		}
		f := os.NewFile(uintptr(fds[0]), "pty-master")
		cs.mu.Lock()
		cs.master = f
		cs.mu.Unlock()
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			cs.mu.Lock()
			cs.out = append(cs.out, b[:n]...)
			cs.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return cs
}

// Output waits (bounded) for the pty to close and returns what it carried.
func (cs *consoleSocket) Output() string {
	tu.Poll(func() bool {
		select {
		case <-cs.done:
			return true
		default:
			return false
		}
	})
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return strings.ReplaceAll(string(cs.out), "\r", "")
}

// CVE-2025-52565: /dev/console in the image is a symlink, so binding the
// pty slave onto it would cover whatever it points at (a host file, or the
// container's /etc/passwd or a procfs file). The container must get a real
// pty at /dev/console or a clean refusal, and the link target must be
// untouched.
func TestConsoleSymlink(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"escape", "inside"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			rt, _ := setup(t)
			m := newMarker(t)
			snap := tu.Snapshot()
			id := tu.ID(t)
			var passwd string
			bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
				noDevMount(s)
				target := escape(m.File)
				if kind == "inside" {
					target = "/etc/passwd"
				}
				must(t, os.Symlink(target, filepath.Join(rootfs, "dev", "console")))
				passwd = filepath.Join(rootfs, "etc", "passwd")
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
					Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}})
				s.Process.Terminal = true
				s.Process.Args = []string{"sh", "-c", "stat -c 'CONSOLE=%F:%t' /dev/console; stat -c 'PASSWD=%F' /etc/passwd; tty"}
			})
			before, err := os.ReadFile(passwd)
			must(t, err)
			cs := newConsoleSocket(t)
			out, err := os.Create(filepath.Join(bundle, "stdout"))
			must(t, err)
			defer out.Close()
			res := rt.Exec(t, tu.ExecOpts{
				Args: []string{"create", "--bundle", bundle, "--pid-file", filepath.Join(bundle, "pid"),
					"--console-socket", cs.Path, id},
				Dir: bundle, Stdout: out,
			})
			if res.Exit != 0 {
				expectFailure(t, res)
			} else {
				rt.Start(t, id)
				rt.WaitStatus(t, id, specs.StateStopped)
				got := cs.Output()
				t.Logf("console:\n%s", got)
				// 136 is the Unix98 pty slave major (0x88 in stat's hex).
				if !strings.Contains(got, "CONSOLE=character special file:88") {
					t.Errorf("/dev/console is not a pty in the container:\n%s", got)
				}
				if !strings.Contains(got, "PASSWD=regular file") {
					t.Errorf("/etc/passwd was covered:\n%s", got)
				}
				rt.MustDelete(t, id, false)
			}
			after, err := os.ReadFile(passwd)
			must(t, err)
			if string(after) != string(before) {
				t.Errorf("the rootfs's /etc/passwd changed")
			}
			m.check(t)
			tu.CheckNoLeaks(t, snap, id)
		})
	}
}
