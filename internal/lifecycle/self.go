package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// sealedSelf returns a handle on the running binary that cannot be written
// through, to re-execute as the init: a container that reaches the init's
// /proc/self/exe must not be able to overwrite the host's rung
// (CVE-2019-5736).
//
// First choice, as runc 1.2: the binary seen through a detached, read-only
// overlayfs (never attached to any mount tree, so no mount events, and gone
// once the init has exec'd the container's process). It costs no copy: the
// pages are the installed binary's. Where overlayfs or the new mount API is
// missing, a sealed memfd copy. emptyDir is the overlay's second lower layer
// (overlayfs needs two without an upper one); nothing of it is reachable
// through a handle on one file.
//
// The fd is placed above every fd of files, because exec.Cmd rearranges
// those in the child before execve and could reuse a low number.
func sealedSelf(files []*os.File, emptyDir string) (*os.File, error) {
	fd, err := overlaySelf(emptyDir)
	if err != nil {
		fd, err = memfdSelf()
	}
	if err != nil {
		return nil, fmt.Errorf("sealing the init binary: %w", err)
	}
	high := 3 + len(files)
	for _, f := range files {
		if n := int(f.Fd()); n > high {
			high = n
		}
	}
	high += len(files) + 8
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, high)
	unix.Close(fd)
	if err != nil {
		return nil, fmt.Errorf("sealing the init binary: %w", err)
	}
	return os.NewFile(uintptr(dup), "rung-init"), nil
}

// overlaySelf opens the running binary (O_PATH) on a fresh read-only
// overlayfs whose first lower layer is the binary's directory, and checks
// that it is the same file.
func overlaySelf(emptyDir string) (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return -1, err
	}
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &self); err != nil {
		return -1, err
	}
	ctx, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(ctx)
	dir, name := filepath.Split(exe)
	if err := unix.FsconfigSetString(ctx, "lowerdir", filepath.Clean(dir)+":"+emptyDir); err != nil {
		return -1, err
	}
	// No inode-number remapping: nothing else is on this mount.
	_ = unix.FsconfigSetString(ctx, "xino", "off")
	if err := unix.FsconfigCreate(ctx); err != nil {
		return -1, err
	}
	mnt, err := unix.Fsmount(ctx, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return -1, err
	}
	defer unix.Close(mnt)
	fd, err := unix.Openat(mnt, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	// The binary may have been replaced on disk since we started (an
	// upgrade): then the overlay shows the new file, not us.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Size != self.Size || st.Mode != self.Mode {
		unix.Close(fd)
		return -1, errors.New("the binary on disk is not the running one")
	}
	return fd, nil
}

// memfdSelf copies the running binary into a sealed memfd.
func memfdSelf() (int, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return -1, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("rung-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("memfd: %w", err)
	}
	fi, err := src.Stat()
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	for copied := int64(0); copied < fi.Size(); {
		n, err := unix.Sendfile(fd, int(src.Fd()), nil, int(fi.Size()-copied))
		if err != nil || n == 0 {
			unix.Close(fd)
			return -1, fmt.Errorf("copy: %v", err)
		}
		copied += int64(n)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("seals: %w", err)
	}
	return fd, nil
}
