//go:build linux

// Package procfs gives the container init a /proc it can trust.
//
// Every path under /proc that the init writes to (sysctls, oom_score_adj,
// LSM attributes) or reads to make a security decision (its own fd table,
// uid_map) is a target for redirection: a container image or a hostile
// bind mount can put a symlink or another filesystem where /proc/... is
// expected (CVE-2019-19921, CVE-2025-52881). Lookups here therefore go
// through filepath-securejoin's pathrs-lite procfs, which works from a
// verified procfs root (f_type PROC_SUPER_MAGIC, root inode 1; a private
// fsopen("proc") mount where the kernel allows it) and resolves below it with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_XDEV|RESOLVE_NO_MAGICLINKS), so neither a
// symlink nor an overmount on the way can send a write somewhere else.
package procfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	"golang.org/x/sys/unix"
)

// procRootIno is the inode number the kernel gives the root of every procfs
// instance (PROC_ROOT_INO).
const procRootIno = 1

// VerifyProcRoot checks that f is the root directory of a procfs mount, not
// some other filesystem or a subdirectory of proc mounted elsewhere.
func VerifyProcRoot(f *os.File) error {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &sfs); err != nil {
		return fmt.Errorf("fstatfs %s: %w", f.Name(), err)
	}
	if sfs.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("%s is not procfs (f_type 0x%x)", f.Name(), sfs.Type)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("fstat %s: %w", f.Name(), err)
	}
	if st.Ino != procRootIno {
		return fmt.Errorf("%s is not the root of a procfs mount (inode %d)", f.Name(), st.Ino)
	}
	return nil
}

