package security

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// createSteps are the names `rung create` passes to its step recorder
// (internal/lifecycle: creation.step), in order. RUNG_TEST_DIE_AT=<step>
// makes create SIGKILL itself right after that step is recorded (and its
// state saved, for the steps that save).
var createSteps = []string{"prepare", "prepared", "spawn", "spawned", "attach", "attached", "forked", "created"}

// Invariant 4 and runc#4534: a `create` killed at any instant leaves a
// container that `state` reports and `delete --force` removes completely
// (processes, mounts, cgroups, state dir). Every step is saved before the
// state dir can be missing, so `state` must find the container at each of
// them; only a create killed before it reserved the id (there is no step
// there) leaves nothing to report.
func TestCreateKilledAtEachStep(t *testing.T) {
	tu.RequireRung(t, "RUNG_TEST_DIE_AT")
	t.Parallel()
	for _, step := range createSteps {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			rt, snap := setup(t)
			hostile(t, rt, "", "")
			id := tu.ID(t)
			// The default cgroup path carries the id, which is what the leak
			// check looks for.
			bundle := tu.Bundle(t, tu.Args("sleep", "600"))
			_, res := rt.TryCreate(t, id, bundle, tu.CreateOpts{Env: []string{"RUNG_TEST_DIE_AT=" + step}})
			if res.TimedOut {
				t.Fatalf("create hung: %s", res)
			}
			if res.Exit != 128+9 {
				t.Fatalf("create did not die at step %q (exit %d): is RUNG_TEST_DIE_AT supported?\n%s", step, res.Exit, res)
			}
			st, sres := rt.TryState(t, id)
			if sres.Exit != 0 {
				t.Errorf("state after create died at %q: %s", step, sres)
			} else {
				t.Logf("state after dying at %q: status %q pid %d", step, st.Status, st.Pid)
				if st.ID != id {
					t.Errorf("state reports id %q, want %q", st.ID, id)
				}
				switch {
				case step == "created" && st.Status != specs.StateCreated:
					t.Errorf("killed after the last step: status %q, want created", st.Status)
				case step != "created" && st.Status != specs.StateCreating && st.Status != specs.StateStopped:
					t.Errorf("killed mid-create: status %q, want creating or stopped", st.Status)
				}
			}
			// A plain delete must not pretend a half-made container is gone
			// unless it really is stopped; --force must always work.
			if res := rt.Delete(t, id, true); res.Exit != 0 {
				t.Errorf("delete --force after create died at %q: %s", step, res)
			}
			if _, res := rt.TryState(t, id); res.Exit == 0 {
				t.Errorf("state still finds the container after delete --force")
			} else if msg := strings.Join(res.Errors(), " "); !strings.Contains(msg, "does not exist") {
				t.Errorf("state after delete --force: %q, want \"does not exist\"", msg)
			}
			tu.CheckNoLeaks(t, snap, id)
		})
	}
}

// The same, with a user namespace (the id maps are written by a plugin's
// Attach) and a container that joins nothing: the steps between spawn and
// forked hold the most state outside the runtime.
func TestCreateKilledAtEachStepUserns(t *testing.T) {
	tu.RequireRung(t, "RUNG_TEST_DIE_AT")
	t.Parallel()
	for _, step := range []string{"spawned", "attach", "attached", "forked"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			rt, snap := setup(t)
			hostile(t, rt, "", "")
			id := tu.ID(t)
			const host, size = 200000, 65536
			bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
				s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: host, Size: size}}
				s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: host, Size: size}}
				tu.ChownTree(t, rootfs, host, host)
				s.Process.Args = []string{"sleep", "600"}
			})
			_, res := rt.TryCreate(t, id, bundle, tu.CreateOpts{Env: []string{"RUNG_TEST_DIE_AT=" + step}})
			if res.Exit != 128+9 {
				t.Fatalf("create did not die at step %q (exit %d):\n%s", step, res.Exit, res)
			}
			if _, sres := rt.TryState(t, id); sres.Exit != 0 {
				t.Errorf("state after create died at %q: %s", step, sres)
			}
			if res := rt.Delete(t, id, true); res.Exit != 0 {
				t.Errorf("delete --force after create died at %q: %s", step, res)
			}
			tu.CheckNoLeaks(t, snap, id)
		})
	}
}
