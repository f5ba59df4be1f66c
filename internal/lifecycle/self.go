package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/launcher"
	"github.com/rung-runtime/rung/internal/logging"
)

// sealedInit returns a handle on the init binary that cannot be written
// through: a container that reaches the init's /proc/self/exe must not be
// able to overwrite a binary of the host (CVE-2019-5736). The init binary
// is rung-init where one is installed (initBinary), else rung itself.
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
func sealedInit(log *logging.Logger, files []*os.File, emptyDir string) (*os.File, error) {
	bin, err := initBinary(log, initDirs())
	if err != nil {
		return nil, fmt.Errorf("sealing the init binary: %w", err)
	}
	defer bin.Close()
	fd, err := overlayOf(bin, emptyDir)
	if err != nil {
		fd, err = memfdOf(bin)
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

// InitName is the separately built init (cmd/host/init).
const InitName = "rung-init"

// initBinary opens the binary to start as the init: rung-init from rung's
// own directory or rung's libexec directories, when it is there and only
// root can have written it; otherwise the running rung (which is an init
// too). rung-init starts in half the time and maps a fifth of the memory,
// because it links none of the runtime's CLI, gRPC or plugin code.
func initBinary(log *logging.Logger, dirs []string) (*os.File, error) {
	for _, dir := range dirs {
		path := filepath.Join(dir, InitName)
		if _, err := os.Lstat(path); err != nil {
			continue
		}
		f, err := openTrustedInit(path)
		if err != nil {
			log.Warnf("not using %s as the init: %v; rung starts itself instead", path, err)
			break
		}
		return f, nil
	}
	return os.Open("/proc/self/exe")
}

func initDirs() []string {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			dirs = append(dirs, filepath.Dir(exe))
		}
	}
	return append(dirs, "/usr/local/libexec/rung", "/usr/libexec/rung")
}

// openTrustedInit opens path as the launcher opens a plugin: links
// followed only through trusted directories, and the opened inode itself
// checked (a regular file, in a directory, that nobody but root could have
// written).
func openTrustedInit(path string) (*os.File, error) {
	real, err := launcher.Resolve(launcher.Spec{Binary: path})
	if err != nil {
		return nil, err
	}
	return launcher.OpenVerified(real, "")
}

// overlayOf opens bin (O_PATH) on a fresh read-only overlayfs whose first
// lower layer is the binary's directory, and checks that it is the same
// file.
func overlayOf(bin *os.File, emptyDir string) (int, error) {
	exe, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(bin.Fd())))
	if err != nil {
		return -1, err
	}
	var want unix.Stat_t
	if err := unix.Fstat(int(bin.Fd()), &want); err != nil {
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
	// The binary may have been replaced on disk since we opened it (an
	// upgrade): then the overlay shows the new file, not the checked one.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Size != want.Size || st.Mode != want.Mode || st.Mtim != want.Mtim {
		unix.Close(fd)
		return -1, errors.New("the binary on disk is not the one opened")
	}
	return fd, nil
}

// memfdOf copies the binary into a sealed memfd.
func memfdOf(src *os.File) (int, error) {
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
