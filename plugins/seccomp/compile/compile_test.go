package compile

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

func u(v uint) *uint { return &v }

func requireAMD64(t testing.TB) {
	t.Helper()
	if HostSupport().Native != specs.ArchX86_64 {
		t.Skipf("these expectations use x86_64 syscall numbers; native arch is %s", HostSupport().Native)
	}
}

func mustCompile(t testing.TB, s *specs.LinuxSeccomp) *Result {
	t.Helper()
	if errs := Validate(s); len(errs) > 0 {
		t.Fatalf("Validate: %v", errs)
	}
	res, err := Compile(s)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	checkProgram(t, res)
	return res
}

// checkProgram asserts the shape the init and the kernel rely on.
func checkProgram(t testing.TB, res *Result) []insn {
	t.Helper()
	n := len(res.Program)
	if n == 0 || n%insnSize != 0 || n/insnSize > MaxInstructions {
		t.Fatalf("program is %d bytes: want a non-empty multiple of %d, at most %d instructions", n, insnSize, MaxInstructions)
	}
	prog, err := decode(res.Program)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(prog); err != nil {
		t.Fatalf("verify: %v", err)
	}
	return prog
}

// ret runs the compiled program on one syscall.
func ret(t testing.TB, res *Result, arch uint32, nr int32, args ...uint64) uint32 {
	t.Helper()
	prog, err := decode(res.Program)
	if err != nil {
		t.Fatal(err)
	}
	d := seccompData{nr: nr, arch: arch}
	copy(d.args[:], args)
	r, err := run(prog, d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func native(t testing.TB, res *Result, name string, args ...uint64) uint32 {
	t.Helper()
	nr, err := libseccomp.GetSyscallFromName(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ret(t, res, unix.AUDIT_ARCH_X86_64, int32(nr), args...)
}

func errnoRet(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

func retName(r uint32) string {
	switch r & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_ERRNO:
		return fmt.Sprintf("ERRNO(%d)", r&unix.SECCOMP_RET_DATA)
	case unix.SECCOMP_RET_TRACE:
		return fmt.Sprintf("TRACE(%d)", r&unix.SECCOMP_RET_DATA)
	}
	return map[uint32]string{
		unix.SECCOMP_RET_KILL_PROCESS: "KILL_PROCESS", unix.SECCOMP_RET_KILL_THREAD: "KILL_THREAD",
		unix.SECCOMP_RET_TRAP: "TRAP", unix.SECCOMP_RET_ALLOW: "ALLOW", unix.SECCOMP_RET_LOG: "LOG",
		unix.SECCOMP_RET_USER_NOTIF: "NOTIFY",
	}[r&unix.SECCOMP_RET_ACTION_FULL]
}

func expect(t *testing.T, what string, got, want uint32) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %s (%#x), want %s (%#x)", what, retName(got), got, retName(want), want)
	}
}

func TestNilProfile(t *testing.T) {
	res, err := Compile(nil)
	if res != nil || err != nil {
		t.Fatalf("Compile(nil) = %v, %v; want nil, nil", res, err)
	}
	if errs := Validate(nil); errs != nil {
		t.Fatalf("Validate(nil) = %v", errs)
	}
}

func TestDenyMkdir(t *testing.T) {
	requireAMD64(t)
	res := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
			{Names: []string{"rmdir"}, Action: specs.ActErrno, ErrnoRet: u(38)},
		},
	})
	expect(t, "mkdir", native(t, res, "mkdir"), errnoRet(unix.EPERM))
	expect(t, "mkdirat", native(t, res, "mkdirat"), errnoRet(unix.EPERM))
	expect(t, "rmdir", native(t, res, "rmdir"), errnoRet(unix.ENOSYS))
	expect(t, "getpid", native(t, res, "getpid"), unix.SECCOMP_RET_ALLOW)
	if res.StubInstructions != 0 || res.Clone3ENOSYS {
		t.Errorf("permissive default got an ENOSYS patch: stub %d, clone3 %v", res.StubInstructions, res.Clone3ENOSYS)
	}
	if res.Flags != 0 {
		t.Errorf("flags = %#x, want 0", res.Flags)
	}
}

