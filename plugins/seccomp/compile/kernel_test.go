package compile

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/plugins/seccomp/install"
)

// The kernel tests load compiled programs for real. Loading a filter cannot
// be undone, so each test re-executes the test binary as a child that
// installs the filter on its main thread with install.Install (as the
// container init will) and reports what the probed syscalls returned.
const (
	childEnv  = "RUNG_SECCOMP_TEST_CHILD"
	progEnv   = "RUNG_SECCOMP_TEST_PROGRAM"
	flagsEnv  = "RUNG_SECCOMP_TEST_FLAGS"
	probesEnv = "RUNG_SECCOMP_TEST_PROBES"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		seccompChild()
	}
	os.Exit(m.Run())
}

// seccompChild never returns. Output: one "probe errno" line per probe, or
// "install <error>" and exit 3.
func seccompChild() {
	runtime.LockOSThread()
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stdout, format+"\n", args...)
		os.Exit(3)
	}
	prog, err := os.ReadFile(os.Getenv(progEnv))
	if err != nil {
		fail("install %v", err)
	}
	flags, err := strconv.ParseUint(os.Getenv(flagsEnv), 0, 32)
	if err != nil {
		fail("install %v", err)
	}
	probes := strings.Split(os.Getenv(probesEnv), ";")
	// A KILL_PROCESS probe dumps core otherwise.
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail("install no_new_privs: %v", err)
	}
	fd, err := install.Install(prog, uint32(flags))
	if err != nil {
		fail("install %v", err)
	}
	if fd >= 0 {
		// The filter binds only this thread: another thread can answer.
		go answerNotifications(fd)
	}
	var out bytes.Buffer
	for _, p := range probes {
		fmt.Fprintf(&out, "%s %d\n", p, int(probeSyscall(p)))
	}
	// Raw write and exit: the profile under test may refuse what os.Stdout
	// or a clean Go exit would do on this thread.
	b := out.Bytes()
	unix.Syscall(unix.SYS_WRITE, 1, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	unix.Syscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
}

// probeSyscall makes one syscall on the filtered thread. "name:arg" forms:
// mkdir:PATH, personality:N, unshare:FLAGS, socket:DOMAIN, raw:NR; bare
// names: getpid, getppid, clone3.
func probeSyscall(p string) unix.Errno {
	name, arg, _ := strings.Cut(p, ":")
	n, _ := strconv.ParseUint(arg, 0, 64)
	var errno unix.Errno
	switch name {
	case "mkdir":
		path, _ := unix.BytePtrFromString(arg)
		_, _, errno = unix.Syscall(unix.SYS_MKDIR, uintptr(unsafe.Pointer(path)), 0o700, 0)
	case "personality":
		_, _, errno = unix.Syscall(unix.SYS_PERSONALITY, uintptr(n), 0, 0)
	case "unshare":
		_, _, errno = unix.Syscall(unix.SYS_UNSHARE, uintptr(n), 0, 0)
	case "socket":
		var fd uintptr
		fd, _, errno = unix.Syscall(unix.SYS_SOCKET, uintptr(n), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if errno == 0 {
			unix.Syscall(unix.SYS_CLOSE, fd, 0, 0)
		}
	case "raw":
		_, _, errno = unix.Syscall(uintptr(n), 0, 0, 0)
	case "getpid":
		_, _, errno = unix.Syscall(unix.SYS_GETPID, 0, 0, 0)
	case "getppid":
		_, _, errno = unix.Syscall(unix.SYS_GETPPID, 0, 0, 0)
	case "clone3":
		// NULL args of size 0: EINVAL when the kernel sees it.
		_, _, errno = unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	default:
		return unix.Errno(0xffff)
	}
	return errno
}

// struct seccomp_notif and seccomp_notif_resp.
type seccompNotif struct {
	id    uint64
	pid   uint32
	flags uint32
	data  [seccompDataSize]byte
}

type seccompNotifResp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

// answerNotifications fails every notified syscall with EXDEV, which nothing
// else in the tests returns.
func answerNotifications(fd int) {
	for {
		var req seccompNotif
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&req))); e != 0 {
			if e == unix.EINTR {
				continue
			}
			return
		}
		resp := seccompNotifResp{id: req.id, error: -int32(unix.EXDEV)}
		unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp)))
	}
}

type childResult struct {
	errnos map[string]unix.Errno
	state  *os.ProcessState
	out    string
}

func requireKernelSeccomp(t *testing.T) {
	t.Helper()
	if !HostSupport().Enabled {
		t.Skip("the kernel has no seccomp filter mode")
	}
	requireAMD64(t)
}

