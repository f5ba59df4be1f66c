//go:build linux

package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	"golang.org/x/sys/unix"

	rprocfs "github.com/rung-runtime/rung/internal/procfs"
)

// withProcfd runs fn with a "/proc/thread-self/fd/N" path naming f, for the
// syscalls (mount(2)) that take only paths: the kernel follows the magic
// link to exactly the file f refers to, so nothing on the string path can be
// swapped in between. The thread is locked so thread-self stays this one.
func withProcfd(f *os.File, fn func(p string) error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return fn("/proc/thread-self/fd/" + strconv.Itoa(int(f.Fd())))
}

// checkProc makes sure /proc is a real procfs root before its magic links
// are trusted as mount(2) targets.
func checkProc() error {
	if err := rprocfs.VerifyProcMount("/proc"); err != nil {
		return fmt.Errorf("/proc cannot be used to name mount targets: %w", err)
	}
	return nil
}

// realPath returns the path f refers to, read through the verified procfs.
func realPath(f *os.File) (string, error) {
	p, err := procfs.ProcSelfFdReadlink(f)
	if err != nil {
		return "", fmt.Errorf("find the real path of %s: %w", f.Name(), err)
	}
	return p, nil
}

// root is an open rootfs: every path in the spec is resolved inside it by
// file descriptor (openat2 RESOLVE_IN_ROOT via pathrs-lite), never by
// joining strings, so a symlink in the image cannot point a mount outside.
type root struct {
	f    *os.File // O_PATH handle of the rootfs
	path string   // its real (symlink-free) host path
}

func openRoot(path string) (*root, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("rootfs %q is not an absolute path", path)
	}
	f, err := os.OpenFile(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs: %w", err)
	}
	real, err := realPath(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &root{f: f, path: real}, nil
}

func (r *root) Close() error { return r.f.Close() }

// cleanDest turns a spec destination into an absolute, lexically clean
// path. Relative destinations are taken relative to "/", as runc does.
func cleanDest(dest string) string {
	return filepath.Clean("/" + dest)
}

// open resolves dest inside the root (symlinks included, all kept inside)
// and returns an O_PATH handle.
func (r *root) open(dest string) (*os.File, error) {
	return pathrs.OpenatInRoot(r.f, cleanDest(dest))
}

// rel returns f's path relative to the root ("/dev/shm"), or an error if f
// is not inside it.
func (r *root) rel(f *os.File) (string, error) {
	p, err := realPath(f)
	if err != nil {
		return "", err
	}
	if r.path == "/" {
		return p, nil
	}
	if p == r.path {
		return "/", nil
	}
	if rest, ok := strings.CutPrefix(p, r.path+"/"); ok {
		return "/" + rest, nil
	}
	return "", fmt.Errorf("%s resolved to %q, outside the rootfs %q (possible breakout)", f.Name(), p, r.path)
}

// mkdirAll creates dest (and its parents) as directories inside the root
// and returns an O_PATH handle to it.
func (r *root) mkdirAll(dest string) (*os.File, error) {
	f, err := r.open(dest)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, unix.ENOENT) {
		return nil, err
	}
	// A missing path may sit behind a dangling symlink: create where the
	// link points, lexically resolved inside the root (runc's behaviour).
	p, err := r.inRootPath(dest)
	if err != nil {
		return nil, err
	}
	return pathrs.MkdirAllHandle(r.f, p, 0o755)
}

// inRootPath resolves dest's symlinks lexically inside the root (as a
// plan only: the result is still opened by fd afterwards).
func (r *root) inRootPath(dest string) (string, error) {
	joined, err := securejoin.SecureJoin(r.path, cleanDest(dest))
	if err != nil {
		return "", err
	}
	if r.path == "/" {
		return joined, nil
	}
	if joined == r.path {
		return "/", nil
	}
	rest, ok := strings.CutPrefix(joined, r.path+"/")
	if !ok {
		return "", fmt.Errorf("%q resolved outside the rootfs", dest)
	}
	return "/" + rest, nil
}

// mkfile creates dest as an empty file (parents as directories) inside the
// root unless something is already there, and returns an O_PATH handle.
func (r *root) mkfile(dest string) (*os.File, error) {
	f, err := r.open(dest)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, unix.ENOENT) {
		return nil, err
	}
	p, err := r.inRootPath(dest)
	if err != nil {
		return nil, err
	}
	if p == "/" {
		return nil, errors.New("cannot create a file over the rootfs itself")
	}
	dir, err := pathrs.MkdirAllHandle(r.f, filepath.Dir(p), 0o755)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	fd, err := unix.Openat(int(dir.Fd()), filepath.Base(p), unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("create mount point %q: %w", p, err)
	}
	if err == nil {
		unix.Close(fd)
	}
	return r.open(p)
}

// mkdirNoFollow returns a handle to dest, which must be a real directory:
// the last component may not be a symlink (proc and sysfs, CVE-2019-19921).
// It is created if missing.
func (r *root) mkdirNoFollow(dest string) (*os.File, error) {
	dest = cleanDest(dest)
	if dest == "/" {
		return nil, errors.New("cannot mount over the rootfs itself")
	}
	parent, err := r.mkdirAll(filepath.Dir(dest))
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	base := filepath.Base(dest)
	var st unix.Stat_t
	err = unix.Fstatat(int(parent.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
		if err := unix.Mkdirat(int(parent.Fd()), base, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("mkdir %q: %w", dest, err)
		}
	case err != nil:
		return nil, fmt.Errorf("stat %q: %w", dest, err)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return nil, fmt.Errorf("%q is not a directory (a symlink or file there is refused)", dest)
	}
	fd, err := unix.Openat(int(parent.Fd()), base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %q (must be a real directory): %w", dest, err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(r.path, dest)), nil
}

// reopenDir turns an O_PATH directory handle into one that can be read,
// chmod-ed and used as an *at() base for creating files.
func reopenDir(f *os.File) (*os.File, error) {
	d, err := pathrs.Reopen(f, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("reopen %s: %w", f.Name(), err)
	}
	return d, nil
}

// mountID returns the mount id of the mount f is on.
func mountID(f *os.File) (uint64, error) {
	var stx unix.Statx_t
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, err
	}
	return stx.Mnt_id, nil
}
