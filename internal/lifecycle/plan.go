package lifecycle

import (
	"fmt"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/rung-runtime/rung/internal/initproc"
	"github.com/rung-runtime/rung/internal/nsexec"
	"github.com/rung-runtime/rung/internal/state"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk/plancheck"
)

// plan is what the stages' actions add up to for one container.
type plan struct {
	check     plancheck.Checker
	bootstrap nsexec.Bootstrap
	cgroupDir string
	// cgroupV1Dirs are the container's cgroup v1 directories, one per
	// hierarchy, on hybrid and legacy hosts.
	cgroupV1Dirs []string
	init         initproc.Plan
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

// add checks one plugin's actions and folds them into the plan. Plugins are
// separate processes that may be buggy or hostile: sdk/plancheck checks
// every field (the same rules the stagetest kit applies) before any is used.
func (pl *plan) add(actions []*stagev1.Action) error {
	if err := pl.check.Actions(actions); err != nil {
		return err
	}
	for _, a := range actions {
		pl.fold(a)
	}
	return nil
}

func (pl *plan) fold(a *stagev1.Action) {
	switch k := a.GetKind().(type) {
	case *stagev1.Action_Namespace:
		flag := nsFlags[k.Namespace.GetType()]
		if p := k.Namespace.GetPath(); p != "" {
			pl.bootstrap.Joins = append(pl.bootstrap.Joins, nsexec.Join{Flag: flag, Path: p})
		} else {
			pl.bootstrap.CloneFlags |= uintptr(flag)
		}
	case *stagev1.Action_Cgroup:
		pl.cgroupDir = k.Cgroup.GetPath()
		pl.cgroupV1Dirs = k.Cgroup.GetV1Paths()
	case *stagev1.Action_Seccomp:
		pl.init.Seccomp = append(pl.init.Seccomp, initproc.Seccomp{
			Program: k.Seccomp.GetProgram(), Flags: k.Seccomp.GetFlags(),
			ListenerPath: k.Seccomp.GetListenerPath(), ListenerMetadata: k.Seccomp.GetListenerMetadata(),
		})
	case *stagev1.Action_ProcAttr:
		pa := k.ProcAttr
		pl.init.ProcAttrs = append(pl.init.ProcAttrs, initproc.ProcAttr{LSM: pa.GetLsm(), Attr: pa.GetAttr(), Value: pa.GetValue()})
	case *stagev1.Action_MountLabel:
		pl.init.MountLabel = k.MountLabel.GetLabel()
	case *stagev1.Action_TimeOffsets:
		o := k.TimeOffsets
		pl.bootstrap.TimeOffsets = fmt.Sprintf("monotonic %d %d\nboottime %d %d\n",
			o.GetMonotonicSecs(), o.GetMonotonicNanos(), o.GetBoottimeSecs(), o.GetBoottimeNanos())
	case *stagev1.Action_Landlock:
		ll := k.Landlock
		set := initproc.Landlock{HandledAccessFS: ll.GetHandledAccessFs()}
		for _, r := range ll.GetRules() {
			set.Rules = append(set.Rules, initproc.LandlockRule{Path: r.GetPath(), Access: r.GetAllowedAccess()})
		}
		pl.init.Landlock = append(pl.init.Landlock, set)
	case *stagev1.Action_Loopback:
		pl.init.Loopback = true
	}
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
