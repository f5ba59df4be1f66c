package cgroupfs

import (
	"context"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// removed says a read of the cgroup at dir failed because the cgroup is
// gone, which ends a watch.
func removed(dir string, err error) bool {
	return !exists(dir) || Gone(err)
}

// pollInterval bounds how long WatchOOM takes to notice a cancelled context
// or a removed cgroup; OOM kills themselves wake it at once through inotify.
const pollInterval = 250

// WatchOOM calls onOOM each time the oom_kill counter in the cgroup's
// memory.events grows, until ctx ends, the cgroup is removed (both return
// nil) or onOOM fails. Without the memory controller there is nothing to
// report, and it just waits.
func WatchOOM(ctx context.Context, dir string, onOOM func(kills uint64) error) error {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return err
	}
	defer unix.Close(ifd)
	watching := false
	watch := func() {
		if !watching {
			_, err := unix.InotifyAddWatch(ifd, filepath.Join(dir, "memory.events"), unix.IN_MODIFY)
			watching = err == nil
		}
	}
	watch()
	last, _, err := OOMKills(dir)
	if err != nil {
		if removed(dir, err) {
			return nil
		}
		return err
	}
	buf := make([]byte, 4096)
	for {
		if ctx.Err() != nil {
			return nil
		}
		fds := []unix.PollFd{{Fd: int32(ifd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, pollInterval); err != nil && err != unix.EINTR {
			return err
		}
		for {
			if n, err := unix.Read(ifd, buf); n <= 0 || err != nil {
				break
			}
		}
		if !exists(filepath.Join(dir, "cgroup.procs")) {
			return nil
		}
		watch()
		n, ok, err := OOMKills(dir)
		if err != nil {
			if removed(dir, err) {
				return nil
			}
			return err
		}
		if ok && n > last {
			if err := onOOM(n); err != nil {
				return err
			}
		}
		if ok {
			last = n
		}
	}
}
