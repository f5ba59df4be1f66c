package security

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

const (
	capNetBind = "0000000000000400" // CAP_NET_BIND_SERVICE (10)
	capNone    = "0000000000000000"
	defaultCap = "0000000020000420" // AUDIT_WRITE, KILL, NET_BIND_SERVICE
)

// capLines parses `grep ^Cap /proc/self/status`.
func capLines(out string) map[string]string {
	got := map[string]string{}
	for _, l := range tu.Lines(out) {
		k, v, ok := strings.Cut(l, ":")
		if ok {
			got[k] = strings.TrimSpace(v)
		}
	}
	return got
}

func wantCaps(t *testing.T, what, out string, want map[string]string) {
	t.Helper()
	got := capLines(out)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s = %q, want %s (all: %v)", what, k, got[k], w, got)
		}
	}
}

var statusArgs = []string{"grep", "^Cap", "/proc/self/status"}

// CVE-2022-29162: runc exec gave processes inheritable capabilities the
// spec never asked for, which an execve of a file with inheritable file caps
// then turned into effective ones. No capability may be inheritable or
// ambient unless the spec lists it, whatever the runtime's own caller held;
// what the spec does ask for must be applied exactly.
func TestCapabilitiesInheritableAmbient(t *testing.T) {
	t.Parallel()
	rt, snap := setup(t)
	withCaps := func(c *specs.LinuxCapabilities, user uint32) func(*specs.Spec) {
		return func(s *specs.Spec) {
			if c != nil {
				s.Process.Capabilities = c
			}
			s.Process.User = specs.User{UID: user, GID: user}
			s.Process.Args = statusArgs
		}
	}
	nb := []string{"CAP_NET_BIND_SERVICE"}
	for _, tc := range []struct {
		name string
		caps *specs.LinuxCapabilities
		user uint32
		want map[string]string
	}{
		{"default", nil, 0, map[string]string{"CapInh": capNone, "CapAmb": capNone, "CapEff": defaultCap}},
		{"inheritable-only", &specs.LinuxCapabilities{Bounding: nb, Effective: nb, Permitted: nb, Inheritable: nb}, 0,
			map[string]string{"CapInh": capNetBind, "CapAmb": capNone, "CapEff": capNetBind}},
		{"ambient", &specs.LinuxCapabilities{Bounding: nb, Effective: nb, Permitted: nb, Inheritable: nb, Ambient: nb}, 0,
			map[string]string{"CapInh": capNetBind, "CapAmb": capNetBind, "CapEff": capNetBind}},
		// A non-root process keeps capabilities across its execve only
		// through the ambient set.
		{"nonroot", &specs.LinuxCapabilities{Bounding: nb, Effective: nb, Permitted: nb}, 1000,
			map[string]string{"CapInh": capNone, "CapAmb": capNone, "CapEff": capNone, "CapPrm": capNone}},
		{"nonroot-ambient", &specs.LinuxCapabilities{Bounding: nb, Effective: nb, Permitted: nb, Inheritable: nb, Ambient: nb}, 1000,
			map[string]string{"CapInh": capNetBind, "CapAmb": capNetBind, "CapEff": capNetBind, "CapPrm": capNetBind}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := tu.ID(t)
			out := rt.RunOK(t, id, tu.Bundle(t, withCaps(tc.caps, tc.user)))
			wantCaps(t, "run", out, tc.want)
		})
	}

	// exec into a running container: with the container's process (the
	// CLI's way, plus --cap) and with a --process file that asks for nothing
	// inheritable; then one that asks for ambient.
	id := tu.ID(t)
	rt.Create(t, id, tu.Bundle(t, tu.Args("sleep", "600")))
	rt.Start(t, id)
	for _, tc := range []struct {
		name string
		args []string
		proc *specs.Process
		want map[string]string
	}{
		{"cli", append([]string{"exec", id}, statusArgs...), nil,
			map[string]string{"CapInh": capNone, "CapAmb": capNone, "CapEff": defaultCap}},
		{"cli-cap", append([]string{"exec", "--cap", "CAP_CHOWN", id}, statusArgs...), nil,
			map[string]string{"CapInh": capNone, "CapAmb": capNone, "CapEff": "0000000020000421"}},
		{"process", nil, &specs.Process{Args: statusArgs, Cwd: "/", Env: []string{"PATH=/bin"},
			Capabilities: &specs.LinuxCapabilities{Bounding: nb, Effective: nb, Permitted: nb}},
			map[string]string{"CapInh": capNone, "CapAmb": capNone, "CapEff": capNetBind}},
		{"process-ambient", nil, &specs.Process{Args: statusArgs, Cwd: "/", Env: []string{"PATH=/bin"}, User: specs.User{UID: 1000, GID: 1000},
			Capabilities: &specs.LinuxCapabilities{Bounding: nb, Effective: nb, Permitted: nb, Inheritable: nb, Ambient: nb}},
			map[string]string{"CapInh": capNetBind, "CapAmb": capNetBind, "CapEff": capNetBind}},
	} {
		t.Run("exec-"+tc.name, func(t *testing.T) {
			args := tc.args
			if tc.proc != nil {
				b, err := json.Marshal(tc.proc)
				must(t, err)
				p := filepath.Join(filepath.Dir(tu.RootfsOf(tu.Bundle(t, nil))), "process.json")
				must(t, os.WriteFile(p, b, 0o644))
				args = []string{"exec", "--process", p, id}
			}
			res := rt.Exec(t, tu.ExecOpts{Args: args})
			if res.Exit != 0 {
				t.Fatalf("exec: %s", res)
			}
			wantCaps(t, "exec", res.Stdout, tc.want)
		})
	}
	rt.Kill(t, id, "KILL")
	rt.WaitStatus(t, id, specs.StateStopped)
	rt.MustDelete(t, id, false)
	tu.CheckNoLeaks(t, snap, id)
}

