package compile

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestValidateRejects(t *testing.T) {
	allow := func(names ...string) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: names, Action: specs.ActAllow}
	}
	sixPlusOne := make([]specs.LinuxSeccompArg, 7)
	for i := range sixPlusOne {
		sixPlusOne[i] = specs.LinuxSeccompArg{Index: uint(i % 6), Op: specs.OpEqualTo, Value: uint64(i)}
	}
	cases := []struct {
		name  string
		s     specs.LinuxSeccomp
		field string
		msg   string // part of the message
	}{
		{"no default action", specs.LinuxSeccomp{}, "linux.seccomp.defaultAction", "required"},
		{"unknown default action", specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_MAYBE"}, "linux.seccomp.defaultAction", "unknown action"},
		{"notify default", specs.LinuxSeccomp{DefaultAction: specs.ActNotify, ListenerPath: "/a"}, "linux.seccomp.defaultAction", "cannot be the default"},
		{"default errno on allow", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: u(1)}, "linux.seccomp.defaultErrnoRet", "returns no errno"},
		{"default errno too big", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: u(5000)}, "linux.seccomp.defaultErrnoRet", "out of range"},
		{"unknown arch", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_PDP11"}}, "linux.seccomp.architectures[0]", "unknown architecture"},
		{"arch without prefix", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86, "x86_64"}}, "linux.seccomp.architectures[1]", "unknown architecture"},
		{"unknown flag", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, "SECCOMP_FILTER_FLAG_FAST"}}, "linux.seccomp.flags[1]", "unknown flag"},
		{"unknown action", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{allow("read"), allow("write"), {Names: []string{"mount"}, Action: "SCMP_ACT_DENY"}}}, "linux.seccomp.syscalls[2].action", "unknown action"},
		{"missing action", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}}}}, "linux.seccomp.syscalls[0].action", "required"},
		{"no names", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Action: specs.ActAllow}}}, "linux.seccomp.syscalls[0].names", "at least one"},
		{"empty name", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{allow("read", "")}}, "linux.seccomp.syscalls[0].names[1]", "empty"},
		{"errnoRet on allow", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{allow("read"), {Names: []string{"write"}, Action: specs.ActAllow, ErrnoRet: u(1)}}}, "linux.seccomp.syscalls[1].errnoRet", "returns no errno"},
		{"errnoRet on kill", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActKillProcess, ErrnoRet: u(1)}}}, "linux.seccomp.syscalls[0].errnoRet", "returns no errno"},
		{"errnoRet on notify", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/a", Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActNotify, ErrnoRet: u(1)}}}, "linux.seccomp.syscalls[0].errnoRet", "returns no errno"},
		{"errnoRet too big", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno, ErrnoRet: u(4096)}}}, "linux.seccomp.syscalls[0].errnoRet", "out of range"},
		{"trace data too big", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActTrace, ErrnoRet: u(70000)}}}, "linux.seccomp.syscalls[0].errnoRet", "out of range"},
		{"unknown operator", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{allow("read"), {Names: []string{"kill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_APPROX"}}}}}, "linux.seccomp.syscalls[1].args[0].op", "unknown operator"},
		{"missing operator", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"kill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpEqualTo}, {Index: 0}}}}}, "linux.seccomp.syscalls[0].args[1].op", "required"},
		{"arg index 6", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"kill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "linux.seccomp.syscalls[0].args[0].index", "out of range"},
		{"seven args", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"kill"}, Action: specs.ActErrno, Args: sixPlusOne}}}, "linux.seccomp.syscalls[0].args", "at most 6"},
		{"notify without listener", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActNotify}}}, "linux.seccomp.listenerPath", "required"},
		{"notify on write", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/a", Syscalls: []specs.LinuxSyscall{{Names: []string{"mount", "write"}, Action: specs.ActNotify}}}, "linux.seccomp.syscalls[0].names[1]", "write"},
		{"listener path too long", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/" + strings.Repeat("a", 120), Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActNotify}}}, "linux.seccomp.listenerPath", "at most 107"},
		{"listener metadata too long", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerMetadata: strings.Repeat("m", maxMetadata+1)}, "linux.seccomp.listenerMetadata", "at most"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := Validate(&c.s)
			for _, e := range errs {
				if e.Field == c.field && strings.Contains(e.Message, c.msg) {
					t.Logf("%s: %s", e.Field, e.Message)
					return
				}
			}
			t.Fatalf("Validate = %v; want an error at %s containing %q", errs, c.field, c.msg)
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction: "SCMP_ACT_NOPE",
		Architectures: []specs.Arch{"SCMP_ARCH_VAX"},
		Flags:         []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_NOPE"},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mount"}, Action: "SCMP_ACT_NOPE"},
			{Names: []string{"kill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 9, Op: "X"}}},
		},
	}
	got := map[string]bool{}
	for _, e := range Validate(s) {
		got[e.Field] = true
	}
	for _, f := range []string{
		"linux.seccomp.defaultAction", "linux.seccomp.architectures[0]", "linux.seccomp.flags[0]",
		"linux.seccomp.syscalls[0].action", "linux.seccomp.syscalls[1].args[0].index", "linux.seccomp.syscalls[1].args[0].op",
	} {
		if !got[f] {
			t.Errorf("no error at %s (got %v)", f, got)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	for name, s := range map[string]*specs.LinuxSeccomp{
		"minimal":          {DefaultAction: specs.ActAllow},
		"legacy kill":      {DefaultAction: specs.ActKill, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}}},
		"tsync accepted":   {DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{flagTSYNC}},
		"unknown syscalls": {DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"frobnicate"}, Action: specs.ActAllow}}},
		"action repeats default": {DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mount"}, Action: specs.ActErrno},
			{Names: []string{"umount2"}, Action: specs.ActErrno, ErrnoRet: u(1)},
		}},
		"notify": {DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock", Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActNotify}}},
		"same arg many times": {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"kill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
			{Index: 1, Op: specs.OpEqualTo, Value: 9}, {Index: 1, Op: specs.OpEqualTo, Value: 19}, {Index: 1, Op: specs.OpEqualTo, Value: 2},
		}}}},
		"moby": mobyToOCI(t, "testdata/moby-default.json"),
	} {
		if errs := Validate(s); len(errs) > 0 {
			t.Errorf("%s: %v", name, errs)
		}
	}
}
