package integration

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

func TestPidNamespace(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	out := rt.RunOK(t, id, tu.Bundle(t, tu.Shell("echo $$; readlink /proc/self/ns/pid; ps -o pid | wc -l")))
	l := tu.Lines(out)
	if len(l) != 3 {
		t.Fatalf("output %q", out)
	}
	if l[0] != "1" {
		t.Errorf("container shell is pid %s, want 1", l[0])
	}
	if l[1] == nsOf(t, "self", "pid") {
		t.Errorf("container shares the host pid namespace %s", l[1])
	}
	// header + sh + ps (+ wc): host processes would make this much longer.
	if n, _ := strconv.Atoi(l[2]); n > 5 {
		t.Errorf("ps sees %d lines: the pid namespace is not fresh", n)
	}
	tu.CheckNoLeaks(t, snap, id)
}

func TestHostname(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	want := "h-" + id[len(id)-10:]
	out := rt.RunOK(t, id, tu.Bundle(t, func(s *specs.Spec) {
		s.Hostname = want
		s.Process.Args = []string{"sh", "-c", "hostname; readlink /proc/self/ns/uts"}
	}))
	l := tu.Lines(out)
	if len(l) != 2 || l[0] != want {
		t.Errorf("hostname output %q, want %q", out, want)
	}
	if len(l) == 2 && l[1] == nsOf(t, "self", "uts") {
		t.Errorf("container shares the host uts namespace")
	}
	if h, _ := os.Hostname(); h == want {
		t.Errorf("host hostname changed to %q", h)
	}
	tu.CheckNoLeaks(t, snap, id)
}

func TestProcMounted(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	out := rt.RunOK(t, id, tu.Bundle(t, tu.Shell("grep ' /proc ' /proc/self/mounts; cat /proc/1/comm; true")))
	l := tu.Lines(out)
	if len(l) < 2 || !strings.HasPrefix(l[0], "proc /proc proc ") {
		t.Errorf("no proc mounted at /proc: %q", out)
	}
	if len(l) >= 2 && l[len(l)-1] != "sh" {
		t.Errorf("/proc/1 is %q, want the container's sh: /proc is not the container's pid namespace", l[len(l)-1])
	}
	tu.CheckNoLeaks(t, snap, id)
}

// A config without a proc mount is valid (runtime-spec lists none as
// required): the container starts, with nothing at /proc. The init does
// not lean on the container's /proc to reach its exec fifo.
func TestNoProcMount(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	bundle := tu.Bundle(t, func(s *specs.Spec) {
		tu.Shell("ls /proc | wc -l; echo started")(s)
		var keep []specs.Mount
		for _, m := range s.Mounts {
			if m.Destination != "/proc" {
				keep = append(keep, m)
			}
		}
		s.Mounts = keep
	})
	if out := rt.RunOK(t, id, bundle); out != "0\nstarted\n" {
		t.Errorf("container without a proc mount printed %q, want an empty /proc and started", out)
	}
	tu.CheckNoLeaks(t, snap, id)
}

func TestMaskedPaths(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	// The default masked /proc files this kernel has (kcore needs
	// CONFIG_PROC_KCORE).
	procFile := ""
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list"} {
		if _, err := os.Stat(p); err == nil {
			procFile = p
			break
		}
	}
	if procFile == "" {
		t.Fatal("none of the default masked /proc files exist on this kernel")
	}
	bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
		must(t, os.MkdirAll(filepath.Join(rootfs, "secret"), 0o755))
		must(t, os.WriteFile(filepath.Join(rootfs, "secret", "f"), []byte("topsecret\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(rootfs, "secret.txt"), []byte("topsecret\n"), 0o644))
		s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/secret", "/secret.txt")
		// %t,%T: device major,minor in hex; a masked file is /dev/null (1,3).
		s.Process.Env = append(s.Process.Env, "P="+procFile)
		s.Process.Args = []string{"sh", "-c", `
			echo "proc=$(stat -c %F,%t,%T $P)|$(cat $P | wc -c)"
			echo "file=$(cat /secret.txt)|$(stat -c %t,%T /secret.txt)"
			echo "dir=$(ls -A /secret)|"
			cat /secret/f 2>/dev/null && echo LEAKED-SECRET
			true`}
	})
	out := rt.RunOK(t, id, bundle)
	for _, want := range []string{"proc=character special file,1,3|0", "file=|1,3", "dir=|"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in output:\n%s", want, out)
		}
	}
	if strings.Contains(out, "topsecret") || strings.Contains(out, "LEAKED") {
		t.Errorf("masked content readable:\n%s", out)
	}
	tu.CheckNoLeaks(t, snap, id)
}