// The runtime's caller may itself hold inheritable and ambient capabilities
// (a shim started under a capability-granting wrapper). None of them may
// reach a container whose spec does not ask for them, through create or
// exec.
func TestCallerCapabilitiesNotInherited(t *testing.T) {
	t.Parallel()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is needed to give the runtime inheritable and ambient capabilities")
	}
	flags := []string{"--inh-caps", "+net_raw,+sys_admin,+sys_ptrace", "--ambient-caps", "+net_raw,+sys_admin,+sys_ptrace"}
	// The wrapper does what it claims: a process under it holds them.
	probe, err := exec.Command(setpriv, append(flags, "--", "grep", "^CapAmb", "/proc/self/status")...).CombinedOutput()
	if err != nil || strings.Contains(string(probe), capNone) {
		t.Skipf("setpriv cannot raise ambient capabilities here: %v %s", err, probe)
	}
	rt, snap := setup(t)
	wrapper := filepath.Join(filepath.Dir(tu.RootfsOf(tu.Bundle(t, nil))), "rung-with-caps")
	must(t, os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+setpriv+" "+strings.Join(flags, " ")+" -- "+rt.Bin+" \"$@\"\n"), 0o755))
	rt.Bin = wrapper

	id := tu.ID(t)
	rt.Create(t, id, tu.Bundle(t, tu.Args("sleep", "600")))
	rt.Start(t, id)
	res := rt.Exec(t, tu.ExecOpts{Args: append([]string{"exec", id}, statusArgs...)})
	if res.Exit != 0 {
		t.Fatalf("exec: %s", res)
	}
	wantCaps(t, "exec from a caller with ambient caps", res.Stdout,
		map[string]string{"CapInh": capNone, "CapAmb": capNone, "CapEff": defaultCap, "CapBnd": defaultCap})
	res = rt.Exec(t, tu.ExecOpts{Args: []string{"exec", id, "cat", "/proc/1/status"}})
	wantCaps(t, "init from a caller with ambient caps", res.Stdout,
		map[string]string{"CapInh": capNone, "CapAmb": capNone, "CapEff": defaultCap, "CapBnd": defaultCap})
	rt.Kill(t, id, "KILL")
	rt.WaitStatus(t, id, specs.StateStopped)
	rt.MustDelete(t, id, false)

	id2 := tu.ID(t)
	out := rt.RunOK(t, id2, tu.Bundle(t, tu.Args(statusArgs...)))
	wantCaps(t, "run from a caller with ambient caps", out,
		map[string]string{"CapInh": capNone, "CapAmb": capNone, "CapEff": defaultCap})
	tu.CheckNoLeaks(t, snap, id, id2)
}
