package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rung-runtime/rung/tests/testutil"
)

// The busybox image is built once per test binary and shared (read-only)
// by the containerd and podman tests; TestMain removes it.
var image struct {
	once    sync.Once
	dir     string
	archive string // tar of the OCI layout, tag "latest"
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if image.dir != "" && os.Getenv("RUNG_TEST_KEEP") == "" {
		os.RemoveAll(image.dir)
	}
	os.Exit(code)
}

// busyboxArchive returns the path of a tar of an OCI image layout holding a
// one-layer busybox image tagged "latest" (ctr imports it as
// <base-name>:latest).
func busyboxArchive(t *testing.T) string {
	t.Helper()
	image.once.Do(func() { image.dir, image.archive, image.err = buildImage() })
	if image.err != nil {
		t.Fatalf("build the busybox image with umoci: %v", image.err)
	}
	return image.archive
}

func buildImage() (dir, archive string, err error) {
	dir, err = os.MkdirTemp("", "rung-e2e-image-")
	if err != nil {
		return "", "", err
	}
	layout := filepath.Join(dir, "oci")
	bundle := filepath.Join(dir, "bundle")
	ref := layout + ":latest"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	step := func(name string, args ...string) error {
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %v: %w: %s", name, args, err, out)
		}
		return nil
	}
	if err := step("umoci", "init", "--layout", layout); err != nil {
		return dir, "", err
	}
	if err := step("umoci", "new", "--image", ref); err != nil {
		return dir, "", err
	}
	if err := step("umoci", "unpack", "--image", ref, bundle); err != nil {
		return dir, "", err
	}
	if err := fillRootfs(filepath.Join(bundle, "rootfs")); err != nil {
		return dir, "", err
	}
	if err := step("umoci", "repack", "--image", ref, bundle); err != nil {
		return dir, "", err
	}
	if err := step("umoci", "config", "--image", ref,
		"--config.cmd", "sh", "--config.workingdir", "/",
		"--config.env", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"); err != nil {
		return dir, "", err
	}
	// Drop the manifest repack made before config replaced it.
	if err := step("umoci", "gc", "--layout", layout); err != nil {
		return dir, "", err
	}
	archive = filepath.Join(dir, "busybox-oci.tar")
	if err := step("tar", "-C", layout, "-cf", archive, "."); err != nil {
		return dir, "", err
	}
	return dir, archive, nil
}

// fillRootfs puts static busybox and its applet links in an empty rootfs,
// with just enough of /etc for user lookups. /proc, /dev and /sys are left
// for the runtime to create, as runc does for images without them.
func fillRootfs(root string) error {
	for _, d := range []string{"bin", "etc", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := copyFile(testutil.BusyboxBin(), filepath.Join(root, "bin", "busybox")); err != nil {
		return fmt.Errorf("busybox (package busybox-static): %w", err)
	}
	for _, a := range append(append([]string(nil), testutil.Applets...), "tty", "stty") {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
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
