package compile

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/tests/testutil"
)

// mobyToOCI is the linux.seccomp moby makes of the profile at path for a
// container on this host with docker's default capabilities.
func mobyToOCI(t testing.TB, path string) *specs.LinuxSeccomp {
	t.Helper()
	s, err := testutil.MobyToOCI(path, HostSupport().Native)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
