package security

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// CVE-2019-5736: a container that reaches the runtime's own binary through
// /proc/PID/exe (the init waiting in created state, a `runtime exec` caught
// while it still runs the runtime) reopens it for writing and overwrites the
// host's runtime. rung execs the init from the binary seen through a
// detached read-only overlayfs, or a sealed memfd copy where that is
// missing (internal/lifecycle/self.go), so every attempt must fail and the
// binary on the host must be unchanged, byte for byte.
func TestExeOverwrite(t *testing.T) {
	t.Parallel()
	rt, snap := setup(t)
	bin := privateRuntime(t, rt)
	before := sha256File(t, bin)
	var hostStat unix.Stat_t
	must(t, unix.Stat(bin, &hostStat))

	id := tu.ID(t)
	bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
		withAttacker(t, rootfs)
		// Root with every capability the default set grants, no
		// no_new_privs: as strong as a container gets by default.
		s.Process.NoNewPrivileges = false
		s.Process.Args = []string{"sleep", "600"}
	})
	c := rt.Create(t, id, bundle)
	pid := c.Pid(t)

	// From the host: the waiting init's exe is a file on a read-only
	// overlayfs or a sealed memfd, not the host's file (runc 1.2's answer
	// and runc 1.1's; it is what makes the attack below fail).
	exe := fmt.Sprintf("/proc/%d/exe", pid)
	link, err := os.Readlink(exe)
	must(t, err)
	t.Logf("init %d exe -> %s", pid, link)
	if !tu.IsRunc() {
		f, err := os.Open(exe)
		must(t, err)
		var sfs unix.Statfs_t
		_ = unix.Fstatfs(int(f.Fd()), &sfs)
		seals, serr := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
		var st unix.Stat_t
		_ = unix.Fstat(int(f.Fd()), &st)
		f.Close()
		switch {
		case sfs.Type == unix.OVERLAYFS_SUPER_MAGIC:
			if sfs.Flags&unix.ST_RDONLY == 0 {
				t.Errorf("init's exe %s is on an overlayfs mounted read-write", link)
			}
			if w, err := os.OpenFile(exe, os.O_WRONLY, 0); err == nil || !errors.Is(err, unix.EROFS) {
				t.Errorf("opening init's exe for writing from the host: %v, want EROFS", err)
				if w != nil {
					w.Close()
				}
			}
		case serr != nil:
			t.Errorf("init's exe %s is neither on overlayfs nor a memfd (F_GET_SEALS: %v)", link, serr)
		case seals&unix.F_SEAL_WRITE == 0 || seals&unix.F_SEAL_SEAL == 0:
			t.Errorf("init's exe %s has seals %#x, want F_SEAL_WRITE and F_SEAL_SEAL", link, seals)
		}
		if st.Dev == hostStat.Dev && st.Ino == hostStat.Ino {
			t.Errorf("init's exe is the host's %s itself", bin)
		}
	}

	// From inside: `exec` into the created container attacks pid 1 (the
	// waiting init) and its own /proc/self/exe (the attacker itself, as a
	// control that writes are possible at all where they should be).
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"exec", id, "/attacker", "exe", "/proc/1/exe"}})
	t.Logf("attack on /proc/1/exe (exit %d):\n%s%s", res.Exit, res.Stdout, res.Stderr)
	if res.Exit != 0 {
		t.Fatalf("exec of the attacker failed: %s", res)
	}
	checkExeAttack(t, res.Stdout, hostStat)

	// Start the container (the init is replaced by sleep) and attack again,
	// this time every process's exe the container can see.
	rt.Start(t, id)
	res = rt.Exec(t, tu.ExecOpts{Args: []string{"exec", id, "sh", "-c",
		"for p in /proc/[0-9]*; do echo \"== $p\"; /attacker exe $p/exe; done"}})
	t.Logf("attack on every /proc/*/exe:\n%s", res.Stdout)
	checkExeAttack(t, res.Stdout, hostStat)

	rt.Kill(t, id, "KILL")
	rt.WaitStatus(t, id, specs.StateStopped)
	rt.MustDelete(t, id, false)
	if after := sha256File(t, bin); after != before {
		t.Errorf("the host's runtime binary %s changed: sha256 %s -> %s", bin, before, after)
	}
	tu.CheckNoLeaks(t, snap, id)
}

