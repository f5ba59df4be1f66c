package integration

import (
	"os"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// Non-tty create hands fds 0-2 to the container: the runtime and its plugins
// must not write a byte there, or the shim's stdio streams get corrupted.
func TestStdioOnlyContainerOutput(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	c := rt.Create(t, id, tu.Bundle(t, tu.Shell("echo to-stdout; echo to-stderr >&2")))
	if out, errOut := c.Stdout(), c.Stderr(); out != "" || errOut != "" {
		t.Errorf("create wrote to the container's stdio: stdout %q stderr %q", out, errOut)
	}
	rt.Start(t, id)
	rt.WaitStatus(t, id, specs.StateStopped)
	if out, errOut := c.Stdout(), c.Stderr(); out != "to-stdout\n" || errOut != "to-stderr\n" {
		t.Errorf("container stdio: stdout %q stderr %q, want exactly the container's lines", out, errOut)
	}
	rt.MustDelete(t, id, false)

	// Same for run, whose stdio is the container's for the whole call.
	id2 := tu.ID(t)
	res := rt.TryRun(t, id2, tu.Bundle(t, tu.Shell("echo to-stdout; echo to-stderr >&2")))
	if res.Exit != 0 || res.Stdout != "to-stdout\n" || res.Stderr != "to-stderr\n" {
		t.Errorf("run stdio: %s", res)
	}
	tu.CheckNoLeaks(t, snap, id, id2)
}

// fdsOf parses `ls /proc/self/fd`.
func fdsOf(out string) []string {
	l := tu.Lines(out)
	sort.Strings(l)
	return l
}

// The shim passes its socket as fd 3 (CVE-2024-21626 was a leaked fd). The
// container must see only 0-2 plus the fd ls opens to read /proc/self/fd.
func TestInheritedFdsNotLeaked(t *testing.T) {
	rt, snap := setup(t)
	extra := func() []*os.File {
		r, w, err := os.Pipe()
		must(t, err)
		d, err := os.Open("/sys/fs/cgroup")
		must(t, err)
		t.Cleanup(func() { r.Close(); w.Close(); d.Close() })
		return []*os.File{w, d}
	}
	want := "0 1 2 3"

	id := tu.ID(t)
	bundle := tu.Bundle(t, tu.Args("ls", "/proc/self/fd"))
	c, res := rt.TryCreate(t, id, bundle, tu.CreateOpts{ExtraFiles: extra()})
	if res.Exit != 0 {
		t.Fatalf("create: %s", res)
	}
	rt.Start(t, id)
	rt.WaitStatus(t, id, specs.StateStopped)
	if got := strings.Join(fdsOf(c.Stdout()), " "); got != want {
		t.Errorf("create+start: container fds %q, want %q", got, want)
	}
	rt.MustDelete(t, id, false)

	id2 := tu.ID(t)
	res = rt.Exec(t, tu.ExecOpts{
		Args:       []string{"run", "--bundle", tu.Bundle(t, tu.Args("ls", "/proc/self/fd")), id2},
		ExtraFiles: extra(),
	})
	if got := strings.Join(fdsOf(res.Stdout), " "); res.Exit != 0 || got != want {
		t.Errorf("run: container fds %q, want %q (%s)", got, want, res)
	}
	tu.CheckNoLeaks(t, snap, id, id2)
}
