package launcher

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/rung-runtime/rung/proto/stagev1"
)

func requireKeptDir(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kept answers live in root's /dev/shm/rung-plugins: needs root")
	}
	if socketDir() == "" {
		t.Skip("no root-only tmpfs directory for kept answers (/dev/shm is not tmpfs)")
	}
}

// Everything but the spec that a kept answer depends on is in its
// identity: another config, argument, pin or stage, or the binary
// rewritten, even with its mtime put back, is another identity.
func TestKeptIdentity(t *testing.T) {
	requireKeptDir(t)
	bin := filepath.Join(t.TempDir(), "plugin")
	if err := os.WriteFile(bin, []byte("one"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := Spec{Stage: "seccomp", Binary: bin, Config: []byte(`{"a":1}`), Args: []string{"-x"}}
	sum := func(s Spec) string {
		k := identityFor(s, bin)
		if k == nil {
			t.Fatal("no identity")
		}
		return string(k.sum)
	}
	want := sum(base)
	if sum(base) != want {
		t.Fatal("the same plugin gave two identities")
	}
	other := map[string]Spec{}
	for name, mutate := range map[string]func(*Spec){
		"config": func(s *Spec) { s.Config = []byte(`{"a":2}`) },
		"args":   func(s *Spec) { s.Args = []string{"-y"} },
		"pin":    func(s *Spec) { s.SHA256 = strings.Repeat("a", 64) },
		"stage":  func(s *Spec) { s.Stage = "lsm" },
	} {
		s := base
		mutate(&s)
		other[name] = s
	}
	for name, s := range other {
		if sum(s) == want {
			t.Errorf("another %s, the same identity", name)
		}
	}
	fi, _ := os.Stat(bin)
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(bin, []byte("two"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(bin, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if sum(base) == want {
		t.Error("a rewritten binary with its mtime restored kept its identity")
	}
}

func TestKeptStore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("kept files are trusted only as root's: needs root")
	}
	k := &keptIdentity{dir: t.TempDir(), sum: []byte("identity")}
	d := &stagev1.DescribeResponse{Name: "p", Stage: "seccomp", PlanInputs: []string{"linux.seccomp"}}
	k.keepDescription(d)
	if got := k.loadDescription(); !proto.Equal(got, d) {
		t.Fatalf("kept description %v, read back %v", d, got)
	}
	r := &stagev1.PrepareResponse{Reusable: true, State: map[string]string{"a": "b"}}
	key := k.planKey(d, []byte(`{"linux":{"seccomp":{}}}`))
	k.keepPlan(key, r)
	if got := k.loadPlan(key); !proto.Equal(got, r) {
		t.Fatalf("kept plan %v, read back %v", r, got)
	}
	path := filepath.Join(k.dir, keptPrefix+key)

	// Only root's own file, which no one else may write, under its name.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if k.loadPlan(key) != nil {
		t.Error("a kept file others may read was used")
	}
	os.Chmod(path, 0o600)
	if err := os.Chown(path, 1000, 0); err != nil {
		t.Fatal(err)
	}
	if k.loadPlan(key) != nil {
		t.Error("a kept file of another user was used")
	}
	os.Chown(path, 0, 0)
	b, _ := os.ReadFile(path)
	other := k.planKey(d, []byte(`{"linux":{}}`))
	os.WriteFile(filepath.Join(k.dir, keptPrefix+other), b, 0o600)
	if k.loadPlan(other) != nil {
		t.Error("a kept file under another name than its tag was used")
	}
	os.Remove(filepath.Join(k.dir, keptPrefix+other))
	os.Rename(path, path+".real")
	os.Symlink(path+".real", path)
	if k.loadPlan(key) != nil {
		t.Error("a symlink was followed")
	}
	os.Remove(path)
	os.WriteFile(path, append(bytes.Clone(b[:len(key)+1]), 0xff, 0xff), 0o600)
	if k.loadPlan(key) != nil {
		t.Error("a corrupt kept file was used")
	}
}

// The kept files are bounded: a store at maxKept evicts the oldest, down
// to three quarters, and keeps the newest.
func TestKeptStoreBounded(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("kept files are trusted only as root's: needs root")
	}
	k := &keptIdentity{dir: t.TempDir(), sum: []byte("identity")}
	d := &stagev1.DescribeResponse{PlanInputs: []string{"hostname"}}
	for i := 0; i <= maxKept; i++ {
		k.keepPlan(k.planKey(d, []byte(`{"hostname":"`+strings.Repeat("x", i)+`"}`)), &stagev1.PrepareResponse{})
	}
	ents, _ := os.ReadDir(k.dir)
	if len(ents) > maxKept*3/4+1 || len(ents) < maxKept/2 {
		t.Fatalf("%d kept files after %d stores, want about %d", len(ents), maxKept+1, maxKept*3/4)
	}
	last := k.planKey(d, []byte(`{"hostname":"`+strings.Repeat("x", maxKept)+`"}`))
	if k.loadPlan(last) == nil {
		t.Error("the newest answer was evicted")
	}
}

// An answer is kept only where the host would call the plugin for
// nothing else: no Destroy, no Resources, no Validate of its own, no
// Attach, and only when the plugin says so and refused nothing.
func TestKeptAnswerEligibility(t *testing.T) {
	desc := func() *stagev1.DescribeResponse {
		return &stagev1.DescribeResponse{PlanInputs: []string{"linux.seccomp"}, ValidatesInPrepare: true, NoDestroy: true, NoAttach: true}
	}
	answer := func() *stagev1.PrepareResponse { return &stagev1.PrepareResponse{Reusable: true} }
	if !KeptAnswer(desc(), answer()) {
		t.Fatal("an eligible answer was not kept")
	}
	for name, f := range map[string]func(*stagev1.DescribeResponse, *stagev1.PrepareResponse){
		"no plan inputs":    func(d *stagev1.DescribeResponse, _ *stagev1.PrepareResponse) { d.PlanInputs = nil },
		"separate validate": func(d *stagev1.DescribeResponse, _ *stagev1.PrepareResponse) { d.ValidatesInPrepare = false },
		"owed a destroy":    func(d *stagev1.DescribeResponse, _ *stagev1.PrepareResponse) { d.NoDestroy = false },
		"serves resources":  func(d *stagev1.DescribeResponse, _ *stagev1.PrepareResponse) { d.Resources = true },
		"owed an attach":    func(d *stagev1.DescribeResponse, _ *stagev1.PrepareResponse) { d.NoAttach = false },
		"not said reusable": func(_ *stagev1.DescribeResponse, r *stagev1.PrepareResponse) { r.Reusable = false },
		"refused a field": func(_ *stagev1.DescribeResponse, r *stagev1.PrepareResponse) {
			r.Errors = []*stagev1.FieldError{{Field: "x"}}
		},
	} {
		d, r := desc(), answer()
		f(d, r)
		if KeptAnswer(d, r) {
			t.Errorf("%s: kept", name)
		}
	}
	d, r := desc(), answer()
	d.NoAttach, r.SkipAttach = false, true
	if !KeptAnswer(d, r) {
		t.Error("an answer that skips Attach was not kept")
	}
}
