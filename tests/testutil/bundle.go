package testutil

import (
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Applets are the busybox applets linked into every test rootfs.
var Applets = []string{
	"sh", "cat", "echo", "ls", "mkdir", "id", "hostname", "sleep", "true",
	"false", "grep", "head", "ps", "touch", "stat", "readlink", "ip", "wc",
	"env", "test", "[", "tr", "cut", "sed", "kill", "printf", "uname",
	"mount", "rm", "rmdir", "pwd", "tail", "sort", "dd", "mknod", "ln",
}

// BusyboxBin is the static busybox copied into rootfses.
func BusyboxBin() string {
	if b := os.Getenv("RUNG_TEST_BUSYBOX"); b != "" {
		return b
	}
	return "/bin/busybox"
}

// BusyboxRootfs makes a minimal rootfs in this test's temp dir and returns
// its path.
func BusyboxRootfs(t testing.TB) string {
	t.Helper()
	return makeRootfs(t, filepath.Join(sess(t).mkdir("rootfs-"), "rootfs"))
}

func makeRootfs(t testing.TB, root string) string {
	t.Helper()
	bb := BusyboxBin()
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(bb, filepath.Join(root, "bin", "busybox"), 0o755); err != nil {
		t.Skipf("busybox (package busybox-static) needed at %s: %v", bb, err)
	}
	for _, a := range Applets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":    "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
		"etc/hostname": "rung-test\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ChownTree gives every file under dir (symlinks themselves included) to
// uid:gid, as a rootfs for a user-namespaced container must be.
func ChownTree(t testing.TB, dir string, uid, gid int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatalf("chown %s: %v", dir, err)
	}
}

// BundleEnvVar is put in every test container's environment with the bundle
// path as value, so the leak checker can recognise the container's processes
// by their environ.
const BundleEnvVar = "RUNG_TEST_BUNDLE"

// DefaultSpec is the shape of `runc spec` output (runc 1.1, with the cgroup
// namespace newer runcs add), non-tty, plus a tmpfs on /tmp so tests can
// write without giving up the read-only rootfs.
func DefaultSpec() *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: false,
			User:     specs.User{UID: 0, GID: 0},
			Args:     []string{"sh"},
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"TERM=xterm",
			},
			Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  append([]string(nil), caps...),
				Effective: append([]string(nil), caps...),
				Permitted: append([]string(nil), caps...),
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "rung-test",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", "size=16m"}},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.CgroupNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
				"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
				"/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{
				"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
			},
		},
	}
}

// Bundle makes a bundle (config.json + busybox rootfs) in this test's temp
// dir. mutate, if not nil, edits the default spec before it is written; it
// may also touch the rootfs, which already exists at RootfsOf(bundle).
func Bundle(t testing.TB, mutate func(*specs.Spec)) string {
	t.Helper()
	return BundleWith(t, func(s *specs.Spec, _ string) {
		if mutate != nil {
			mutate(s)
		}
	})
}

// BundleWith is Bundle for mutators that need the rootfs path (to add
// files, or chown it for a user namespace).
func BundleWith(t testing.TB, mutate func(s *specs.Spec, rootfs string)) string {
	t.Helper()
	s := sess(t)
	dir := s.mkdir("bundle-")
	rootfs := makeRootfs(t, filepath.Join(dir, "rootfs"))
	spec := DefaultSpec()
	spec.Process.Env = append(spec.Process.Env, BundleEnvVar+"="+dir)
	if mutate != nil {
		mutate(spec, rootfs)
	}
	WriteSpec(t, dir, spec)
	s.mu.Lock()
	s.bundles = append(s.bundles, dir)
	s.mu.Unlock()
	return dir
}

// RootfsOf is the rootfs directory of a bundle made by Bundle.
func RootfsOf(bundle string) string { return filepath.Join(bundle, "rootfs") }

// WriteSpec (over)writes bundle/config.json.
func WriteSpec(t testing.TB, bundle string, spec *specs.Spec) {
	t.Helper()
	b, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReadSpec reads bundle/config.json back.
func ReadSpec(t testing.TB, bundle string) *specs.Spec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// Args is a mutator setting the container's command.
func Args(args ...string) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Process.Args = args }
}

// Shell is a mutator running script with sh -c.
func Shell(script string) func(*specs.Spec) {
	return Args("sh", "-c", script)
}
