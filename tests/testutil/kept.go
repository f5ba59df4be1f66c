package testutil

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// ForgetKeptAnswers removes, when the test ends, the plugin answers rung
// kept during it: they are keyed by the test's own plugin dir, so no later
// command would use them, but they count against the store's bound. The
// removal goes by what appeared during the test, so two such tests must
// not overlap (packages run at once, and one's cleanup would take the
// other's answers mid-test): each holds a lock on a file for its whole run.
func ForgetKeptAnswers(t testing.TB) {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "rung-kept-tests.lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatalf("kept-answer test lock: %v", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		lock.Close()
		t.Fatalf("kept-answer test lock: %v", err)
	}
	const pattern = "/dev/shm/rung-plugins/kept-*"
	before, _ := filepath.Glob(pattern)
	t.Cleanup(func() {
		after, _ := filepath.Glob(pattern)
		for _, f := range after {
			if !slices.Contains(before, f) {
				os.Remove(f)
			}
		}
		lock.Close() // and with it the lock
	})
}
