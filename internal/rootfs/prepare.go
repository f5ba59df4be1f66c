//go:build linux

// Package rootfs builds the container's filesystem view inside the init's
// new mount namespace: the spec's mounts, /dev, the pivot into the rootfs,
// and after it /dev/console, masked and read-only paths and a read-only
// root. It follows runc's behaviour; every spec path is resolved inside the
// rootfs by file descriptor (see root in fdutil.go).
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/procfs"
)

// Config is what the init knows about the rootfs.
type Config struct {
	Spec *specs.Spec
	// Rootfs is the absolute host path of the container's root.
	Rootfs string
	// NoPivot moves the rootfs onto / and chroots instead of pivot_root
	// (--no-pivot, for ramfs roots).
	NoPivot bool
	// MountLabel is the SELinux context= value for the container's
	// mounts, or "".
	MountLabel string
	// ConsoleSlave is the path, inside the container after the pivot, of
	// the pty slave that becomes /dev/console; "" without a terminal.
	ConsoleSlave string
	// Bundle, if set, is the base for relative bind-mount sources (the
	// runtime-spec makes them relative to the bundle). Otherwise they are
	// relative to the init's working directory.
	Bundle string
}

func (c *Config) linux() *specs.Linux {
	if c.Spec == nil || c.Spec.Linux == nil {
		return &specs.Linux{}
	}
	return c.Spec.Linux
}

// SharesHostMounts says whether a config has no mount namespace of its
// own: its mounts are then made under the rootfs in the runtime's mount
// namespace, and the root is entered with chroot (the host's lifecycle code
// unmounts them at delete).
func SharesHostMounts(spec *specs.Spec) bool {
	return spec == nil || spec.Linux == nil || !hasNamespace(spec.Linux, specs.MountNamespace)
}

func hasNamespace(l *specs.Linux, t specs.LinuxNamespaceType) bool {
	for _, ns := range l.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// Prepare sets up the root propagation, mounts every spec mount in order and
// creates /dev's devices, symlinks and ptmx. It runs in the container's new
// mount namespace before the pivot (so host paths are still reachable for
// bind sources) and before the createContainer hooks.
func Prepare(cfg *Config) error {
	if cfg == nil || cfg.Spec == nil {
		return errors.New("rootfs: no spec")
	}
	l := cfg.linux()
	if err := checkProc(); err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	if !filepath.IsAbs(cfg.Rootfs) {
		return fmt.Errorf("root.path: rootfs %q is not absolute", cfg.Rootfs)
	}
	if SharesHostMounts(cfg.Spec) {
		return prepareInHostNamespace(cfg)
	}
	prop, err := RootPropagation(l.RootfsPropagation)
	if err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("linux.rootfsPropagation: set propagation of / to %s: %w", propName(prop), err)
	}
	// pivot_root(2) refuses a new root whose parent mount is shared, and
	// the bind below would propagate to the parent's peers.
	if err := makeParentMountPrivate(cfg.Rootfs); err != nil {
		return fmt.Errorf("root.path: %w", err)
	}
	// The rootfs must be a mount point for pivot_root; binding it onto
	// itself also means every later mount lands on this private copy.
	if err := unix.Mount(cfg.Rootfs, cfg.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("root.path: bind %q onto itself: %w", cfg.Rootfs, err)
	}
	return mountAll(cfg)
}

// prepareInHostNamespace is Prepare for a config without a mount namespace:
// the container shares the runtime's, as config-linux.md#namespaces says
// it must. The spec's mounts are made under the rootfs (the host's lifecycle
// code unmounts them at delete) and the root is entered with chroot; what
// would change mounts outside the rootfs is refused: the propagation of /,
// and a read-only root (a remount of whatever host mount holds the rootfs).
func prepareInHostNamespace(cfg *Config) error {
	l := cfg.linux()
	if l.RootfsPropagation != "" {
		return errors.New("linux.rootfsPropagation: needs a mount namespace (it would change the host's /)")
	}
	if cfg.Spec.Root != nil && cfg.Spec.Root.Readonly {
		return errors.New("root.readonly: needs a mount namespace (it would remount the host filesystem holding the rootfs)")
	}
	return mountAll(cfg)
}

// mountAll makes the spec's mounts inside the rootfs, then /dev's nodes.
func mountAll(cfg *Config) error {
	r, err := openRoot(cfg.Rootfs)
	if err != nil {
		return fmt.Errorf("root.path: %w", err)
	}
	defer r.Close()

	for i, m := range cfg.Spec.Mounts {
		if err := r.mount(cfg, m); err != nil {
			return fmt.Errorf("mounts[%d]: mount %q on %q: %w", i, mountSourceName(m), m.Destination, err)
		}
	}
	if needsSetupDev(cfg.Spec) {
		if err := r.setupDev(cfg); err != nil {
			return err
		}
	}
	return nil
}

