package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/launcher"
	tu "github.com/rung-runtime/rung/tests/testutil"
)

// The operator config (RUNG_CONFIG), sha256 pins, extra stages, the
// annotation choice among configured plugins and the Landlock example
// stage, driven through the CLI like every other integration test.

// buildPlugin compiles a plugin of this repo into a root-owned temp dir
// (rung refuses plugins from paths others may write).
func buildPlugin(t *testing.T, pkg string) string {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		t.Skipf("no go toolchain at %s to build %s", goBin, pkg)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command(goBin, "build", "-o", out, "./"+pkg)
	cmd.Dir = tu.RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// withConfig points the runtime at a config file holding cfg.
func withConfig(t *testing.T, rt *tu.Runtime, cfg any) string {
	t.Helper()
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.json")
	must(t, os.WriteFile(p, b, 0o644))
	rt.Env = append(rt.Env, "RUNG_CONFIG="+p)
	return p
}

type entry = map[string]any

func sha256Of(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// builtinBin is the built plugin of a stage next to RUNG_BIN.
func builtinBin(t *testing.T, name string) string {
	t.Helper()
	for _, b := range tu.PluginBins(t) {
		if filepath.Base(b) == name {
			return b
		}
	}
	t.Skipf("plugin %s not built next to %s (run `make`)", name, tu.RuntimeBin())
	return ""
}

// failedCreate asserts a create fails with an error containing every one of
// want, and that delete --force leaves nothing behind.
func failedCreate(t *testing.T, rt *tu.Runtime, snap *tu.LeakSnapshot, bundle string, want ...string) string {
	t.Helper()
	id := tu.ID(t)
	_, res := rt.TryCreate(t, id, bundle, tu.CreateOpts{})
	msg := expectFailure(t, res)
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q should contain %q", msg, w)
		}
	}
	if _, err := os.Stat(filepath.Join(rt.Root, id)); err == nil {
		t.Errorf("a failed create left its state dir %s", filepath.Join(rt.Root, id))
	}
	if res := rt.Delete(t, id, true); res.Exit != 0 {
		t.Errorf("delete --force after the failed create: %s", res)
	}
	tu.CheckNoLeaks(t, snap, id)
	return msg
}

func TestConfigChecksumPins(t *testing.T) {
	tu.RequireRung(t, "sha256 pins")
	sec := builtinBin(t, "rung-seccomp")
	t.Run("match", func(t *testing.T) {
		rt, snap := setup(t)
		var plugins []entry
		for stage, bin := range map[string]string{"namespaces": "rung-namespaces", "cgroups": launcher.CgroupsBinary(), "seccomp": "rung-seccomp", "lsm": "rung-lsm"} {
			plugins = append(plugins, entry{"stage": stage, "sha256": sha256Of(t, builtinBin(t, bin))})
		}
		withConfig(t, rt, entry{"plugins": plugins})
		id := tu.ID(t)
		if out := rt.RunOK(t, id, tu.Bundle(t, tu.Shell("echo pinned"))); out != "pinned\n" {
			t.Errorf("output %q", out)
		}
		tu.CheckNoLeaks(t, snap, id)
	})
	t.Run("mismatch", func(t *testing.T) {
		rt, snap := setup(t)
		wrong := strings.Repeat("0", 64)
		withConfig(t, rt, entry{"plugins": []entry{{"stage": "seccomp", "sha256": wrong}}})
		failedCreate(t, rt, snap, tu.Bundle(t, nil), "stage seccomp", "checksum mismatch", sha256Of(t, sec), wrong)
	})
}

