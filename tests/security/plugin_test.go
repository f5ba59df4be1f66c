package security

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/internal/launcher"
	tu "github.com/rung-runtime/rung/tests/testutil"
)

// stageBinaries maps a stage to the plugin binary that serves it.
var stageBinaries = map[string]string{
	"namespaces": "rung-namespaces",
	"cgroups":    launcher.CgroupsBinary(),
	"seccomp":    "rung-seccomp",
	"lsm":        "rung-lsm",
}

// hostile points the runtime at a RUNG_PLUGIN_DIR holding the real plugins
// (hard links of those next to RUNG_BIN), with the one serving stage
// replaced by the hostile plugin in mode (stage "": none replaced, which
// still lets the leak checker see plugin processes, as their environment
// names the test's dir). It returns the plugin's HOSTILE_DIR (its pid file
// and call log).
func hostile(t *testing.T, rt *tu.Runtime, stage, mode string) string {
	t.Helper()
	tu.RequireRung(t, "stage plugins")
	bins := tu.PluginBins(t)
	if len(bins) == 0 {
		t.Skipf("no rung-* plugin binaries next to %s (run `make`)", tu.RuntimeBin())
	}
	base := filepath.Dir(tu.RootfsOf(tu.Bundle(t, nil)))
	dir := filepath.Join(base, "plugins")
	must(t, os.Mkdir(dir, 0o755))
	replace := stageBinaries[stage]
	found := false
	// Hard links, not copies where possible: a copy's write fd, inherited by
	// a child another test forks at that moment, makes the exec of the
	// plugin fail with ETXTBSY.
	for _, b := range bins {
		name := filepath.Base(b)
		dst := filepath.Join(dir, name)
		if name == replace {
			found = true
			b = helper(t, "hostileplugin")
		}
		if err := os.Link(b, dst); err != nil {
			copyFile(t, b, dst, 0o755)
		}
	}
	if !found && stage != "" {
		t.Skipf("plugin %s not built", replace)
	}
	hdir := filepath.Join(base, "hostile")
	must(t, os.Mkdir(hdir, 0o755))
	rt.Env = append(rt.Env, "RUNG_PLUGIN_DIR="+dir, "HOSTILE_STAGE="+stage, "HOSTILE_MODE="+mode, "HOSTILE_DIR="+hdir)
	return hdir
}

// Plugins are separate processes that may be buggy or compromised: every
// field of a plan must be bounded and checked by the host before anything
// acts on it (CVE-2021-43784 class). Each malformed plan costs the create a
// one-line error naming the stage, and nothing is left behind.
func TestHostilePlans(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		stage, mode string
		want        string // in the error, lower case
	}{
		{"seccomp", "huge-seccomp", "seccomp program"},
		{"seccomp", "ragged-seccomp", "seccomp program"},
		{"seccomp", "empty-seccomp", "seccomp program"},
		{"namespaces", "relative-ns", "namespace path"},
		{"seccomp", "nul-ns", "namespace path"},
		{"seccomp", "long-ns", "namespace path"},
		{"seccomp", "unknown-ns", "namespace type"},
		{"seccomp", "unspecified-ns", "namespace type"},
		{"seccomp", "many-joins", "join"},
		{"seccomp", "many-actions", "actions"},
		{"cgroups", "cgroup-dotdot", "cgroup path"},
		{"cgroups", "cgroup-relative", "cgroup path"},
		{"cgroups", "cgroup-not-cgroup", "cgroup"},
		{"cgroups", "cgroup-v1-not-cgroup", "not on a cgroup v1 filesystem"},
		{"cgroups", "cgroup-v1-symlink", "cgroup v1 directory"},
		{"seccomp", "empty-action", "action"},
		{"lsm", "procattr-newline", "proc attr"},
		{"lsm", "procattr-path", "proc attr"},
		{"lsm", "procattr-lsm", "lsm"},
		{"lsm", "procattr-huge", "proc attr"},
		{"lsm", "mountlabel-comma", "mount label"},
		{"namespaces", "timens-nanos", "nanoseconds"},
		{"lsm", "landlock-relative", "landlock"},
		{"lsm", "landlock-many", "landlock"},
		{"seccomp", "huge-state", ""},
		{"seccomp", "huge-attach-state", ""},
	} {
		t.Run(tc.stage+"/"+tc.mode, func(t *testing.T) {
			t.Parallel()
			rt, snap := setup(t)
			hostile(t, rt, tc.stage, tc.mode)
			id := tu.ID(t)
			c, res := rt.TryCreate(t, id, tu.Bundle(t, tu.Args("true")), tu.CreateOpts{})
			if res.Exit == 0 {
				// Go on: whether such a container can still be deleted
				// matters as much as the missing bound.
				t.Errorf("create accepted the plugin's answer (mode %s); it must be refused", tc.mode)
				if res := rt.Delete(t, id, true); res.Exit != 0 {
					t.Errorf("and the container it made cannot be deleted: %s", res)
				}
				tu.CheckNoLeaks(t, snap, id)
				return
			}
			msg := expectFailure(t, res)
			low := strings.ToLower(msg)
			if !strings.Contains(low, tc.stage) {
				t.Errorf("error %q should name the stage %s", msg, tc.stage)
			}
			if tc.want != "" && !strings.Contains(low, tc.want) {
				t.Errorf("error %q should say what is wrong (%q)", msg, tc.want)
			}
			if len(msg) > 16<<10 {
				t.Errorf("error is %d bytes long: a plugin's payload must not be echoed whole", len(msg))
			}
			if out, errOut := c.Stdout(), c.Stderr(); out != "" || errOut != "" {
				t.Errorf("the runtime wrote to the container's stdio: %q %q", out, errOut)
			}
			if _, res := rt.TryState(t, id); res.Exit == 0 {
				t.Errorf("state after a failed create should say the container does not exist: %s", res)
			}
			if res := rt.Delete(t, id, true); res.Exit != 0 {
				t.Errorf("delete --force after a failed create: %s", res)
			}
			tu.CheckNoLeaks(t, snap, id)
		})
	}
}

