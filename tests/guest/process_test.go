package guest

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// The container's RLIMIT_NOFILE holds even with CAP_SYS_RESOURCE kept (the
// host here lacks it in its bounding set, so this runs in the guest): the
// Go runtime of rung's init raised its own soft limit at start-up, and
// syscall.Exec would put its saved original back at execve, which with
// CAP_SYS_RESOURCE raises the hard limit again (runtime-tools'
// process_capabilities found it).
func TestRlimitsWithAllCapabilities(t *testing.T) {
	requireGuest(t)
	rt, snap := setup(t)
	id := tu.ID(t)
	out := rt.RunOK(t, id, tu.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "grep 'Max open files' /proc/self/limits"}
		caps := append(s.Process.Capabilities.Bounding, "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN")
		s.Process.Capabilities.Bounding, s.Process.Capabilities.Effective, s.Process.Capabilities.Permitted = caps, caps, caps
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1000, Hard: 1000}}
	}))
	if f := strings.Fields(out); len(f) < 5 || f[3] != "1000" || f[4] != "1000" {
		t.Errorf("RLIMIT_NOFILE 1000/1000 with CAP_SYS_RESOURCE: the container has %q", strings.TrimSpace(out))
	}
	tu.CheckNoLeaks(t, snap, id)
}
