package security

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// A kept Prepare answer stands for every spec with the same bytes at the
// plugin's inputs, but the plugin reads the spec through encoding/json,
// which takes "Hostname" for "hostname" and lets a repeated key win: a
// spec that spells an input so must reach the plugin, never a kept answer
// made for a spec without it. Here the namespaces stage's answer for a
// container with no UTS namespace and no hostname is kept; the same spec
// with a hostname spelled otherwise would set the host's hostname if it
// were served that answer, and must be refused as the plugin refuses it.
func TestKeptAnswerNotServedToOtherSpellings(t *testing.T) {
	t.Parallel()
	rt, snap := setup(t)
	tu.ForgetKeptAnswers(t)
	hostile(t, rt, "", "") // the real plugins, in this test's own dir
	rt.Env = append(rt.Env, "RUNG_PLUGIN_POOL=off", "RUNG_DEBUG=1")
	noUTS := func(s *specs.Spec) {
		s.Process.Args = []string{"true"}
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
			return n.Type == specs.UTSNamespace
		})
		s.Hostname = ""
	}
	keptNamespaces := func(res tu.Result) bool {
		for _, e := range res.Log {
			if e.Msg == "plugin kept answer" && strings.Contains(e.Raw, `"stage":"namespaces"`) {
				return true
			}
		}
		return false
	}
	var ids []string
	for i := 0; i < 2; i++ {
		id := tu.ID(t)
		ids = append(ids, id)
		res := rt.TryRun(t, id, tu.Bundle(t, noUTS))
		if res.Exit != 0 {
			t.Fatalf("container without a UTS namespace: %s", res)
		}
		if i == 1 && !keptNamespaces(res) {
			t.Fatalf("the second container was not served the kept answer, so this test proves nothing: %s", res)
		}
	}
	for name, spelling := range map[string]string{
		"capitalised": `"Hostname":"kept-evil",`,
		"repeated":    `"hostname":"","hostname":"kept-evil",`,
		"escaped":     `"hostnam\u0065":"kept-evil",`,
	} {
		id := tu.ID(t)
		ids = append(ids, id)
		bundle := tu.Bundle(t, noUTS)
		path := filepath.Join(bundle, "config.json")
		raw, err := os.ReadFile(path)
		must(t, err)
		must(t, os.WriteFile(path, []byte("{"+spelling+strings.TrimPrefix(string(raw), "{")), 0o644))
		res := rt.TryRun(t, id, bundle)
		msg := tu.ExpectFailure(t, res)
		if !strings.Contains(msg, "hostname") || !strings.Contains(msg, "uts namespace") {
			t.Errorf("%s: want the namespaces stage's refusal of a hostname without a UTS namespace, got %q", name, msg)
		}
		if keptNamespaces(res) {
			t.Errorf("%s: served the kept answer: %s", name, res)
		}
	}
	tu.CheckNoLeaks(t, snap, ids...)
}
