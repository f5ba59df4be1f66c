package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// pluginDir makes a RUNG_PLUGIN_DIR holding the built rung-* plugins, with
// the one named broken replaced by script (or left out when script is "").
// It returns the env entry to give the runtime.
func pluginDir(t *testing.T, broken, script string) string {
	t.Helper()
	bins := tu.PluginBins(t)
	if len(bins) == 0 {
		t.Skipf("no rung-* plugin binaries next to %s (run `make`)", tu.RuntimeBin())
	}
	dir := filepath.Join(filepath.Dir(tu.RootfsOf(tu.Bundle(t, nil))), "plugins")
	must(t, os.Mkdir(dir, 0o755))
	found := broken == ""
	for _, b := range bins {
		name := filepath.Base(b)
		dst := filepath.Join(dir, name)
		if name == broken {
			found = true
			if script != "" {
				must(t, os.WriteFile(dst, []byte(script), 0o755))
			}
			continue
		}
		// Copies, not symlinks: rung may refuse plugins reached through
		// links or from paths it does not trust.
		if err := os.Link(b, dst); err != nil {
			data, err := os.ReadFile(b)
			must(t, err)
			must(t, os.WriteFile(dst, data, 0o755))
		}
	}
	if !found {
		t.Skipf("plugin %s not built", broken)
	}
	return "RUNG_PLUGIN_DIR=" + dir
}

func pluginNames(t *testing.T) []string {
	var out []string
	for _, b := range tu.PluginBins(t) {
		out = append(out, filepath.Base(b))
	}
	if len(out) == 0 {
		t.Skipf("no rung-* plugin binaries next to %s (run `make`)", tu.RuntimeBin())
	}
	return out
}

// The control for the failure tests below: a RUNG_PLUGIN_DIR of the real
// plugins runs containers.
func TestPluginDirWorks(t *testing.T) {
	tu.RequireRung(t, "RUNG_PLUGIN_DIR")
	rt, snap := setup(t)
	rt.Env = append(rt.Env, pluginDir(t, "", ""))
	id := tu.ID(t)
	if out := rt.RunOK(t, id, tu.Bundle(t, tu.Shell("echo plugins-ok"))); out != "plugins-ok\n" {
		t.Errorf("output %q", out)
	}
	tu.CheckNoLeaks(t, snap, id)
}

// A plugin that is missing, dies at once, or answers the go-plugin
// handshake with nonsense costs the create a clear error naming it; nothing
// is left that delete --force cannot remove, plugin processes included (they
// inherit RUNG_PLUGIN_DIR, which names this test's temp dir, so the leak
// checker sees them).
func TestPluginFailures(t *testing.T) {
	tu.RequireRung(t, "plugins")
	t.Parallel()
	kinds := []struct{ name, script string }{
		{"missing", ""},
		{"exits-1", "#!/bin/sh\necho 'plugin crashing' >&2\nexit 1\n"},
		{"bad-handshake", "#!/bin/sh\necho 'this is not a go-plugin handshake'\nexec sleep 600\n"},
	}
	for _, plugin := range pluginNames(t) {
		for _, k := range kinds {
			t.Run(plugin+"/"+k.name, func(t *testing.T) {
				rt, snap := setup(t)
				rt.Env = append(rt.Env, pluginDir(t, plugin, k.script))
				id := tu.ID(t)
				_, res := rt.TryCreate(t, id, tu.Bundle(t, nil), tu.CreateOpts{})
				msg := expectFailure(t, res)
				stage := strings.TrimPrefix(plugin, "rung-")
				if !strings.Contains(msg, stage) {
					t.Errorf("error %q should name the plugin %s", msg, stage)
				}
				if res := rt.Delete(t, id, true); res.Exit != 0 {
					t.Errorf("delete --force after plugin failure: %s", res)
				}
				tu.CheckNoLeaks(t, snap, id)
			})
		}
	}
}

// A plugin that never answers must cost a deadline, not a hung create. This
// waits for rung's plugin deadline, so -short skips it.
func TestPluginHangs(t *testing.T) {
	tu.RequireRung(t, "plugins")
	if testing.Short() {
		t.Skip("-short: waits for rung's plugin deadline")
	}
	rt, snap := setup(t)
	rt.Timeout = 3 * time.Minute
	plugin := pluginNames(t)[0]
	rt.Env = append(rt.Env, pluginDir(t, plugin, "#!/bin/sh\nexec sleep 600\n"))
	id := tu.ID(t)
	_, res := rt.TryCreate(t, id, tu.Bundle(t, nil), tu.CreateOpts{})
	expectFailure(t, res)
	if res := rt.Delete(t, id, true); res.Exit != 0 {
		t.Errorf("delete --force after plugin hang: %s", res)
	}
	tu.CheckNoLeaks(t, snap, id)
}
