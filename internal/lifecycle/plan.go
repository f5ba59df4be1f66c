package lifecycle

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/rung-runtime/rung/internal/initproc"
	"github.com/rung-runtime/rung/internal/nsexec"
	"github.com/rung-runtime/rung/internal/state"
	"github.com/rung-runtime/rung/proto/stagev1"
)

// plan is what the stages' actions add up to for one container.
type plan struct {
	nsSeen    map[stagev1.NamespaceType]bool
	bootstrap nsexec.Bootstrap
	cgroupDir string
	init      initproc.Plan
}

var nsFlags = map[stagev1.NamespaceType]int{
	stagev1.NamespaceType_NAMESPACE_MOUNT:   unix.CLONE_NEWNS,
	stagev1.NamespaceType_NAMESPACE_UTS:     unix.CLONE_NEWUTS,
	stagev1.NamespaceType_NAMESPACE_IPC:     unix.CLONE_NEWIPC,
	stagev1.NamespaceType_NAMESPACE_NETWORK: unix.CLONE_NEWNET,
	stagev1.NamespaceType_NAMESPACE_PID:     unix.CLONE_NEWPID,
	stagev1.NamespaceType_NAMESPACE_USER:    unix.CLONE_NEWUSER,
	stagev1.NamespaceType_NAMESPACE_CGROUP:  unix.CLONE_NEWCGROUP,
	stagev1.NamespaceType_NAMESPACE_TIME:    unix.CLONE_NEWTIME,
}

// Bounds on what a plugin may ask for; a plan past them is nonsense.
const (
	maxActions       = 256
	maxSeccompInsns  = 4096
	maxAttrValue     = 4096
	maxLandlockRules = 4096
)

// add checks one plugin's actions and folds them into the plan. Plugins are
// separate processes that may be buggy or hostile: every field is checked.
func (pl *plan) add(actions []*stagev1.Action) error {
	if len(actions) > maxActions {
		return fmt.Errorf("invalid plan: %d actions, at most %d", len(actions), maxActions)
	}
	for i, a := range actions {
		if err := pl.addOne(a); err != nil {
			return fmt.Errorf("invalid plan: action %d: %w", i, err)
		}
	}
	return nil
}

