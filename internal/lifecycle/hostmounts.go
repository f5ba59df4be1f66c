package lifecycle

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/state"
)

// mountsUnder lists the mounts at or below dir in this mount namespace.
func mountsUnder(dir string) ([]*mountinfo.Info, error) {
	dir = filepath.Clean(dir)
	return mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.Mountpoint != dir && !strings.HasPrefix(m.Mountpoint, dir+"/"), false
	})
}

// recordHostMounts notes, before the init runs, which mounts the rootfs
// already has (containerd's overlay, say), so that delete takes away only
// the container's.
func recordHostMounts(rec *state.Container) error {
	rec.SharesHostMounts = true
	mounts, err := mountsUnder(rec.Rootfs)
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	rec.RootfsMountsBefore = nil
	for _, m := range mounts {
		rec.RootfsMountsBefore = append(rec.RootfsMountsBefore, m.ID)
	}
	return nil
}

// unmountContainerMounts detaches, deepest first, every mount under the
// rootfs of a container without a mount namespace that was not there
// before its create. Idempotent: a second call finds nothing new.
func unmountContainerMounts(rec *state.Container) error {
	if !rec.SharesHostMounts || rec.Rootfs == "" {
		return nil
	}
	mounts, err := mountsUnder(rec.Rootfs)
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	// Deepest first, and of mounts stacked on one point the newest first.
	sort.Slice(mounts, func(i, j int) bool {
		di, dj := strings.Count(mounts[i].Mountpoint, "/"), strings.Count(mounts[j].Mountpoint, "/")
		if di != dj {
			return di > dj
		}
		return mounts[i].ID > mounts[j].ID
	})
	var errs []error
	for _, m := range mounts {
		if slices.Contains(rec.RootfsMountsBefore, m.ID) {
			continue
		}
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil &&
			!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m.Mountpoint, err))
		}
	}
	return errors.Join(errs...)
}
