package cgroupfs

import (
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// mountTable is this process's /proc/self/mountinfo, read again only when
// the kernel flags a change of the mount namespace: an open mountinfo polls
// POLLPRI|POLLERR once the table changed after it was opened (how systemd
// watches mounts). A warm plugin otherwise reads and parses the whole table
// in every Prepare and Destroy (0.2-0.4 ms of a v1 Destroy here).
type mountTable struct {
	mu   sync.Mutex
	path string
	f    *os.File // nil until first read
	data []byte
	gen  uint64
}

var selfMounts = &mountTable{path: "/proc/self/mountinfo"}

// read returns the table and its generation, which changes whenever the
// table may have: a caller may keep what it derived from one generation.
func (t *mountTable) read() ([]byte, uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f != nil {
		fds := []unix.PollFd{{Fd: int32(t.f.Fd()), Events: unix.POLLPRI}}
		_, err := unix.Poll(fds, 0)
		if err == nil && fds[0].Revents&(unix.POLLPRI|unix.POLLERR|unix.POLLNVAL) == 0 {
			return t.data, t.gen, nil
		}
		t.f.Close()
		t.f = nil
	}
	// Opened before it is read, so a change during the read is flagged by
	// the next poll rather than lost. A blocking descriptor keeps the file
	// out of Go's poller, which would otherwise hold it too.
	fd, err := unix.Open(t.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, &os.PathError{Op: "open", Path: t.path, Err: err}
	}
	f := os.NewFile(uintptr(fd), t.path)
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	t.f, t.data = f, data
	t.gen++
	return data, t.gen, nil
}

// Derived keeps what was derived from one generation of this process's
// mount table: Derive calls f on the table only when it changed since f
// last ran (the cgroup2 Mount here, the v1 Host in rung-cgroupv1).
type Derived[T any] struct {
	mu  sync.Mutex
	gen uint64
	v   T
	err error
}

// Derive is f of /proc/self/mountinfo, kept until the table changes.
func (d *Derived[T]) Derive(f func([]byte) (T, error)) (T, error) {
	data, gen, err := selfMounts.read()
	if err != nil {
		var zero T
		return zero, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gen != gen {
		d.v, d.err = f(data)
		d.gen = gen
	}
	return d.v, d.err
}
