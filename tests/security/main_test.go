// Package security attacks the runtime with hostile bundles, containers and
// plugins: one test per escape other runtimes shipped (see
// ../../shared/design.md's checklist and docs/), crash consistency at every
// step of create, and load. Like tests/integration it drives the runtime only
// through its CLI and the tests/testutil harness, needs root and RUNG_BIN
// (default <repo>/bin/rung), and skips with the reason otherwise.
//
// Two helper programs are built once per run from ./helpers: a static
// attacker binary copied into rootfses (it makes the raw system calls the
// attacks need) and a stage plugin written with the sdk that misbehaves on
// demand.
package security

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

var helperDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rung-sec-helpers-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Plugins must sit in a root-owned directory nobody else can write.
	_ = os.Chmod(dir, 0o755)
	helperDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildMu   sync.Mutex
	built     = map[string]string{}
	buildErrs = map[string]error{}
)

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// helper builds ./helpers/<name> once (static, no cgo) and returns its path,
// skipping the test when the go tool cannot build it.
func helper(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	if err, ok := buildErrs[name]; ok {
		t.Skipf("helper %s could not be built: %v", name, err)
	}
	out := filepath.Join(helperDir, name)
	cmd := exec.Command(goTool(), "build", "-trimpath", "-o", out, "./helpers/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		buildErrs[name] = fmt.Errorf("%v: %s", err, b)
		t.Skipf("helper %s could not be built: %v\n%s", name, err, b)
	}
	built[name] = out
	return out
}

// setup is the start of every test: skipped without root or a runtime
// binary, and a leak snapshot to check against at the end.
func setup(t *testing.T) (*tu.Runtime, *tu.LeakSnapshot) {
	t.Helper()
	rt := tu.NewRuntime(t)
	return rt, tu.Snapshot()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// withAttacker copies the attacker binary into the rootfs as /attacker.
func withAttacker(t testing.TB, rootfs string) {
	t.Helper()
	copyFile(t, helper(t, "attacker"), filepath.Join(rootfs, "attacker"), 0o755)
}

func copyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	must(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	must(t, err)
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	must(t, out.Close())
}

func sha256File(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// expectFailure is testutil.ExpectFailure: the containerd-visible error
// contract (non-zero exit, a one-line JSON error in --log).
func expectFailure(t *testing.T, res tu.Result) string {
	t.Helper()
	return tu.ExpectFailure(t, res)
}

// report parses the attacker's "KEY value" lines.
func report(out string) map[string][]string {
	m := map[string][]string{}
	for _, l := range tu.Lines(out) {
		k, v, _ := strings.Cut(l, " ")
		m[k] = append(m[k], v)
	}
	return m
}

// noDevMount drops the /dev tmpfs (and what lives under it) from the spec,
// so the runtime has to populate the rootfs's own /dev: that is where a
// hostile image's symlinks sit.
func noDevMount(s *specs.Spec) {
	var keep []specs.Mount
	for _, m := range s.Mounts {
		if m.Destination == "/dev" || strings.HasPrefix(m.Destination, "/dev/") {
			continue
		}
		keep = append(keep, m)
	}
	s.Mounts = keep
}

// privateRuntime copies the runtime binary (and links its plugins) into the
// test's temp dir, so an attack that did overwrite it would hit only this
// copy, and returns the copy's path. RUNG_PLUGIN_DIR is set to the same dir.
func privateRuntime(t *testing.T, rt *tu.Runtime) string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(tu.RootfsOf(tu.Bundle(t, nil))), "bin")
	must(t, os.Mkdir(dir, 0o755))
	bin := filepath.Join(dir, filepath.Base(rt.Bin))
	copyFile(t, rt.Bin, bin, 0o755)
	for _, p := range tu.PluginBins(t) {
		dst := filepath.Join(dir, filepath.Base(p))
		if err := os.Link(p, dst); err != nil {
			copyFile(t, p, dst, 0o755)
		}
	}
	rt.Bin = bin
	rt.Env = append(rt.Env, "RUNG_PLUGIN_DIR="+dir)
	return bin
}
