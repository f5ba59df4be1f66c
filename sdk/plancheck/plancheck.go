// Package plancheck is the host's rules for a plugin's answers: which plan
// actions and how much state rung accepts. The host applies exactly these
// checks before it uses a Prepare or Attach answer, and the stagetest kit
// applies them to any plugin, so a plugin's own tests can catch a plan the
// host would refuse.
package plancheck

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rung-runtime/rung/proto/stagev1"
)

// Bounds on one plugin's answer; past them the answer is nonsense.
const (
	MaxActions       = 256
	MaxSeccompInsns  = 4096
	MaxAttrValue     = 4096
	MaxLandlockRules = 4096
	MaxPath          = 4096
	// MaxCgroupV1Paths is more than the v1 hierarchies a kernel has.
	MaxCgroupV1Paths = 32
	// MaxStateKeys and MaxStateBytes bound the state a plugin returns: the
	// host writes it to state.json and sends it back on every call, under
	// gRPC's 4 MiB message limit.
	MaxStateKeys  = 256
	MaxStateBytes = 256 << 10
)

// Checker checks the actions of one container's plan, across plugins: a
// namespace type may be planned once, and there is one cgroup placement.
type Checker struct {
	placed bool
	ns     map[stagev1.NamespaceType]bool
}

// Actions checks one plugin's whole answer.
func (c *Checker) Actions(actions []*stagev1.Action) error {
	if len(actions) > MaxActions {
		return fmt.Errorf("invalid plan: %d actions, at most %d", len(actions), MaxActions)
	}
	for i, a := range actions {
		if err := c.Add(a); err != nil {
			return fmt.Errorf("invalid plan: action %d: %w", i, err)
		}
	}
	return nil
}

// Actions checks a single plugin's answer on its own.
func Actions(actions []*stagev1.Action) error {
	var c Checker
	return c.Actions(actions)
}

// Add checks one action against the rules and against what came before.
func (c *Checker) Add(a *stagev1.Action) error {
	switch k := a.GetKind().(type) {
	case *stagev1.Action_Namespace:
		t := k.Namespace.GetType()
		if t == stagev1.NamespaceType_NAMESPACE_UNSPECIFIED || stagev1.NamespaceType_name[int32(t)] == "" {
			return fmt.Errorf("namespace type %v is unknown", t)
		}
		if p := k.Namespace.GetPath(); p != "" && !absNoNUL(p) {
			return fmt.Errorf("namespace path %q is not a clean absolute path", p)
		}
		// A second join or create of the same type is nonsense, and this
		// also bounds the joins the init's bootstrap reads.
		if c.ns[t] {
			return fmt.Errorf("namespace type %v is planned twice", t)
		}
		if c.ns == nil {
			c.ns = map[stagev1.NamespaceType]bool{}
		}
		c.ns[t] = true
	case *stagev1.Action_Cgroup:
		p, v1 := k.Cgroup.GetPath(), k.Cgroup.GetV1Paths()
		if p == "" && len(v1) == 0 {
			return errors.New("cgroup placement with neither a path nor v1 paths")
		}
		if p != "" && !cleanAbs(p) {
			return fmt.Errorf("cgroup path %q is not a clean absolute path", p)
		}
		if len(v1) > MaxCgroupV1Paths {
			return fmt.Errorf("cgroup placement with %d v1 paths, at most %d", len(v1), MaxCgroupV1Paths)
		}
		for _, d := range v1 {
			if !cleanAbs(d) {
				return fmt.Errorf("cgroup v1 path %q is not a clean absolute path", d)
			}
		}
		if c.placed {
			return errors.New("a second cgroup placement")
		}
		c.placed = true
	case *stagev1.Action_Seccomp:
		prog := k.Seccomp.GetProgram()
		if len(prog) == 0 || len(prog)%8 != 0 || len(prog)/8 > MaxSeccompInsns {
			return fmt.Errorf("seccomp program of %d bytes is not 1..%d instructions", len(prog), MaxSeccompInsns)
		}
	case *stagev1.Action_ProcAttr:
		pa := k.ProcAttr
		switch pa.GetLsm() {
		case "", "apparmor", "selinux", "smack":
		default:
			return fmt.Errorf("proc attr for unknown LSM %q", pa.GetLsm())
		}
		switch pa.GetAttr() {
		case "exec", "keycreate", "sockcreate":
		default:
			return fmt.Errorf("proc attr %q is not exec, keycreate or sockcreate", pa.GetAttr())
		}
		if v := pa.GetValue(); len(v) == 0 || len(v) > MaxAttrValue || strings.ContainsAny(v, "\x00\n") {
			return fmt.Errorf("proc attr value of %d bytes is empty, too long or multi-line", len(v))
		}
	case *stagev1.Action_MountLabel:
		if l := k.MountLabel.GetLabel(); strings.ContainsAny(l, ",\x00\n\"") || len(l) > MaxAttrValue {
			return fmt.Errorf("mount label %q has characters a mount option cannot carry", l)
		}
	case *stagev1.Action_TimeOffsets:
		if o := k.TimeOffsets; o.GetMonotonicNanos() >= 1e9 || o.GetBoottimeNanos() >= 1e9 {
			return fmt.Errorf("time offsets: nanoseconds must be below 1e9")
		}
	case *stagev1.Action_Landlock:
		ll := k.Landlock
		if len(ll.GetRules()) > MaxLandlockRules {
			return fmt.Errorf("landlock: %d rules, at most %d", len(ll.GetRules()), MaxLandlockRules)
		}
		for _, r := range ll.GetRules() {
			if !absNoNUL(r.GetPath()) {
				return fmt.Errorf("landlock rule path %q is not absolute", r.GetPath())
			}
		}
	case *stagev1.Action_Loopback:
		// Nothing to check: the init brings lo up in its own network
		// namespace, which it only has if a stage planned a new one.
	default:
		return fmt.Errorf("unknown action kind %T", a.GetKind())
	}
	return nil
}