func TestEveryAction(t *testing.T) {
	requireAMD64(t)
	cases := []struct {
		action specs.LinuxSeccompAction
		errno  *uint
		want   uint32
	}{
		{specs.ActKill, nil, unix.SECCOMP_RET_KILL_THREAD},
		{specs.ActKillThread, nil, unix.SECCOMP_RET_KILL_THREAD},
		{specs.ActKillProcess, nil, unix.SECCOMP_RET_KILL_PROCESS},
		{specs.ActTrap, nil, unix.SECCOMP_RET_TRAP},
		{specs.ActErrno, nil, errnoRet(unix.EPERM)},
		{specs.ActErrno, u(0), errnoRet(0)},
		{specs.ActErrno, u(4094), errnoRet(4094)},
		{specs.ActTrace, nil, unix.SECCOMP_RET_TRACE | uint32(unix.EPERM)},
		{specs.ActTrace, u(0xfffe), unix.SECCOMP_RET_TRACE | 0xfffe},
		{specs.ActLog, nil, unix.SECCOMP_RET_LOG},
		{specs.ActNotify, nil, unix.SECCOMP_RET_USER_NOTIF},
	}
	for _, c := range cases {
		t.Run(string(c.action), func(t *testing.T) {
			s := &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				ListenerPath:  "/run/agent.sock",
				Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: c.action, ErrnoRet: c.errno}},
			}
			expect(t, "getppid", native(t, mustCompile(t, s), "getppid"), c.want)
		})
	}
	// The same actions as defaults (NOTIFY cannot be one).
	for _, c := range cases {
		if c.action == specs.ActNotify {
			continue
		}
		t.Run("default "+string(c.action), func(t *testing.T) {
			s := &specs.LinuxSeccomp{
				DefaultAction:   c.action,
				DefaultErrnoRet: c.errno,
				Syscalls:        []specs.LinuxSyscall{{Names: []string{"exit_group"}, Action: specs.ActAllow}},
			}
			res := mustCompile(t, s)
			expect(t, "getpid", native(t, res, "getpid"), c.want)
			expect(t, "exit_group", native(t, res, "exit_group"), unix.SECCOMP_RET_ALLOW)
		})
	}
}

func TestOperators(t *testing.T) {
	requireAMD64(t)
	const big = 0x1_0000_0005 // differs from 5 only in the high word
	cases := []struct {
		op          specs.LinuxSeccompOperator
		value, two  uint64
		match, miss []uint64
	}{
		{specs.OpEqualTo, 5, 0, []uint64{5}, []uint64{4, 6, big}},
		{specs.OpNotEqual, 5, 0, []uint64{4, 6, big}, []uint64{5}},
		{specs.OpLessThan, 5, 0, []uint64{0, 4}, []uint64{5, 6, big}},
		{specs.OpLessEqual, 5, 0, []uint64{0, 5}, []uint64{6, big}},
		{specs.OpGreaterThan, 5, 0, []uint64{6, big}, []uint64{0, 5}},
		{specs.OpGreaterEqual, 5, 0, []uint64{5, 6, big}, []uint64{0, 4}},
		// value is the mask, valueTwo the datum.
		{specs.OpMaskedEqual, 0xff00, 0x1200, []uint64{0x1200, 0x12ab, 0xff12ab & 0xffff}, []uint64{0x1300, 0x0012, 0}},
		{specs.OpMaskedEqual, 0xffffffff_00000000, 0x1_00000000, []uint64{0x1_00000000, 0x1_ffffffff}, []uint64{0, 0x2_00000000}},
	}
	for _, c := range cases {
		t.Run(string(c.op), func(t *testing.T) {
			res := mustCompile(t, &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{
					Names:  []string{"personality"},
					Action: specs.ActErrno,
					Args:   []specs.LinuxSeccompArg{{Index: 0, Op: c.op, Value: c.value, ValueTwo: c.two}},
				}},
			})
			for _, v := range c.match {
				expect(t, fmt.Sprintf("personality(%#x)", v), native(t, res, "personality", v), errnoRet(unix.EPERM))
			}
			for _, v := range c.miss {
				expect(t, fmt.Sprintf("personality(%#x)", v), native(t, res, "personality", v), unix.SECCOMP_RET_ALLOW)
			}
		})
	}
}

