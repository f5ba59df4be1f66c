package launcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rung-runtime/rung/internal/logging"
	"github.com/rung-runtime/rung/proto/stagev1"
)

func writeExe(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: plugins must be root-owned")
	}
}

func TestResolve(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	real := writeExe(t, dir, "rung-real", "#!/bin/sh\n")
	if err := os.Symlink("rung-real", filepath.Join(dir, "rung-link")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RUNG_PLUGIN_DIR", dir)
	for name, want := range map[string]string{"rung-real": real, "rung-link": real, real: real} {
		if got, err := Resolve(Spec{Binary: name}); err != nil || got != real {
			t.Errorf("Resolve(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	for name, msg := range map[string]string{"rung-none": "not found", "sub/rung-real": "neither a plain name", "": "neither"} {
		if _, err := Resolve(Spec{Binary: name}); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Resolve(%q): %v, want %q", name, err, msg)
		}
	}
	open := t.TempDir()
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	writeExe(t, open, "rung-x", "#!/bin/sh\n")
	if err := os.Symlink(filepath.Join(open, "rung-x"), filepath.Join(dir, "rung-to-open")); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(Spec{Binary: "rung-to-open"}); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("a link into a world-writable dir: %v", err)
	}
	nobody := writeExe(t, dir, "rung-nobody", "#!/bin/sh\n")
	if err := os.Chown(nobody, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(Spec{Binary: "rung-nobody"}); err == nil || !strings.Contains(err.Error(), "not root") {
		t.Errorf("a plugin owned by nobody: %v", err)
	}
}

func TestOpenVerified(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	p := writeExe(t, dir, "rung-p", "#!/bin/sh\nexit 0\n")
	sum := sha256.Sum256([]byte("#!/bin/sh\nexit 0\n"))
	good := hex.EncodeToString(sum[:])
	for _, pin := range []string{"", good, strings.ToUpper(good)} {
		f, err := OpenVerified(p, pin)
		if err != nil {
			t.Errorf("pin %q: %v", pin, err)
			continue
		}
		f.Close()
	}
	_, err := OpenVerified(p, strings.Repeat("a", 64))
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.Have != good || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("wrong pin: %v", err)
	}
	if got, err := Checksum(p); err != nil || got != good {
		t.Errorf("Checksum = %s, %v", got, err)
	}
}

func TestLaunchErrorsNameThePlugin(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	log, err := logging.Open("", "text", false)
	if err != nil {
		t.Fatal(err)
	}
	crash := writeExe(t, dir, "rung-crash", "#!/bin/sh\necho dying >&2\nexit 1\n")
	_, err = Launch(context.Background(), log, Spec{Stage: "extra", Binary: crash})
	if err == nil || !strings.HasPrefix(err.Error(), "stage extra (rung-crash): launching "+crash) || strings.Contains(err.Error(), "\n") {
		t.Errorf("crashing plugin: %q", err)
	}
	_, err = Launch(context.Background(), log, Spec{Stage: "extra", Binary: crash, SHA256: strings.Repeat("b", 64)})
	if err == nil || !strings.Contains(err.Error(), "stage extra (rung-crash): checksum mismatch") {
		t.Errorf("pinned plugin: %v", err)
	}
}

// A per-command plugin's socket file goes as soon as the host is connected:
// a rung killed later leaves none behind, and the plugin still answers.
func TestPerCommandSocketIsUnlinkedOnceConnected(t *testing.T) {
	dir := buildPlugins(t)
	p, err := Launch(context.Background(), logging.Discard(), Spec{Stage: "hello", Binary: filepath.Join(dir, "hello")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.proc == nil || p.proc.addr == "" {
		t.Fatal("not launched per command")
	}
	if _, err := os.Lstat(p.proc.addr); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket %s still there while the plugin runs: %v", p.proc.addr, err)
	}
	if _, err := p.Stage().Describe(context.Background(), &stagev1.DescribeRequest{}); err != nil {
		t.Errorf("the plugin no longer answers: %v", err)
	}
}

func TestParseHandshake(t *testing.T) {
	good := map[string]string{
		"1|1|unix|/dev/shm/rung-plugins/plugin123|grpc|": "/dev/shm/rung-plugins/plugin123",
		"1|1|unix|/tmp/plugin9|grpc":                     "/tmp/plugin9",
		"1|1|unix|/tmp/plugin9|grpc||true":               "/tmp/plugin9",
	}
	for in, want := range good {
		if got, err := parseHandshake(in); err != nil || got != want {
			t.Errorf("%q → %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"1|3|unix|/tmp/p|grpc|":         "protocol version mismatch: the plugin speaks stage protocol 3, rung speaks 1",
		"9|1|unix|/tmp/p|grpc|":         "protocol version mismatch: the plugin was built with an incompatible go-plugin",
		"this is not a handshake":       "not a go-plugin handshake",
		"1|1|unix|/tmp/p|netrpc|":       "not grpc",
		"1|1|tcp|127.0.0.1:1234|grpc|":  "not a unix socket",
		"1|1|unix|relative/sock|grpc|":  "not a unix socket",
		"1|1|unix|/tmp/p|grpc|MIIBcert": "TLS",
	}
	for in, want := range bad {
		if _, err := parseHandshake(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q → %v, want %q", in, err, want)
		}
	}
}

func TestCheckDescription(t *testing.T) {
	ok := func() *stagev1.DescribeResponse {
		return &stagev1.DescribeResponse{Name: "p", Version: "1", Stage: "extra", Handles: []string{"linux.x"}, FeaturesJson: []byte(`{"a":1}`)}
	}
	if err := CheckDescription(ok()); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(d *stagev1.DescribeResponse){
		"name is empty":                 func(d *stagev1.DescribeResponse) { d.Name = "" },
		"name is not a short printable": func(d *stagev1.DescribeResponse) { d.Name = "a\nb" },
		"version is empty":              func(d *stagev1.DescribeResponse) { d.Version = "" },
		"is not a stage name":           func(d *stagev1.DescribeResponse) { d.Stage = "Extra" },
		"is not a JSON path":            func(d *stagev1.DescribeResponse) { d.Handles = []string{"a b"} },
		"not a JSON object":             func(d *stagev1.DescribeResponse) { d.FeaturesJson = []byte(`[1]`) },
	}
	for want, mutate := range bad {
		d := ok()
		mutate(d)
		if err := CheckDescription(d); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}
