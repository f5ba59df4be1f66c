//go:build linux

package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/process"
)

func init() {
	childCases["full"] = childFull
	childCases["prepare-only"] = childPrepareOnly
	childCases["finalize-expect-error"] = childFinalizeExpectError
	childCases["console-symlink"] = childConsoleSymlink
	childCases["leaked-cwd"] = childLeakedCwd
	childCases["prepare-then-inspect"] = childPrepareThenInspect
	childCases["full-sysctl"] = childFullSysctl
}

// childFullSysctl is childFull with the sysctl written after Finalize, in
// the order the init uses: /proc/sys is read-only in the container by then,
// the write must still get through the private procfs.
func childFullSysctl(c *childCase) error {
	cfg := config(c)
	if err := Prepare(cfg); err != nil {
		return fmt.Errorf("Prepare: %w", err)
	}
	if err := Pivot(cfg); err != nil {
		return fmt.Errorf("Pivot: %w", err)
	}
	if err := Finalize(cfg); err != nil {
		return fmt.Errorf("Finalize: %w", err)
	}
	if err := process.ApplySysctl(c.Spec.Linux.Sysctl); err != nil {
		return fmt.Errorf("ApplySysctl: %w", err)
	}
	return execScript(c.Script)
}

// childPrepareThenInspect reports what a mount through a symlink reached:
// the marker at the link's target inside the rootfs, and the outside dir.
func childPrepareThenInspect(c *childCase) error {
	if err := Prepare(config(c)); err != nil {
		fmt.Println("PREPARE-ERR:", err)
	} else {
		fmt.Println("PREPARE-OK")
	}
	inside := filepath.Join(c.Rootfs, c.Outside)
	if b, err := os.ReadFile(filepath.Join(inside, "marker")); err == nil {
		fmt.Printf("INSIDE-MARKER: %s\n", b)
	}
	return reportOutside(c)
}

func config(c *childCase) *Config {
	return &Config{Spec: c.Spec, Rootfs: c.Rootfs, NoPivot: c.NoPivot}
}

// openPty opens a pty in the container's devpts and returns its slave path.
func openPty() (string, error) {
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open /dev/ptmx: %w", err)
	}
	// Left open on purpose: the slave goes away with the master.
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return "", err
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		return "", err
	}
	return "/dev/pts/" + strconv.Itoa(n), nil
}

// childFull sets a container up completely and execs the check script.
func childFull(c *childCase) error {
	cfg := config(c)
	if err := Prepare(cfg); err != nil {
		return fmt.Errorf("Prepare: %w", err)
	}
	if err := Pivot(cfg); err != nil {
		return fmt.Errorf("Pivot: %w", err)
	}
	if c.Extra == "console" {
		slave, err := openPty()
		if err != nil {
			return err
		}
		cfg.ConsoleSlave = slave
	}
	if err := Finalize(cfg); err != nil {
		return fmt.Errorf("Finalize: %w", err)
	}
	return execScript(c.Script)
}

// childPrepareOnly runs Prepare and reports its error (or "PREPARE-OK")
// on stdout, then runs c.Extra checks from outside the new root.
func childPrepareOnly(c *childCase) error {
	err := Prepare(config(c))
	if err != nil {
		fmt.Println("PREPARE-ERR:", err)
	} else {
		fmt.Println("PREPARE-OK")
	}
	return reportOutside(c)
}

