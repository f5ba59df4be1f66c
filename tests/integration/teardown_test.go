package integration

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// destroyCalled says whether a --debug call logged a Destroy to a plugin.
func destroyCalled(res tu.Result) bool {
	for _, e := range res.Log {
		if e.Msg == "plugin call" && strings.Contains(e.Raw, `"call":"destroy"`) {
			return true
		}
	}
	return false
}

// The cgroups stage's Prepare describes its Destroy as rmdirs: a delete
// of a stopped container does them in the host and launches no plugin,
// and leaves no cgroup.
func TestDeleteTearsDownWithoutThePlugin(t *testing.T) {
	rt, snap := setup(t)
	if rt.IsRunc() {
		t.Skip("rung's teardown: runc has no plugins")
	}
	id := tu.ID(t)
	rt.Create(t, id, tu.Bundle(t, tu.Args("true")))
	rt.Start(t, id)
	rt.WaitStatus(t, id, specs.StateStopped)
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"--debug", "delete", id}})
	if res.Exit != 0 {
		t.Fatalf("delete: %s", res)
	}
	if destroyCalled(res) {
		t.Errorf("delete of a stopped container called a plugin's Destroy:\n%v", res.Log)
	}
	tu.CheckNoLeaks(t, snap, id)
}

// Without a pid namespace, killing the init leaves its children in the
// container's cgroup: the host's rmdir fails, and the cgroups plugin's
// Destroy must then kill them and remove the cgroup.
func TestDeleteFallsBackToDestroyForABusyCgroup(t *testing.T) {
	rt, snap := setup(t)
	if rt.IsRunc() {
		t.Skip("rung's teardown: runc has no plugins")
	}
	id := tu.ID(t)
	bundle := tu.Bundle(t, func(s *specs.Spec) {
		tu.Shell("sleep 600 & echo up; exec sleep 600")(s)
		var keep []specs.LinuxNamespace
		for _, ns := range s.Linux.Namespaces {
			if ns.Type != specs.PIDNamespace {
				keep = append(keep, ns)
			}
		}
		s.Linux.Namespaces = keep
	})
	c := rt.Create(t, id, bundle)
	rt.Start(t, id)
	c.WaitOutput(t, "up")
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"--debug", "delete", "--force", id}})
	if res.Exit != 0 {
		t.Fatalf("delete --force: %s", res)
	}
	if !destroyCalled(res) {
		t.Errorf("delete left the cgroup's other process to no one: no Destroy call in\n%v", res.Log)
	}
	tu.CheckNoLeaks(t, snap, id)
}