func mountSourceName(m specs.Mount) string {
	if m.Source != "" {
		return m.Source
	}
	return m.Type
}

func propName(p uintptr) string {
	for k, v := range propagationFlags {
		if v == p {
			return k
		}
	}
	return fmt.Sprintf("%#x", p)
}

// needsSetupDev: as runc, /dev is populated unless the spec binds a /dev
// from elsewhere.
func needsSetupDev(spec *specs.Spec) bool {
	for _, m := range spec.Mounts {
		if cleanDest(m.Destination) != "/dev" {
			continue
		}
		mo := ParseMountOptions(m.Options)
		if m.Type == "bind" || mo.IsBind() {
			return false
		}
	}
	return true
}

// makeParentMountPrivate makes the mount that contains path private if it
// is shared (mount namespace copies keep the host's peer groups).
func makeParentMountPrivate(path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("resolve rootfs %q: %w", path, err)
	}
	mounts, err := mountinfo.GetMounts(func(info *mountinfo.Info) (skip, stop bool) {
		return !(info.Mountpoint == "/" || info.Mountpoint == real || strings.HasPrefix(real, info.Mountpoint+"/")), false
	})
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	var parent *mountinfo.Info
	for _, m := range mounts {
		if parent == nil || len(m.Mountpoint) >= len(parent.Mountpoint) {
			parent = m
		}
	}
	if parent == nil || !strings.Contains(parent.Optional, "shared:") {
		return nil
	}
	if err := unix.Mount("", parent.Mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make the rootfs's parent mount %q private: %w", parent.Mountpoint, err)
	}
	return nil
}

// delayReadonly reports whether a mount is made read-only only in Finalize:
// /dev gets its devices after mounting, and tmpfs mounts may be chmod-ed or
// filled (runc does the same).
func delayReadonly(m specs.Mount) bool {
	return m.Type == "tmpfs" || cleanDest(m.Destination) == "/dev"
}

// mount performs one spec mount.
func (r *root) mount(cfg *Config, m specs.Mount) error {
	// The lexical checks (including the /proc rules on the spec's path, so
	// nothing is created inside /proc) come first; the /proc rules are
	// checked again on the resolved path once the target is open.
	if err := validateMount(m); err != nil {
		return err
	}
	mo := ParseMountOptions(m.Options)
	if m.Type == "bind" {
		mo.Flags |= unix.MS_BIND
	}
	dest := cleanDest(m.Destination)
	if delayReadonly(m) {
		mo.Flags &^= unix.MS_RDONLY
	}

	var target *os.File
	var err error
	switch {
	case mo.IsBind():
		target, err = r.mountBind(cfg, m, dest, mo)
	case m.Type == "proc" || m.Type == "sysfs":
		target, err = r.mountProcSys(m, dest, mo)
	case m.Type == "cgroup" || m.Type == "cgroup2":
		target, err = r.mountCgroup(m, dest, mo)
	case m.Type == "tmpfs":
		target, err = r.mountTmpfs(cfg, m, dest, mo)
	default:
		target, err = r.mountFS(cfg, m, dest, mo)
	}
	if err != nil {
		return err
	}
	defer target.Close()
	return r.applyPropagation(target, mo)
}