func TestReadonlyPaths(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
		s.Root.Readonly = false
		must(t, os.MkdirAll(filepath.Join(rootfs, "ro"), 0o755))
		s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "/ro")
		// /proc/sys/kernel/hostname: a write that would only touch the
		// container's own uts namespace if the runtime got this wrong.
		s.Process.Args = []string{"sh", "-c", `
			touch /ro/x 2>&1 && echo RO-WRITABLE
			touch /rootfs-writable && echo ROOT-OK
			echo x 2>&1 > /proc/sys/kernel/hostname && echo PROCSYS-WRITABLE
			true`}
	})
	out, stderr, code := rt.RunContainer(t, id, bundle)
	all := out + stderr
	if code != 0 || strings.Contains(all, "WRITABLE") || !strings.Contains(all, "ROOT-OK") {
		t.Errorf("exit %d, output:\n%s", code, all)
	}
	if n := strings.Count(all, "Read-only file system"); n != 2 {
		t.Errorf("want EROFS for /ro/x and /proc/sys, got %d:\n%s", n, all)
	}
	tu.CheckNoLeaks(t, snap, id)
}

func TestReadonlyRootfs(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	out, stderr, code := rt.RunContainer(t, id, tu.Bundle(t, tu.Shell(
		"touch /x 2>&1 && echo ROOT-WRITABLE; touch /tmp/x && echo TMP-OK; true")))
	all := out + stderr
	if code != 0 || !strings.Contains(all, "Read-only file system") || strings.Contains(all, "ROOT-WRITABLE") || !strings.Contains(all, "TMP-OK") {
		t.Errorf("root.readonly not honoured (exit %d):\n%s", code, all)
	}
	tu.CheckNoLeaks(t, snap, id)
}

func TestCapabilities(t *testing.T) {
	rt, snap := setup(t)
	for _, tc := range []struct {
		name string
		caps []string // nil: the default spec's set
		want string
	}{
		// CAP_AUDIT_WRITE(29) | CAP_KILL(5) | CAP_NET_BIND_SERVICE(10)
		{"default", nil, "0000000020000420"},
		{"chown", []string{"CAP_CHOWN"}, "0000000000000001"},
		{"none", []string{}, "0000000000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := tu.ID(t)
			out := rt.RunOK(t, id, tu.Bundle(t, func(s *specs.Spec) {
				if tc.caps != nil {
					s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: tc.caps, Effective: tc.caps, Permitted: tc.caps}
				}
				s.Process.Args = []string{"grep", "^Cap", "/proc/self/status"}
			}))
			got := map[string]string{}
			for _, l := range tu.Lines(out) {
				k, v, _ := strings.Cut(l, ":")
				got[k] = strings.TrimSpace(v)
			}
			for k, want := range map[string]string{"CapEff": tc.want, "CapPrm": tc.want, "CapBnd": tc.want, "CapInh": "0000000000000000", "CapAmb": "0000000000000000"} {
				if got[k] != want {
					t.Errorf("%s = %q, want %s", k, got[k], want)
				}
			}
		})
	}
	tu.CheckNoLeaks(t, snap)
}

func TestUserNamespace(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	const host, size = 100000, 65536
	bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: host, Size: size}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: host, Size: size}}
		tu.ChownTree(t, rootfs, host, host)
		s.Process.Args = []string{"sh", "-c", "cat /proc/self/uid_map; cat /proc/self/gid_map; id -u; stat -c %u /bin/busybox; readlink /proc/self/ns/user; ip -o link show lo"}
	})
	out := rt.RunOK(t, id, bundle)
	l := tu.Lines(out)
	if len(l) != 6 {
		t.Fatalf("output %q", out)
	}
	// The init, root of the new user namespace that owns the new network
	// namespace, brings lo up.
	if !strings.Contains(l[5], ",UP") {
		t.Errorf("lo is not up in the container: %q", l[5])
	}
	want := "0 100000 65536"
	if tu.Fields(l[0]) != want || tu.Fields(l[1]) != want {
		t.Errorf("uid_map %q gid_map %q, want %q", l[0], l[1], want)
	}
	if l[2] != "0" || l[3] != "0" {
		t.Errorf("id -u %s, rootfs owner %s: want 0 and 0 (host %d mapped to 0)", l[2], l[3], host)
	}
	if l[4] == nsOf(t, "self", "user") {
		t.Errorf("container shares the host user namespace")
	}
	tu.CheckNoLeaks(t, snap, id)
}

