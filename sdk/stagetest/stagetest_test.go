package stagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var (
	binDir   string
	buildMu  sync.Mutex
	built    = map[string]error{}
	repoRoot = func() string {
		wd, _ := os.Getwd()
		return filepath.Clean(filepath.Join(wd, "..", ".."))
	}()
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stagetest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles a package of the repo (once per test run) and returns the
// binary's path.
func build(t *testing.T, pkg string) string {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		t.Skipf("no go toolchain at %s to build %s", goBin, pkg)
	}
	out := filepath.Join(binDir, strings.ReplaceAll(strings.TrimPrefix(pkg, "./"), "/", "_"))
	buildMu.Lock()
	defer buildMu.Unlock()
	err, done := built[pkg]
	if !done {
		cmd := exec.Command(goBin, "build", "-o", out, pkg)
		cmd.Dir = repoRoot
		if b, cerr := cmd.CombinedOutput(); cerr != nil {
			err = fmt.Errorf("go build %s: %v: %s", pkg, cerr, b)
		}
		built[pkg] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The four built-in stages and the landlock example pass the kit: the
// conformance run CI makes.
func TestBuiltinPluginsConform(t *testing.T) {
	seccompSpec := DefaultSpec()
	seccompSpec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"kexec_load"}, Action: specs.ActErrno}}}
	cgroupSpec := DefaultSpec()
	cgroupSpec.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	cases := []struct {
		pkg   string
		o     Options
		skipR string
	}{
		{pkg: "./plugins/namespaces", o: Options{Stage: "namespaces", Bad: []Bad{{Name: "bogus-type", Field: "linux.namespaces",
			Mutate: func(s *specs.Spec) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
			}}}}},
		{pkg: "./plugins/cgroupv2", o: Options{Stage: "cgroups", Spec: cgroupSpec, Bad: []Bad{{Name: "device-type", Field: "linux.resources.devices",
			Mutate: func(s *specs.Spec) {
				s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Type: "z", Access: "rwm"}}
			}}}}},
		{pkg: "./plugins/seccomp", o: Options{Stage: "seccomp", Spec: seccompSpec, Bad: []Bad{{Name: "default-action", Field: "linux.seccomp",
			Patch: json.RawMessage(`{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_BOGUS"}}}`)}}}},
		{pkg: "./plugins/lsm", o: Options{Stage: "lsm", Bad: []Bad{{Name: "unknown-profile", Field: "process.apparmorProfile",
			Mutate: func(s *specs.Spec) { s.Process.ApparmorProfile = "rung-stagetest-no-such-profile" }}}}},
		{pkg: "./plugins/landlock", o: Options{Stage: "landlock",
			Config: json.RawMessage(`{"rules": [{"path": "/", "access": "ro"}, {"path": "/tmp", "access": "rw"}]}`),
			Bad: []Bad{
				{Name: "annotation", Field: "annotations.io.github.rung-runtime.landlock.rules",
					Mutate: func(s *specs.Spec) {
						s.Annotations = map[string]string{"io.github.rung-runtime.landlock.rules": `[{"path": "relative", "access": "ro"}]`}
					}},
				{Name: "no-new-privileges", Field: "process.noNewPrivileges",
					Mutate: func(s *specs.Spec) { s.Process.NoNewPrivileges = false }},
			}}},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.pkg), func(t *testing.T) {
			c.o.Binary = build(t, c.pkg)
			rep := Test(t, c.o)
			if os.Geteuid() == 0 {
				for _, r := range rep.Results {
					if r.Status == Skip && r.Check == "attach" {
						t.Errorf("attach skipped as root: %s", r.Detail)
					}
				}
			}
		})
	}
}

// The kit must catch each kind of misbehaviour, and name the check.
func TestKitCatchesMisbehaviour(t *testing.T) {
	bin := build(t, "./sdk/stagetest/internal/misbehave")
	cases := map[string][]string{
		"ok":                     nil,
		"describe-protocol":      {"describe"},
		"handshake-protocol":     {"launch"},
		"bad-describe":           {"describe"},
		"invalid-plan":           {"prepare"},
		"crash-prepare":          {"prepare", "alive"},
		"refuse-all":             {"validate/good", "validate/bad/refused", "validate/in-prepare"},
		"prepare-skips-validate": {"validate/in-prepare"},
		"no-fold":                nil,
		"no-attach":              {"attach"},
		"skip-attach":            {"attach"}, // a restore still asks it
		"destroy-once":           {"destroy", "destroy/half-made"},
		"go-plugin-only":         nil,
		"reuse-ok":               nil,
		"reuse-by-id":            {"reuse"},
		"reuse-needs-attach":     {"reuse"},
	}
	if !testing.Short() {
		cases["hang-prepare"] = []string{"prepare"}
	}
	for mode, want := range cases {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			o := Options{Binary: bin, Args: []string{"extra", mode}, Stage: "extra",
				Bad: []Bad{{Name: "refused", Field: "annotations", Mutate: func(s *specs.Spec) {
					s.Annotations = map[string]string{"misbehave.refuse": "yes"}
				}}}}
			if mode == "hang-prepare" {
				o.Timeout = DefaultTimeout / 10
			}
			rep, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, r := range rep.Failed() {
				failed = append(failed, r.Check)
			}
			if strings.Join(failed, ",") != strings.Join(want, ",") {
				t.Errorf("failed checks %v, want %v:\n%s", failed, want, rep)
			}
		})
	}
}

// The warm check passes a plugin built on sdk.Serve and skips, saying why,
// one that go-plugin serves alone.
func TestWarmCheck(t *testing.T) {
	bin := build(t, "./sdk/stagetest/internal/misbehave")
	for mode, want := range map[string]Status{"ok": Pass, "go-plugin-only": Skip} {
		rep, err := Run(context.Background(), Options{Binary: bin, Args: []string{"extra", mode}, Stage: "extra"})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range rep.Results {
			if r.Check == "warm" {
				found = true
				if r.Status != want {
					t.Errorf("%s: warm %s (%s), want %s", mode, r.Status, r.Detail, want)
				}
			}
		}
		if !found {
			t.Errorf("%s: no warm check in\n%s", mode, rep)
		}
	}
}

func TestMergePatch(t *testing.T) {
	got, err := MergePatch([]byte(`{"a":{"b":1,"c":2},"d":[1]}`), []byte(`{"a":{"b":null,"e":3},"d":{"x":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"a":{"c":2,"e":3},"d":{"x":1}}` {
		t.Errorf("got %s", got)
	}
}

// The complete minimal plugin in the sdk package doc is internal/hello,
// word for word, and it passes the kit.
func TestDocPluginConforms(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(repoRoot, "sdk", "doc.go"), nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	var code []string
	in := false
	for _, l := range strings.Split(f.Doc.Text(), "\n") {
		if l == "\tpackage main" {
			in = true
		}
		if in {
			code = append(code, strings.TrimPrefix(l, "\t"))
			if strings.HasPrefix(l, "\tfunc main()") {
				break
			}
		}
	}
	want, err := os.ReadFile(filepath.Join(repoRoot, "sdk", "stagetest", "internal", "hello", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(code, "\n"); got != strings.TrimSpace(string(want)) {
		t.Errorf("the sdk package doc's plugin differs from internal/hello/main.go:\n%s", got)
	}
	Test(t, Options{Binary: build(t, "./sdk/stagetest/internal/hello"), Stage: "hello"})
}
