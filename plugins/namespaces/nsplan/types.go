// Package nsplan is the pure part of the rung-namespaces stage: it checks the
// namespace fields of an OCI spec and turns them into the plan the init
// applies. It touches no kernel state; what it needs to know about the host
// comes through the Host interface.
package nsplan

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/proto/stagev1"
)

// Kind describes one namespace type the runtime-spec knows.
type Kind struct {
	Type specs.LinuxNamespaceType
	// Proc is the entry name under /proc/<pid>/ns.
	Proc string
	// CloneFlag is the CLONE_NEW* bit, also what NS_GET_NSTYPE answers.
	CloneFlag int
	Wire      stagev1.NamespaceType
}

// Kinds lists every namespace type in the order `runc features` reports them.
var Kinds = []Kind{
	{specs.CgroupNamespace, "cgroup", unix.CLONE_NEWCGROUP, stagev1.NamespaceType_NAMESPACE_CGROUP},
	{specs.IPCNamespace, "ipc", unix.CLONE_NEWIPC, stagev1.NamespaceType_NAMESPACE_IPC},
	{specs.MountNamespace, "mnt", unix.CLONE_NEWNS, stagev1.NamespaceType_NAMESPACE_MOUNT},
	{specs.NetworkNamespace, "net", unix.CLONE_NEWNET, stagev1.NamespaceType_NAMESPACE_NETWORK},
	{specs.PIDNamespace, "pid", unix.CLONE_NEWPID, stagev1.NamespaceType_NAMESPACE_PID},
	{specs.UserNamespace, "user", unix.CLONE_NEWUSER, stagev1.NamespaceType_NAMESPACE_USER},
	{specs.UTSNamespace, "uts", unix.CLONE_NEWUTS, stagev1.NamespaceType_NAMESPACE_UTS},
	{specs.TimeNamespace, "time", unix.CLONE_NEWTIME, stagev1.NamespaceType_NAMESPACE_TIME},
}

// KindOf returns the Kind of spec type t, or false if the spec has no such type.
func KindOf(t specs.LinuxNamespaceType) (Kind, bool) {
	for _, k := range Kinds {
		if k.Type == t {
			return k, true
		}
	}
	return Kind{}, false
}

// Host is what validation needs to know about the machine.
type Host interface {
	// Supported reports whether the kernel has namespaces of type t.
	Supported(t specs.LinuxNamespaceType) bool
	// CheckJoin checks that path is a namespace of type t that could be
	// joined. own reports whether it is the runtime's own namespace (so
	// joining it isolates nothing).
	CheckJoin(t specs.LinuxNamespaceType, path string) (own bool, err error)
}

// Limits on what a spec may ask for. The kernel enforces its own; these keep
// a hostile config.json from making the plugin do unbounded work and give
// clear errors before the kernel's EINVAL.
const (
	// MaxNamespaces bounds linux.namespaces; eight types exist, so anything
	// longer is certainly duplicated.
	MaxNamespaces = 32
	// MaxIDMappings is the kernel's limit of extents per uid_map/gid_map
	// (UID_GID_MAP_MAX_EXTENTS, since 4.15).
	MaxIDMappings = 340
	// MaxMapBytes is the most the kernel accepts in the single write that
	// sets a uid_map or gid_map (it refuses count >= PAGE_SIZE).
	MaxMapBytes = 4095
	// MaxPath bounds a namespace path (PATH_MAX includes the NUL).
	MaxPath = unix.PathMax - 1
	// MaxSysctls bounds linux.sysctl so validation work stays small.
	MaxSysctls = 1024
	// ktimeSecMax is the kernel's KTIME_SEC_MAX; a time namespace offset
	// must stay within half of it (proc_timens_set_offset).
	ktimeSecMax = 9223372036
	// MaxTimeOffsetSecs is the largest |secs| the kernel may accept.
	MaxTimeOffsetSecs = ktimeSecMax / 2
)
