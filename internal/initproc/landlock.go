package initproc

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Landlock rights a rule on a file (not a directory) may carry; the kernel
// refuses directory rights there (ACCESS_FILE in security/landlock/fs.c).
const landlockFileRights = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
	unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV

// landlockFSRights is every filesystem right a Landlock ABI version handles.
func landlockFSRights(abi int) uint64 {
	switch {
	case abi >= 9:
		return 1<<17 - 1 // + resolve_unix
	case abi >= 5:
		return 1<<16 - 1 // + ioctl_dev
	case abi >= 3:
		return 1<<15 - 1 // + truncate
	case abi == 2:
		return 1<<14 - 1 // + refer
	case abi == 1:
		return 1<<13 - 1
	}
	return 0
}

func landlockABI() (int, error) {
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0, e
	}
	return int(v), nil
}

// applyLandlock restricts the init with the plugins' rulesets: both halves
// below at once (tests use it).
func applyLandlock(rulesets []Landlock) error {
	fds, err := buildLandlock(rulesets)
	if err != nil {
		return err
	}
	return restrictLandlock(fds)
}

// buildLandlock builds every ruleset without enforcing any, while the host
// still listens, so a bad rule is create's error rather than a dead
// container after start. Rule paths are the container's (the root is
// already pivoted).
func buildLandlock(rulesets []Landlock) ([]int, error) {
	if len(rulesets) == 0 {
		return nil, nil
	}
	abi, err := landlockABI()
	if err != nil {
		return nil, fmt.Errorf("landlock: this kernel has no Landlock (%w)", err)
	}
	known := landlockFSRights(abi)
	if err := landlockMayRestrict(); err != nil {
		return nil, err
	}
	fds := make([]int, 0, len(rulesets))
	for i, rs := range rulesets {
		fd, err := buildRuleset(rs, abi, known)
		if err != nil {
			closeAll(fds)
			return nil, fmt.Errorf("landlock ruleset %d: %w", i, err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// restrictLandlock enforces built rulesets, right before execve.
// landlock_restrict_self acts on the calling thread only, which is the one
// that calls execve (Main locks it), so the container's process and all it
// starts inherit the restriction. Several rulesets stack: an access must
// pass every one of them.
func restrictLandlock(fds []int) error {
	defer closeAll(fds)
	for i, fd := range fds {
		if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(fd), 0, 0); e != 0 {
			return fmt.Errorf("landlock ruleset %d: landlock_restrict_self: %w", i, e)
		}
	}
	return nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// landlockMayRestrict explains the EPERM landlock_restrict_self would give:
// it needs no_new_privs, or CAP_SYS_ADMIN, which the container's process has
// usually dropped by now.
func landlockMayRestrict() error {
	nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err == nil && nnp == 1 {
		return nil
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err == nil && data[0].Effective&(1<<unix.CAP_SYS_ADMIN) != 0 {
		return nil
	}
	return errors.New("landlock: set process.noNewPrivileges (without it the kernel lets only CAP_SYS_ADMIN restrict itself)")
}

func buildRuleset(rs Landlock, abi int, known uint64) (int, error) {
	handled := rs.HandledAccessFS
	if handled == 0 {
		handled = known
	}
	if extra := handled &^ known; extra != 0 {
		return -1, fmt.Errorf("the kernel's Landlock ABI %d does not handle access rights %#x", abi, extra)
	}
	// Only the first field: every ABI version takes an 8-byte attr.
	attr := unix.LandlockRulesetAttr{Handled_access_fs: handled}
	r, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), 8, 0)
	if e != 0 {
		return -1, fmt.Errorf("landlock_create_ruleset: %w", e)
	}
	fd := int(r)
	for _, rule := range rs.Rules {
		if err := addLandlockRule(fd, rule, handled); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

func addLandlockRule(rulesetFd int, rule LandlockRule, handled uint64) error {
	// An unhandled right is allowed anyway, and the kernel refuses a rule
	// that names one.
	access := rule.Access & handled
	pfd, err := unix.Open(rule.Path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("rule path %s: %w", rule.Path, err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return fmt.Errorf("rule path %s: %w", rule.Path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		access &= landlockFileRights
	}
	if access == 0 {
		return nil // grants nothing the ruleset restricts
	}
	pb := unix.LandlockPathBeneathAttr{Allowed_access: access, Parent_fd: int32(pfd)}
	_, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(rulesetFd), unix.LANDLOCK_RULE_PATH_BENEATH,
		uintptr(unsafe.Pointer(&pb)), 0, 0, 0)
	if e != 0 {
		return fmt.Errorf("rule path %s (access %#x): landlock_add_rule: %w", rule.Path, access, e)
	}
	return nil
}