// VerifyProcMount opens path (not following a trailing symlink) and checks
// that it is the root of a procfs mount. Callers that must name a file as
// "/proc/thread-self/fd/N" (mount(2) takes only paths) use it to make sure
// that /proc is what it claims to be first.
func VerifyProcMount(path string) error {
	f, err := os.OpenFile(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	return VerifyProcRoot(f)
}

func openRoot() (*procfs.Handle, error) {
	h, err := procfs.OpenProcRoot()
	if err != nil {
		return nil, fmt.Errorf("open a verified /proc handle: %w", err)
	}
	return h, nil
}

// reopen upgrades an O_PATH handle from a verified lookup to a real file
// descriptor with the given flags, again through the verified procfs.
func reopen(h *os.File, flags int) (*os.File, error) {
	f, err := pathrs.Reopen(h, flags|unix.O_CLOEXEC|unix.O_NOCTTY)
	if err != nil {
		return nil, fmt.Errorf("reopen %s: %w", h.Name(), err)
	}
	return f, nil
}

// checkSubpath refuses components that would walk somewhere other than
// straight down: the verified lookup refuses them too, but failing early
// gives a clearer error.
func checkSubpath(sub string) error {
	if sub == "" {
		return errors.New("empty path")
	}
	if strings.ContainsRune(sub, 0) {
		return errors.New("path contains a NUL byte")
	}
	for _, c := range strings.Split(sub, "/") {
		switch c {
		case "", ".", "..":
			return fmt.Errorf("path %q has an empty, \".\" or \"..\" component", sub)
		}
	}
	return nil
}

// OpenSelf opens /proc/self/<sub> with flags (O_RDONLY, O_WRONLY, ...).
func OpenSelf(sub string, flags int) (*os.File, error) {
	if err := checkSubpath(sub); err != nil {
		return nil, fmt.Errorf("/proc/self/%s: %w", sub, err)
	}
	h, err := openRoot()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	p, err := h.OpenSelf(sub)
	if err != nil {
		return nil, lookupError("/proc/self/"+sub, err)
	}
	defer p.Close()
	return reopen(p, flags)
}

// lookupError keeps "does not exist" plain (pathrs-lite reports every
// lookup failure as a possible attack) and wraps anything else.
func lookupError(path string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s does not exist: %w", path, unix.ENOENT)
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// writeOnce writes value in one write(2) and reports the bare errno (the
// file's name inside the private procfs means nothing to a user).
func writeOnce(f *os.File, value string) error {
	n, err := unix.Write(int(f.Fd()), []byte(value))
	if err != nil {
		return err
	}
	if n != len(value) {
		return fmt.Errorf("short write (%d of %d bytes)", n, len(value))
	}
	return nil
}

// ReadSelf reads a small /proc/self file (at most 1 MiB).
func ReadSelf(sub string) ([]byte, error) {
	f, err := OpenSelf(sub, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/%s: %w", sub, err)
	}
	return b, nil
}

// WriteSelf writes value to /proc/self/<sub> in a single write(2), which is
// what proc's single-value files expect.
func WriteSelf(sub, value string) error {
	f, err := OpenSelf(sub, unix.O_WRONLY)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := writeOnce(f, value); err != nil {
		return fmt.Errorf("write %q to /proc/self/%s: %w", value, sub, err)
	}
	return nil
}

// validLSMComponent reports whether s can be a single file name under
// /proc/<tid>/attr (an LSM directory or an attribute).
func validLSMComponent(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// WriteThreadSelfAttr writes value to /proc/thread-self/attr/<lsm>/<attr>,
// or to /proc/thread-self/attr/<attr> when lsm is "" or the kernel has no
// per-LSM directory for it (SELinux uses the top-level files). These files
// describe the calling thread, so the caller must hold runtime.LockOSThread
// for as long as the write is meant to stick (normally until execve).
func WriteThreadSelfAttr(lsm, attr, value string) error {
	if !validLSMComponent(attr) {
		return fmt.Errorf("LSM attribute name %q is not a plain file name", attr)
	}
	if lsm != "" && !validLSMComponent(lsm) {
		return fmt.Errorf("LSM name %q is not a plain file name", lsm)
	}
	h, err := openRoot()
	if err != nil {
		return err
	}
	defer h.Close()

	sub := "attr/" + attr
	var p *os.File
	var closer procfs.ProcThreadSelfCloser
	if lsm != "" {
		sub = "attr/" + lsm + "/" + attr
		p, closer, err = h.OpenThreadSelf(sub)
		if errors.Is(err, os.ErrNotExist) {
			sub = "attr/" + attr
			p, closer, err = h.OpenThreadSelf(sub)
		}
	} else {
		p, closer, err = h.OpenThreadSelf(sub)
	}
	if err != nil {
		return lookupError("/proc/thread-self/"+sub, err)
	}
	defer closer()
	defer p.Close()

	f, err := reopen(p, unix.O_WRONLY)
	if err != nil {
		return fmt.Errorf("/proc/thread-self/%s: %w", sub, err)
	}
	defer f.Close()
	if err := writeOnce(f, value); err != nil {
		return fmt.Errorf("write %q to /proc/thread-self/%s: %w", value, sub, err)
	}
	return nil
}

// SysctlPath turns a sysctl key into its path below /proc/sys. Keys use
// either the dotted form ("net.ipv4.ip_forward") or, as sysctl(8) also
// accepts, the slash form ("net/ipv4/conf/eth0.100/forwarding"), which is
// the only way to name a component that itself contains a dot. Anything that
// could step out of /proc/sys (empty, "." or ".." components, a leading
// separator, NUL) is refused.
func SysctlPath(key string) (string, error) {
	if key == "" {
		return "", errors.New("empty sysctl name")
	}
	if strings.ContainsRune(key, 0) {
		return "", fmt.Errorf("sysctl %q contains a NUL byte", key)
	}
	p := key
	if !strings.Contains(key, "/") {
		p = strings.ReplaceAll(key, ".", "/")
	}
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".", "..":
			return "", fmt.Errorf("sysctl %q: invalid name (empty, \".\" or \"..\" component)", key)
		}
	}
	return p, nil
}

// OpenSysctl opens /proc/sys/<key> with flags (usually O_WRONLY: some
// sysctls are write-only, so read-write would fail on them).
func OpenSysctl(key string, flags int) (*os.File, error) {
	p, err := SysctlPath(key)
	if err != nil {
		return nil, err
	}
	h, err := openRoot()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	ph, err := h.OpenRoot("sys/" + p)
	if err != nil {
		return nil, lookupError("/proc/sys/"+p, err)
	}
	defer ph.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(ph.Fd()), &st); err != nil {
		return nil, fmt.Errorf("fstat /proc/sys/%s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("/proc/sys/%s is not a sysctl file", p)
	}
	return reopen(ph, flags)
}

// ListSelfFds returns the file descriptors open in this process, read from
// the verified /proc/self/fd (the descriptor used to read it is left out).
func ListSelfFds() ([]int, error) {
	d, err := OpenSelf("fd", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/fd: %w", err)
	}
	self := int(d.Fd())
	fds := make([]int, 0, len(names))
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd < 0 {
			return nil, fmt.Errorf("unexpected entry %q in /proc/self/fd", n)
		}
		if fd != self {
			fds = append(fds, fd)
		}
	}
	return fds, nil
}