func TestNetworkNamespaceFresh(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	out := rt.RunOK(t, id, tu.Bundle(t, tu.Shell("ip -o link show | cut -d: -f2; ip -o link show lo")))
	l := tu.Lines(out)
	if len(l) != 2 || l[0] != "lo" {
		t.Fatalf("new network namespace should hold only lo, got %q", l)
	}
	// The init brings it up, as the namespaces stage planned.
	if !strings.Contains(l[1], ",UP") {
		t.Errorf("lo is not up in the container: %q", l[1])
	}
	tu.CheckNoLeaks(t, snap, id)
}

func TestJoinNetworkNamespaceByPath(t *testing.T) {
	rt, snap := setup(t)
	owner, joiner := tu.ID(t), tu.ID(t)
	c := rt.Create(t, owner, tu.Bundle(t, tu.Shell("readlink /proc/self/ns/net; exec sleep 600")))
	rt.Start(t, owner)
	ownerNS := tu.Lines(c.WaitOutput(t, "net:["))[0]
	pid := rt.State(t, owner).Pid

	out := rt.RunOK(t, joiner, tu.Bundle(t, func(s *specs.Spec) {
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = "/proc/" + strconv.Itoa(pid) + "/ns/net"
			}
		}
		s.Process.Args = []string{"sh", "-c", "readlink /proc/self/ns/net; readlink /proc/self/ns/uts"}
	}))
	l := tu.Lines(out)
	if len(l) != 2 || l[0] != ownerNS {
		t.Errorf("joiner's netns %q, want the owner's %q", out, ownerNS)
	}
	if ownerNS == nsOf(t, "self", "net") {
		t.Errorf("owner container is in the host netns")
	}
	if len(l) == 2 && l[1] == nsOf(t, strconv.Itoa(pid), "uts") {
		t.Errorf("joiner shares the owner's uts namespace too; only net was asked for")
	}
	rt.Kill(t, owner, "KILL")
	rt.WaitStatus(t, owner, specs.StateStopped)
	rt.MustDelete(t, owner, false)
	tu.CheckNoLeaks(t, snap, owner, joiner)
}

// cgroup2Mount finds the cgroup2 hierarchy from mountinfo; this host is
// hybrid, so it is not /sys/fs/cgroup.
func cgroup2Mount(t *testing.T) string {
	for _, m := range tu.Mounts() {
		if m.FSType == "cgroup2" {
			return m.Point
		}
	}
	t.Skip("no cgroup2 hierarchy mounted")
	return ""
}

func TestCgroupsPath(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	mnt := cgroup2Mount(t)
	// rung places the init in the cgroup2 path it is given. runc 1.1 on this
	// hybrid host drives the v1 hierarchies and mirrors the path into the
	// unified one, and would take an absolute path out of the cgroup this
	// test runs in (memory v1), so runc gets a relative path, which it puts
	// below its own cgroup (the root in the unified hierarchy).
	path, want := "/rung-test/"+id, "/rung-test/"+id
	if rt.IsRunc() {
		path, want = id, "/"+id
		t.Logf("runc: relative cgroupsPath %q, expecting 0::%s (runc puts relative paths below its own cgroup)", path, want)
	} else {
		t.Cleanup(func() { _ = os.Remove(filepath.Join(mnt, "rung-test")) })
	}
	c := rt.Create(t, id, tu.Bundle(t, func(s *specs.Spec) {
		s.Linux.CgroupsPath = path
		s.Process.Args = []string{"cat", "/proc/self/cgroup"}
	}))
	pid := c.Pid(t)
	// Checked while created: the init must already be in its cgroup.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	must(t, err)
	got := ""
	for _, l := range tu.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "0::"); ok {
			got = v
		}
	}
	if got != want {
		t.Errorf("init's cgroup2 is %q, want %q (all: %q)", got, want, b)
	}
	procs, err := os.ReadFile(filepath.Join(mnt, want, "cgroup.procs"))
	if err != nil || !strings.Contains("\n"+string(procs), "\n"+strconv.Itoa(pid)+"\n") {
		t.Errorf("pid %d not in %s/cgroup.procs (%q, %v)", pid, filepath.Join(mnt, want), procs, err)
	}
	rt.Start(t, id)
	rt.WaitStatus(t, id, specs.StateStopped)
	// With the default cgroup namespace the container sees itself at the root.
	if out := c.Stdout(); !strings.Contains(out, "0::/\n") {
		t.Errorf("inside a cgroup namespace /proc/self/cgroup should say 0::/, got %q", out)
	}
	rt.MustDelete(t, id, false)
	tu.CheckNoLeaks(t, snap, id)
}