func absNoNUL(p string) bool {
	return filepath.IsAbs(p) && len(p) <= MaxPath && strings.IndexByte(p, 0) < 0
}

func cleanAbs(p string) bool { return absNoNUL(p) && filepath.Clean(p) == p }

// State checks the state a plugin asks the host to store.
func State(st map[string]string) error {
	if len(st) > MaxStateKeys {
		return fmt.Errorf("invalid state: %d keys, at most %d", len(st), MaxStateKeys)
	}
	total := 0
	for k, v := range st {
		total += len(k) + len(v)
	}
	if total > MaxStateBytes {
		return fmt.Errorf("invalid state: %d bytes, at most %d", total, MaxStateBytes)
	}
	return nil
}

// MaxTeardownDirs bounds a Teardown: a container's cgroups in every v1
// hierarchy, the unified one, and the parents Prepare made above them.
const MaxTeardownDirs = 256

// Teardown checks the directories a plugin asks the host to remove on
// delete, against the same answer's actions: the host rmdirs them, so they
// may only be the cgroups that plugin placed the container in and their
// ancestors, never another empty cgroup of the host's.
func Teardown(t *stagev1.Teardown, actions []*stagev1.Action) error {
	if t == nil {
		return nil
	}
	if n := len(t.GetCgroupDirs()) + len(t.GetEmptyParents()); n > MaxTeardownDirs {
		return fmt.Errorf("invalid teardown: %d directories, at most %d", n, MaxTeardownDirs)
	}
	if len(t.GetCgroupDirs()) == 0 {
		return errors.New("invalid teardown: no cgroup_dirs (leave teardown unset for a Destroy that must always run)")
	}
	var placed []string
	for _, a := range actions {
		if cg := a.GetCgroup(); cg != nil {
			if cg.GetPath() != "" {
				placed = append(placed, cg.GetPath())
			}
			placed = append(placed, cg.GetV1Paths()...)
		}
	}
	for i, d := range t.GetCgroupDirs() {
		if !TeardownPath(d) {
			return fmt.Errorf("invalid teardown: cgroup_dirs[%d] %q is not an absolute, clean path below /", i, d)
		}
		if !slices.Contains(placed, d) {
			return fmt.Errorf("invalid teardown: cgroup_dirs[%d] %q is not a cgroup the plan places the container in", i, d)
		}
	}
	for i, d := range t.GetEmptyParents() {
		if !TeardownPath(d) {
			return fmt.Errorf("invalid teardown: empty_parents[%d] %q is not an absolute, clean path below /", i, d)
		}
		above := func(leaf string) bool { return strings.HasPrefix(leaf, d+"/") }
		if !slices.ContainsFunc(t.GetCgroupDirs(), above) {
			return fmt.Errorf("invalid teardown: empty_parents[%d] %q is above none of cgroup_dirs", i, d)
		}
	}
	return nil
}

// TeardownPath is a path the host may rmdir for a Teardown: absolute,
// clean and below the root, so it names one entry of a directory.
func TeardownPath(p string) bool { return cleanAbs(p) && p != "/" }
