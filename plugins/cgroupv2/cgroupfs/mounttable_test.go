package cgroupfs

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The kept table must be read again after a mount appears or goes, and
// not before: that is all the cache may assume.
func TestMountTableFollowsMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	tab := &mountTable{path: "/proc/self/mountinfo"}
	t.Cleanup(func() {
		if tab.f != nil {
			tab.f.Close()
		}
	})
	dir := t.TempDir()
	_, gen1, err := tab.read()
	if err != nil {
		t.Fatal(err)
	}
	if _, gen, _ := tab.read(); gen != gen1 {
		t.Fatalf("table read again without a mount change (generation %d -> %d)", gen1, gen)
	}
	if err := unix.Mount("rung-mounttable-test", dir, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			_ = unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	data, gen2, err := tab.read()
	if err != nil {
		t.Fatal(err)
	}
	if gen2 == gen1 || !strings.Contains(string(data), dir) {
		t.Fatalf("a new mount at %s was not noticed (generation %d -> %d)", dir, gen1, gen2)
	}
	if err := unix.Unmount(dir, 0); err != nil {
		t.Fatal(err)
	}
	mounted = false
	data, gen3, err := tab.read()
	if err != nil {
		t.Fatal(err)
	}
	if gen3 == gen2 || strings.Contains(string(data), dir) {
		t.Fatalf("the unmount of %s was not noticed (generation %d -> %d)", dir, gen2, gen3)
	}
}