func seccompArches() []specs.Arch {
	if runtime.GOARCH == "amd64" {
		return []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	}
	return nil
}

func TestSeccompDenyMkdir(t *testing.T) {
	rt, snap := setup(t)
	script := "mkdir /tmp/x && echo MKDIR-OK; echo done"
	eperm := uint(1)
	deny, allow := tu.ID(t), tu.ID(t)
	res := rt.TryRun(t, deny, tu.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", script}
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Architectures: seccompArches(),
			Syscalls: []specs.LinuxSyscall{{
				Names:    []string{"mkdir", "mkdirat"},
				Action:   specs.ActErrno,
				ErrnoRet: &eperm,
			}},
		}
	}))
	if res.Exit != 0 || !strings.Contains(res.Stdout, "done") || strings.Contains(res.Stdout, "MKDIR-OK") ||
		!strings.Contains(res.Stderr, "Operation not permitted") {
		t.Errorf("with mkdir denied by seccomp: %s", res)
	}
	res = rt.TryRun(t, allow, tu.Bundle(t, tu.Shell(script)))
	if res.Exit != 0 || !strings.Contains(res.Stdout, "MKDIR-OK") {
		t.Errorf("without the rule mkdir should work: %s", res)
	}
	tu.CheckNoLeaks(t, snap, deny, allow)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// withoutMountNamespace drops the mount namespace, and what runc and the
// namespaces stage refuse without one (masked and read-only paths).
func withoutMountNamespace(s *specs.Spec) {
	var keep []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != specs.MountNamespace {
			keep = append(keep, ns)
		}
	}
	s.Linux.Namespaces = keep
	s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
	s.Root.Readonly = false
}

// A config without a mount namespace shares the runtime's
// (config-linux.md#namespaces; runtime-tools linux_ns_itype): the spec's
// mounts are made under the rootfs in the host's namespace, the process is
// chrooted there, exec enters the same root, and delete takes every one of
// those mounts away. A symlink in the rootfs cannot send a mount outside it.
func TestNoMountNamespace(t *testing.T) {
	tu.RequireRung(t, "delete takes the mounts away (runc leaves them under the rootfs)")
	rt, snap := setup(t)
	id := tu.ID(t)
	outside := t.TempDir()
	bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
		withoutMountNamespace(s)
		must(t, os.Symlink(outside, filepath.Join(rootfs, "escape")))
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/escape", Type: "tmpfs", Source: "tmpfs"})
		s.Process.Args = []string{"sh", "-c", "readlink /proc/self/ns/mnt; ls /bin/busybox; echo up; exec sleep 60"}
	})
	c := rt.Create(t, id, bundle)
	rt.Start(t, id)
	out := c.WaitOutput(t, "up")
	if l := tu.Lines(out); len(l) < 2 || l[0] != nsOf(t, "self", "mnt") || l[1] != "/bin/busybox" {
		t.Errorf("container without a mount namespace printed %q; want the host's %s and its own /bin/busybox", out, nsOf(t, "self", "mnt"))
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	must(t, err)
	if strings.Contains(string(b), " "+outside+" ") {
		t.Errorf("the mount on /escape followed the rootfs's symlink to the host's %s", outside)
	}
	rootfs, _ := filepath.EvalSymlinks(tu.RootfsOf(bundle))
	if !strings.Contains(string(b), " "+rootfs+"/proc ") {
		t.Errorf("no proc mount under %s in the host's namespace", rootfs)
	}
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"exec", id, "sh", "-c", "ls /bin/busybox /escape && echo exec-ok"}})
	if !strings.Contains(res.Stdout, "/bin/busybox\n") || !strings.Contains(res.Stdout, "exec-ok") {
		t.Errorf("exec into the container without a mount namespace: %s", res)
	}
	rt.MustDelete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)

	// What would change the host's mounts outside the rootfs is refused.
	for _, tc := range []struct {
		field  string
		mutate func(*specs.Spec)
	}{
		{"root.readonly", func(s *specs.Spec) { s.Root.Readonly = true }},
		{"linux.rootfsPropagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "rshared" }},
	} {
		id := tu.ID(t) + "-r"
		_, res := rt.TryCreate(t, id, tu.Bundle(t, func(s *specs.Spec) { withoutMountNamespace(s); tc.mutate(s) }), tu.CreateOpts{})
		if msg := expectFailure(t, res); !strings.Contains(msg, tc.field) {
			t.Errorf("%s without a mount namespace: error should name it: %q", tc.field, msg)
		}
		rt.Delete(t, id, true)
		tu.CheckNoLeaks(t, snap, id)
	}
}