// A plugin that writes to its stdout and stderr in the middle of calls must
// not reach the container's stdio (which is containerd's stream), and its
// error text, however shaped, must stay one JSON log line.
func TestHostilePluginOutput(t *testing.T) {
	t.Parallel()
	for _, call := range []string{"validate", "prepare", "attach"} {
		t.Run("print-in-"+call, func(t *testing.T) {
			t.Parallel()
			rt, snap := setup(t)
			hostile(t, rt, "seccomp", "print-in-"+call)
			id := tu.ID(t)
			c := rt.Create(t, id, tu.Bundle(t, tu.Shell("echo container-output")))
			rt.Start(t, id)
			rt.WaitStatus(t, id, specs.StateStopped)
			if out, errOut := c.Stdout(), c.Stderr(); out != "container-output\n" || errOut != "" {
				t.Errorf("container stdio: stdout %q stderr %q, want only the container's line", out, errOut)
			}
			rt.MustDelete(t, id, false)
			tu.CheckNoLeaks(t, snap, id)
		})
	}
	t.Run("error-with-newlines", func(t *testing.T) {
		t.Parallel()
		rt, snap := setup(t)
		hostile(t, rt, "seccomp", "error-in-prepare")
		id := tu.ID(t)
		_, res := rt.TryCreate(t, id, tu.Bundle(t, nil), tu.CreateOpts{})
		expectFailure(t, res)
		for _, e := range res.Log {
			if e.Msg == "INJECTED-LOG-LINE" {
				t.Errorf("a plugin's error text forged a log line: %q", e.Raw)
			}
		}
		if res := rt.Delete(t, id, true); res.Exit != 0 {
			t.Errorf("delete --force: %s", res)
		}
		tu.CheckNoLeaks(t, snap, id)
	})
}

// Invariant 2 and runc#4534: a plugin killed in the middle of any call costs
// the create a clear error naming it; `state` then either reports the
// container or says it does not exist, and `delete --force` leaves no
// process, mount, cgroup or state. Each stage is played in turn by the
// hostile plugin while the other three are the real ones, so the cgroup and
// namespaces the real plugins made must be cleaned up too.
func TestPluginKilledMidCall(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"namespaces", "cgroups", "seccomp", "lsm"} {
		for _, mode := range []string{"die-in-describe", "die-in-validate", "die-in-prepare", "die-in-attach"} {
			t.Run(stage+"/"+mode, func(t *testing.T) {
				t.Parallel()
				rt, snap := setup(t)
				hostile(t, rt, stage, mode)
				id := tu.ID(t)
				_, res := rt.TryCreate(t, id, tu.Bundle(t, nil), tu.CreateOpts{})
				msg := expectFailure(t, res)
				if !strings.Contains(msg, stage) {
					t.Errorf("error %q should name the stage %s", msg, stage)
				}
				st, sres := rt.TryState(t, id)
				t.Logf("state after: exit %d, status %q, %s", sres.Exit, st.Status, strings.Join(sres.Errors(), "; "))
				if res := rt.Delete(t, id, true); res.Exit != 0 {
					t.Errorf("delete --force: %s", res)
				}
				tu.CheckNoLeaks(t, snap, id)
			})
		}
	}
	for _, mode := range []string{"exit-in-prepare", "panic-in-prepare", "exit-in-attach", "panic-in-attach"} {
		t.Run("seccomp/"+mode, func(t *testing.T) {
			t.Parallel()
			rt, snap := setup(t)
			hostile(t, rt, "seccomp", mode)
			id := tu.ID(t)
			_, res := rt.TryCreate(t, id, tu.Bundle(t, nil), tu.CreateOpts{})
			if msg := expectFailure(t, res); !strings.Contains(msg, "seccomp") {
				t.Errorf("error %q should name the stage", msg)
			}
			if res := rt.Delete(t, id, true); res.Exit != 0 {
				t.Errorf("delete --force: %s", res)
			}
			tu.CheckNoLeaks(t, snap, id)
		})
	}
}

