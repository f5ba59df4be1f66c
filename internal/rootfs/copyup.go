//go:build linux

package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// maxCopyDepth bounds the recursion of tmpcopyup on hostile images.
const maxCopyDepth = 128

// copyTree copies the contents of directory src into directory dst (both
// real directory fds), keeping modes and owners. Every entry is opened
// relative to its parent with O_NOFOLLOW, so symlinks are copied as
// symlinks and never followed.
func copyTree(src, dst *os.File, depth int) error {
	if depth > maxCopyDepth {
		return fmt.Errorf("%s: directory tree deeper than %d levels", src.Name(), maxCopyDepth)
	}
	names, err := src.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read %s: %w", src.Name(), err)
	}
	sfd, dfd := int(src.Fd()), int(dst.Fd())
	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(sfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("stat %s/%s: %w", src.Name(), name, err)
		}
		perm := st.Mode & 0o7777
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if err := unix.Mkdirat(dfd, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("mkdir %s: %w", name, err)
			}
			if err := copySubdir(src, dst, name, depth); err != nil {
				return err
			}
		case unix.S_IFREG:
			if err := copyFile(sfd, dfd, name); err != nil {
				return err
			}
		case unix.S_IFLNK:
			buf := make([]byte, unix.PathMax)
			n, err := unix.Readlinkat(sfd, name, buf)
			if err != nil {
				return fmt.Errorf("readlink %s: %w", name, err)
			}
			if err := unix.Symlinkat(string(buf[:n]), dfd, name); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("symlink %s: %w", name, err)
			}
		case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
			if err := unix.Mknodat(dfd, name, st.Mode, int(st.Rdev)); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("mknod %s: %w", name, err)
			}
		default:
			continue
		}
		if err := unix.Fchownat(dfd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("chown %s: %w", name, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			if err := fchmodNoFollow(dfd, name, perm); err != nil {
				return fmt.Errorf("chmod %s: %w", name, err)
			}
		}
	}
	return nil
}

func copySubdir(src, dst *os.File, name string, depth int) error {
	sfd, err := unix.Openat(int(src.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	s := os.NewFile(uintptr(sfd), src.Name()+"/"+name)
	defer s.Close()
	dfd, err := unix.Openat(int(dst.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open copy of %s: %w", name, err)
	}
	d := os.NewFile(uintptr(dfd), dst.Name()+"/"+name)
	defer d.Close()
	return copyTree(s, d, depth+1)
}

func copyFile(sdir, ddir int, name string) error {
	sfd, err := unix.Openat(sdir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	s := os.NewFile(uintptr(sfd), name)
	defer s.Close()
	dfd, err := unix.Openat(ddir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create copy of %s: %w", name, err)
	}
	d := os.NewFile(uintptr(dfd), name)
	defer d.Close()
	if _, err := io.Copy(d, s); err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	return nil
}

// fchmodNoFollow chmods dir/name without following a symlink swapped in
// there: it opens the entry O_PATH|O_NOFOLLOW and chmods through its
// /proc/thread-self/fd path, which names exactly that inode.
func fchmodNoFollow(dir int, name string, perm uint32) error {
	fd, err := unix.Openat(dir, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil
	}
	return withProcfd(f, func(p string) error { return unix.Chmod(p, perm) })
}
