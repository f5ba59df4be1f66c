package security

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// CVE-2021-43784 class, end to end: inputs that would make the host→init
// messages huge are bounded with a clear error, before any process or
// resource exists (the unit-level bounds are fuzzed in internal/nsexec and
// internal/initproc).
func TestOversizedInputs(t *testing.T) {
	tu.RequireRung(t, "rung's message bounds")
	t.Parallel()
	big := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, bundle string)
		want   string
	}{
		// Past the 16 MiB config.json bound.
		{"config-17MiB", func(t *testing.T, bundle string) {
			s := tu.ReadSpec(t, bundle)
			b, err := json.Marshal(s)
			must(t, err)
			pad := bytes.Repeat([]byte(" "), 17<<20)
			must(t, os.WriteFile(filepath.Join(bundle, "config.json"), append(b, pad...), 0o644))
		}, "larger than"},
		// Within it, but the spec alone is past the 8 MiB init frame.
		{"env-10MiB", func(t *testing.T, bundle string) {
			s := tu.ReadSpec(t, bundle)
			for i := 0; i < 10; i++ {
				s.Process.Env = append(s.Process.Env, "BIG"+string(rune('a'+i))+"="+big)
			}
			tu.WriteSpec(t, bundle, s)
		}, ""},
		{"mounts-100k", func(t *testing.T, bundle string) {
			s := tu.ReadSpec(t, bundle)
			for i := 0; i < 100000; i++ {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp/m", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1k"}})
			}
			tu.WriteSpec(t, bundle, s)
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rt, snap := setup(t)
			id := tu.ID(t)
			bundle := tu.Bundle(t, tu.Args("true"))
			tc.mutate(t, bundle)
			c, res := rt.TryCreate(t, id, bundle, tu.CreateOpts{})
			msg := expectFailure(t, res)
			if tc.want != "" && !strings.Contains(msg, tc.want) {
				t.Errorf("error %q should say %q", msg, tc.want)
			}
			if len(msg) > 16<<10 {
				t.Errorf("error of %d bytes echoes the input", len(msg))
			}
			if out := c.Stdout() + c.Stderr(); out != "" {
				t.Errorf("the runtime wrote to the container's stdio: %.200q", out)
			}
			if res := rt.Delete(t, id, true); res.Exit != 0 {
				t.Errorf("delete --force: %s", res)
			}
			tu.CheckNoLeaks(t, snap, id)
		})
	}
	t.Run("exec-process-17MiB", func(t *testing.T) {
		t.Parallel()
		rt, snap := setup(t)
		id := tu.ID(t)
		rt.Create(t, id, tu.Bundle(t, tu.Args("sleep", "600")))
		p := filepath.Join(filepath.Dir(tu.RootfsOf(tu.Bundle(t, nil))), "process.json")
		b, err := json.Marshal(&specs.Process{Args: []string{"true"}, Cwd: "/", Env: []string{"X=" + strings.Repeat("y", 17<<20)}})
		must(t, err)
		must(t, os.WriteFile(p, b, 0o644))
		res := rt.Exec(t, tu.ExecOpts{Args: []string{"exec", "--process", p, id}})
		if msg := expectFailure(t, res); !strings.Contains(msg, "larger than") {
			t.Errorf("error %q should say the process file is too large", msg)
		}
		rt.MustDelete(t, id, true)
		tu.CheckNoLeaks(t, snap, id)
	})
}
