package lifecycle

import (
	"errors"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
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
			f, err := sealedSelf(nil, tc.emptyDir)
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
