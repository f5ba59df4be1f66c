package integration

import (
	"slices"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// keptStages are the stages whose plugin a kept answer stood in for
// during the call that logged res.
func keptStages(res tu.Result) []string {
	var out []string
	for _, e := range res.Log {
		if e.Msg != "plugin kept answer" {
			continue
		}
		if _, rest, ok := strings.Cut(e.Raw, `"stage":"`); ok {
			stage, _, _ := strings.Cut(rest, `"`)
			out = append(out, stage)
		}
	}
	sort.Strings(out)
	return out
}

// The pure stages' answers are kept: a later container with the same
// values at their inputs is made without their plugins, and is held to
// what those answers say, proven from inside it (the seccomp filter, the
// UTS namespace with the container's own hostname). A container with
// another profile gets its own filter from a launched plugin.
func TestKeptAnswersServeLaterContainers(t *testing.T) {
	tu.RequireRung(t, "kept plugin answers")
	rt, snap := setup(t)
	tu.ForgetKeptAnswers(t)
	// The test's own plugin dir: kept answers are keyed by the binary's
	// path, so none from another test or command can be used here.
	rt.Env = append(rt.Env, pluginDir(t, "", ""), "RUNG_PLUGIN_POOL=off", "RUNG_DEBUG=1")
	errno := func(n uint) *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &n}}}
	}
	cases := []struct {
		hostname string
		profile  *specs.LinuxSeccomp
		kept     []string
		denied   string
	}{
		{"first", errno(38), nil, "Function not implemented"},
		{"second", errno(38), []string{"lsm", "namespaces", "seccomp"}, "Function not implemented"},
		{"third", errno(1), []string{"lsm", "namespaces"}, "Operation not permitted"},
	}
	var ids []string
	for _, c := range cases {
		id := tu.ID(t)
		ids = append(ids, id)
		bundle := tu.Bundle(t, func(s *specs.Spec) {
			seccompBundleSpec(s, "mkdir /tmp/x; hostname", c.profile)
			s.Hostname = c.hostname
		})
		res := rt.TryRun(t, id, bundle)
		if res.Exit != 0 || !strings.Contains(res.Stderr, c.denied) {
			t.Errorf("%s: mkdir under ERRNO: want %q: %s", c.hostname, c.denied, res)
		}
		if strings.TrimSpace(res.Stdout) != c.hostname {
			t.Errorf("%s: hostname inside: %q", c.hostname, res.Stdout)
		}
		if got := keptStages(res); !slices.Equal(got, c.kept) {
			t.Errorf("%s: kept answers stood in for %v, want %v", c.hostname, got, c.kept)
		}
	}
	tu.CheckNoLeaks(t, snap, ids...)
}
