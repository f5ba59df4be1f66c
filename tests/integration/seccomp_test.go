package integration

import (
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

func seccompBundle(t *testing.T, script string, sc *specs.LinuxSeccomp) string {
	return tu.Bundle(t, func(s *specs.Spec) { seccompBundleSpec(s, script, sc) })
}

func seccompBundleSpec(s *specs.Spec, script string, sc *specs.LinuxSeccomp) {
	s.Process.Args = []string{"sh", "-c", script}
	if sc.Architectures == nil {
		sc.Architectures = seccompArches()
	}
	s.Linux.Seccomp = sc
}

// ERRNO with a custom errno is what the process sees (38 is ENOSYS).
func TestSeccompCustomErrno(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	enosys := uint(38)
	res := rt.TryRun(t, id, seccompBundle(t, "mkdir /tmp/x; echo done", &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &enosys}},
	}))
	if res.Exit != 0 || !strings.Contains(res.Stderr, "Function not implemented") {
		t.Errorf("mkdir under ERRNO(38): %s", res)
	}
	tu.CheckNoLeaks(t, snap, id)
}

// An older profile (the runtime-tools suite's, docker's of 2019) allows
// none of the calls the verified procfs makes. Without no_new_privs the
// filter goes in before the init waits on the exec fifo, and with it just
// before; either way the wait and the start must not need those calls.
func TestSeccompFilterWithoutNewerCalls(t *testing.T) {
	rt, snap := setup(t)
	for _, nnp := range []bool{false, true} {
		id := tu.ID(t)
		bundle := tu.Bundle(t, func(s *specs.Spec) {
			seccompBundleSpec(s, "echo started", &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{
					Names:  []string{"statx", "openat2", "fsopen", "fsconfig", "fsmount", "open_tree", "close_range"},
					Action: specs.ActErrno,
				}},
			})
			s.Process.NoNewPrivileges = nnp
		})
		if out := rt.RunOK(t, id, bundle); out != "started\n" {
			t.Errorf("noNewPrivileges %v: container printed %q, want started", nnp, out)
		}
		tu.CheckNoLeaks(t, snap, id)
	}
}

// KILL_PROCESS kills the process with SIGSYS: the container exits 128+31.
func TestSeccompKillProcess(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	res := rt.TryRun(t, id, seccompBundle(t, "exec mkdir /tmp/x", &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActKillProcess}},
	}))
	if res.Exit != 128+int(unix.SIGSYS) {
		t.Errorf("mkdir under KILL_PROCESS: want exit %d: %s", 128+int(unix.SIGSYS), res)
	}
	tu.CheckNoLeaks(t, snap, id)
}

// LOG and ALLOW let the call through.
func TestSeccompLogAndAllow(t *testing.T) {
	rt, snap := setup(t)
	for _, act := range []specs.LinuxSeccompAction{specs.ActLog, specs.ActAllow} {
		id := tu.ID(t)
		eperm := uint(1)
		res := rt.TryRun(t, id, seccompBundle(t, "mkdir /tmp/x && echo MKDIR-OK", &specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno, DefaultErrnoRet: &eperm,
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"mkdir", "mkdirat"}, Action: act},
				// Everything a busybox shell needs, so the default can deny the rest.
				{Names: busyboxSyscalls, Action: specs.ActAllow},
			},
		}))
		if res.Exit != 0 || !strings.Contains(res.Stdout, "MKDIR-OK") {
			t.Errorf("mkdir under %s: %s", act, res)
		}
		tu.CheckNoLeaks(t, snap, id)
	}
}

var busyboxSyscalls = []string{"read", "write", "open", "openat", "close", "fstat", "newfstatat", "stat", "lstat",
	"statx", "mmap", "munmap", "mprotect", "brk", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "ioctl",
	"access", "execve", "exit", "exit_group", "wait4", "clone", "clone3", "fork", "vfork", "getpid", "getppid",
	"getuid", "geteuid", "getgid", "getegid", "prctl", "arch_prctl", "set_tid_address", "uname", "fcntl",
	"dup2", "dup3", "getcwd", "chdir", "getdents64", "lseek", "futex", "capget", "capset", "setgroups",
	"setresuid", "setresgid", "setuid", "setgid", "getrandom", "close_range", "poll", "ppoll", "pipe2",
	"readlinkat", "readlink", "sched_getaffinity", "sched_yield", "nanosleep", "clock_nanosleep", "set_robust_list",
	"rseq", "prlimit64", "getpgrp", "setpgid", "getrlimit", "umask", "faccessat", "faccessat2", "kill", "tgkill",
	"sigaltstack", "madvise", "seccomp", "fchdir", "getsid", "setsid", "pread64", "mremap", "epoll_wait",
	"epoll_ctl", "epoll_create1", "epoll_pwait", "gettid", "sysinfo", "fchown", "fchmod"}

