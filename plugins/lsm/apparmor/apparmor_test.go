package apparmor

import (
	"bytes"
	"io"
	"os/exec"
	"strings"
	"testing"
)

func TestDefaultProfileDeclaresItsName(t *testing.T) {
	if !strings.Contains(DefaultProfile, "\nprofile "+DefaultProfileName+" ") {
		t.Fatalf("rung-default does not declare profile %s", DefaultProfileName)
	}
}

// The profile must compile; -Q skips loading it into the kernel, so this
// runs on hosts without AppArmor too (it only needs the parser and the
// abstractions it includes).
func TestDefaultProfileCompiles(t *testing.T) {
	parser, err := exec.LookPath("apparmor_parser")
	if err != nil {
		t.Skip("apparmor_parser is not installed: cannot check the profile's syntax")
	}
	// -S writes the compiled policy to stdout, which is not wanted here.
	var stderr bytes.Buffer
	cmd := exec.Command(parser, "-Q", "-K", "-S", "rung-default")
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("apparmor_parser rejects rung-default: %v\n%s", err, stderr.String())
	}
}
