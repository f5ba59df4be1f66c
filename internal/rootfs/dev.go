//go:build linux

package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func u32(v uint32) *uint32 { return &v }

func mode(m os.FileMode) *os.FileMode { return &m }

// DefaultDevices are the nodes every container gets (runc's list); a
// linux.devices entry with the same path replaces the default.
var DefaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
}

// Devices returns the nodes to create: the defaults not overridden by path,
// then linux.devices in order.
func Devices(l *specs.Linux) []specs.LinuxDevice {
	var out []specs.LinuxDevice
	inSpec := make(map[string]bool)
	if l != nil {
		for _, d := range l.Devices {
			inSpec[cleanDest(d.Path)] = true
		}
	}
	for _, d := range DefaultDevices {
		if !inSpec[d.Path] {
			out = append(out, d)
		}
	}
	if l != nil {
		out = append(out, l.Devices...)
	}
	return out
}

// deviceMode returns the S_IF* type | permission bits for a device.
func deviceMode(d specs.LinuxDevice) (uint32, error) {
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
		if *d.FileMode&os.ModeSetuid != 0 {
			perm |= unix.S_ISUID
		}
		if *d.FileMode&os.ModeSetgid != 0 {
			perm |= unix.S_ISGID
		}
		if *d.FileMode&os.ModeSticky != 0 {
			perm |= unix.S_ISVTX
		}
	}
	switch d.Type {
	case "c", "u":
		return unix.S_IFCHR | perm, nil
	case "b":
		return unix.S_IFBLK | perm, nil
	case "p":
		return unix.S_IFIFO | perm, nil
	}
	return 0, fmt.Errorf("unknown device type %q (want c, u, b or p)", d.Type)
}

// ValidateDevices checks linux.devices without touching the kernel.
func ValidateDevices(l *specs.Linux) []error {
	if l == nil {
		return nil
	}
	var errs []error
	for i, d := range l.Devices {
		if !filepath.IsAbs(d.Path) {
			errs = append(errs, fmt.Errorf("linux.devices[%d].path: %q is not absolute", i, d.Path))
		} else if cleanDest(d.Path) == "/" {
			errs = append(errs, fmt.Errorf("linux.devices[%d].path: %q is the root", i, d.Path))
		}
		if _, err := deviceMode(d); err != nil {
			errs = append(errs, fmt.Errorf("linux.devices[%d].type: %w", i, err))
		}
		if d.Major < 0 || d.Minor < 0 || d.Major > 0xfff || d.Minor > 0xfffff {
			errs = append(errs, fmt.Errorf("linux.devices[%d]: major %d, minor %d out of range", i, d.Major, d.Minor))
		}
	}
	return errs
}

// setupDev creates the device nodes, /dev/ptmx and the /dev symlinks in
// the rootfs, as runc does when /dev is not bound from elsewhere.
func (r *root) setupDev(cfg *Config) error {
	l := cfg.linux()
	if errs := ValidateDevices(l); len(errs) > 0 {
		return errors.Join(errs...)
	}
	dev, err := r.mkdirAll("/dev")
	if err != nil {
		return fmt.Errorf("create /dev: %w", err)
	}
	defer dev.Close()
	if err := r.checkTargetDir(dev, "/dev"); err != nil {
		return err
	}
	devDir, err := reopenDir(dev)
	if err != nil {
		return err
	}
	defer devDir.Close()
	dfd := int(devDir.Fd())

	bind := inUserNS(l)
	// Device modes must be exactly the spec's, not the spec's minus umask.
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range Devices(l) {
		if err := r.createDevice(d, bind, devDir); err != nil {
			return fmt.Errorf("linux.devices: create %q: %w", d.Path, err)
		}
	}

	// /dev/ptmx is the devpts instance's ptmx, so ptys opened in the
	// container come from its own devpts.
	if err := unix.Unlinkat(dfd, "ptmx", 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove /dev/ptmx: %w", err)
	}
	if err := unix.Symlinkat("pts/ptmx", dfd, "ptmx"); err != nil {
		return fmt.Errorf("symlink /dev/ptmx: %w", err)
	}
	links := [][2]string{
		{"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"},
	}
	// Only where the kernel has /proc/kcore (CONFIG_PROC_KCORE), as runc.
	if _, err := os.Lstat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "core"})
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], dfd, l[1]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink /dev/%s -> %s: %w", l[1], l[0], err)
		}
	}
	return nil
}

