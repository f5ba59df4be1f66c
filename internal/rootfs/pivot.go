//go:build linux

package rootfs

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Pivot makes the prepared rootfs the process's root: pivot_root(".", ".")
// and a lazy unmount of the old root (after making it rslave so the unmount
// cannot propagate to the host), or with NoPivot a move of the rootfs onto
// "/" and chroot. It ends in "/" of the new root.
func Pivot(cfg *Config) error {
	if cfg == nil || cfg.Spec == nil {
		return errors.New("rootfs: no spec")
	}
	if err := unix.Chdir(cfg.Rootfs); err != nil {
		return fmt.Errorf("root.path: chdir to %q: %w", cfg.Rootfs, err)
	}
	sharesHostMounts := SharesHostMounts(cfg.Spec)
	var err error
	switch {
	case sharesHostMounts:
		// pivot_root or a move here would be the host's root: chroot, as
		// runc does for such a config.
		err = chrootHere()
	case cfg.NoPivot:
		err = moveRoot(cfg.Rootfs)
	default:
		err = pivotRoot(cfg.Rootfs)
	}
	if err != nil {
		return fmt.Errorf("root.path: jail into %q: %w", cfg.Rootfs, err)
	}
	if needsSetupDev(cfg.Spec) {
		if err := reopenDevNull(); err != nil {
			return err
		}
	}
	// runc applies the propagation again once the rootfs is "/": before the
	// pivot it only reached the old root's mounts.
	if p := cfg.linux().RootfsPropagation; p != "" && !sharesHostMounts {
		flags, err := RootPropagation(p)
		if err != nil {
			return err
		}
		if err := unix.Mount("", "/", "", flags, ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation: set propagation of the new / to %s: %w", p, err)
		}
	}
	return nil
}

func chrootHere() error {
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open old root: %w", err)
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open new root: %w", err)
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return fmt.Errorf("fchdir to new root: %w", err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one at
	// the same place, so no directory for it is needed inside the rootfs.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	// The kernel leaves "." as the old root today; do not rely on it.
	if err := unix.Fchdir(oldroot); err != nil {
		return fmt.Errorf("fchdir to old root: %w", err)
	}
	// rslave rather than rprivate: a private copy could keep host mounts
	// busy that the host expects to be free (runc's reasoning).
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// moveRoot is --no-pivot. With chroot the host's mounts stay in the mount
// namespace underneath, so full proc and sysfs mounts outside the rootfs
// are unmounted (or covered with a tmpfs where that is not allowed) first:
// otherwise they would let the container mount a fresh procfs (runc does
// the same).
func moveRoot(rootfs string) error {
	mounts, err := mountinfo.GetMounts(func(info *mountinfo.Info) (skip, stop bool) {
		inside := info.Mountpoint == rootfs || strings.HasPrefix(info.Mountpoint, rootfs+"/")
		full := info.Root == "/" && (info.FSType == "proc" || info.FSType == "sysfs")
		return inside || !full, false
	})
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	for _, m := range mounts {
		p := m.Mountpoint
		if err := unix.Mount("", p, "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // a parent was already detached
			}
			return fmt.Errorf("make %q rslave: %w", p, err)
		}
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
				return fmt.Errorf("unmount %q: %w", p, err)
			}
			if err := unix.Mount("tmpfs", p, "tmpfs", 0, ""); err != nil {
				return fmt.Errorf("cover %q with a tmpfs: %w", p, err)
			}
		}
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move rootfs onto /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// reopenDevNull points stdio that is the host's /dev/null at the
// container's, so the container holds nothing of the host's /dev.
func reopenDevNull() error {
	f, err := openDevNull(unix.O_RDWR)
	if err != nil {
		return fmt.Errorf("reopen /dev/null inside the container: %w", err)
	}
	defer f.Close()
	var null unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &null); err != nil {
		return err
	}
	for fd := 0; fd < 3; fd++ {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == null.Rdev {
			if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
				return fmt.Errorf("dup /dev/null onto fd %d: %w", fd, err)
			}
		}
	}
	return nil
}

// openDevNull opens the current root's /dev/null, refusing anything but
// the real null device (char 1:3) reached without symlinks: a container
// image or a racing process may have put a file or link there
// (CVE-2025-31133).
func openDevNull(flags int) (*os.File, error) {
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	if flags&unix.O_PATH == 0 {
		// openat2 rejects anything but O_CLOEXEC/O_DIRECTORY/O_NOFOLLOW
		// next to O_PATH.
		flags |= unix.O_NOCTTY
	}
	how := unix.OpenHow{
		Flags:   uint64(flags),
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, "/dev/null", &how)
	if errors.Is(err, unix.ENOSYS) {
		fd, err = unix.Open("/dev/null", flags, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("open /dev/null: %w", err)
	}
	f := os.NewFile(uintptr(fd), "/dev/null")
	if err := verifyDevNull(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func verifyDevNull(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("fstat /dev/null: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		return fmt.Errorf("/dev/null is not the null device (mode %#o, device %d:%d); refusing to use it",
			st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	return nil
}
