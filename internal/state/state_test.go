package state

import (
	"errors"
	"os"
	"testing"
	"time"
)

// A command waiting for the lock of a container that the holder deletes,
// and a create then remakes under the same id, must not come away holding
// a lock on the old, removed directory while it works on the new one.
func TestLockFollowsTheDirectory(t *testing.T) {
	s := Store{Root: t.TempDir()}
	if err := s.Reserve("c"); err != nil {
		t.Fatal(err)
	}
	unlock, err := s.Lock("c")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	var unlockWaiter func()
	go func() {
		var err error
		unlockWaiter, err = s.Lock("c")
		got <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the waiter block in flock
	if err := s.Remove("c"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve("c"); err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	// The waiter holds the new directory's lock: a third locker blocks.
	third := make(chan struct{})
	go func() {
		if u, err := s.Lock("c"); err == nil {
			u()
		}
		close(third)
	}()
	select {
	case <-third:
		t.Fatal("a second lock on the new directory was granted while the waiter holds it")
	case <-time.After(50 * time.Millisecond):
	}
	unlockWaiter()
	<-third

	if err := s.Remove("c"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock("c"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Lock of a removed container: %v, want ErrNotExist", err)
	}
	if entries, _ := os.ReadDir(s.Root); len(entries) != 0 {
		t.Fatalf("state root not empty: %v", entries)
	}
}
