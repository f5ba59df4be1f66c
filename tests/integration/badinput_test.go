package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// Each bad input must be refused by create with a non-zero exit and one JSON
// error line in --log, and must leave nothing behind, without needing the
// `delete --force` containerd would send afterwards.
func TestBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// bundle returns the bundle to create from.
		bundle func(t *testing.T) string
		// want, if set, must appear in the error message (case-insensitive).
		want string
		// runcAccepts is why runc 1.1.5 runs the container anyway; the case
		// is then skipped for runc.
		runcAccepts string
		// orStart allows the error to come from start instead (a runtime may
		// look the program up only when it is about to exec it).
		orStart bool
	}{
		{name: "missing-bundle", bundle: func(t *testing.T) string {
			return filepath.Join(tu.Bundle(t, nil), "does-not-exist")
		}},
		{name: "malformed-config", bundle: func(t *testing.T) string {
			b := tu.Bundle(t, nil)
			must(t, os.WriteFile(filepath.Join(b, "config.json"), []byte(`{"ociVersion": "1.3.0", "process": {`), 0o644))
			return b
		}},
		{name: "missing-config", bundle: func(t *testing.T) string {
			b := tu.Bundle(t, nil)
			must(t, os.Remove(filepath.Join(b, "config.json")))
			return b
		}},
		{name: "unknown-namespace", want: "bogus", bundle: func(t *testing.T) string {
			return tu.Bundle(t, func(s *specs.Spec) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
			})
		}},
		{name: "bad-seccomp-action", want: "SCMP_ACT_BOGUS", bundle: func(t *testing.T) string {
			return tu.Bundle(t, func(s *specs.Spec) {
				s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_BOGUS", Architectures: seccompArches()}
			})
		}},
		{name: "bad-seccomp-rule-action", want: "SCMP_ACT_BOGUS", bundle: func(t *testing.T) string {
			return tu.Bundle(t, func(s *specs.Spec) {
				s.Linux.Seccomp = &specs.LinuxSeccomp{
					DefaultAction: specs.ActAllow, Architectures: seccompArches(),
					Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: "SCMP_ACT_BOGUS"}},
				}
			})
		}},
		{name: "unknown-capability", want: "CAP_BOGUS",
			runcAccepts: "runc 1.1 drops unknown capabilities with a warning instead of failing",
			bundle: func(t *testing.T) string {
				return tu.Bundle(t, func(s *specs.Spec) {
					c := s.Process.Capabilities
					c.Bounding = append(c.Bounding, "CAP_BOGUS")
					c.Effective = append(c.Effective, "CAP_BOGUS")
					c.Permitted = append(c.Permitted, "CAP_BOGUS")
				})
			}},
		{name: "relative-rootfs-missing", bundle: func(t *testing.T) string {
			return tu.Bundle(t, func(s *specs.Spec) { s.Root.Path = "no-such-rootfs" })
		}},
		{name: "missing-process-binary", want: "no-such-binary", orStart: true, bundle: func(t *testing.T) string {
			return tu.Bundle(t, tu.Args("/bin/no-such-binary"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, snap := setup(t)
			id := tu.ID(t)
			bundle := tc.bundle(t)
			_, res := rt.TryCreate(t, id, bundle, tu.CreateOpts{})
			if rt.IsRunc() && tc.runcAccepts != "" && res.Exit == 0 {
				rt.MustDelete(t, id, true)
				tu.CheckNoLeaks(t, snap, id)
				t.Skipf("runc: %s", tc.runcAccepts)
			}
			if tc.orStart && res.Exit == 0 {
				t.Logf("create succeeded; the error must come from start")
				res = rt.Exec(t, tu.ExecOpts{Args: []string{"start", id}})
				msg := expectFailure(t, res)
				if !strings.Contains(msg, tc.want) {
					t.Errorf("error %q should name %q", msg, tc.want)
				}
				rt.MustDelete(t, id, true)
				tu.CheckNoLeaks(t, snap, id)
				return
			}
			msg := expectFailure(t, res)
			if tc.want != "" && !strings.Contains(strings.ToLower(msg), strings.ToLower(tc.want)) {
				t.Errorf("error %q should name %q", msg, tc.want)
			}
			tu.CheckNoLeaks(t, snap, id)
			// What containerd does next must work on what is (not) there.
			if res := rt.Delete(t, id, true); res.Exit != 0 {
				t.Errorf("delete --force after failed create: %s", res)
			}
			tu.CheckNoLeaks(t, snap, id)
		})
	}
}

func TestDuplicateID(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	c := rt.Create(t, id, tu.Bundle(t, tu.Args("sleep", "600")))
	pid := c.Pid(t)
	_, res := rt.TryCreate(t, id, tu.Bundle(t, tu.Args("true")), tu.CreateOpts{})
	expectFailure(t, res)
	// The refused create must not have touched the existing container.
	if st := rt.State(t, id); st.Status != specs.StateCreated || st.Pid != pid {
		t.Errorf("existing container after duplicate create: %+v, want created pid %d", st, pid)
	}
	rt.MustDelete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)
}

func TestUnknownContainer(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	for _, args := range [][]string{{"state", id}, {"start", id}, {"kill", id, "9"}} {
		expectFailure(t, rt.Exec(t, tu.ExecOpts{Args: args}))
	}
	tu.CheckNoLeaks(t, snap, id)
}

func TestInvalidContainerID(t *testing.T) {
	rt, snap := setup(t)
	for _, id := range []string{"../escape", "a/b", ""} {
		_, res := rt.TryCreate(t, id, tu.Bundle(t, tu.Args("true")), tu.CreateOpts{})
		expectFailure(t, res)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(rt.Root), "escape")); err == nil {
		t.Errorf("id ../escape made a state dir outside --root")
	}
	tu.CheckNoLeaks(t, snap)
}
