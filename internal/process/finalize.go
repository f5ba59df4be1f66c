//go:build linux

// Package process applies the OCI process object to the container init
// itself, after the rootfs is in place: sysctls, oom_score_adj, rlimits and,
// right before execve, descriptors, capabilities, user, umask,
// no_new_privs and the working directory.
package process

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/procfs"
)

// Options tunes FinalizeWith.
type Options struct {
	// KeepFds is the number of descriptors, from 0, that the container
	// process inherits: 3 + the number of preserved fds (LISTEN_FDS style).
	// Values below 3 mean 3.
	KeepFds int
	// Prepared is what Prepare read and did before a seccomp filter went
	// in; nil means Finalize does it itself.
	Prepared *Prepared
	// Warnf receives problems that runc treats as non-fatal (an ambient
	// capability that cannot be raised, additionalGids in a user namespace
	// that denies setgroups). Nil discards them.
	Warnf func(format string, args ...any)
}

// Prepared holds what Finalize needs from /proc. Without no_new_privs the
// seccomp filter goes in before the capabilities drop, between Prepare and
// Finalize, and a profile older than close_range and statx (the verified
// procfs checks every lookup for overmounts with statx) would otherwise
// make the last steps fail; crun and runc close descriptors before the
// filter for the same reason.
type Prepared struct {
	lastCap        capability.Cap
	allowSetgroups bool
}

// Prepare marks every descriptor >= keepFds close-on-exec (values below 3
// mean 3) and reads the last capability and /proc/self/setgroups. Nothing
// that runs between it and Finalize may create an inheritable descriptor
// (Go opens everything O_CLOEXEC, and so does the kernel's seccomp
// listener).
func Prepare(keepFds int) (*Prepared, error) {
	if err := MarkCloexecFrom(max(keepFds, 3)); err != nil {
		return nil, err
	}
	last, err := lastCap()
	if err != nil {
		return nil, err
	}
	// setgroups is denied in a user namespace whose setgroups file says
	// "deny" (an unprivileged one); nothing can be done there.
	allow := true
	if b, err := procfs.ReadSelf("setgroups"); err == nil {
		allow = string(bytes.TrimSpace(b)) != "deny"
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("process.user: %w", err)
	}
	return &Prepared{lastCap: last, allowSetgroups: allow}, nil
}

// Finalize does the last steps before execve, in runc's order:
//
//  1. every descriptor >= KeepFds is marked close-on-exec, so nothing the
//     runtime inherited (the shim's socket, a cgroup directory) reaches the
//     container (CVE-2024-21626);
//  2. the working directory is entered if it can be while still root;
//  3. the bounding set is cut down, PR_SET_KEEPCAPS is set, and the
//     supplementary groups, gid and uid are set;
//  4. the working directory is entered as the new user if step 2 was denied;
//  5. keepcaps is cleared and effective/permitted/inheritable are set to
//     exactly the spec's sets, then the ambient ones are raised;
//  6. umask (process.user.umask, default 0022) and no_new_privs;
//  7. the working directory is checked to be inside the container's root:
//     getcwd(2) reports a directory reached through a leaked descriptor as
//     "(unreachable)/..." (CVE-2024-21626).
//
// Capability sets, keepcaps and no_new_privs belong to a thread, so Finalize
// locks the calling goroutine to its OS thread and never unlocks it: the
// caller must call execve from the same goroutine (and must not let it
// return into code that expects an unlocked thread).
//
// keepFds is 3 + the number of preserved fds (--preserve-fds).
func Finalize(p *specs.Process, keepFds int) error {
	return FinalizeWith(p, Options{KeepFds: keepFds})
}

// FinalizeWith is Finalize with a warning sink.
func FinalizeWith(p *specs.Process, opts Options) error {
	if p == nil {
		return errors.New("process: no process object in the spec")
	}
	runtime.LockOSThread()
	warn := opts.Warnf
	if warn == nil {
		warn = func(string, ...any) {}
	}
	prep := opts.Prepared
	if prep == nil {
		var err error
		if prep, err = Prepare(opts.KeepFds); err != nil {
			return err
		}
	}
	last := prep.lastCap
	caps, err := resolveCaps(p.Capabilities, last)
	if err != nil {
		return err
	}

	if p.Cwd != "" && !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("process.cwd %q is not an absolute path", p.Cwd)
	}
	// Try the cwd as root first: a directory the runtime may enter but the
	// container user may not still works, as in runc. Permission errors are
	// retried after the user switch (a volume owned by the container user).
	needChdir := p.Cwd != ""
	if needChdir {
		err := unix.Chdir(p.Cwd)
		switch {
		case err == nil:
			needChdir = false
		case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
		default:
			return fmt.Errorf("process.cwd: chdir to %q: %w", p.Cwd, err)
		}
	}

	if err := dropBounding(caps.bounding, last); err != nil {
		return fmt.Errorf("process.capabilities.bounding: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("process: set PR_SET_KEEPCAPS: %w", err)
	}
	if err := setupUser(p.User, prep.allowSetgroups, warn); err != nil {
		return err
	}
	if needChdir {
		if err := unix.Chdir(p.Cwd); err != nil {
			return fmt.Errorf("process.cwd: chdir to %q as uid %d: %w", p.Cwd, p.User.UID, err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("process: clear PR_SET_KEEPCAPS: %w", err)
	}
	if err := setCaps(caps); err != nil {
		return fmt.Errorf("process.capabilities: %w", err)
	}
	if err := setAmbient(caps, last, warn); err != nil {
		return fmt.Errorf("process.capabilities.ambient: %w", err)
	}

	umask := uint32(0o022)
	if p.User.Umask != nil {
		umask = *p.User.Umask
	}
	unix.Umask(int(umask & 0o777))

	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("process.noNewPrivileges: %w", err)
		}
	}
	return VerifyCwd()
}