func TestConditionsAndOr(t *testing.T) {
	requireAMD64(t)
	// Distinct argument indexes: ANDed.
	and := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names:  []string{"kill"},
			Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpEqualTo, Value: 1},
				{Index: 1, Op: specs.OpEqualTo, Value: 9},
			},
		}},
	})
	expect(t, "kill(1, 9)", native(t, and, "kill", 1, 9), errnoRet(unix.EPERM))
	expect(t, "kill(1, 15)", native(t, and, "kill", 1, 15), unix.SECCOMP_RET_ALLOW)
	expect(t, "kill(2, 9)", native(t, and, "kill", 2, 9), unix.SECCOMP_RET_ALLOW)

	// The same index twice: runc emits one rule per condition, ORed.
	or := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names:  []string{"kill"},
			Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{
				{Index: 1, Op: specs.OpEqualTo, Value: 9},
				{Index: 1, Op: specs.OpEqualTo, Value: 19},
				{Index: 0, Op: specs.OpEqualTo, Value: 1},
			},
		}},
	})
	expect(t, "kill(5, 9)", native(t, or, "kill", 5, 9), errnoRet(unix.EPERM))
	expect(t, "kill(5, 19)", native(t, or, "kill", 5, 19), errnoRet(unix.EPERM))
	expect(t, "kill(1, 15)", native(t, or, "kill", 1, 15), errnoRet(unix.EPERM))
	expect(t, "kill(5, 15)", native(t, or, "kill", 5, 15), unix.SECCOMP_RET_ALLOW)
}

func TestPersonalityArgs(t *testing.T) {
	requireAMD64(t)
	res := mustCompile(t, personalityProfile())
	expect(t, "personality(0)", native(t, res, "personality", 0), unix.SECCOMP_RET_ALLOW)
	expect(t, "personality(0xffffffff)", native(t, res, "personality", 0xffffffff), errnoRet(unix.EPERM))
}

// personalityProfile denies everything but a few syscalls, and allows
// personality only for PER_LINUX (0).
func personalityProfile() *specs.LinuxSeccomp {
	s := mobyLikeAllowAll()
	s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
		Names:  []string{"personality"},
		Action: specs.ActAllow,
		Args:   []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 0}},
	})
	return s
}

// mobyLikeAllowAll is an ERRNO-default profile allowing what a Go test
// child needs.
func mobyLikeAllowAll() *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{{
			Action: specs.ActAllow,
			Names: []string{
				"read", "write", "close", "mmap", "munmap", "mprotect", "madvise", "brk", "futex",
				"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "sched_yield",
				"nanosleep", "clock_gettime", "gettid", "getpid", "tgkill", "exit", "exit_group",
				"getrlimit", "prlimit64",
			},
		}},
	}
}

func TestENOSYSStub(t *testing.T) {
	requireAMD64(t)
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			// x86_64: read 0, write 1, close 3; i386: read 3, write 4, close 6.
			{Names: []string{"read", "write", "close"}, Action: specs.ActAllow},
		},
	}
	res := mustCompile(t, s)
	if res.StubInstructions == 0 {
		t.Fatal("no ENOSYS stub for an ERRNO default")
	}
	x64, i386 := uint32(unix.AUDIT_ARCH_X86_64), uint32(unix.AUDIT_ARCH_I386)
	expect(t, "x86_64 read", ret(t, res, x64, 0), unix.SECCOMP_RET_ALLOW)
	expect(t, "x86_64 open (2, below the maximum)", ret(t, res, x64, 2), errnoRet(unix.EPERM))
	expect(t, "x86_64 4 (above the maximum)", ret(t, res, x64, 4), errnoRet(unix.ENOSYS))
	expect(t, "x86_64 1000", ret(t, res, x64, 1000), errnoRet(unix.ENOSYS))
	expect(t, "x86_64 -1", ret(t, res, x64, -1), errnoRet(unix.ENOSYS))
	expect(t, "i386 close (6)", ret(t, res, i386, 6), unix.SECCOMP_RET_ALLOW)
	expect(t, "i386 5 (open, below)", ret(t, res, i386, 5), errnoRet(unix.EPERM))
	expect(t, "i386 7 (above)", ret(t, res, i386, 7), errnoRet(unix.ENOSYS))
	expect(t, "x32 read", ret(t, res, x64, x32Bit|0), unix.SECCOMP_RET_ALLOW)
	expect(t, "x32 open", ret(t, res, x64, x32Bit|2), errnoRet(unix.EPERM))
	expect(t, "x32 4 (above)", ret(t, res, x64, x32Bit|4), errnoRet(unix.ENOSYS))
	// An architecture not in the filter gets libseccomp's bad-arch action.
	expect(t, "aarch64", ret(t, res, unix.AUDIT_ARCH_AARCH64, 1000), unix.SECCOMP_RET_KILL_THREAD)

	// Without x32 in the filter, x32 calls are not ENOSYS'd but refused as a
	// foreign ABI, as libseccomp alone does.
	s.Architectures = []specs.Arch{specs.ArchX86_64}
	res = mustCompile(t, s)
	expect(t, "x32 call, x32 not listed", ret(t, res, x64, x32Bit|1000), unix.SECCOMP_RET_KILL_THREAD)
	expect(t, "i386, not listed", ret(t, res, i386, 3), unix.SECCOMP_RET_KILL_THREAD)
	expect(t, "x86_64 1000", ret(t, res, x64, 1000), errnoRet(unix.ENOSYS))

	// No architectures at all: native is in the filter and is patched.
	s.Architectures = nil
	res = mustCompile(t, s)
	expect(t, "native 1000, no architectures listed", ret(t, res, x64, 1000), errnoRet(unix.ENOSYS))

	// A KILL default is patched too: a newer syscall is ENOSYS, not death.
	s.DefaultAction = specs.ActKillProcess
	res = mustCompile(t, s)
	expect(t, "kill default, 1000", ret(t, res, x64, 1000), errnoRet(unix.ENOSYS))
	expect(t, "kill default, open", ret(t, res, x64, 2), unix.SECCOMP_RET_KILL_PROCESS)
}

