package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

func TestLifecycle(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	bundle := tu.Bundle(t, tu.Shell("echo hello-from-container; exec sleep 600"))

	c := rt.Create(t, id, bundle)
	pid := c.Pid(t) // fails unless decimal with no newline
	st := rt.State(t, id)
	if st.Status != specs.StateCreated {
		t.Errorf("after create: status %q, want created", st.Status)
	}
	if st.ID != id || st.Pid != pid || st.Version == "" {
		t.Errorf("state %+v: want id %s, pid %d (the pid file) and an ociVersion", st, id, pid)
	}
	if abs, _ := filepath.Abs(bundle); st.Bundle != abs {
		t.Errorf("state bundle %q, want %q", st.Bundle, abs)
	}
	if nsOf(t, strconv.Itoa(pid), "pid") == nsOf(t, "self", "pid") {
		t.Errorf("init %d is in the host's pid namespace", pid)
	}
	// The init must be waiting before exec: the user's program has not run.
	if out := c.Stdout(); out != "" {
		t.Errorf("container printed %q before start", out)
	}

	rt.Start(t, id)
	c.WaitOutput(t, "hello-from-container")
	if st := rt.State(t, id); st.Status != specs.StateRunning || st.Pid != pid {
		t.Errorf("after start: status %q pid %d, want running pid %d", st.Status, st.Pid, pid)
	}

	// Numeric, as containerd sends it. pid 1 of a pid namespace ignores
	// TERM without a handler, so KILL.
	rt.Kill(t, id, "9")
	rt.WaitStatus(t, id, specs.StateStopped)
	rt.MustDelete(t, id, false)
	if _, res := rt.TryState(t, id); res.Exit == 0 {
		t.Errorf("state of a deleted container succeeded: %s", res)
	}
	tu.CheckNoLeaks(t, snap, id)
}

func TestRunExitCodes(t *testing.T) {
	rt, snap := setup(t)
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"true", []string{"true"}, 0},
		{"false", []string{"false"}, 1},
		{"exit3", []string{"sh", "-c", "exit 3"}, 3},
	} {
		id := tu.ID(t) + "-" + tc.name
		bundle := tu.Bundle(t, tu.Args(tc.args...))
		if _, stderr, code := rt.RunContainer(t, id, bundle); code != tc.want {
			t.Errorf("run %q: exit %d, want %d (stderr %q)", tc.args, code, tc.want, stderr)
		}
	}
	tu.CheckNoLeaks(t, snap)
}

func TestDeleteForceRunning(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	bundle := tu.Bundle(t, tu.Shell("echo up; exec sleep 600"))
	c := rt.Create(t, id, bundle)
	rt.Start(t, id)
	c.WaitOutput(t, "up")
	rt.MustDelete(t, id, true)
	if _, res := rt.TryState(t, id); res.Exit == 0 {
		t.Errorf("state after delete --force succeeded: %s", res)
	}
	tu.CheckNoLeaks(t, snap, id)
}

func TestDeleteForceCreated(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	rt.Create(t, id, tu.Bundle(t, tu.Args("true")))
	rt.MustDelete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)
}

// containerd calls `delete --force` after any failed create, including one
// that never got as far as recording the container.
func TestDeleteForceNeverExisted(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	res := rt.Delete(t, id, true)
	if res.Exit != 0 {
		t.Errorf("delete --force of unknown id: %s", res)
	}
	if _, err := os.Lstat(filepath.Join(rt.Root, id)); err == nil {
		t.Errorf("delete --force created state dir %s", filepath.Join(rt.Root, id))
	}
	// Plain delete of an unknown id is an error.
	expectFailure(t, rt.Delete(t, id, false))
	tu.CheckNoLeaks(t, snap, id)
}