// runChild loads res in a child and runs the probes there.
func runChild(t *testing.T, res *Result, probes ...string) childResult {
	t.Helper()
	dir := t.TempDir()
	progFile := filepath.Join(dir, "prog.bpf")
	if err := os.WriteFile(progFile, res.Program, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childEnv+"=1",
		progEnv+"="+progFile,
		flagsEnv+"="+strconv.FormatUint(uint64(res.Flags), 10),
		probesEnv+"="+strings.Join(probes, ";"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := childResult{errnos: map[string]unix.Errno{}, state: cmd.ProcessState, out: stdout.String()}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("running the child: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		p, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if p == "install" {
			t.Fatalf("child could not install the filter: %s", v)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("child said %q", line)
		}
		r.errnos[p] = unix.Errno(n)
	}
	if stderr.Len() > 0 {
		t.Logf("child stderr: %s", stderr.String())
	}
	return r
}

func (r childResult) want(t *testing.T, probe string, errno unix.Errno) {
	t.Helper()
	got, ok := r.errnos[probe]
	if !ok {
		t.Errorf("%s: no result (child exit %v, output %q)", probe, r.state, r.out)
		return
	}
	if got != errno {
		t.Errorf("%s: errno %d (%v), want %d (%v)", probe, int(got), got, int(errno), errno)
	}
}

func TestKernelDenyMkdir(t *testing.T) {
	requireKernelSeccomp(t)
	dir := t.TempDir()
	res := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
			{Names: []string{"getppid"}, Action: specs.ActErrno, ErrnoRet: u(38)},
		},
	})
	r := runChild(t, res, "mkdir:"+filepath.Join(dir, "x"), "getppid", "getpid")
	r.want(t, "mkdir:"+filepath.Join(dir, "x"), unix.EPERM)
	r.want(t, "getppid", unix.ENOSYS)
	r.want(t, "getpid", 0)
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Errorf("the denied mkdir made the directory (stat: %v)", err)
	}
}

func TestKernelPersonalityArg(t *testing.T) {
	requireKernelSeccomp(t)
	res := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names:  []string{"personality"},
			Action: specs.ActErrno,
			Args:   []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 0xffffffff}},
		}},
	})
	r := runChild(t, res, "personality:0xffffffff", "personality:0")
	r.want(t, "personality:0xffffffff", unix.EPERM)
	r.want(t, "personality:0", 0)
}

func TestKernelKillProcess(t *testing.T) {
	requireKernelSeccomp(t)
	res := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActKillProcess}},
	})
	r := runChild(t, res, "getpid", "getppid")
	ws, ok := r.state.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGSYS {
		t.Fatalf("child ended %v (output %q); want killed by SIGSYS", r.state, r.out)
	}
}

func TestKernelTraceWithoutTracer(t *testing.T) {
	requireKernelSeccomp(t)
	res := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActTrace}},
	})
	// With nobody tracing, the kernel fails a TRACE'd syscall with ENOSYS.
	runChild(t, res, "getppid").want(t, "getppid", unix.ENOSYS)
}

func TestKernelFlags(t *testing.T) {
	requireKernelSeccomp(t)
	res := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Flags:         []specs.LinuxSeccompFlag{flagTSYNC, specs.LinuxSeccompFlagSpecAllow, specs.LinuxSeccompFlagLog},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActErrno, ErrnoRet: u(uint(unix.EACCES))}},
	})
	runChild(t, res, "getppid").want(t, "getppid", unix.EACCES)
}

func TestKernelNotify(t *testing.T) {
	requireKernelSeccomp(t)
	for _, flags := range [][]specs.LinuxSeccompFlag{nil, {specs.LinuxSeccompFlagWaitKillableRecv}} {
		if len(flags) > 0 && !HostSupport().flagsOK[flags[0]] {
			t.Logf("skipping %v: not supported by this kernel", flags)
			continue
		}
		dir := t.TempDir()
		res := mustCompile(t, &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Flags:         flags,
			ListenerPath:  "/run/never-used.sock",
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}},
		})
		mk := "mkdir:" + filepath.Join(dir, "n")
		r := runChild(t, res, mk, "getpid")
		r.want(t, mk, unix.EXDEV)
		r.want(t, "getpid", 0)
	}
}

func TestKernelMobyDefault(t *testing.T) {
	requireKernelSeccomp(t)
	dir := t.TempDir()
	res := mustCompile(t, mobyToOCI(t, "testdata/moby-default.json"))
	mk := "mkdir:" + filepath.Join(dir, "ok")
	r := runChild(t, res,
		mk, "getpid", "clone3",
		"unshare:0x10000000", // CLONE_NEWUSER
		"personality:5", "personality:0xffffffff",
		"socket:40", "socket:1",
		"raw:452",  // fchmodat2, newer than moby's list
		"raw:1000", // no such syscall at all
	)
	r.want(t, mk, 0)
	r.want(t, "getpid", 0)
	r.want(t, "clone3", unix.ENOSYS)
	r.want(t, "unshare:0x10000000", unix.EPERM)
	r.want(t, "personality:5", unix.EPERM)
	r.want(t, "personality:0xffffffff", 0)
	r.want(t, "socket:40", unix.EPERM)
	r.want(t, "socket:1", 0)
	r.want(t, "raw:452", unix.ENOSYS)
	r.want(t, "raw:1000", unix.ENOSYS)
}

// TestKernelENOSYSvsDefault shows what the stub changes: a syscall newer than
// the profile gets ENOSYS, one the profile's author knew about and left out
// gets the default errno.
func TestKernelENOSYSvsDefault(t *testing.T) {
	requireKernelSeccomp(t)
	s := mobyLikeAllowAll()
	s.DefaultErrnoRet = u(uint(unix.EACCES))
	res := mustCompile(t, s)
	// getppid (110) is below prlimit64 (302), the profile's highest;
	// clone3 (435) is above it.
	r := runChild(t, res, "getppid", "clone3", "raw:1000", "getpid")
	r.want(t, "getppid", unix.EACCES)
	r.want(t, "clone3", unix.ENOSYS)
	r.want(t, "raw:1000", unix.ENOSYS)
	r.want(t, "getpid", 0)
}