func TestNoStubWhenPointless(t *testing.T) {
	requireAMD64(t)
	for _, s := range []*specs.LinuxSeccomp{
		{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno}}},
		{DefaultAction: specs.ActLog, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno}}},
		{DefaultAction: specs.ActTrace, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno}}},
		{DefaultAction: specs.ActErrno, DefaultErrnoRet: u(uint(unix.ENOSYS)), Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}}},
	} {
		res := mustCompile(t, s)
		if res.StubInstructions != 0 || res.Clone3ENOSYS {
			t.Errorf("default %s: stub %d instructions, clone3 rule %v; want neither", s.DefaultAction, res.StubInstructions, res.Clone3ENOSYS)
		}
	}
}

func TestClone3(t *testing.T) {
	requireAMD64(t)
	// futex_waitv (449) is above clone3 (435): the stub alone would leave
	// clone3 at the default EPERM.
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"clone", "futex_waitv"}, Action: specs.ActAllow}},
	}
	res := mustCompile(t, s)
	if !res.Clone3ENOSYS {
		t.Error("no clone3 rule")
	}
	expect(t, "clone3", native(t, res, "clone3"), errnoRet(unix.ENOSYS))
	expect(t, "clone", native(t, res, "clone"), unix.SECCOMP_RET_ALLOW)
	expect(t, "open (below the maximum)", native(t, res, "open"), errnoRet(unix.EPERM))

	// Listed explicitly: the profile decides.
	s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: u(1)})
	res = mustCompile(t, s)
	if res.Clone3ENOSYS {
		t.Error("clone3 rule added although the profile names clone3")
	}
	expect(t, "clone3 listed", native(t, res, "clone3"), errnoRet(unix.EPERM))

	// A KILL default gets the rule too.
	s = &specs.LinuxSeccomp{DefaultAction: specs.ActKill, Syscalls: []specs.LinuxSyscall{{Names: []string{"futex_waitv"}, Action: specs.ActAllow}}}
	expect(t, "clone3, kill default", native(t, mustCompile(t, s), "clone3"), errnoRet(unix.ENOSYS))
}

func TestMobyDefault(t *testing.T) {
	requireAMD64(t)
	s := mobyToOCI(t, "testdata/moby-default.json")
	if len(s.Architectures) != 3 {
		t.Fatalf("architectures = %v; want x86_64, x86, x32", s.Architectures)
	}
	res := mustCompile(t, s)
	t.Logf("moby default profile: %d instructions (%d ENOSYS stub), skipped %v", res.Instructions(), res.StubInstructions, res.Skipped)
	if res.Clone3ENOSYS {
		t.Error("moby names clone3 itself; no extra rule expected")
	}
	x64, i386 := uint32(unix.AUDIT_ARCH_X86_64), uint32(unix.AUDIT_ARCH_I386)
	expect(t, "getpid", native(t, res, "getpid"), unix.SECCOMP_RET_ALLOW)
	expect(t, "mount", native(t, res, "mount"), errnoRet(unix.EPERM))
	expect(t, "unshare", native(t, res, "unshare"), errnoRet(unix.EPERM))
	expect(t, "clone3", native(t, res, "clone3"), errnoRet(unix.ENOSYS))
	expect(t, "clone(CLONE_NEWUSER)", native(t, res, "clone", unix.CLONE_NEWUSER), errnoRet(unix.EPERM))
	expect(t, "clone(SIGCHLD)", native(t, res, "clone", uint64(unix.SIGCHLD)), unix.SECCOMP_RET_ALLOW)
	expect(t, "personality(0xffffffff)", native(t, res, "personality", 0xffffffff), unix.SECCOMP_RET_ALLOW)
	expect(t, "personality(5)", native(t, res, "personality", 5), errnoRet(unix.EPERM))
	expect(t, "socket(AF_VSOCK)", native(t, res, "socket", unix.AF_VSOCK), errnoRet(unix.EPERM))
	expect(t, "socket(AF_INET)", native(t, res, "socket", unix.AF_INET), unix.SECCOMP_RET_ALLOW)
	// Newer than anything moby names (futex_waitv, 449): libc falls back.
	expect(t, "fchmodat2 (452)", ret(t, res, x64, 452), errnoRet(unix.ENOSYS))
	expect(t, "1000", ret(t, res, x64, 1000), errnoRet(unix.ENOSYS))
	expect(t, "i386 getpid (20)", ret(t, res, i386, 20), unix.SECCOMP_RET_ALLOW)
	expect(t, "i386 mount (21)", ret(t, res, i386, 21), errnoRet(unix.EPERM))
	expect(t, "x32 getpid", ret(t, res, x64, x32Bit|39), unix.SECCOMP_RET_ALLOW)
	expect(t, "x32 mount", ret(t, res, x64, x32Bit|165), errnoRet(unix.EPERM))
}