// reportOutside prints facts about c.Outside, the host directory a hostile
// rootfs tries to reach, so the parent can assert nothing landed there.
func reportOutside(c *childCase) error {
	if c.Outside == "" {
		return nil
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(c.Outside, &sfs); err != nil {
		return err
	}
	fmt.Printf("OUTSIDE-FSTYPE: %#x\n", sfs.Type)
	ents, err := os.ReadDir(c.Outside)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	fmt.Printf("OUTSIDE-ENTRIES: %s\n", strings.Join(names, ","))
	if b, err := os.ReadFile(filepath.Join(c.Outside, "victim")); err == nil {
		fmt.Printf("OUTSIDE-VICTIM: %s\n", b)
	}
	return nil
}

// childFinalizeExpectError runs the whole setup and prints Finalize's
// error; the caller asserts it.
func childFinalizeExpectError(c *childCase) error {
	cfg := config(c)
	if err := Prepare(cfg); err != nil {
		return fmt.Errorf("Prepare: %w", err)
	}
	if err := Pivot(cfg); err != nil {
		return fmt.Errorf("Pivot: %w", err)
	}
	if err := Finalize(cfg); err != nil {
		fmt.Println("FINALIZE-ERR:", err)
	} else {
		fmt.Println("FINALIZE-OK")
	}
	if c.Script != "" {
		return execScript(c.Script)
	}
	return nil
}

func childConsoleSymlink(c *childCase) error {
	cfg := config(c)
	if err := Prepare(cfg); err != nil {
		return fmt.Errorf("Prepare: %w", err)
	}
	if err := Pivot(cfg); err != nil {
		return fmt.Errorf("Pivot: %w", err)
	}
	slave, err := openPty()
	if err != nil {
		return err
	}
	cfg.ConsoleSlave = slave
	if err := Finalize(cfg); err != nil {
		fmt.Println("FINALIZE-ERR:", err)
	} else {
		fmt.Println("FINALIZE-OK")
	}
	return execScript(c.Script)
}

// childLeakedCwd is CVE-2024-21626: a host directory fd leaks into the
// init and process.cwd is /proc/self/fd/N. process.Finalize must refuse.
func childLeakedCwd(c *childCase) error {
	fd, err := unix.Open(c.Outside, unix.O_RDONLY|unix.O_DIRECTORY, 0) // no O_CLOEXEC: leaked
	if err != nil {
		return err
	}
	cfg := config(c)
	if err := Prepare(cfg); err != nil {
		return fmt.Errorf("Prepare: %w", err)
	}
	if err := Pivot(cfg); err != nil {
		return fmt.Errorf("Pivot: %w", err)
	}
	if err := Finalize(cfg); err != nil {
		return fmt.Errorf("Finalize: %w", err)
	}
	p := &specs.Process{Cwd: "/proc/self/fd/" + strconv.Itoa(fd), Args: []string{"sh"}}
	err = process.Finalize(p, 3)
	if err != nil {
		fmt.Println("PROCESS-ERR:", err)
	} else {
		fmt.Println("PROCESS-OK")
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil {
		flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		fmt.Printf("LEAKED-FD-CLOEXEC: %v\n", flags&unix.FD_CLOEXEC != 0)
	}
	return nil
}

// testDirs makes a rootfs, an outside host directory and returns a case.
func newCase(t *testing.T, name string) (childCase, string) {
	base := t.TempDir()
	rootfs := filepath.Join(base, "rootfs")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{rootfs, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	makeRootfs(t, rootfs)
	if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	return childCase{Name: name, Rootfs: rootfs, Outside: outside, Spec: runcSpec(rootfs)}, base
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestContainerRootfs(t *testing.T) {
	c, base := newCase(t, "full")
	data := filepath.Join(base, "data")
	mustWrite(t, filepath.Join(data, "marker"), "hello")
	mustWrite(t, filepath.Join(c.Rootfs, "etc/copied/file"), "copyme")
	if err := os.Chmod(filepath.Join(c.Rootfs, "etc/copied/file"), 0o640); err != nil {
		t.Fatal(err)
	}
	hostFile := filepath.Join(base, "hostfile")
	mustWrite(t, hostFile, "file-bind")
	fm := os.FileMode(0o600)
	uid := uint32(1000)
	c.Spec.Mounts = append(c.Spec.Mounts,
		specs.Mount{Destination: "/data", Type: "bind", Source: data, Options: []string{"rbind", "ro", "nosuid"}},
		specs.Mount{Destination: "/rro", Type: "bind", Source: data, Options: []string{"rbind", "rro"}},
		specs.Mount{Destination: "/etc/copied", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "nodev"}},
		specs.Mount{Destination: "/ro-tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"ro", "mode=700"}},
		specs.Mount{Destination: "/etc/hostfile", Type: "bind", Source: hostFile, Options: []string{"bind"}},
		specs.Mount{Destination: "/private", Type: "tmpfs", Source: "tmpfs", Options: []string{"rprivate", "nosuid"}},
		specs.Mount{Destination: "/root", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/shared", Type: "bind", Source: data, Options: []string{"rbind", "rshared"}},
	)
	if err := os.Chmod(filepath.Join(c.Rootfs, "root"), 0o700); err != nil {
		t.Fatal(err)
	}
	c.Spec.Linux.Devices = []specs.LinuxDevice{
		{Path: "/dev/mydev", Type: "c", Major: 1, Minor: 7, FileMode: &fm, UID: &uid, GID: &uid},
		{Path: "/dev/sub/fifo", Type: "p"},
	}
	c.Script = checkScript(`
check proc-mounted test -r /proc/self/status
check proc-is-ours sh -c '[ "$(readlink /proc/1/exe)" = /bin/busybox ]'
check keys-masked sh -c '[ "$(stat -c %F:%t:%T /proc/keys)" = "character special file:1:3" ]'
check timer-list-empty sh -c '[ "$(head -c 16 /proc/timer_list | wc -c)" = 0 ]'
check kcore-masked-if-present sh -c '! test -e /proc/kcore || [ "$(stat -c %t:%T /proc/kcore)" = "1:3" ]'
check keys-masked sh -c '[ "$(cat /proc/keys | wc -c)" = 0 ]'
check firmware-masked sh -c '[ -z "$(ls -A /sys/firmware)" ]'
refuse firmware-writable touch /sys/firmware/x
refuse procsys-writable sh -c 'echo x > /proc/sys/kernel/domainname'
refuse sysrq-writable sh -c 'echo h > /proc/sysrq-trigger'
check procsys-readable sh -c '[ -n "$(cat /proc/sys/kernel/ostype)" ]'
check devnull sh -c '[ "$(stat -c %F:%t:%T /dev/null)" = "character special file:1:3" ]'
check devzero sh -c '[ "$(stat -c %t:%T:%a /dev/zero)" = "1:5:666" ]'
check devfull sh -c '[ "$(stat -c %t:%T /dev/full)" = "1:7" ]'
check devrandom sh -c '[ "$(stat -c %t:%T /dev/random)" = "1:8" ]'
check devurandom sh -c '[ "$(stat -c %t:%T /dev/urandom)" = "1:9" ]'
check devtty sh -c '[ "$(stat -c %t:%T /dev/tty)" = "5:0" ]'
check ptmx sh -c '[ "$(readlink /dev/ptmx)" = pts/ptmx ]'
check devfd sh -c '[ "$(readlink /dev/fd)" = /proc/self/fd ]'
check devstdin sh -c '[ "$(readlink /dev/stdin)" = /proc/self/fd/0 ]'
check stdin-is-container-null sh -c '[ "$(stat -L -c %t:%T /proc/self/fd/0)" = "1:3" ]'
check devpts test -c /dev/pts/ptmx
check shm-writable touch /dev/shm/x
check mqueue sh -c 'grep -q " /dev/mqueue mqueue " /proc/self/mounts'
check sys-ro sh -c 'grep -q " /sys sysfs ro," /proc/self/mounts'
check cgroup sh -c 'test -e /sys/fs/cgroup/cgroup.procs'
check cgroup-ro sh -c 'grep -q " /sys/fs/cgroup cgroup2 ro," /proc/self/mounts'
check bind-marker sh -c '[ "$(cat /data/marker)" = hello ]'
refuse bind-ro-write touch /data/new
check bind-ro-flags sh -c 'grep " /data " /proc/self/mounts | grep -q "ro,nosuid"'
check rro sh -c 'grep " /rro " /proc/self/mounts | grep -q " ro,"'
check copyup sh -c '[ "$(cat /etc/copied/file)" = copyme ]'
check copyup-mode sh -c '[ "$(stat -c %a /etc/copied/file)" = 640 ]'
check copyup-tmpfs sh -c 'grep -q " /etc/copied tmpfs " /proc/self/mounts'
check ro-tmpfs sh -c 'grep " /ro-tmp " /proc/self/mounts | grep -q " ro,"'
check ro-tmpfs-mode sh -c '[ "$(stat -c %a /ro-tmp)" = 700 ]'
check file-bind sh -c '[ "$(cat /etc/hostfile)" = file-bind ]'
check spec-device sh -c '[ "$(stat -c %F:%t:%T:%a:%u:%g /dev/mydev)" = "character special file:1:7:600:1000:1000" ]'
check spec-fifo sh -c '[ "$(stat -c %F /dev/sub/fifo)" = fifo ]'
check root-writable touch /tmp/ok
check tmpfs-new-dir-mode sh -c '[ "$(stat -c %a /private)" = 1777 ]'
check tmpfs-keeps-dir-mode sh -c '[ "$(stat -c %a /root)" = 700 ]'
check shared-propagation sh -c 'grep " /shared " /proc/self/mountinfo | grep -q shared:'
check private-propagation sh -c 'grep " /private " /proc/self/mountinfo | grep -qv shared:'
check no-host-root sh -c '! test -e ` + base + `'
`)
	assertChecks(t, runChild(t, c, base))
}

func TestContainerReadonlyRootNoPivotConsole(t *testing.T) {
	c, base := newCase(t, "full")
	c.Spec.Root.Readonly = true
	c.NoPivot = true
	c.Extra = "console"
	c.Script = checkScript(`
refuse root-writable touch /newfile
check root-ro sh -c 'grep -q "^[^ ]* / [^ ]* ro," /proc/self/mounts'
check dev-still-writable touch /dev/shm/y
check console-is-pty sh -c '[ "$(stat -c %F:%t /dev/console)" = "character special file:88" ]'
check proc-mounted test -r /proc/self/status
check keys-masked sh -c '[ "$(stat -c %t:%T /proc/keys)" = "1:3" ]'
`)
	assertChecks(t, runChild(t, c, base))
}

func TestProcSymlinkRefused(t *testing.T) {
	// CVE-2019-19921 / CVE-2023-27561: /proc in the image is a symlink.
	c, base := newCase(t, "prepare-only")
	if err := os.Symlink(c.Outside, filepath.Join(c.Rootfs, "proc")); err != nil {
		t.Fatal(err)
	}
	r := runChild(t, c, base)
	if r.err != nil {
		t.Fatalf("child: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "PREPARE-ERR:") || !strings.Contains(r.stdout, `"/proc"`) ||
		!strings.Contains(r.stdout, "ordinary directory") {
		t.Errorf("Prepare should refuse a symlinked /proc, naming it; got:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, fmt.Sprintf("OUTSIDE-FSTYPE: %#x", unix.PROC_SUPER_MAGIC)) {
		t.Errorf("procfs was mounted outside the rootfs:\n%s", r.stdout)
	}
	// Nothing may have been created where the link points inside the root
	// either: the mount was refused, not redirected.
	if _, err := os.Stat(filepath.Join(c.Rootfs, c.Outside)); err == nil {
		t.Errorf("a mount point was created at the symlink's target inside the rootfs")
	}
}

func TestSysSymlinkRefused(t *testing.T) {
	c, base := newCase(t, "prepare-only")
	if err := os.Symlink("/tmp", filepath.Join(c.Rootfs, "sys")); err != nil {
		t.Fatal(err)
	}
	r := runChild(t, c, base)
	if !strings.Contains(r.stdout, "PREPARE-ERR:") || !strings.Contains(r.stdout, `"/sys"`) {
		t.Errorf("Prepare should refuse a symlinked /sys; got:\n%s\n%s", r.stdout, r.stderr)
	}
}

func TestMountTargetSymlinkStaysInside(t *testing.T) {
	// CVE-2021-30465 style: a mount destination that is a symlink pointing
	// out of the rootfs (relative and absolute) must land inside it.
	for _, kind := range []string{"relative", "absolute"} {
		t.Run(kind, func(t *testing.T) {
			c, base := newCase(t, "prepare-only")
			src := filepath.Join(base, "src")
			mustWrite(t, filepath.Join(src, "marker"), "inside")
			link := c.Outside
			if kind == "relative" {
				link = strings.Repeat("../", 12) + strings.TrimPrefix(c.Outside, "/")
			}
			if err := os.MkdirAll(filepath.Join(c.Rootfs, "mnt"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(link, filepath.Join(c.Rootfs, "mnt/evil")); err != nil {
				t.Fatal(err)
			}
			c.Spec.Mounts = []specs.Mount{
				{Destination: "/mnt/evil", Type: "bind", Source: src, Options: []string{"rbind"}},
				{Destination: "/mnt/evil/sub", Type: "tmpfs", Source: "tmpfs"},
			}
			c.Name = "prepare-then-inspect"
			r := runChild(t, c, base)
			if r.err != nil {
				t.Fatalf("child: %v\n%s\n%s", r.err, r.stdout, r.stderr)
			}
			if strings.Contains(r.stdout, "marker") && !strings.Contains(r.stdout, "INSIDE-MARKER: inside") {
				t.Errorf("bind did not land inside the rootfs:\n%s", r.stdout)
			}
			if !strings.Contains(r.stdout, "PREPARE-OK") || !strings.Contains(r.stdout, "INSIDE-MARKER: inside") {
				t.Errorf("expected the mount to land at the link target inside the rootfs:\n%s\n%s", r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, "OUTSIDE-ENTRIES: victim\n") {
				t.Errorf("the outside directory changed (mount or mkdir escaped the rootfs):\n%s", r.stdout)
			}
			if strings.Contains(r.stdout, "OUTSIDE-FSTYPE: "+fmt.Sprintf("%#x", unix.TMPFS_MAGIC)) {
				t.Errorf("tmpfs landed outside the rootfs:\n%s", r.stdout)
			}
		})
	}
}

func TestMountsIntoProcRefused(t *testing.T) {
	for _, m := range []specs.Mount{
		{Destination: "/proc", Type: "bind", Source: "/tmp", Options: []string{"rbind"}},
		{Destination: "/proc/sys", Type: "tmpfs", Source: "tmpfs"},
		{Destination: "/proc/self/x", Type: "tmpfs", Source: "tmpfs"},
	} {
		t.Run(m.Destination+"-"+m.Type, func(t *testing.T) {
			c, base := newCase(t, "prepare-only")
			c.Spec.Mounts = append(c.Spec.Mounts, m)
			r := runChild(t, c, base)
			if !strings.Contains(r.stdout, "PREPARE-ERR: mounts[7]") {
				t.Errorf("mount %+v should be refused; got:\n%s\n%s", m, r.stdout, r.stderr)
			}
		})
	}
}

// hostileDevNull replaces the image's /dev/null: with no /dev tmpfs in the
// spec, the image's /dev is used as is.
func TestHostileDevNullReplaced(t *testing.T) {
	for _, kind := range []string{"symlink", "regular"} {
		t.Run(kind, func(t *testing.T) {
			c, base := newCase(t, "full")
			var keep []specs.Mount
			for _, m := range c.Spec.Mounts {
				if m.Destination != "/dev" {
					keep = append(keep, m)
				}
			}
			c.Spec.Mounts = keep
			devNull := filepath.Join(c.Rootfs, "dev/null")
			if err := os.MkdirAll(filepath.Dir(devNull), 0o755); err != nil {
				t.Fatal(err)
			}
			victim := filepath.Join(c.Outside, "victim")
			if kind == "symlink" {
				if err := os.Symlink(victim, devNull); err != nil {
					t.Fatal(err)
				}
				// Also a link that resolves inside the root.
				mustWrite(t, filepath.Join(c.Rootfs, c.Outside, "victim"), "inner")
			} else {
				mustWrite(t, devNull, "not a device")
			}
			c.Script = checkScript(`
check devnull sh -c '[ "$(stat -c %F:%t:%T /dev/null)" = "character special file:1:3" ]'
check keys-masked sh -c '[ "$(stat -c %t:%T /proc/keys)" = "1:3" ]'
check keys-empty sh -c '[ "$(cat /proc/keys | wc -c)" = 0 ]'
check keys-write-discarded sh -c 'echo x > /proc/keys; [ "$(cat /proc/keys | wc -c)" = 0 ]'
`)
			if kind == "symlink" {
				c.Script = strings.Replace(c.Script, "exit $fail",
					`check inner-victim-intact sh -c '[ "$(cat `+filepath.Join(c.Outside, "victim")+`)" = inner ]'
exit $fail`, 1)
			}
			assertChecks(t, runChild(t, c, base))
			if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
				t.Errorf("the file /dev/null pointed at changed: %q, %v", b, err)
			}
			if st, err := os.Lstat(devNull); err != nil || st.Mode()&os.ModeCharDevice == 0 {
				t.Errorf("rootfs /dev/null is not a char device after setup: %v %v", st, err)
			}
		})
	}
}

// With /dev bound from elsewhere runc does not touch /dev, so a bad
// /dev/null reaches the masking step, which must refuse it.
func TestMaskingRefusesFakeDevNull(t *testing.T) {
	for _, kind := range []string{"symlink", "regular"} {
		t.Run(kind, func(t *testing.T) {
			c, base := newCase(t, "finalize-expect-error")
			devSrc := filepath.Join(base, "devsrc")
			if err := os.MkdirAll(devSrc, 0o755); err != nil {
				t.Fatal(err)
			}
			victim := filepath.Join(c.Outside, "victim")
			if kind == "symlink" {
				if err := os.Symlink(victim, filepath.Join(devSrc, "null")); err != nil {
					t.Fatal(err)
				}
			} else {
				mustWrite(t, filepath.Join(devSrc, "null"), "fake")
			}
			var mounts []specs.Mount
			for _, m := range c.Spec.Mounts {
				if strings.HasPrefix(m.Destination, "/dev") {
					continue
				}
				mounts = append(mounts, m)
			}
			c.Spec.Mounts = append([]specs.Mount{mounts[0],
				{Destination: "/dev", Type: "bind", Source: devSrc, Options: []string{"rbind"}}}, mounts[1:]...)
			r := runChild(t, c, base)
			if r.err != nil {
				t.Fatalf("child: %v\n%s\n%s", r.err, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, "FINALIZE-ERR: linux.maskedPaths") || !strings.Contains(r.stdout, "/dev/null") {
				t.Errorf("masking should refuse a fake /dev/null; got:\n%s", r.stdout)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
				t.Errorf("victim changed: %q, %v", b, err)
			}
			if b, err := os.ReadFile(filepath.Join(devSrc, "null")); kind == "regular" && (err != nil || string(b) != "fake") {
				t.Errorf("the fake /dev/null was written to: %q, %v", b, err)
			}
		})
	}
}

func TestConsoleSymlinkRefused(t *testing.T) {
	// CVE-2025-52565: /dev/console is a symlink to something the pty bind
	// would then cover.
	c, base := newCase(t, "console-symlink")
	devSrc := filepath.Join(base, "devsrc")
	if err := os.MkdirAll(filepath.Join(devSrc, "pts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(devSrc, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("pts/ptmx", filepath.Join(devSrc, "ptmx")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(devSrc, "console")); err != nil {
		t.Fatal(err)
	}
	var mounts []specs.Mount
	for _, m := range c.Spec.Mounts {
		switch m.Destination {
		case "/dev":
			mounts = append(mounts, specs.Mount{Destination: "/dev", Type: "bind", Source: devSrc, Options: []string{"rbind"}})
		case "/dev/shm", "/dev/mqueue":
		default:
			mounts = append(mounts, m)
		}
	}
	c.Spec.Mounts = mounts
	c.Script = checkScript(`
check passwd-untouched sh -c '[ "$(stat -c %F /etc/passwd)" = "regular file" ]'
check passwd-content grep -q "^root:" /etc/passwd
check console-still-link sh -c '[ "$(readlink /dev/console)" = /etc/passwd ]'
`)
	r := runChild(t, c, base)
	if !strings.Contains(r.stdout, "FINALIZE-ERR: process.terminal: /dev/console") || !strings.Contains(r.stdout, "symlink") {
		t.Errorf("a symlinked /dev/console should be refused; got:\n%s\n%s", r.stdout, r.stderr)
	}
	assertChecks(t, r)
}

func TestLeakedFdCwdRefused(t *testing.T) {
	c, base := newCase(t, "leaked-cwd")
	r := runChild(t, c, base)
	if r.err != nil {
		t.Fatalf("child: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "PROCESS-ERR: process.cwd") || !strings.Contains(r.stdout, "outside the container") {
		t.Errorf("a cwd reached through a leaked fd should be refused; got:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "LEAKED-FD-CLOEXEC: true") {
		t.Errorf("the leaked fd should have been marked close-on-exec:\n%s", r.stdout)
	}
}

// Without a mount namespace the container shares the host's: what would
// change host mounts outside the rootfs is refused before any mount. (The
// rootfs does not exist, so a missed refusal fails to open it rather than
// mounting anything here.)
func TestPrepareWithoutMountNamespaceRefuses(t *testing.T) {
	for _, tc := range []struct {
		field  string
		mutate func(*specs.Spec)
	}{
		{"root.readonly", func(s *specs.Spec) { s.Root.Readonly = true }},
		{"linux.rootfsPropagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "shared" }},
	} {
		spec := runcSpec("/nonexistent")
		spec.Linux.Namespaces = []specs.LinuxNamespace{{Type: "pid"}}
		tc.mutate(spec)
		err := Prepare(&Config{Spec: spec, Rootfs: "/nonexistent"})
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+": needs a mount namespace") {
			t.Errorf("Prepare without a mount namespace, %s set: %v", tc.field, err)
		}
	}
}

func TestIdmapNotSupported(t *testing.T) {
	c, base := newCase(t, "prepare-only")
	c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: base, Options: []string{"rbind", "idmap"}})
	r := runChild(t, c, base)
	if !strings.Contains(r.stdout, `PREPARE-ERR: mounts[7]: mount "`+base+`" on "/x": id-mapped mounts`) {
		t.Errorf("idmap should be a clear not-supported error; got:\n%s\n%s", r.stdout, r.stderr)
	}
}

func TestContainerInUserNamespace(t *testing.T) {
	c, base := newCase(t, "full-sysctl")
	c.Spec.Linux.Namespaces = append(c.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
	c.Spec.Linux.Sysctl = map[string]string{"kernel.domainname": "rung.userns"}
	fm := os.FileMode(0o600)
	c.Spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11, FileMode: &fm}}
	data := filepath.Join(base, "data")
	mustWrite(t, filepath.Join(data, "marker"), "hello")
	c.Spec.Mounts = append(c.Spec.Mounts,
		specs.Mount{Destination: "/data", Type: "bind", Source: data, Options: []string{"rbind", "ro"}})
	c.Script = checkScript(`
check proc-mounted sh -c '[ "$(readlink /proc/1/exe)" = /bin/busybox ]'
check devnull-bound sh -c 'grep -q " /dev/null " /proc/self/mounts'
check devnull sh -c '[ "$(stat -c %F:%t:%T /dev/null)" = "character special file:1:3" ]'
check spec-device-bound sh -c 'grep -q " /dev/kmsg " /proc/self/mounts && [ "$(stat -c %t:%T /dev/kmsg)" = "1:b" ]'
check sys-present test -d /sys/kernel
check sys-ro sh -c 'grep " /sys " /proc/self/mounts | grep -q " ro,"'
check cgroup test -e /sys/fs/cgroup/cgroup.procs
check keys-masked sh -c '[ "$(stat -c %t:%T /proc/keys)" = "1:3" ]'
refuse procsys-writable sh -c 'echo x > /proc/sys/kernel/domainname'
check sysctl-applied sh -c '[ "$(cat /proc/sys/kernel/domainname)" = rung.userns ]'
check bind-marker sh -c '[ "$(cat /data/marker)" = hello ]'
refuse bind-ro-write touch /data/new
check shm-writable touch /dev/shm/x
`)
	assertChecks(t, runChildUserNS(t, c, base))
}

func TestDevSymlinkStaysInside(t *testing.T) {
	c, base := newCase(t, "prepare-only")
	if err := os.Symlink(c.Outside, filepath.Join(c.Rootfs, "dev")); err != nil {
		t.Fatal(err)
	}
	r := runChild(t, c, base)
	if r.err != nil {
		t.Fatalf("child: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "OUTSIDE-ENTRIES: victim\n") {
		t.Errorf("a symlinked /dev created files outside the rootfs:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, fmt.Sprintf("OUTSIDE-FSTYPE: %#x", unix.TMPFS_MAGIC)) {
		t.Errorf("tmpfs mounted outside the rootfs:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, `PREPARE-ERR: /dev resolved to "`+c.Outside+`" inside the rootfs`) {
		t.Errorf("a symlinked /dev should be refused once resolved:\n%s", r.stdout)
	}
}