// VerifyCwd fails if the working directory is not reachable from the root
// of the current mount namespace, which is how a cwd inherited through a
// leaked host descriptor (/proc/self/fd/N) shows up (CVE-2024-21626).
// unix.Getwd returns ENOENT when the kernel prefixes "(unreachable)".
func VerifyCwd() error {
	wd, err := unix.Getwd()
	if errors.Is(err, unix.ENOENT) {
		return errors.New("process.cwd: the working directory is outside the container's root (possible container breakout)")
	}
	if err != nil {
		return fmt.Errorf("process.cwd: check that the working directory is inside the container: %w", err)
	}
	if !filepath.IsAbs(wd) {
		return fmt.Errorf("process.cwd: working directory %q is not absolute (possible container breakout)", wd)
	}
	return nil
}

// MarkCloexecFrom sets FD_CLOEXEC on every descriptor >= minFd. It uses
// close_range(CLOSE_RANGE_CLOEXEC), which has no window for a new
// descriptor to slip past, and falls back to walking the verified
// /proc/self/fd on kernels before 5.11.
func MarkCloexecFrom(minFd int) error {
	if minFd < 0 {
		minFd = 0
	}
	err := unix.CloseRange(uint(minFd), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("mark descriptors >= %d close-on-exec: close_range: %w", minFd, err)
	}
	return markCloexecByProc(minFd)
}

func markCloexecByProc(minFd int) error {
	fds, err := procfs.ListSelfFds()
	if err != nil {
		return fmt.Errorf("mark descriptors >= %d close-on-exec: %w", minFd, err)
	}
	for _, fd := range fds {
		if fd < minFd {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("mark descriptor %d close-on-exec: %w", fd, err)
		}
	}
	return nil
}

// setupUser sets supplementary groups, gid and uid. As in runc, the numeric
// ids are used as given (process.user.username is not resolved), and only
// additionalGids become supplementary groups.
func setupUser(u specs.User, allowGroups bool, warn func(string, ...any)) error {
	if err := fixStdioOwner(int(u.UID)); err != nil {
		return err
	}
	if allowGroups {
		gids := make([]int, len(u.AdditionalGids))
		for i, g := range u.AdditionalGids {
			gids[i] = int(g)
		}
		// syscall's setgroups/setresgid/setresuid change every thread of
		// the process, not just this one.
		if err := syscall.Setgroups(gids); err != nil {
			return fmt.Errorf("process.user.additionalGids %v: setgroups: %w", u.AdditionalGids, unmappedHint(err))
		}
	} else if len(u.AdditionalGids) > 0 {
		warn("ignoring process.user.additionalGids %v: setgroups is denied in this user namespace", u.AdditionalGids)
	}
	if err := syscall.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return fmt.Errorf("process.user.gid %d: setresgid: %w", u.GID, unmappedHint(err))
	}
	if err := syscall.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return fmt.Errorf("process.user.uid %d: setresuid: %w", u.UID, unmappedHint(err))
	}
	return nil
}

func unmappedHint(err error) error {
	if errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("%w (id not mapped in the container's user namespace?)", err)
	}
	return err
}

// fixStdioOwner hands the stdio the runtime set up (a pty slave, pipes) to
// the container user, so it can reopen /dev/stdout and the like. Regular
// files are left alone (they may live on a host filesystem), and so is
// /dev/null. Errors that mean "not ours to change" are ignored, as in runc.
func fixStdioOwner(uid int) error {
	var null unix.Stat_t
	haveNull := unix.Stat("/dev/null", &null) == nil
	for fd := 0; fd < 3; fd++ {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			if errors.Is(err, unix.EBADF) {
				continue
			}
			return fmt.Errorf("process.user: fstat stdio fd %d: %w", fd, err)
		}
		kind := st.Mode & unix.S_IFMT
		if kind != unix.S_IFCHR && kind != unix.S_IFIFO {
			continue
		}
		if int(st.Uid) == uid || (haveNull && kind == unix.S_IFCHR && st.Rdev == null.Rdev) {
			continue
		}
		if err := unix.Fchown(fd, uid, int(st.Gid)); err != nil {
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS) {
				continue
			}
			return fmt.Errorf("process.user: chown stdio fd %d to uid %d: %w", fd, uid, err)
		}
	}
	return nil
}