func TestSkipsUnknownSyscalls(t *testing.T) {
	res := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "no_such_syscall_rung", "write"}, Action: specs.ActAllow},
			{Names: []string{"another_unknown_one"}, Action: specs.ActKillProcess},
		},
	})
	want := []string{"another_unknown_one", "no_such_syscall_rung"}
	if strings.Join(res.Skipped, ",") != strings.Join(want, ",") {
		t.Errorf("Skipped = %v, want %v", res.Skipped, want)
	}
}

func TestFlags(t *testing.T) {
	base := func() *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno}}}
	}
	s := base()
	s.Flags = []specs.LinuxSeccompFlag{flagTSYNC, specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow, specs.LinuxSeccompFlagWaitKillableRecv}
	res := mustCompile(t, s)
	if want := uint32(unix.SECCOMP_FILTER_FLAG_LOG | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW); res.Flags != want {
		t.Errorf("flags = %#x, want %#x (no TSYNC; no WAIT_KILLABLE_RECV without a listener)", res.Flags, want)
	}
	if res.ListenerPath != "" {
		t.Errorf("listener path %q without NOTIFY", res.ListenerPath)
	}

	s = base()
	s.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}
	s.ListenerPath, s.ListenerMetadata = "/run/agent.sock", "meta"
	s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActNotify})
	res = mustCompile(t, s)
	if want := uint32(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV); res.Flags != want {
		t.Errorf("flags = %#x, want %#x", res.Flags, want)
	}
	if res.ListenerPath != "/run/agent.sock" || res.ListenerMetadata != "meta" {
		t.Errorf("listener = %q %q", res.ListenerPath, res.ListenerMetadata)
	}
}

func TestProgramTooLarge(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	for v := uint64(0); v < 3000; v++ {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
			Names:  []string{"personality"},
			Action: specs.ActErrno,
			Args:   []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: v<<32 | v}},
		})
	}
	_, err := Compile(s)
	var fe *Error
	if !errors.As(err, &fe) || fe.Field != Root || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("Compile = %v; want a linux.seccomp error naming the 4096 limit", err)
	}
	errs := Validate(s)
	if len(errs) != 1 || errs[0].Field != Root {
		t.Fatalf("Validate = %v", errs)
	}
	t.Log(err)
}

// TestOCIJSON compiles a profile decoded from config.json text, the way the
// plugin receives it.
func TestOCIJSON(t *testing.T) {
	const profile = `{
		"defaultAction": "SCMP_ACT_ERRNO",
		"defaultErrnoRet": 13,
		"architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
		"flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
		"syscalls": [
			{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
			{"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"}
		]
	}`
	var s specs.LinuxSeccomp
	if err := json.Unmarshal([]byte(profile), &s); err != nil {
		t.Fatal(err)
	}
	res := mustCompile(t, &s)
	if res.Flags != unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW {
		t.Errorf("flags = %#x", res.Flags)
	}
	if HostSupport().Native == specs.ArchX86_64 {
		expect(t, "socket(AF_UNIX)", native(t, res, "socket", unix.AF_UNIX), unix.SECCOMP_RET_ALLOW)
		expect(t, "socket(AF_INET)", native(t, res, "socket", unix.AF_INET), errnoRet(unix.EACCES))
		expect(t, "ptrace", native(t, res, "ptrace"), unix.SECCOMP_RET_KILL_PROCESS)
	}
}