// A plugin that dies in Destroy: the first `delete --force` may fail (it
// cannot know the stage cleaned up), but must say so, keep the container
// deletable, and a second `delete --force` must leave nothing.
func TestPluginKilledInDestroy(t *testing.T) {
	t.Parallel()
	rt, snap := setup(t)
	hdir := hostile(t, rt, "seccomp", "dieonce-in-destroy")
	id := tu.ID(t)
	rt.Create(t, id, tu.Bundle(t, tu.Args("sleep", "600")))
	res := rt.Delete(t, id, true)
	if res.Exit != 0 {
		t.Logf("first delete --force refused: %s", strings.Join(res.Errors(), "; "))
		if st := rt.State(t, id); st.ID != id {
			t.Errorf("after the failed delete the container must still be reported: %+v", st)
		}
		if res := rt.Delete(t, id, true); res.Exit != 0 {
			t.Errorf("second delete --force: %s", res)
		}
	}
	calls, _ := os.ReadFile(filepath.Join(hdir, "calls"))
	if !strings.Contains(string(calls), "destroy") {
		t.Errorf("the stage's Destroy was never called (calls: %q)", calls)
	}
	tu.CheckNoLeaks(t, snap, id)
}

// A plugin that hangs in Prepare or Attach is cut off at its deadline (the
// handshake hang is tests/integration's TestPluginHangs), and one that the
// host's operator kills mid-call costs the create a prompt error: here the
// test SIGKILLs the hostile plugin (its own child's child, found by the pid
// file it writes) while it hangs in Prepare.
func TestPluginHangsMidCall(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: waits for rung's per-call plugin deadline")
	}
	for _, mode := range []string{"hang-in-prepare", "hang-in-attach"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			rt, snap := setup(t)
			hostile(t, rt, "seccomp", mode)
			id := tu.ID(t)
			_, res := rt.TryCreate(t, id, tu.Bundle(t, nil), tu.CreateOpts{})
			if msg := expectFailure(t, res); !strings.Contains(msg, "seccomp") || !strings.Contains(msg, "no answer") {
				t.Errorf("error %q should name the stage and the deadline", msg)
			}
			if res := rt.Delete(t, id, true); res.Exit != 0 {
				t.Errorf("delete --force: %s", res)
			}
			tu.CheckNoLeaks(t, snap, id)
		})
	}
	t.Run("killed-while-hanging", func(t *testing.T) {
		t.Parallel()
		rt, snap := setup(t)
		hdir := hostile(t, rt, "seccomp", "hang-in-prepare")
		id := tu.ID(t)
		bundle := tu.Bundle(t, nil)
		var wg sync.WaitGroup
		var res tu.Result
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, res = rt.TryCreate(t, id, bundle, tu.CreateOpts{})
		}()
		var pid int
		ok := tu.Poll(func() bool {
			calls, _ := os.ReadFile(filepath.Join(hdir, "calls"))
			b, _ := os.ReadFile(filepath.Join(hdir, "pid"))
			pid, _ = strconv.Atoi(string(b))
			return pid > 0 && strings.Contains(string(calls), "prepare")
		})
		if ok {
			// Only the plugin this test launched: its cmdline is the copy in
			// this test's own plugin dir.
			cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			if strings.Contains(string(cmdline), filepath.Dir(hdir)) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			} else {
				t.Errorf("pid %d is not this test's plugin (%q)", pid, cmdline)
			}
		} else {
			t.Errorf("the plugin never reached Prepare")
		}
		wg.Wait()
		if msg := expectFailure(t, res); !strings.Contains(msg, "seccomp") {
			t.Errorf("error %q should name the stage", msg)
		}
		if res := rt.Delete(t, id, true); res.Exit != 0 {
			t.Errorf("delete --force: %s", res)
		}
		tu.CheckNoLeaks(t, snap, id)
	})
}