// applyPropagation sets the propagation and recursive attributes on the
// mount just made. target is the mount point as it was before the mount;
// it is looked up again so that the handle is the new mount's root.
func (r *root) applyPropagation(target *os.File, mo MountOptions) error {
	if len(mo.Propagation) == 0 && mo.RecAttrSet == 0 && mo.RecAttrClr == 0 {
		return nil
	}
	rel, err := r.rel(target)
	if err != nil {
		return err
	}
	mnt, err := r.open(rel)
	if err != nil {
		return fmt.Errorf("reopen the new mount: %w", err)
	}
	defer mnt.Close()
	for _, p := range mo.Propagation {
		if err := withProcfd(mnt, func(fdPath string) error {
			return unix.Mount("", fdPath, "", p, "")
		}); err != nil {
			return fmt.Errorf("set propagation %s: %w", propName(p), err)
		}
	}
	if mo.RecAttrSet != 0 || mo.RecAttrClr != 0 {
		attr := unix.MountAttr{Attr_set: mo.RecAttrSet, Attr_clr: mo.RecAttrClr}
		if err := unix.MountSetattr(int(mnt.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("mount_setattr(AT_RECURSIVE, set %#x, clear %#x): %w", mo.RecAttrSet, mo.RecAttrClr, err)
		}
	}
	return nil
}

// checkProcDest refuses mounts on or inside /proc, except a procfs on /proc
// itself and binds over the few files lxcfs emulates (runc's list).
func checkProcDest(rel string, m specs.Mount, bind bool) error {
	if rel != "/proc" && !strings.HasPrefix(rel, "/proc/") {
		return nil
	}
	if rel == "/proc" {
		if !bind && m.Type == "proc" {
			return nil
		}
		if bind {
			// Only the root of another procfs may be bound over /proc.
			var sfs unix.Statfs_t
			var st unix.Stat_t
			if unix.Statfs(m.Source, &sfs) == nil && sfs.Type == unix.PROC_SUPER_MAGIC &&
				unix.Stat(m.Source, &st) == nil && st.Ino == 1 {
				return nil
			}
		}
		return fmt.Errorf("%q cannot be mounted on /proc: only a proc filesystem can", mountSourceName(m))
	}
	switch rel {
	case "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
		"/proc/swaps", "/proc/uptime", "/proc/loadavg", "/proc/slabinfo",
		"/proc/pressure/cpu", "/proc/pressure/io", "/proc/pressure/memory",
		"/proc/sys/kernel/ns_last_pid", "/proc/sys/crypto/fips_enabled":
		if bind {
			return nil
		}
	}
	return fmt.Errorf("mount destination resolves to %q, inside /proc, which is not allowed", rel)
}

// doMount mounts onto target through its /proc/thread-self/fd path.
func doMount(source string, target *os.File, fstype string, flags uintptr, data string) error {
	return withProcfd(target, func(p string) error {
		return unix.Mount(source, p, fstype, flags, data)
	})
}

func (r *root) mountProcSys(m specs.Mount, dest string, mo MountOptions) (*os.File, error) {
	target, err := r.mkdirNoFollow(dest)
	if err != nil {
		return nil, fmt.Errorf("filesystem %q must be mounted on an ordinary directory: %w", m.Type, err)
	}
	rel, err := r.rel(target)
	if err == nil {
		err = checkProcDest(rel, m, false)
	}
	if err != nil {
		target.Close()
		return nil, err
	}
	src := mountSourceName(m)
	err = doMount(src, target, m.Type, mo.Flags, mo.Data)
	if err != nil && m.Type == "sysfs" && errors.Is(err, unix.EPERM) {
		// sysfs can only be mounted by the owner of the network namespace;
		// in a user namespace without its own netns, bind the host's /sys
		// instead, as runc does.
		err = r.bindAndRemount("/sys", target, mo.Flags|unix.MS_BIND|unix.MS_REC, 0)
	}
	if err != nil {
		target.Close()
		return nil, err
	}
	return target, nil
}

func (r *root) mountFS(cfg *Config, m specs.Mount, dest string, mo MountOptions) (*os.File, error) {
	target, err := r.mkdirAll(dest)
	if err != nil {
		return nil, fmt.Errorf("create mount point: %w", err)
	}
	if err := r.checkTarget(target, m, false); err != nil {
		target.Close()
		return nil, err
	}
	src := mountSourceName(m)
	err = doMount(src, target, m.Type, mo.Flags, formatMountLabel(mo.Data, cfg.MountLabel))
	if err != nil && cfg.MountLabel != "" && m.Type == "mqueue" {
		// Older kernels cannot label mqueue.
		err = doMount(src, target, m.Type, mo.Flags, mo.Data)
	}
	if err != nil {
		target.Close()
		return nil, err
	}
	return target, nil
}

func (r *root) checkTarget(target *os.File, m specs.Mount, bind bool) error {
	rel, err := r.rel(target)
	if err != nil {
		return err
	}
	if rel == "/" {
		return errors.New("mount destination resolves to the container's root")
	}
	return checkProcDest(rel, m, bind)
}

func (r *root) mountTmpfs(cfg *Config, m specs.Mount, dest string, mo MountOptions) (*os.File, error) {
	existed := false
	if f, err := r.open(dest); err == nil {
		existed = true
		f.Close()
	}
	target, err := r.mkdirAll(dest)
	if err != nil {
		return nil, fmt.Errorf("create mount point: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			target.Close()
		}
	}()
	if err := r.checkTarget(target, m, false); err != nil {
		return nil, err
	}
	var before unix.Stat_t
	if err := unix.Fstat(int(target.Fd()), &before); err != nil {
		return nil, fmt.Errorf("stat mount point: %w", err)
	}
	// For tmpcopyup, keep a handle on the directory being covered: it
	// stays readable through the handle after the tmpfs is on top.
	var lower *os.File
	if mo.CopyUp {
		lower, err = reopenDir(target)
		if err != nil {
			return nil, err
		}
		defer lower.Close()
	}
	if err := doMount(mountSourceName(m), target, "tmpfs", mo.Flags, formatMountLabel(mo.Data, cfg.MountLabel)); err != nil {
		return nil, err
	}
	// Without mode=, the tmpfs root keeps the mode of the directory it
	// covers, as in runc; over a directory made just now it keeps tmpfs's
	// default (1777).
	keepMode := existed && !hasDataOption(mo.Data, "mode")
	if keepMode || lower != nil {
		rel, err := r.rel(target)
		if err != nil {
			return nil, err
		}
		mnt, err := r.open(rel)
		if err != nil {
			return nil, fmt.Errorf("reopen the new tmpfs: %w", err)
		}
		defer mnt.Close()
		upper, err := reopenDir(mnt)
		if err != nil {
			return nil, err
		}
		defer upper.Close()
		if keepMode {
			if err := unix.Fchmod(int(upper.Fd()), before.Mode&0o7777); err != nil {
				return nil, fmt.Errorf("chmod the new tmpfs: %w", err)
			}
		}
		if lower != nil {
			if err := copyTree(lower, upper, 0); err != nil {
				return nil, fmt.Errorf("tmpcopyup: %w", err)
			}
		}
	}
	ok = true
	return target, nil
}

// bindSource makes a bind source absolute (relative ones are relative to
// the bundle).
func bindSource(cfg *Config, src string) string {
	if src == "" || filepath.IsAbs(src) || cfg.Bundle == "" {
		return src
	}
	return filepath.Join(cfg.Bundle, src)
}

func (r *root) mountBind(cfg *Config, m specs.Mount, dest string, mo MountOptions) (*os.File, error) {
	src := bindSource(cfg, m.Source)
	if src == "" {
		return nil, errors.New("bind mount without a source")
	}
	st, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("bind source: %w", err)
	}
	var target *os.File
	if st.IsDir() {
		target, err = r.mkdirAll(dest)
	} else {
		target, err = r.mkfile(dest)
	}
	if err != nil {
		return nil, fmt.Errorf("create mount point: %w", err)
	}
	if err := r.checkTarget(target, m, true); err != nil {
		target.Close()
		return nil, err
	}
	if err := r.bindAndRemount(src, target, mo.Flags, mo.Cleared); err != nil {
		target.Close()
		return nil, err
	}
	return target, nil
}