func (pl *plan) addOne(a *stagev1.Action) error {
	switch k := a.GetKind().(type) {
	case *stagev1.Action_Namespace:
		flag, ok := nsFlags[k.Namespace.GetType()]
		if !ok {
			return fmt.Errorf("namespace type %v is unknown", k.Namespace.GetType())
		}
		if p := k.Namespace.GetPath(); p != "" {
			if !filepath.IsAbs(p) || len(p) > 4096 || strings.IndexByte(p, 0) >= 0 {
				return fmt.Errorf("namespace path %q is not a clean absolute path", p)
			}
		}
		// One plan per type: a second join or create of the same type is
		// nonsense, and this also bounds the joins the bootstrap reads.
		if pl.nsSeen[k.Namespace.GetType()] {
			return fmt.Errorf("namespace type %v is planned twice", k.Namespace.GetType())
		}
		if pl.nsSeen == nil {
			pl.nsSeen = map[stagev1.NamespaceType]bool{}
		}
		pl.nsSeen[k.Namespace.GetType()] = true
		if p := k.Namespace.GetPath(); p != "" {
			pl.bootstrap.Joins = append(pl.bootstrap.Joins, nsexec.Join{Flag: flag, Path: p})
		} else {
			pl.bootstrap.CloneFlags |= uintptr(flag)
		}
	case *stagev1.Action_Cgroup:
		p := k.Cgroup.GetPath()
		if !filepath.IsAbs(p) || filepath.Clean(p) != p {
			return fmt.Errorf("cgroup path %q is not a clean absolute path", p)
		}
		if pl.cgroupDir != "" && pl.cgroupDir != p {
			return fmt.Errorf("a second cgroup placement %q (already %q)", p, pl.cgroupDir)
		}
		pl.cgroupDir = p
	case *stagev1.Action_Seccomp:
		prog := k.Seccomp.GetProgram()
		if len(prog) == 0 || len(prog)%8 != 0 || len(prog)/8 > maxSeccompInsns {
			return fmt.Errorf("seccomp program of %d bytes is not 1..%d instructions", len(prog), maxSeccompInsns)
		}
		pl.init.Seccomp = append(pl.init.Seccomp, initproc.Seccomp{
			Program: prog, Flags: k.Seccomp.GetFlags(),
			ListenerPath: k.Seccomp.GetListenerPath(), ListenerMetadata: k.Seccomp.GetListenerMetadata(),
		})
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
		if len(pa.GetValue()) == 0 || len(pa.GetValue()) > maxAttrValue || strings.ContainsAny(pa.GetValue(), "\x00\n") {
			return fmt.Errorf("proc attr value of %d bytes is empty, too long or multi-line", len(pa.GetValue()))
		}
		pl.init.ProcAttrs = append(pl.init.ProcAttrs, initproc.ProcAttr{LSM: pa.GetLsm(), Attr: pa.GetAttr(), Value: pa.GetValue()})
	case *stagev1.Action_MountLabel:
		l := k.MountLabel.GetLabel()
		if strings.ContainsAny(l, ",\x00\n\"") || len(l) > maxAttrValue {
			return fmt.Errorf("mount label %q has characters a mount option cannot carry", l)
		}
		pl.init.MountLabel = l
	case *stagev1.Action_TimeOffsets:
		o := k.TimeOffsets
		if o.GetMonotonicNanos() >= 1e9 || o.GetBoottimeNanos() >= 1e9 {
			return fmt.Errorf("time offsets: nanoseconds must be below 1e9")
		}
		pl.bootstrap.TimeOffsets = fmt.Sprintf("monotonic %d %d\nboottime %d %d\n",
			o.GetMonotonicSecs(), o.GetMonotonicNanos(), o.GetBoottimeSecs(), o.GetBoottimeNanos())
	case *stagev1.Action_Landlock:
		ll := k.Landlock
		if len(ll.GetRules()) > maxLandlockRules {
			return fmt.Errorf("landlock: %d rules, at most %d", len(ll.GetRules()), maxLandlockRules)
		}
		set := initproc.Landlock{HandledAccessFS: ll.GetHandledAccessFs()}
		for _, r := range ll.GetRules() {
			if !filepath.IsAbs(r.GetPath()) {
				return fmt.Errorf("landlock rule path %q is not absolute", r.GetPath())
			}
			set.Rules = append(set.Rules, initproc.LandlockRule{Path: r.GetPath(), Access: r.GetAllowedAccess()})
		}
		pl.init.Landlock = append(pl.init.Landlock, set)
	default:
		return fmt.Errorf("unknown action kind %T", a.GetKind())
	}
	return nil
}

// encodeActions stores actions in their protobuf JSON form.
func encodeActions(actions []*stagev1.Action) ([]state.Action, error) {
	out := make([]state.Action, 0, len(actions))
	for _, a := range actions {
		b, err := protojson.Marshal(a)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// decodeActions reads stored actions back.
func decodeActions(stored []state.Action) ([]*stagev1.Action, error) {
	out := make([]*stagev1.Action, 0, len(stored))
	for _, b := range stored {
		a := &stagev1.Action{}
		if err := protojson.Unmarshal(b, a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Bounds on a plugin's stored state: it is written to state.json and sent
// back on every call, so it must stay far below gRPC's message limit.
const (
	maxStateKeys  = 256
	maxStateBytes = 256 << 10
)

// checkState refuses plugin state past the bounds.
func checkState(st map[string]string) error {
	if len(st) > maxStateKeys {
		return fmt.Errorf("invalid state: %d keys, at most %d", len(st), maxStateKeys)
	}
	total := 0
	for k, v := range st {
		total += len(k) + len(v)
	}
	if total > maxStateBytes {
		return fmt.Errorf("invalid state: %d bytes, at most %d", total, maxStateBytes)
	}
	return nil
}
