package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// A created container's init is rung-init, installed next to rung: a
// small binary that links none of the runtime's gRPC and plugin code.
func TestCreatedContainersInitIsRungInit(t *testing.T) {
	tu.RequireRung(t, "rung-init")
	if _, err := os.Stat(filepath.Join(filepath.Dir(tu.RuntimeBin()), "rung-init")); err != nil {
		t.Skipf("no rung-init next to %s (run `make`)", tu.RuntimeBin())
	}
	rt, snap := setup(t)
	id := tu.ID(t)
	c := rt.Create(t, id, tu.Bundle(t, tu.Args("true")))
	exe, err := os.Readlink("/proc/" + strconv.Itoa(c.Pid(t)) + "/exe")
	if err != nil || filepath.Base(exe) != "rung-init" {
		t.Errorf("the created container's init runs %q (%v), want rung-init", exe, err)
	}
	rt.MustDelete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)
}

// A rung-init of another build is refused with an error that says so, and
// the failed create leaves nothing behind.
func TestRungInitOfAnotherBuildIsRefused(t *testing.T) {
	tu.RequireRung(t, "rung-init")
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain to build a mismatched rung-init")
	}
	rt, snap := setup(t)
	dir := filepath.Join(filepath.Dir(tu.RootfsOf(tu.Bundle(t, nil))), "install")
	must(t, os.Mkdir(dir, 0o755))
	for _, name := range append([]string{"rung"}, pluginNames(t)...) {
		src := filepath.Join(filepath.Dir(tu.RuntimeBin()), name)
		if err := os.Link(src, filepath.Join(dir, name)); err != nil {
			data, err := os.ReadFile(src)
			must(t, err)
			must(t, os.WriteFile(filepath.Join(dir, name), data, 0o755))
		}
	}
	build := exec.Command("go", "build", "-ldflags", "-X github.com/rung-runtime/rung/internal/version.Version=another-build",
		"-o", filepath.Join(dir, "rung-init"), "./cmd/host/init")
	build.Dir = tu.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build rung-init: %v\n%s", err, out)
	}
	other := *rt
	other.Bin = filepath.Join(dir, "rung")
	id := tu.ID(t)
	res := other.TryRun(t, id, tu.Bundle(t, tu.Args("true")))
	msg := expectFailure(t, res)
	if !strings.Contains(msg, `the init binary was built as "another-build/init-wire-`) || !strings.Contains(msg, "from one build") {
		t.Errorf("mismatched rung-init: %q", msg)
	}
	rt.Delete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)
}
