package lifecycle

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/logging"
)

// Both ways of sealing the init binary give a handle nothing can write
// through: the overlay (a real empty dir as second layer) and, where the
// overlay cannot be made (here: its second layer is missing), the memfd.
func TestSealedSelfIsNotWritable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: fsopen(\"overlay\")")
	}
	for _, tc := range []struct {
		name, emptyDir string
		fstype         int64
	}{
		{"overlay", t.TempDir(), unix.OVERLAYFS_SUPER_MAGIC},
		{"memfd fallback", "/nonexistent-rung-layer", unix.TMPFS_MAGIC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := sealedInit(logging.Discard(), nil, tc.emptyDir)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var sfs unix.Statfs_t
			if err := unix.Fstatfs(int(f.Fd()), &sfs); err != nil {
				t.Fatal(err)
			}
			if sfs.Type != tc.fstype {
				t.Errorf("sealed binary on filesystem %#x, want %#x", sfs.Type, tc.fstype)
			}
			// A sealed memfd may be opened for writing; the write fails.
			w, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), os.O_WRONLY, 0)
			if err == nil {
				_, err = w.Write([]byte("x"))
				w.Close()
			}
			if err == nil {
				t.Fatalf("wrote to the sealed init binary (%s)", tc.name)
			}
			if !errors.Is(err, unix.EROFS) && !errors.Is(err, unix.EPERM) {
				t.Errorf("writing: %v, want EROFS or EPERM", err)
			}
		})
	}
}

// rung-init is the init where it is installed and only root could have
// written it; a rung-init others could have written is passed over (with a
// warning) for rung itself.
func TestInitBinaryPrefersATrustedRungInit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the init binary must be root-owned")
	}
	good, bad := t.TempDir(), t.TempDir()
	for _, d := range []string{good, bad} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(good, InitName), []byte("good"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, InitName), []byte("bad"), 0o757); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(bad, InitName), 0o757); err != nil {
		t.Fatal(err)
	}
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dirs []string
		want string
	}{
		{[]string{good}, filepath.Join(good, InitName)},
		{[]string{t.TempDir(), good}, filepath.Join(good, InitName)},
		{[]string{bad, good}, self},
		{nil, self},
	} {
		f, err := initBinary(logging.Discard(), tc.dirs)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
		f.Close()
		if got != tc.want {
			t.Errorf("dirs %v: init binary %s, want %s", tc.dirs, got, tc.want)
		}
	}
}
