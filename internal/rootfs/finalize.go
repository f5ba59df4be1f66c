//go:build linux

package rootfs

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// Finalize runs after the pivot, with "/" the container's root: it binds
// the console on /dev/console, makes linux.readonlyPaths read-only, masks
// linux.maskedPaths, then makes the tmpfs mounts (and /dev) that asked for
// "ro" read-only and, with root.readonly, the root itself.
//
// Everything here works on file descriptors with the new mount API
// (open_tree, move_mount, fsmount, mount_setattr), so none of it depends on
// the container's /proc or on a path staying the same between check and
// mount.
func Finalize(cfg *Config) error {
	if cfg == nil || cfg.Spec == nil {
		return errors.New("rootfs: no spec")
	}
	rootFd, err := os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("rootfs: open /: %w", err)
	}
	defer rootFd.Close()

	if cfg.ConsoleSlave != "" {
		if err := mountConsole(rootFd, cfg.ConsoleSlave); err != nil {
			return fmt.Errorf("process.terminal: /dev/console: %w", err)
		}
	}
	l := cfg.linux()
	for i, p := range l.ReadonlyPaths {
		if err := readonlyPath(rootFd, p); err != nil {
			return fmt.Errorf("linux.readonlyPaths[%d]: %q: %w", i, p, err)
		}
	}
	if len(l.MaskedPaths) > 0 {
		if err := maskPaths(rootFd, l.MaskedPaths, cfg.MountLabel); err != nil {
			return err
		}
	}
	for i, m := range cfg.Spec.Mounts {
		if !delayReadonly(m) || ParseMountOptions(m.Options).Flags&unix.MS_RDONLY == 0 {
			continue
		}
		if err := setReadonly(rootFd, cleanDest(m.Destination), false); err != nil {
			return fmt.Errorf("mounts[%d]: make %q read-only: %w", i, m.Destination, err)
		}
	}
	if cfg.Spec.Root != nil && cfg.Spec.Root.Readonly {
		if err := setReadonly(rootFd, "/", true); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	return nil
}

// openIn resolves p inside the root (symlinks stay inside, magic links are
// refused) and returns an O_PATH handle.
func openIn(rootFd *os.File, p string) (*os.File, error) {
	p = cleanDest(p)
	if p == "/" {
		fd, err := unix.Openat(int(rootFd.Fd()), ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), "/"), nil
	}
	return pathrs.OpenatInRoot(rootFd, p)
}

// cloneMount makes a detached copy of the mount tree at f (open_tree).
func cloneMount(f *os.File, recursive bool) (*os.File, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(int(f.Fd()), "", flags)
	if err != nil {
		return nil, fmt.Errorf("open_tree(%s): %w", f.Name(), err)
	}
	return os.NewFile(uintptr(fd), "tree:"+f.Name()), nil
}

// attach mounts the detached tree on top of target (move_mount).
func attach(tree, target *os.File) error {
	err := unix.MoveMount(int(tree.Fd()), "", int(target.Fd()), "",
		unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("move_mount onto %s: %w", target.Name(), err)
	}
	return nil
}

// mountConsole binds the pty slave on /dev/console. /dev/console must be a
// regular file or a character device reached without following a symlink
// (a symlink there would aim the bind elsewhere: CVE-2025-52565), and the
// source must be a pty slave.
func mountConsole(rootFd *os.File, slave string) error {
	src, err := openIn(rootFd, slave)
	if err != nil {
		return fmt.Errorf("open pty slave %q: %w", slave, err)
	}
	defer src.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return fmt.Errorf("stat pty slave %q: %w", slave, err)
	}
	// Unix98 pty slaves have majors 136-143.
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) < 136 || unix.Major(st.Rdev) > 143 {
		return fmt.Errorf("%q is not a pty slave (device %d:%d)", slave, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}

	dev, err := openIn(rootFd, "/dev")
	if err != nil {
		return fmt.Errorf("open /dev: %w", err)
	}
	defer dev.Close()
	dfd := int(dev.Fd())
	var cst unix.Stat_t
	err = unix.Fstatat(dfd, "console", &cst, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
		devDir, rerr := reopenDir(dev)
		if rerr != nil {
			return rerr
		}
		fd, cerr := unix.Openat(int(devDir.Fd()), "console", unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o666)
		devDir.Close()
		if cerr != nil {
			return fmt.Errorf("create mount point: %w", cerr)
		}
		unix.Close(fd)
	case err != nil:
		return fmt.Errorf("stat: %w", err)
	case cst.Mode&unix.S_IFMT == unix.S_IFLNK:
		return errors.New("/dev/console is a symlink; refusing to mount through it")
	case cst.Mode&unix.S_IFMT != unix.S_IFREG && cst.Mode&unix.S_IFMT != unix.S_IFCHR:
		return fmt.Errorf("/dev/console is neither a file nor a character device (mode %#o); refusing", cst.Mode)
	}
	// O_PATH|O_NOFOLLOW: if a symlink was swapped in since the check, this
	// opens the link itself and the type check below catches it.
	tfd, err := unix.Openat(dfd, "console", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open mount point: %w", err)
	}
	target := os.NewFile(uintptr(tfd), "/dev/console")
	defer target.Close()
	if err := unix.Fstat(tfd, &cst); err != nil {
		return err
	}
	if k := cst.Mode & unix.S_IFMT; k != unix.S_IFREG && k != unix.S_IFCHR {
		return fmt.Errorf("/dev/console changed to mode %#o while being set up; refusing", cst.Mode)
	}
	tree, err := cloneMount(src, false)
	if err != nil {
		return err
	}
	defer tree.Close()
	return attach(tree, target)
}

