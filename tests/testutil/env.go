package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rung-runtime/rung/internal/launcher"
)

// RepoRoot is the directory holding rung's go.mod, found by walking up from
// the working directory (go test runs each package in its own directory).
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/rung-runtime/rung") {
			return d
		}
		if d == filepath.Dir(d) {
			return dir
		}
	}
}

// RuntimeBin is the binary under test: $RUNG_BIN or <repo>/bin/rung.
func RuntimeBin() string {
	if b := os.Getenv("RUNG_BIN"); b != "" {
		if !strings.Contains(b, "/") {
			if p, err := exec.LookPath(b); err == nil {
				return p
			}
		}
		if abs, err := filepath.Abs(b); err == nil {
			return abs
		}
		return b
	}
	return filepath.Join(RepoRoot(), "bin", "rung")
}

var (
	flavourOnce sync.Once
	isRunc      bool
)

// IsRunc reports whether the binary under test is runc rather than rung,
// judged by its --version banner (falling back to the file name), so a
// renamed or wrapped runc is still recognised.
func IsRunc() bool {
	flavourOnce.Do(func() {
		bin := RuntimeBin()
		out, err := exec.Command(bin, "--version").Output()
		if err == nil {
			first, _, _ := strings.Cut(string(out), "\n")
			isRunc = strings.HasPrefix(first, "runc ")
			return
		}
		isRunc = strings.Contains(filepath.Base(bin), "runc")
	})
	return isRunc
}

// RequireRoot skips the test unless it runs as root and the runtime binary
// exists: every integration test needs both.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("integration tests need root (they create namespaces, mounts and cgroups)")
	}
	bin := RuntimeBin()
	st, err := os.Stat(bin)
	if err != nil {
		t.Skipf("runtime binary %s missing (set RUNG_BIN or run `make`): %v", bin, err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		t.Skipf("runtime binary %s is not an executable file", bin)
	}
}

// RequireRung skips tests of rung-only behaviour (plugins) when the binary
// under test is runc.
func RequireRung(t testing.TB, what string) {
	t.Helper()
	if IsRunc() {
		t.Skipf("rung-only (%s): RUNG_BIN is runc", what)
	}
}

// PluginBins lists the default pipeline's plugin binaries that sit next to
// the runtime binary (extra plugins such as rung-landlock are configured,
// not found, so breaking one of them breaks nothing).
func PluginBins(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, name := range []string{"rung-namespaces", launcher.CgroupsBinary(), "rung-seccomp", "rung-lsm"} {
		p := filepath.Join(filepath.Dir(RuntimeBin()), name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			out = append(out, p)
		}
	}
	return out
}