// An argument condition blocks personality(0xffffffff) but lets
// personality(0) through, and the same rule on the value 0 blocks it
// (busybox's linux64 calls personality(PER_LINUX), that is 0).
func TestSeccompArgumentCondition(t *testing.T) {
	rt, snap := setup(t)
	eperm := uint(1)
	for _, c := range []struct {
		blocked uint64
		wantOK  bool
	}{{0xffffffff, true}, {0, false}} {
		id := tu.ID(t)
		res := rt.TryRun(t, id, seccompBundle(t, "busybox linux64 true && echo P-OK; echo done", &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{
				Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: &eperm,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: c.blocked, Op: specs.OpEqualTo}},
			}},
		}))
		if res.Exit != 0 || !strings.Contains(res.Stdout, "done") {
			t.Fatalf("run: %s", res)
		}
		if got := strings.Contains(res.Stdout, "P-OK"); got != c.wantOK {
			t.Errorf("personality(0) with personality(%#x) blocked: ran=%v, want %v: %s", c.blocked, got, c.wantOK, res)
		}
		tu.CheckNoLeaks(t, snap, id)
	}
}

// The notify flow end to end: rung hands the listener the notify fd with the
// container state; the agent answers the notified mkdir with EXDEV.
func TestSeccompNotify(t *testing.T) {
	rt, snap := setup(t)
	tu.RequireRung(t, "the seccomp notify hand-over is rung's")
	id := tu.ID(t)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	must(t, err)
	defer l.Close()
	type got struct {
		state specs.ContainerProcessState
		err   error
	}
	agent := make(chan got, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			agent <- got{err: err}
			return
		}
		defer conn.Close()
		buf := make([]byte, 1<<20)
		oob := make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			agent <- got{err: err}
			return
		}
		var st specs.ContainerProcessState
		if err := json.Unmarshal(buf[:n], &st); err != nil {
			agent <- got{err: err}
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil {
			agent <- got{err: err}
			return
		}
		agent <- got{state: st}
		answerNotifications(fds[0], int32(unix.EXDEV))
	}()
	res := rt.TryRun(t, id, seccompBundle(t, "mkdir /tmp/x; echo done", &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow, ListenerPath: sock, ListenerMetadata: "meta-" + id,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
	}))
	g := <-agent
	if g.err != nil {
		t.Fatalf("agent: %v (run: %s)", g.err, res)
	}
	if len(g.state.Fds) != 1 || g.state.Fds[0] != specs.SeccompFdName || g.state.Metadata != "meta-"+id || g.state.State.ID != id || g.state.Pid <= 0 {
		t.Errorf("listener got state %+v", g.state)
	}
	if res.Exit != 0 || !strings.Contains(res.Stderr, "cross-device") {
		t.Errorf("notified mkdir should fail with the agent's EXDEV: %s", res)
	}
	tu.CheckNoLeaks(t, snap, id)
}

// answerNotifications answers every notified syscall with errno until the
// filter's last user is gone.
func answerNotifications(fd int, errno int32) {
	defer unix.Close(fd)
	const (
		notifRecv = 0xc0502100 // SECCOMP_IOCTL_NOTIF_RECV
		notifSend = 0xc0182101 // SECCOMP_IOCTL_NOTIF_SEND
	)
	type notif struct {
		ID    uint64
		Pid   uint32
		Flags uint32
		Data  [64]byte
	}
	type resp struct {
		ID    uint64
		Val   int64
		Error int32
		Flags uint32
	}
	for {
		var n notif
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), notifRecv, uintptr(unsafe.Pointer(&n))); e != 0 {
			if e == unix.EINTR {
				continue
			}
			return
		}
		r := resp{ID: n.ID, Error: -errno}
		unix.Syscall(unix.SYS_IOCTL, uintptr(fd), notifSend, uintptr(unsafe.Pointer(&r)))
	}
}

// A bad action, an unknown arch and an unknown operator are clear errors
// naming the field.
func TestSeccompBadInput(t *testing.T) {
	rt, snap := setup(t)
	cases := map[string]struct {
		sc    *specs.LinuxSeccomp
		field string
	}{
		"action": {&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: "SCMP_ACT_BOGUS"}}}, "linux.seccomp.syscalls[0].action"},
		"arch":   {&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_BOGUS"}}, "linux.seccomp.architectures[0]"},
		"op": {&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"personality"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: "SCMP_CMP_BOGUS"}}}}}, "linux.seccomp.syscalls[0].args[0].op"},
	}
	for name, c := range cases {
		id := tu.ID(t)
		res := rt.TryRun(t, id, seccompBundle(t, "true", c.sc))
		msg := expectFailure(t, res)
		if !tu.IsRunc() && !strings.Contains(msg, c.field) {
			t.Errorf("%s: error %q does not name %s", name, msg, c.field)
		}
		tu.CheckNoLeaks(t, snap, id)
	}
}

// An exec'd process is held to the container's filter.
func TestSeccompExecInherits(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	eperm := uint(1)
	bundle := seccompBundle(t, "sleep 60", &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &eperm}},
	})
	rt.Create(t, id, bundle)
	rt.Start(t, id)
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"exec", id, "sh", "-c", "mkdir /tmp/y && echo MKDIR-OK; echo done"}})
	if !strings.Contains(res.Stdout, "done") || strings.Contains(res.Stdout, "MKDIR-OK") || !strings.Contains(res.Stderr, "Operation not permitted") {
		t.Errorf("exec under the container's filter: %s", res)
	}
	rt.MustDelete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)
}
