package sdk

import "github.com/rung-runtime/rung/proto/stagev1"

// NamespaceAction asks the init to create a namespace of type t (path empty)
// or to join the one at path.
func NamespaceAction(t stagev1.NamespaceType, path string) *stagev1.Action {
	return &stagev1.Action{Kind: &stagev1.Action_Namespace{Namespace: &stagev1.Namespace{Type: t, Path: path}}}
}

// CgroupAction has the init cloned straight into the cgroup directory dir.
func CgroupAction(dir string) *stagev1.Action {
	return &stagev1.Action{Kind: &stagev1.Action_Cgroup{Cgroup: &stagev1.CgroupPlacement{Path: dir}}}
}

// SeccompAction has the init install the compiled BPF program right before execve.
func SeccompAction(f *stagev1.SeccompFilter) *stagev1.Action {
	return &stagev1.Action{Kind: &stagev1.Action_Seccomp{Seccomp: f}}
}

// ProcAttrAction has the init write value to its /proc/thread-self/attr/<lsm>/<attr>.
func ProcAttrAction(lsm, attr, value string) *stagev1.Action {
	return &stagev1.Action{Kind: &stagev1.Action_ProcAttr{ProcAttr: &stagev1.ProcAttr{Lsm: lsm, Attr: attr, Value: value}}}
}

// MountLabelAction has the host's rootfs setup add context=label to mounts.
func MountLabelAction(label string) *stagev1.Action {
	return &stagev1.Action{Kind: &stagev1.Action_MountLabel{MountLabel: &stagev1.MountLabel{Label: label}}}
}

// TimeOffsetsAction sets the clock offsets of a new time namespace.
func TimeOffsetsAction(o *stagev1.TimeOffsets) *stagev1.Action {
	return &stagev1.Action{Kind: &stagev1.Action_TimeOffsets{TimeOffsets: o}}
}

// LandlockAction has the init restrict itself with the ruleset right before execve.
func LandlockAction(l *stagev1.Landlock) *stagev1.Action {
	return &stagev1.Action{Kind: &stagev1.Action_Landlock{Landlock: l}}
}

// LoopbackAction has the init bring up lo in the network namespace it created.
func LoopbackAction() *stagev1.Action {
	return &stagev1.Action{Kind: &stagev1.Action_Loopback{Loopback: &stagev1.Loopback{}}}
}
