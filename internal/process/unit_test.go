//go:build linux

package process

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestValidateCapabilities(t *testing.T) {
	if errs := ValidateCapabilities(nil); errs != nil {
		t.Errorf("nil: %v", errs)
	}
	c := &specs.LinuxCapabilities{
		Bounding:    []string{"CAP_KILL", "CAP_BOGUS"},
		Effective:   []string{"CAP_KILL", "cap_kill"},
		Permitted:   []string{"CAP_CHECKPOINT_RESTORE"},
		Inheritable: []string{"KILL"},
		Ambient:     []string{"CAP_SYS_ADMIN", "CAP_NET_RAW", ""},
	}
	var got []string
	for _, e := range ValidateCapabilities(c) {
		got = append(got, e.Error())
	}
	want := []string{
		`process.capabilities.bounding[1]: unknown capability "CAP_BOGUS"`,
		`process.capabilities.effective[1]: unknown capability "cap_kill"`,
		`process.capabilities.inheritable[0]: unknown capability "KILL"`,
		`process.capabilities.ambient[2]: unknown capability ""`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ValidateCapabilities:\n got  %q\n want %q", got, want)
	}
}

func TestResolveCaps(t *testing.T) {
	c := &specs.LinuxCapabilities{
		Bounding:  []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE"},
		Effective: []string{"CAP_KILL"},
		Permitted: []string{"CAP_KILL"},
		Ambient:   []string{"CAP_KILL"},
	}
	s, err := resolveCaps(c, capability.CAP_BPF) // a kernel without CAP_CHECKPOINT_RESTORE
	if err != nil {
		t.Fatal(err)
	}
	kill := uint64(1) << capability.CAP_KILL
	if s.bounding != kill|1<<capability.CAP_NET_BIND_SERVICE {
		t.Errorf("bounding = %#x (caps above the kernel's last must be left out)", s.bounding)
	}
	if s.effective != kill || s.permitted != kill || s.ambient != kill {
		t.Errorf("sets = %+v", s)
	}
	if s.inheritable != 0 {
		t.Errorf("inheritable = %#x, must stay empty unless the spec asks (CVE-2022-29162)", s.inheritable)
	}
	empty, err := resolveCaps(nil, capability.CAP_CHECKPOINT_RESTORE)
	if err != nil || empty != (capSets{}) {
		t.Errorf("nil capabilities must mean no capabilities at all: %+v, %v", empty, err)
	}
	if _, err := resolveCaps(&specs.LinuxCapabilities{Effective: []string{"CAP_NOPE"}}, capability.CAP_BPF); err == nil ||
		!strings.Contains(err.Error(), "process.capabilities.effective[0]") {
		t.Errorf("unknown cap error = %v", err)
	}
}

