package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rung-runtime/rung/internal/launcher"
)

func TestDefaultIsTheLaunchersBuiltins(t *testing.T) {
	got := Default().Specs()
	want := launcher.Defaults()
	if len(got) != len(want) {
		t.Fatalf("default has %d stages, launcher.Defaults %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Stage != want[i].Stage || got[i].Binary != want[i].Binary {
			t.Errorf("stage %d: default %s/%s, launcher %s/%s", i, got[i].Stage, got[i].Binary, want[i].Stage, want[i].Binary)
		}
	}
	for _, p := range Default().Pipeline {
		if !p.Builtin || p.Name != p.Spec.Stage {
			t.Errorf("%+v: built-in stages are named after themselves", p)
		}
	}
}

func TestMissingFileIsTheDefault(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "none.json"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != "" || !reflect.DeepEqual(c.Specs(), Default().Specs()) {
		t.Errorf("missing file gave %+v", c)
	}
}

const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestFileAdjustsExtendsAndReplaces(t *testing.T) {
	c, err := Parse([]byte(`{
	  "plugins": [
	    {"stage": "seccomp", "sha256": "`+strings.ToUpper(sum)+`", "args": ["-v"], "config": {"k": 1},
	     "timeout": "3s", "startTimeout": "2s", "allowAnnotationOverride": ["seccomp-strict"]},
	    {"stage": "landlock", "binary": "rung-landlock", "config": {"rules": []}},
	    {"stage": "lsm", "replace": true, "binary": "/opt/lsm/my-lsm", "name": "my-lsm"}
	  ],
	  "alternatives": [
	    {"name": "seccomp-strict", "stage": "seccomp", "binary": "rung-seccomp", "args": ["--strict"]}
	  ]
	}`), "test.json")
	if err != nil {
		t.Fatal(err)
	}
	specs := c.Specs()
	var stages []string
	for _, s := range specs {
		stages = append(stages, s.Stage)
	}
	if got := strings.Join(stages, ","); got != "namespaces,cgroups,seccomp,lsm,landlock" {
		t.Fatalf("pipeline order %s: built-ins keep their place, extras follow", got)
	}
	sec := specs[2]
	if sec.Binary != "rung-seccomp" || sec.SHA256 != sum || !reflect.DeepEqual(sec.Args, []string{"-v"}) ||
		string(sec.Config) != `{"k": 1}` || sec.Timeout != 3*time.Second || sec.StartTimeout != 2*time.Second {
		t.Errorf("adjusted seccomp: %+v", sec)
	}
	if specs[3].Binary != "/opt/lsm/my-lsm" || !c.Pipeline[3].Replaced || specs[3].Name != "my-lsm" {
		t.Errorf("replaced lsm: %+v", c.Pipeline[3])
	}
	if specs[4].Binary != "rung-landlock" || c.Pipeline[4].Builtin {
		t.Errorf("extra stage: %+v", c.Pipeline[4])
	}
}

func TestFileErrors(t *testing.T) {
	cases := map[string]string{
		`{"plugins": [{"stage": "seccomp", "binary": "evil"}]}`:                               "set \"replace\": true",
		`{"plugins": [{"stage": "extra", "binary": "x"}, {"stage": "extra", "binary": "y"}]}`: "configured twice",
		`{"plugins": [{"stage": "extra"}]}`:                                                   "binary is required",
		`{"plugins": [{"stage": "extra", "binary": "x", "replace": true}]}`:                   "nothing to replace",
		`{"plugins": [{"stage": "Bad Stage", "binary": "x"}]}`:                                "not a stage name",
		`{"plugins": [{"stage": "extra", "binary": "rel/x"}]}`:                                "neither a plain name",
		`{"plugins": [{"stage": "extra", "binary": "x", "sha256": "abc"}]}`:                   "64 hex digits",
		`{"plugins": [{"stage": "extra", "binary": "x", "config": [1]}]}`:                     "JSON object",
		`{"plugins": [{"stage": "extra", "binary": "x", "timeout": 5}]}`:                      "duration is a string",
		`{"plugins": [{"stage": "extra", "binary": "x", "timeout": "1h"}]}`:                   "not between",
		`{"plugins": [{"stage": "extra", "binary": "x", "tiemout": "1s"}]}`:                   "unknown field",
		`{"plugins": []} {}`:              "trailing data",
		`{"pool": {"idleTimeout": "2h"}}`: "pool.idleTimeout: 2h0m0s is not in",
		`{"pool": {}}`:                    "pool.idleTimeout: 0s is not in",
		`{"plugins": [{"stage": "seccomp", "allowAnnotationOverride": ["nope"]}]}`:                                                              "not among the alternatives",
		`{"alternatives": [{"stage": "seccomp", "binary": "x"}]}`:                                                                               "needs a name",
		`{"alternatives": [{"name": "a", "stage": "nostage", "binary": "x"}]}`:                                                                  "not in the pipeline",
		`{"alternatives": [{"name": "seccomp", "stage": "seccomp", "binary": "x"}]}`:                                                            "already names",
		`{"alternatives": [{"name": "a", "stage": "lsm", "binary": "x", "replace": true}]}`:                                                     "belong on the stage's entry",
		`{"plugins": [{"stage": "lsm", "allowAnnotationOverride": ["a"]}], "alternatives": [{"name": "a", "stage": "seccomp", "binary": "x"}]}`: "an alternative for stage seccomp",
	}
	for in, want := range cases {
		_, err := Parse([]byte(in), "test.json")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "config test.json: ") {
			t.Errorf("%s: error %v, want one naming the file and containing %q", in, err, want)
		}
	}
}