// lockedFlags can be locked on a mount that came from a more privileged
// mount namespace; a remount in a user namespace must keep them.
const lockedFlags = unix.MS_RDONLY | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOSUID

// bindAndRemount binds src onto target and, if the options ask for any
// flag, remounts the bind with them: MS_BIND alone ignores other flags.
// As runc: when the remount fails with EPERM (flags locked from the host),
// it is retried keeping the source's locked flags, unless the spec
// explicitly cleared one of them.
func (r *root) bindAndRemount(src string, target *os.File, flags, cleared uintptr) error {
	bindFlags := unix.MS_BIND | (flags & unix.MS_REC)
	if err := doMount(src, target, "", bindFlags, ""); err != nil {
		return err
	}
	if flags&^(unix.MS_BIND|unix.MS_REC|unix.MS_REMOUNT) == 0 && cleared == 0 {
		return nil
	}
	rel, err := r.rel(target)
	if err != nil {
		return err
	}
	mnt, err := r.open(rel)
	if err != nil {
		return fmt.Errorf("reopen the new bind mount: %w", err)
	}
	defer mnt.Close()
	remount := (flags &^ unix.MS_REC) | unix.MS_BIND | unix.MS_REMOUNT
	err = doMount("", mnt, "", remount, "")
	if err == nil || !errors.Is(err, unix.EPERM) {
		if err != nil {
			return fmt.Errorf("remount with the mount options: %w", err)
		}
		return nil
	}
	var sfs unix.Statfs_t
	if serr := unix.Fstatfs(int(mnt.Fd()), &sfs); serr != nil {
		return fmt.Errorf("remount with the mount options: %w", err)
	}
	srcFlags := statfsToMountFlags(uint64(sfs.Flags))
	if c := srcFlags & cleared & lockedFlags; c != 0 {
		return fmt.Errorf("remount: the source's %s cannot be cleared here (locked by a more privileged mount namespace): %w", flagNames(c), err)
	}
	remount |= srcFlags & lockedFlags
	if flags&atimeFlags == 0 {
		remount |= srcFlags & atimeFlags
	}
	if err := doMount("", mnt, "", remount, ""); err != nil {
		return fmt.Errorf("remount with the mount options (keeping the source's locked flags): %w", err)
	}
	return nil
}

func flagNames(f uintptr) string {
	var n []string
	for _, p := range []struct {
		f    uintptr
		name string
	}{{unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"}, {unix.MS_NOEXEC, "noexec"}} {
		if f&p.f != 0 {
			n = append(n, p.name)
		}
	}
	return strings.Join(n, ",")
}

// inUserNS reports whether the init runs in a non-initial user namespace
// (then mknod is not allowed and devices are bound from the host).
func inUserNS(l *specs.Linux) bool {
	if hasNamespace(l, specs.UserNamespace) {
		return true
	}
	b, err := procfs.ReadSelf("uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}
