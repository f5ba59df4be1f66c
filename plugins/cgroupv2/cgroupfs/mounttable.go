package cgroupfs

import (
	"errors"
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
	fd   int // -1 until first read
	data []byte
	gen  uint64
}

var selfMounts = &mountTable{path: "/proc/self/mountinfo", fd: -1}

// read returns the table and its generation, which changes whenever the
// table may have: a caller may keep what it derived from one generation.
func (t *mountTable) read() ([]byte, uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd >= 0 {
		fds := []unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLPRI}}
		_, err := unix.Poll(fds, 0)
		if err == nil && fds[0].Revents&(unix.POLLPRI|unix.POLLERR|unix.POLLNVAL) == 0 {
			return t.data, t.gen, nil
		}
		unix.Close(t.fd)
		t.fd = -1
	}
	// Opened before it is read, so a change during the read is flagged by
	// the next poll rather than lost.
	fd, err := unix.Open(t.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, err
	}
	data, err := readAllFd(fd)
	if err != nil {
		unix.Close(fd)
		return nil, 0, err
	}
	t.fd, t.data = fd, data
	t.gen++
	return data, t.gen, nil
}

func readAllFd(fd int) ([]byte, error) {
	buf := make([]byte, 0, 8192)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
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
