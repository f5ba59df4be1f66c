//go:build linux

package process

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// capByName maps "CAP_SYS_ADMIN" to its number for every capability the
// library knows, whether or not this kernel supports it.
var capByName = func() map[string]capability.Cap {
	m := make(map[string]capability.Cap)
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = c
	}
	return m
}()

// capSets holds the five sets as bitmasks indexed by capability number.
type capSets struct {
	bounding, effective, permitted, inheritable, ambient uint64
}

type namedSet struct {
	field string
	names []string
	dst   *uint64
}

func (s *capSets) fields(c *specs.LinuxCapabilities) []namedSet {
	if c == nil {
		return nil
	}
	return []namedSet{
		{"bounding", c.Bounding, &s.bounding},
		{"effective", c.Effective, &s.effective},
		{"permitted", c.Permitted, &s.permitted},
		{"inheritable", c.Inheritable, &s.inheritable},
		{"ambient", c.Ambient, &s.ambient},
	}
}

// ValidateCapabilities reports every capability name the runtime does not
// know, each naming its spec field (process.capabilities.bounding[2]). It
// needs no privileges, so the host can call it at create time.
func ValidateCapabilities(c *specs.LinuxCapabilities) []error {
	var errs []error
	var s capSets
	for _, f := range s.fields(c) {
		for i, n := range f.names {
			if _, ok := capByName[n]; !ok {
				errs = append(errs, fmt.Errorf("process.capabilities.%s[%d]: unknown capability %q", f.field, i, n))
			}
		}
	}
	return errs
}

// resolveCaps turns the spec's names into bitmasks. Capabilities this kernel
// does not have (number above last) are left out, as runc does, so one spec
// works across kernel versions; names nobody knows are errors. A nil spec
// value means every set is empty: the process gets no capabilities at all.
func resolveCaps(c *specs.LinuxCapabilities, last capability.Cap) (capSets, error) {
	var s capSets
	if errs := ValidateCapabilities(c); len(errs) > 0 {
		return s, errors.Join(errs...)
	}
	for _, f := range s.fields(c) {
		for _, n := range f.names {
			cp := capByName[n]
			if cp > last || cp > 63 {
				continue
			}
			*f.dst |= 1 << uint(cp)
		}
	}
	return s, nil
}

func lastCap() (capability.Cap, error) {
	last, err := capability.LastCap()
	if err != nil {
		return 0, fmt.Errorf("find the last capability this kernel supports: %w", err)
	}
	return last, nil
}

// dropBounding removes every capability not in keep from the bounding set of
// the calling thread (bounding sets are per thread and inherited on clone;
// execve happens from this thread). It fails rather than silently keeping
// capabilities if the thread lacks CAP_SETPCAP.
func dropBounding(keep uint64, last capability.Cap) error {
	for c := capability.Cap(0); c <= last; c++ {
		if keep&(1<<uint(c)) != 0 {
			continue
		}
		// Dropping a capability already gone succeeds, so one call a
		// capability; only a refusal needs the read that tells whether
		// there was anything to drop.
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if err == nil || errors.Is(err, unix.EINVAL) {
			continue
		}
		in, rerr := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if rerr == nil && in == 0 {
			continue
		}
		return fmt.Errorf("drop %s from the bounding set: %w", capName(c), err)
	}
	return nil
}

func capName(c capability.Cap) string {
	return "CAP_" + strings.ToUpper(c.String())
}

// setCaps replaces the calling thread's effective, permitted and inheritable
// sets with exactly the spec's: nothing is carried over or added, in
// particular not to the inheritable set (CVE-2022-29162).
func setCaps(s capSets) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	data[0].Effective = uint32(s.effective)
	data[1].Effective = uint32(s.effective >> 32)
	data[0].Permitted = uint32(s.permitted)
	data[1].Permitted = uint32(s.permitted >> 32)
	data[0].Inheritable = uint32(s.inheritable)
	data[1].Inheritable = uint32(s.inheritable >> 32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset(effective=%#x permitted=%#x inheritable=%#x): %w",
			s.effective, s.permitted, s.inheritable, err)
	}
	return nil
}

// setAmbient clears the ambient set and raises the spec's ambient
// capabilities one by one. The kernel only allows an ambient capability that
// is also permitted and inheritable; as in runc, one that cannot be raised is
// reported through warn rather than failing the container, because the
// spec runc generates lists ambient capabilities without inheritable ones.
func setAmbient(s capSets, last capability.Cap, warn func(string, ...any)) error {
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		if errors.Is(err, unix.EINVAL) {
			// Kernel without ambient capabilities (before 4.3).
			if s.ambient != 0 {
				warn("ambient capabilities are not supported by this kernel; ignoring process.capabilities.ambient")
			}
			return nil
		}
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for c := capability.Cap(0); c <= last; c++ {
		if s.ambient&(1<<uint(c)) == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			warn("cannot raise ambient capability %s (it must be permitted and inheritable too): %v", capName(c), err)
		}
	}
	return nil
}