func TestValidateRlimits(t *testing.T) {
	errs := ValidateRlimits([]specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 1024},
		{Type: "RLIMIT_BOGUS", Soft: 1, Hard: 1},
		{Type: "RLIMIT_NOFILE", Soft: 1, Hard: 1},
		{Type: "RLIMIT_CORE", Soft: 10, Hard: 5},
		{Type: "rlimit_nproc", Soft: 1, Hard: 1},
	})
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{
		`process.rlimits[1]: unknown rlimit type "RLIMIT_BOGUS"`,
		`process.rlimits[2]: RLIMIT_NOFILE already set by process.rlimits[0]`,
		`process.rlimits[3]: RLIMIT_CORE soft limit 10 is above its hard limit 5`,
		`process.rlimits[4]: unknown rlimit type "rlimit_nproc"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ValidateRlimits:\n got  %q\n want %q", got, want)
	}
	if err := SetRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_X"}}); err == nil || !strings.Contains(err.Error(), "process.rlimits[0]") {
		t.Errorf("SetRlimits with an unknown type = %v", err)
	}
}

func TestRlimitMapping(t *testing.T) {
	for name, want := range map[string]int{
		"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
		"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
		"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
		"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
		"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
		"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
	} {
		if got, ok := RlimitResource(name); !ok || got != want {
			t.Errorf("RlimitResource(%s) = %d, %v; want %d", name, got, ok, want)
		}
	}
	if len(rlimitByName) != 16 {
		t.Errorf("%d rlimits mapped, want the 16 the runtime-spec lists", len(rlimitByName))
	}
}

func TestValidateSysctl(t *testing.T) {
	errs := ValidateSysctl(map[string]string{
		"net.ipv4.ip_forward":               "1",
		"net/ipv4/conf/eth0.100/forwarding": "1",
		"kernel..x":                         "1",
		"../../etc/passwd":                  "x",
		"/abs":                              "x",
	})
	if len(errs) != 3 {
		t.Fatalf("ValidateSysctl: %v", errs)
	}
	for _, e := range errs {
		if !strings.HasPrefix(e.Error(), "linux.sysctl[") {
			t.Errorf("error does not name the key: %v", e)
		}
	}
	if err := ApplySysctl(map[string]string{"a..b": "1"}); err == nil || !strings.Contains(err.Error(), `linux.sysctl["a..b"]`) {
		t.Errorf("ApplySysctl bad key = %v", err)
	}
}

func TestSetOOMScoreAdjRange(t *testing.T) {
	if err := SetOOMScoreAdj(nil); err != nil {
		t.Error(err)
	}
	v := 1001
	if err := SetOOMScoreAdj(&v); err == nil || !strings.Contains(err.Error(), "process.oomScoreAdj") {
		t.Errorf("out of range = %v", err)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	other := filepath.Join(dir, "other")
	for _, d := range []string{bin, other, filepath.Join(bin, "adir")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, mode os.FileMode) {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(bin, "tool"), 0o755)
	write(filepath.Join(other, "tool"), 0o755)
	write(filepath.Join(bin, "noexec"), 0o644)
	write(filepath.Join(other, "noexec"), 0o755)

	env := []string{"HOME=/", "PATH=" + bin + ":" + other}
	for arg, want := range map[string]string{
		"tool":                     filepath.Join(bin, "tool"),
		"noexec":                   filepath.Join(other, "noexec"),
		filepath.Join(bin, "tool"): filepath.Join(bin, "tool"),
	} {
		got, err := LookPath(arg, env)
		if err != nil || got != want {
			t.Errorf("LookPath(%q) = %q, %v; want %q", arg, got, err, want)
		}
	}
	_, err := LookPath("missing", env)
	if err == nil || err.Error() != `exec: "missing": executable file not found in $PATH` || !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	if _, err := LookPath("adir", env); err == nil {
		t.Error("a directory in PATH was accepted")
	}
	if _, err := LookPath(filepath.Join(bin, "noexec"), env); err == nil {
		t.Error("a non-executable path was accepted")
	}
	if _, err := LookPath("tool", []string{"PATH=" + other, "PATH=" + bin}); err != nil {
		t.Error(err)
	} else if got, _ := LookPath("tool", []string{"PATH=" + other, "PATH=" + bin}); got != filepath.Join(bin, "tool") {
		t.Errorf("the last PATH should win, as getenv sees it: %q", got)
	}
	if _, err := LookPath("tool", nil); err == nil {
		t.Error("no PATH: should not be found")
	}
	if _, err := LookPath("", env); err == nil {
		t.Error("empty arg0 accepted")
	}
}

func TestHome(t *testing.T) {
	passwd := "# comment\nroot:x:0:0:root:/root:/bin/sh\nbad line\nuser:x:1000:1000::/home/user:/bin/sh\n"
	h, err := parsePasswdHome(strings.NewReader(passwd), 1000)
	if err != nil || h != "/home/user" {
		t.Errorf("parsePasswdHome(1000) = %q, %v", h, err)
	}
	if _, err := parsePasswdHome(strings.NewReader(passwd), 5); !errors.Is(err, errNoUser) {
		t.Errorf("missing user: %v", err)
	}
	f := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(f, []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := homeDir(f, 0); got != "/root" {
		t.Errorf("homeDir(0) = %q", got)
	}
	if got := homeDir(f, 42); got != "/" {
		t.Errorf("homeDir(unknown) = %q, want /", got)
	}
	env := []string{"A=1", "HOME=/x"}
	if got := EnvWithHome(env, 0); !reflect.DeepEqual(got, env) {
		t.Errorf("HOME present: %v", got)
	}
}
