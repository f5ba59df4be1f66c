// Package devfilter builds and attaches the eBPF program
// (BPF_PROG_TYPE_CGROUP_DEVICE) that enforces an OCI device allow/deny list
// on a cgroup v2 cgroup, which has no devices controller.
//
// Rules are first run through an emulator of the cgroup v1 devices
// controller, as runc does, so the semantics are the familiar ones: rules
// apply in order, an "a" rule resets everything to allow-all or deny-all, and
// a later rule overrides an earlier one for the access it names. The emulator
// leaves a default action plus exceptions, which the program checks.
package devfilter

import (
	"fmt"
	"sort"
	"strings"
)

// Wildcard matches any major or minor number.
const Wildcard = -1

// Rule is one device cgroup rule.
type Rule struct {
	// Type is 'a' (all devices), 'b' or 'c'.
	Type byte
	// Major and Minor are device numbers or Wildcard.
	Major, Minor int64
	// Access holds some of 'r', 'w' and 'm'.
	Access string
	Allow  bool
}

func (r Rule) String() string {
	num := func(n int64) string {
		if n == Wildcard {
			return "*"
		}
		return fmt.Sprint(n)
	}
	verb := "deny"
	if r.Allow {
		verb = "allow"
	}
	return fmt.Sprintf("%s %c %s:%s %s", verb, r.Type, num(r.Major), num(r.Minor), r.Access)
}

// Access bits, as the kernel passes them to the program (BPF_DEVCG_ACC_*).
const (
	accMknod = 1
	accRead  = 2
	accWrite = 4
	accAll   = accMknod | accRead | accWrite
)

func accessBits(s string) uint32 {
	var b uint32
	for _, c := range s {
		switch c {
		case 'm':
			b |= accMknod
		case 'r':
			b |= accRead
		case 'w':
			b |= accWrite
		}
	}
	return b
}

func accessString(b uint32) string {
	var sb strings.Builder
	if b&accRead != 0 {
		sb.WriteByte('r')
	}
	if b&accWrite != 0 {
		sb.WriteByte('w')
	}
	if b&accMknod != 0 {
		sb.WriteByte('m')
	}
	return sb.String()
}

type devKey struct {
	typ          byte
	major, minor int64
}

// Filter is the emulated state: a default action and exceptions to it.
type Filter struct {
	DefaultAllow bool
	// Exceptions all have Allow == !DefaultAllow, sorted by (major, minor, type).
	Exceptions []Rule
}

// Emulate applies rules in order to a deny-all cgroup the way the cgroup v1
// devices controller would, and returns the result. Like runc it refuses a
// rule that would need a hole punched into a wildcard exception (v1 ignores
// those silently, which would grant what the user meant to deny).
func Emulate(rules []Rule) (Filter, error) {
	defaultAllow := false
	exc := map[devKey]uint32{}
	for _, r := range rules {
		if r.Type == 'a' {
			// v1 semantics: "a" means every device and every access,
			// whatever the rule's access field says.
			defaultAllow = r.Allow
			exc = map[devKey]uint32{}
			continue
		}
		if r.Type != 'b' && r.Type != 'c' {
			return Filter{}, fmt.Errorf("rule %q: unknown device type %q", r, r.Type)
		}
		acc := accessBits(r.Access)
		if acc == 0 {
			return Filter{}, fmt.Errorf("rule %q: empty access", r)
		}
		k := devKey{r.Type, r.Major, r.Minor}
		if r.Allow != defaultAllow {
			exc[k] |= acc
			continue
		}
		// A rule with the default action removes access from exceptions.
		for _, wk := range []devKey{{r.Type, Wildcard, r.Minor}, {r.Type, r.Major, Wildcard}, {r.Type, Wildcard, Wildcard}} {
			if wk == k {
				continue
			}
			if exc[wk]&acc != 0 {
				return Filter{}, fmt.Errorf("rule %q would punch a hole in the wildcard rule %q, which the device filter cannot express",
					r, Rule{Type: wk.typ, Major: wk.major, Minor: wk.minor, Access: accessString(exc[wk]), Allow: !defaultAllow})
			}
		}
		if left := exc[k] &^ acc; left != 0 {
			exc[k] = left
		} else {
			delete(exc, k)
		}
	}
	f := Filter{DefaultAllow: defaultAllow}
	for k, acc := range exc {
		f.Exceptions = append(f.Exceptions, Rule{Type: k.typ, Major: k.major, Minor: k.minor, Access: accessString(acc), Allow: !defaultAllow})
	}
	sort.Slice(f.Exceptions, func(i, j int) bool {
		a, b := f.Exceptions[i], f.Exceptions[j]
		if a.Major != b.Major {
			return a.Major < b.Major
		}
		if a.Minor != b.Minor {
			return a.Minor < b.Minor
		}
		return a.Type < b.Type
	})
	return f, nil
}

// Allowed answers for f what the kernel program answers: whether access
// (some of "rwm") to the device is allowed. Tests compare the two.
func (f Filter) Allowed(typ byte, major, minor uint32, access string) bool {
	req := accessBits(access)
	for _, e := range f.Exceptions {
		if !e.matches(typ, major, minor) {
			continue
		}
		acc := accessBits(e.Access)
		if f.DefaultAllow {
			// Deny exceptions deny any access they name (v1's partial match).
			if req&acc != 0 {
				return false
			}
		} else if req&acc == req {
			// Allow exceptions must cover the whole request (v1's match).
			return true
		}
	}
	return f.DefaultAllow
}

func (e Rule) matches(typ byte, major, minor uint32) bool {
	return e.Type == typ &&
		(e.Major == Wildcard || e.Major == int64(major)) &&
		(e.Minor == Wildcard || e.Minor == int64(minor))
}