// readonlyPath binds p onto itself (with its submounts) and makes the top
// mount read-only, keeping nosuid/nodev/noexec as they were (mount_setattr
// changes only the attribute it is given). A missing path is skipped.
func readonlyPath(rootFd *os.File, p string) error {
	target, err := openIn(rootFd, p)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer target.Close()
	tree, err := cloneMount(target, true)
	if err != nil {
		return err
	}
	defer tree.Close()
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(int(tree.Fd()), "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return fmt.Errorf("mount_setattr(ro): %w", err)
	}
	return attach(tree, target)
}

// maskPaths hides each path: a directory under an empty read-only tmpfs, a
// file under a bind of /dev/null. The /dev/null used is opened without
// following symlinks and checked to be the real null device, and the bind
// is made from that descriptor, so a swapped /dev/null can neither redirect
// the mask nor make a masked file writable (CVE-2025-31133). Missing paths
// are skipped.
func maskPaths(rootFd *os.File, paths []string, label string) error {
	var devNull *os.File
	defer func() {
		if devNull != nil {
			devNull.Close()
		}
	}()
	for i, p := range paths {
		target, err := openIn(rootFd, p)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("linux.maskedPaths[%d]: %q: %w", i, p, err)
		}
		var st unix.Stat_t
		err = unix.Fstat(int(target.Fd()), &st)
		if err == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				err = maskDir(target, label)
			} else {
				if devNull == nil {
					devNull, err = openDevNull(unix.O_PATH)
					if err != nil {
						target.Close()
						return fmt.Errorf("linux.maskedPaths: cannot mask files: %w", err)
					}
				}
				err = maskFile(target, devNull)
			}
		}
		target.Close()
		if err != nil {
			return fmt.Errorf("linux.maskedPaths[%d]: %q: %w", i, p, err)
		}
	}
	return nil
}

func maskDir(target *os.File, label string) error {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen(tmpfs): %w", err)
	}
	defer unix.Close(fsfd)
	if label != "" {
		if err := unix.FsconfigSetString(fsfd, "context", label); err != nil {
			return fmt.Errorf("tmpfs context=%q: %w", label, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("create tmpfs: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return fmt.Errorf("fsmount(tmpfs): %w", err)
	}
	tree := os.NewFile(uintptr(mfd), "tmpfs")
	defer tree.Close()
	return attach(tree, target)
}

func maskFile(target, devNull *os.File) error {
	tree, err := cloneMount(devNull, false)
	if err != nil {
		return err
	}
	defer tree.Close()
	return attach(tree, target)
}

// setReadonly makes the mount at p read-only (only that mount, not its
// submounts), keeping its other flags. With mustExist a missing p is an
// error.
func setReadonly(rootFd *os.File, p string, mustExist bool) error {
	f, err := openIn(rootFd, p)
	if err != nil {
		if errors.Is(err, unix.ENOENT) && !mustExist {
			return nil
		}
		return err
	}
	defer f.Close()
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	err = unix.MountSetattr(int(f.Fd()), "", unix.AT_EMPTY_PATH, &attr)
	if errors.Is(err, unix.ENOSYS) {
		err = remountReadonlyLegacy(f)
	}
	if err != nil {
		return fmt.Errorf("mount_setattr(ro): %w", err)
	}
	return nil
}

// remountReadonlyLegacy is for kernels before 5.12 (no mount_setattr):
// MS_REMOUNT|MS_BIND|MS_RDONLY with the mount's current flags.
func remountReadonlyLegacy(f *os.File) error {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &sfs); err != nil {
		return err
	}
	flags := statfsToMountFlags(uint64(sfs.Flags)) | unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY
	return unix.Mount("", "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), "", flags, "")
}