// checkExeAttack fails the test if the attacker wrote or truncated anything,
// or if any exe it reached is the host's runtime inode.
func checkExeAttack(t *testing.T, out string, host unix.Stat_t) {
	t.Helper()
	r := report(out)
	for _, k := range []string{"WRITE", "TRUNCATE"} {
		for _, v := range r[k] {
			if strings.HasSuffix(v, " ok") {
				t.Errorf("the container could %s the runtime's binary: %s %s", strings.ToLower(k), k, v)
			}
		}
	}
	want := fmt.Sprintf("%d:%d", host.Dev, host.Ino)
	for _, v := range r["STAT"] {
		if v == want {
			t.Errorf("the container reached the host's runtime binary itself (dev:ino %s)", v)
		}
	}
	if len(r["LINK"]) == 0 {
		t.Errorf("attacker reported nothing: %q", out)
	}
}

// The shebang half of CVE-2019-5736: the container's /bin/sh is replaced by
// "#!/proc/self/exe", so a `runtime exec ... sh` makes the kernel run the
// runtime's own binary as the interpreter, in the container, where a
// watching process grabs it with O_PATH and writes through it once the
// runtime has exited. The watcher here runs for the whole of several such
// execs; whether it catches the runtime is a race, but no write may ever
// succeed and the host binary must be unchanged.
func TestExeShebangRace(t *testing.T) {
	t.Parallel()
	rt, snap := setup(t)
	bin := privateRuntime(t, rt)
	before := sha256File(t, bin)

	id := tu.ID(t)
	bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
		withAttacker(t, rootfs)
		must(t, os.WriteFile(filepath.Join(rootfs, "evil"), []byte("#!/proc/self/exe\n"), 0o755))
		s.Process.NoNewPrivileges = false
		s.Process.Args = []string{"/attacker", "watch", "/tmp/stop"}
	})
	c := rt.Create(t, id, bundle)
	rt.Start(t, id)
	for i := 0; i < 10; i++ {
		// It fails (the interpreter is the runtime, which does not know
		// what "/evil" means); what matters is what the watcher saw.
		res := rt.Exec(t, tu.ExecOpts{Args: []string{"exec", id, "/evil"}})
		if i == 0 {
			t.Logf("exec /evil: exit %d, stdout %.200q, stderr %.200q", res.Exit, res.Stdout, res.Stderr)
		}
	}
	if res := rt.Exec(t, tu.ExecOpts{Args: []string{"exec", id, "touch", "/tmp/stop"}}); res.Exit != 0 {
		t.Fatalf("stopping the watcher: %s", res)
	}
	rt.WaitStatus(t, id, specs.StateStopped)
	out := c.Stdout()
	t.Logf("watcher:\n%s", out)
	r := report(out)
	if len(r["DONE"]) != 1 {
		t.Errorf("watcher did not finish cleanly: stdout %q stderr %q", out, c.Stderr())
	}
	for _, v := range r["REOPEN"] {
		if strings.Contains(v, "WRITTEN") {
			t.Errorf("the container wrote through a handle on the runtime: %s", v)
		}
	}
	rt.MustDelete(t, id, false)
	if after := sha256File(t, bin); after != before {
		t.Errorf("the host's runtime binary %s changed: sha256 %s -> %s", bin, before, after)
	}
	tu.CheckNoLeaks(t, snap, id)
}

// The host side of the same attack, without a container: a writer that
// holds the memfd the init runs from can neither write nor grow it, even
// after every process running it is gone. This is the property the two
// tests above depend on, checked on the real init's exe.
func TestInitExeSealedAfterExit(t *testing.T) {
	tu.RequireRung(t, "sealed memfd init")
	t.Parallel()
	rt, snap := setup(t)
	id := tu.ID(t)
	c := rt.Create(t, id, tu.Bundle(t, tu.Args("true")))
	pid := c.Pid(t)
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/exe")
	must(t, err)
	defer f.Close()
	rt.Start(t, id)
	rt.WaitStatus(t, id, specs.StateStopped)
	rt.MustDelete(t, id, false)
	// Every process that ran it has exited: no ETXTBSY now, only the seals.
	w, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), os.O_WRONLY, 0)
	if err == nil {
		_, werr := w.Write([]byte("x"))
		terr := w.Truncate(0)
		w.Close()
		if werr == nil || terr == nil {
			t.Errorf("the init's memfd is writable after exit: write %v, truncate %v", werr, terr)
		} else if !errors.Is(werr, syscall.EPERM) {
			t.Logf("write refused with %v (want EPERM from F_SEAL_WRITE)", werr)
		}
	} else {
		t.Logf("reopen for write refused: %v", err)
	}
	tu.CheckNoLeaks(t, snap, id)
}