func TestSelectByAnnotation(t *testing.T) {
	c, err := Parse([]byte(`{
	  "plugins": [{"stage": "seccomp", "allowAnnotationOverride": ["seccomp-strict"]}],
	  "alternatives": [{"name": "seccomp-strict", "stage": "seccomp", "binary": "/opt/strict", "sha256": "`+sum+`"},
	                   {"name": "lsm-other", "stage": "lsm", "binary": "x"}]
	}`), "test.json")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := c.Select(map[string]string{AnnotationPrefix + "seccomp": "seccomp-strict", "other": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if specs[2].Binary != "/opt/strict" || specs[2].Name != "seccomp-strict" || specs[2].SHA256 != sum || specs[2].Stage != "seccomp" {
		t.Errorf("selected %+v", specs[2])
	}
	if specs, err := c.Select(map[string]string{AnnotationPrefix + "seccomp": "seccomp"}); err != nil || specs[2].Binary != "rung-seccomp" {
		t.Errorf("naming the stage's own plugin: %v %+v", err, specs)
	}
	bad := map[string]string{
		AnnotationPrefix + "seccomp": "lsm-other", // allowed list excludes it
		AnnotationPrefix + "lsm":     "lsm-other", // no override allowed for lsm
		AnnotationPrefix + "nostage": "x",         // no such stage
		AnnotationPrefix + "cgroups": "/bin/evil", // never a path
	}
	for k, v := range bad {
		_, err := c.Select(map[string]string{k: v})
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: error %v should name the annotation", k, v, err)
		}
		specs, problems := c.SelectLenient(map[string]string{k: v})
		if len(problems) != 1 || !reflect.DeepEqual(specs, c.Specs()) {
			t.Errorf("%s=%s lenient: %v %+v", k, v, problems, specs)
		}
	}
	// Without an allowed override no annotation changes a plugin, so the
	// host need not read a container's record to find its plugins.
	if !c.HasChoices() {
		t.Error("HasChoices false with an allowed override")
	}
	plain := Default()
	if plain.HasChoices() {
		t.Error("HasChoices true for the default config")
	}
	for k, v := range bad {
		if specs, _ := plain.SelectLenient(map[string]string{k: v}); !reflect.DeepEqual(specs, plain.Specs()) {
			t.Errorf("%s=%s changed a plugin without choices: %+v", k, v, specs)
		}
	}
}

func TestLoadRefusesUntrustedFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to own the file as root")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte(`{"plugins": []}`), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("world-writable config: %v", err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "not root") {
		t.Errorf("config owned by nobody: %v", err)
	}
	if err := os.Chown(p, 0, 0); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil || c.Source != p {
		t.Errorf("trusted config: %v %+v", err, c)
	}
	if err := os.WriteFile(p, []byte(`{"plugins": [}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.HasPrefix(err.Error(), "config "+p) {
		t.Errorf("broken config must be an error naming it, not the default: %v", err)
	}
}

func TestPoolWarmsEveryPluginButTheColdOnes(t *testing.T) {
	c, err := Parse([]byte(`{"pool": {"idleTimeout": "45s"},
		"plugins": [{"stage": "lsm", "warm": false, "allowAnnotationOverride": ["strict"]}],
		"alternatives": [{"name": "strict", "stage": "lsm", "binary": "x"}]}`), "test.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(c.Pipeline, c.Alternatives...) {
		want := 45 * time.Second
		if p.Name == "lsm" {
			want = 0
		}
		if p.Spec.PoolIdle != want {
			t.Errorf("%s: pool idle %v, want %v", p.Name, p.Spec.PoolIdle, want)
		}
	}
	for _, p := range Default().Pipeline {
		if p.Spec.PoolIdle != 0 {
			t.Errorf("without a pool block %s is warm (%v)", p.Name, p.Spec.PoolIdle)
		}
	}
}
