package cgroupfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	v2fs "github.com/rung-runtime/rung/plugins/cgroupv2/cgroupfs"
)

// pollInterval bounds how long WatchOOM takes to notice a cancelled
// context; OOM events themselves wake it at once through the eventfd.
const pollInterval = 250

// WatchOOM calls onOOM for each OOM notification of the memory cgroup at
// dir, registered as runc does (an eventfd tied to memory.oom_control
// through cgroup.event_control), until ctx ends or the cgroup is removed
// (both return nil) or onOOM fails.
func WatchOOM(ctx context.Context, dir string, onOOM func() error) error {
	oom, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return err
	}
	defer oom.Close()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	defer unix.Close(efd)
	control := filepath.Join(dir, "cgroup.event_control")
	if err := v2fs.WriteFile(dir, "cgroup.event_control", fmt.Sprintf("%d %d", efd, oom.Fd())); err != nil {
		return fmt.Errorf("register for OOM events of %s: %w", dir, err)
	}
	buf := make([]byte, 8)
	for {
		if ctx.Err() != nil {
			return nil
		}
		fds := []unix.PollFd{{Fd: int32(efd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, pollInterval)
		if err != nil && err != unix.EINTR {
			return err
		}
		if n <= 0 {
			if !exists(control) {
				return nil
			}
			continue
		}
		if _, err := unix.Read(efd, buf); err != nil {
			if err == unix.EAGAIN {
				continue
			}
			return err
		}
		// The kernel also signals the eventfd when the cgroup goes away;
		// that is the end of the stream, not an OOM.
		if !exists(control) {
			return nil
		}
		if err := onOOM(); err != nil {
			return err
		}
	}
}