// checkTargetDir makes sure a directory handle is inside the root where it
// should be.
func (r *root) checkTargetDir(f *os.File, want string) error {
	rel, err := r.rel(f)
	if err != nil {
		return err
	}
	if rel != want {
		return fmt.Errorf("%s resolved to %q inside the rootfs (a symlink?); refusing", want, rel)
	}
	return nil
}

// createDevice makes one node: mknod, or, where mknod is not allowed (user
// namespaces), a bind mount of the host's node with the same path. A file
// of the wrong kind already at the path (a regular file or a symlink where
// /dev/null should be) is replaced, so later code that relies on the node
// (masking with /dev/null) gets the real device.
func (r *root) createDevice(d specs.LinuxDevice, bind bool, devDir *os.File) error {
	// Only the parent is resolved: whatever sits at the node's own path
	// (a symlink in a hostile image, say) is replaced, not followed.
	clean := cleanDest(d.Path)
	if clean == "/" {
		return errors.New("device path is the root")
	}
	name := filepath.Base(clean)
	dir := devDir // the root's own /dev, resolved and checked by setupDev
	if filepath.Dir(clean) != "/dev" {
		pdir, err := r.inRootPath(filepath.Dir(clean))
		if err != nil {
			return err
		}
		parent, err := pathrs.MkdirAllHandle(r.f, pdir, 0o755)
		if err != nil {
			return fmt.Errorf("create parent directory: %w", err)
		}
		defer parent.Close()
		if dir, err = reopenDir(parent); err != nil {
			return err
		}
		defer dir.Close()
	}
	if bind {
		return bindDevice(dir, name, d.Path)
	}
	mode, err := deviceMode(d)
	if err != nil {
		return err
	}
	dev := int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))
	err = unix.Mknodat(int(dir.Fd()), name, mode, dev)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if serr := unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); serr != nil {
			return fmt.Errorf("stat existing node: %w", serr)
		}
		if st.Mode&unix.S_IFMT == mode&unix.S_IFMT && (mode&unix.S_IFMT == unix.S_IFIFO || st.Rdev == uint64(dev)) {
			// Already the right node; runc keeps it as it is.
			return nil
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return errors.New("a directory is in the way")
		}
		if err := unix.Unlinkat(int(dir.Fd()), name, 0); err != nil {
			return fmt.Errorf("remove the file in the way: %w", err)
		}
		err = unix.Mknodat(int(dir.Fd()), name, mode, dev)
	}
	if errors.Is(err, unix.EPERM) {
		return bindDevice(dir, name, d.Path)
	}
	if err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if err := unix.Fchownat(int(dir.Fd()), name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown to %d:%d: %w", uid, gid, err)
	}
	return nil
}

// bindDevice binds the host's node at hostPath onto dir/name, creating an
// empty regular file there as the mount point.
func bindDevice(dir *os.File, name, hostPath string) error {
	dfd := int(dir.Fd())
	var st unix.Stat_t
	err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return errors.New("a directory is in the way")
	case err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG:
		if err := unix.Unlinkat(dfd, name, 0); err != nil {
			return fmt.Errorf("remove the file in the way: %w", err)
		}
	case err != nil && !errors.Is(err, unix.ENOENT):
		return fmt.Errorf("stat: %w", err)
	}
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		fd, err := unix.Openat(dfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("create bind mount point: %w", err)
		}
		unix.Close(fd)
	}
	tfd, err := unix.Openat(dfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open bind mount point: %w", err)
	}
	target := os.NewFile(uintptr(tfd), name)
	defer target.Close()
	if err := doMount(hostPath, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind the host's %s: %w", hostPath, err)
	}
	return nil
}
