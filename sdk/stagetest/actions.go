package stagetest

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/rung-runtime/rung/proto/stagev1"
)

// The host's bounds on a plan (internal/lifecycle/plan.go); a plan past
// them fails the create. Kept equal by TestBoundsMatchHost.
const (
	MaxActions       = 256
	MaxSeccompInsns  = 4096
	MaxAttrValue     = 4096
	MaxLandlockRules = 4096
	// MaxStateKeys and MaxStateBytes bound the state a plugin returns: the
	// host writes it to state.json and sends it back on every call.
	MaxStateKeys  = 256
	MaxStateBytes = 256 << 10
)

// CheckActions applies the host's checks to a Prepare answer's actions, so
// a plugin's unit tests can catch a plan the host would refuse. The host
// also refuses a second cgroup placement from another stage.
func CheckActions(actions []*stagev1.Action) error {
	if len(actions) > MaxActions {
		return fmt.Errorf("invalid plan: %d actions, at most %d", len(actions), MaxActions)
	}
	cgroup := ""
	ns := map[stagev1.NamespaceType]bool{}
	for i, a := range actions {
		if n, ok := a.GetKind().(*stagev1.Action_Namespace); ok {
			if ns[n.Namespace.GetType()] {
				return fmt.Errorf("invalid plan: action %d: namespace type %v is planned twice", i, n.Namespace.GetType())
			}
			ns[n.Namespace.GetType()] = true
		}
		if err := checkAction(a, &cgroup); err != nil {
			return fmt.Errorf("invalid plan: action %d: %w", i, err)
		}
	}
	return nil
}

func cleanAbs(p string) bool {
	return filepath.IsAbs(p) && filepath.Clean(p) == p && len(p) <= 4096 && strings.IndexByte(p, 0) < 0
}

func checkAction(a *stagev1.Action, cgroup *string) error {
	switch k := a.GetKind().(type) {
	case *stagev1.Action_Namespace:
		if _, ok := cloneFlags[k.Namespace.GetType()]; !ok {
			return fmt.Errorf("namespace type %v is unknown", k.Namespace.GetType())
		}
		if p := k.Namespace.GetPath(); p != "" && (!filepath.IsAbs(p) || len(p) > 4096 || strings.IndexByte(p, 0) >= 0) {
			return fmt.Errorf("namespace path %q is not a clean absolute path", p)
		}
	case *stagev1.Action_Cgroup:
		p := k.Cgroup.GetPath()
		if !filepath.IsAbs(p) || filepath.Clean(p) != p {
			return fmt.Errorf("cgroup path %q is not a clean absolute path", p)
		}
		if *cgroup != "" && *cgroup != p {
			return fmt.Errorf("a second cgroup placement %q (already %q)", p, *cgroup)
		}
		*cgroup = p
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
			if !filepath.IsAbs(r.GetPath()) {
				return fmt.Errorf("landlock rule path %q is not absolute", r.GetPath())
			}
		}
	default:
		return fmt.Errorf("unknown action kind %T", a.GetKind())
	}
	return nil
}
