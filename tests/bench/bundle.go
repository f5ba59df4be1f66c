package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/tests/testutil"
)

// bundles are the bundles every runtime runs: busybox `true`, a long-lived
// `sleep` to exec into, and `true` under Docker's default seccomp profile
// (what containerd and podman pass for nearly every container; runc's
// spec, like the others here, has none). All use the integration tests'
// default spec (runc spec's shape: pid, net, ipc, uts, mnt, cgroup
// namespaces, the usual mounts, masked and read-only paths, three
// capabilities), so the benchmark measures what the tests prove works.
type bundles struct {
	trueDir, sleepDir, seccompDir string
}

// markerEnv is in every container's environment and every runtime's, with
// the bench's temp dir as value: whatever carries it afterwards is a leak.
const markerEnv = "RUNG_BENCH"

func makeBundles(base string) (*bundles, error) {
	b := &bundles{trueDir: filepath.Join(base, "bundle-true"), sleepDir: filepath.Join(base, "bundle-sleep"),
		seccompDir: filepath.Join(base, "bundle-seccomp")}
	for dir, args := range map[string][]string{b.trueDir: {"true"}, b.sleepDir: {"sleep", "100000"}} {
		if err := makeBundle(dir, args, base, nil); err != nil {
			return nil, err
		}
	}
	profile, err := testutil.MobyToOCI(testutil.MobyDefaultProfile(), testutil.NativeSeccompArch())
	if err != nil {
		return nil, fmt.Errorf("docker's default seccomp profile: %w", err)
	}
	if err := makeBundle(b.seccompDir, []string{"true"}, base, profile); err != nil {
		return nil, err
	}
	return b, nil
}

func makeBundle(dir string, args []string, marker string, seccomp *specs.LinuxSeccomp) error {
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	if err := copyFile(testutil.BusyboxBin(), filepath.Join(root, "bin", "busybox")); err != nil {
		return fmt.Errorf("busybox (package busybox-static): %w", err)
	}
	for _, a := range []string{"sh", "true", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			return err
		}
	}
	spec := testutil.DefaultSpec()
	// 1.1.0, not the 1.3.0 the tests write: crun 1.8.1 refuses versions it
	// does not know before it says anything about the host, and the spec
	// uses nothing newer than 1.1.
	spec.Version = "1.1.0"
	spec.Process.Args = args
	spec.Process.Env = append(spec.Process.Env, markerEnv+"="+marker)
	spec.Linux.Seccomp = seccomp
	return writeSpec(dir, spec)
}

func writeSpec(dir string, spec *specs.Spec) error {
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