func TestConfigErrors(t *testing.T) {
	tu.RequireRung(t, "operator config")
	cases := map[string]struct {
		cfg  any
		want string
	}{
		"shadow-builtin": {entry{"plugins": []entry{{"stage": "seccomp", "binary": "/bin/true"}}}, `"replace": true`},
		"unknown-field":  {entry{"plugins": []entry{{"stage": "seccomp", "sah256": "x"}}}, `unknown field "sah256"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rt, snap := setup(t)
			p := withConfig(t, rt, c.cfg)
			failedCreate(t, rt, snap, tu.Bundle(t, nil), "config "+p, c.want)
		})
	}
}

// Extra stages that break the protocol: each costs the create a clear error
// naming the plugin, and nothing of the container is left (the cgroup the
// cgroups stage made is destroyed; the leak checker looks).
func TestExtraStageFailures(t *testing.T) {
	tu.RequireRung(t, "extra stages")
	bin := buildPlugin(t, "sdk/stagetest/internal/misbehave")
	cases := map[string]struct {
		mode    string
		timeout string
		refuse  bool
		hostNet bool
		want    []string
	}{
		"describe-protocol":  {mode: "describe-protocol", want: []string{"stage extra", "protocol version mismatch", "speaks stage protocol 2"}},
		"handshake-protocol": {mode: "handshake-protocol", want: []string{"stage extra", "protocol version mismatch", "speaks stage protocol 2"}},
		"bad-describe":       {mode: "bad-describe", want: []string{"stage extra (misbehave)", "invalid describe answer"}},
		"invalid-plan":       {mode: "invalid-plan", want: []string{"stage extra (misbehave-invalid-plan)", "invalid plan", "relative/cgroup"}},
		"crash":              {mode: "crash-prepare", want: []string{"stage extra (misbehave-crash-prepare)", "prepare"}},
		"deadline":           {mode: "hang-prepare", timeout: "1s", want: []string{"stage extra (misbehave-hang-prepare)", "prepare: no answer within 1s"}},
		"validate-deadline":  {mode: "hang-validate", timeout: "1s", want: []string{"stage extra (misbehave-hang-validate)", "validate+prepare: no answer within 1s"}},
		// Validation folded into Prepare still refuses, after the state
		// dir was reserved: the abort must leave nothing.
		"refused": {mode: "refuse-all", want: []string{"stage extra (misbehave-refuse-all)", "validate+prepare", "config.json: process.args: refused"}},
		// A plugin that does not declare validates_in_prepare still gets
		// its Validate call.
		"refused-by-validate": {mode: "no-fold", refuse: true, want: []string{"stage extra (misbehave-no-fold)", "validate: config.json: annotations.misbehave.refuse: refused"}},
		// lo up asked for with no new network namespace would be the host's.
		"loopback-in-host-netns": {mode: "loopback", hostNet: true, want: []string{"stage extra (misbehave-loopback)", "a Loopback action, but no stage plans a new network namespace"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rt, snap := setup(t)
			e := entry{"stage": "extra", "binary": bin, "args": []string{"extra", c.mode}}
			if c.timeout != "" {
				e["timeout"] = c.timeout
			}
			withConfig(t, rt, entry{"plugins": []entry{e}})
			failedCreate(t, rt, snap, tu.Bundle(t, func(s *specs.Spec) {
				if c.refuse {
					s.Annotations = map[string]string{"misbehave.refuse": "yes"}
				}
				if c.hostNet {
					s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
						return ns.Type == specs.NetworkNamespace
					})
				}
			}), c.want...)
		})
	}
}

// A well-behaved extra stage joins the pipeline with no change to the host,
// and its state is destroyed with the container. In mode no-attach it
// declares no_attach, in skip-attach its plan says skip_attach, and either
// fails any Attach: the host must not call it.
func TestExtraStageJoins(t *testing.T) {
	tu.RequireRung(t, "extra stages")
	bin := buildPlugin(t, "sdk/stagetest/internal/misbehave")
	for _, mode := range []string{"ok", "no-attach", "skip-attach"} {
		t.Run(mode, func(t *testing.T) {
			rt, snap := setup(t)
			withConfig(t, rt, entry{"plugins": []entry{{"stage": "extra", "binary": bin, "args": []string{"extra", mode}}}})
			id := tu.ID(t)
			c := rt.Create(t, id, tu.Bundle(t, tu.Shell("echo joined")))
			b, err := os.ReadFile(filepath.Join(rt.Root, id, "state.json"))
			must(t, err)
			var st struct {
				Plugins map[string]struct {
					Binary string            `json:"binary"`
					State  map[string]string `json:"state"`
				} `json:"plugins"`
			}
			must(t, json.Unmarshal(b, &st))
			if r := st.Plugins["extra"]; r.Binary != bin || r.State["prepared"] != "yes" {
				t.Errorf("state.json plugins[extra] = %+v, want the misbehave binary and its state", r)
			}
			rt.Start(t, id)
			c.WaitOutput(t, "joined\n")
			rt.WaitStatus(t, id, specs.StateStopped)
			rt.MustDelete(t, id, false)
			tu.CheckNoLeaks(t, snap, id)
		})
	}
}

func requireLandlock(t *testing.T) {
	t.Helper()
	if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION); e != 0 {
		t.Skipf("the kernel has no Landlock (landlock_create_ruleset: %v)", syscall.Errno(e))
	}
}

const rulesAnnotation = "io.github.rung-runtime.landlock.rules"

// The landlock stage, enabled by config alone: from inside the container a
// path outside the rules is denied with EACCES, the allowed ones work; a
// container's own annotation narrows the rules further.
func TestLandlockStage(t *testing.T) {
	tu.RequireRung(t, "landlock stage")
	requireLandlock(t)
	bin := buildPlugin(t, "plugins/landlock")
	rules := []entry{{"path": "/bin", "access": "ro"}, {"path": "/tmp", "access": "rw"},
		{"path": "/dev", "access": "rw"}, {"path": "/proc", "access": "ro"}}
	cfg := entry{"plugins": []entry{{"stage": "landlock", "binary": bin, "config": entry{"rules": rules}}}}
	const script = `echo hi > /tmp/x && cat /tmp/x; cat /etc/hostname 2>&1; echo rc=$?`

	t.Run("config", func(t *testing.T) {
		rt, snap := setup(t)
		withConfig(t, rt, cfg)
		id := tu.ID(t)
		out := rt.RunOK(t, id, tu.Bundle(t, tu.Shell(script)))
		if !strings.HasPrefix(out, "hi\n") || !strings.Contains(out, "Permission denied") || !strings.HasSuffix(out, "rc=1\n") {
			t.Errorf("output %q: want /tmp writable and /etc/hostname denied with EACCES", out)
		}
		tu.CheckNoLeaks(t, snap, id)
	})
	t.Run("annotation-narrows", func(t *testing.T) {
		rt, snap := setup(t)
		withConfig(t, rt, cfg)
		id := tu.ID(t)
		bundle := tu.Bundle(t, func(s *specs.Spec) {
			tu.Shell(`{ echo hi > /tmp/x; } 2>&1; echo rc=$?`)(s)
			s.Annotations = map[string]string{rulesAnnotation: `[{"path": "/bin", "access": "ro"}, {"path": "/dev", "access": "rw"}]`}
		})
		if out := rt.RunOK(t, id, bundle); !strings.Contains(out, "Permission denied") || !strings.HasSuffix(out, "rc=1\n") {
			t.Errorf("output %q: the annotation's rules leave /tmp out, so writing it must be denied", out)
		}
		tu.CheckNoLeaks(t, snap, id)
	})
	t.Run("bad-annotation", func(t *testing.T) {
		rt, snap := setup(t)
		withConfig(t, rt, cfg)
		bundle := tu.Bundle(t, func(s *specs.Spec) {
			s.Annotations = map[string]string{rulesAnnotation: `[{"path": "tmp", "access": "ro"}]`}
		})
		failedCreate(t, rt, snap, bundle, "stage landlock", "annotations."+rulesAnnotation, "clean absolute path")
	})
	t.Run("plugins-command", func(t *testing.T) {
		rt, _ := setup(t)
		withConfig(t, rt, cfg)
		stdout, stderr, exit := rt.Run(t, "plugins", "--format", "json")
		if exit != 0 {
			t.Fatalf("plugins: exit %d: %s", exit, stderr)
		}
		var doc struct {
			Plugins []struct {
				Stage, Role, Checksum, SHA256 string
				Describe                      *struct {
					Name, Stage     string
					ProtocolVersion int
				}
			}
		}
		must(t, json.Unmarshal([]byte(stdout), &doc))
		var stages []string
		for _, p := range doc.Plugins {
			stages = append(stages, p.Stage)
			if p.Describe == nil || p.Describe.Stage != p.Stage || p.Describe.ProtocolVersion != 1 || p.Checksum != "not pinned" || len(p.SHA256) != 64 {
				t.Errorf("plugin %+v", p)
			}
		}
		if got := strings.Join(stages, ","); got != "namespaces,cgroups,seccomp,lsm,landlock" {
			t.Errorf("stages %s", got)
		}
		if last := doc.Plugins[len(doc.Plugins)-1]; last.Role != "extra" || last.Describe == nil || last.Describe.Name != "rung-landlock" {
			t.Errorf("landlock entry %+v", last)
		}
	})
}

// A container picks a stricter plugin for a stage by annotation, only among
// the alternatives the config allows for it.
func TestAnnotationOverride(t *testing.T) {
	tu.RequireRung(t, "annotation override")
	requireLandlock(t)
	bin := buildPlugin(t, "plugins/landlock")
	lenient := []entry{{"path": "/", "access": "rw"}}
	strict := []entry{{"path": "/bin", "access": "ro"}, {"path": "/dev", "access": "rw"}, {"path": "/proc", "access": "ro"}}
	cfg := entry{
		"plugins": []entry{{"stage": "landlock", "binary": bin, "config": entry{"rules": lenient},
			"allowAnnotationOverride": []string{"landlock-strict"}}},
		"alternatives": []entry{
			{"name": "landlock-strict", "stage": "landlock", "binary": bin, "config": entry{"rules": strict}},
			{"name": "landlock-unlisted", "stage": "landlock", "binary": bin},
		},
	}
	const key = "io.github.rung-runtime.plugin.landlock"
	bundle := func(t *testing.T, choice string) string {
		return tu.Bundle(t, func(s *specs.Spec) {
			tu.Shell(`cat /etc/hostname 2>&1; echo rc=$?`)(s)
			if choice != "" {
				s.Annotations = map[string]string{key: choice}
			}
		})
	}
	for _, c := range []struct{ choice, want string }{
		{"", "rung-test\nrc=0\n"},
		{"landlock", "rung-test\nrc=0\n"}, // the stage's own plugin, by name
		{"landlock-strict", "Permission denied"},
	} {
		t.Run("choice="+c.choice, func(t *testing.T) {
			rt, snap := setup(t)
			withConfig(t, rt, cfg)
			id := tu.ID(t)
			if out := rt.RunOK(t, id, bundle(t, c.choice)); !strings.Contains(out, c.want) {
				t.Errorf("output %q, want %q", out, c.want)
			}
			tu.CheckNoLeaks(t, snap, id)
		})
	}
	for _, c := range []struct{ key, choice, want string }{
		{key, "landlock-unlisted", "allows only landlock, landlock-strict"},
		{"io.github.rung-runtime.plugin.seccomp", "landlock-strict", "allows no other plugin"},
		{"io.github.rung-runtime.plugin.nostage", "x", `no stage "nostage"`},
	} {
		t.Run("refused="+c.choice, func(t *testing.T) {
			rt, snap := setup(t)
			withConfig(t, rt, cfg)
			b := tu.Bundle(t, func(s *specs.Spec) { s.Annotations = map[string]string{c.key: c.choice} })
			failedCreate(t, rt, snap, b, c.key, c.want)
		})
	}
}
