package nsplan

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/sdk"
)

// entry is one accepted linux.namespaces element.
type entry struct {
	index int
	path  string
	own   bool
}

type nsSet map[specs.LinuxNamespaceType]entry

// has reports whether the spec lists t at all (new or joined), which is what
// runc means by "contains".
func (s nsSet) has(t specs.LinuxNamespaceType) bool { _, ok := s[t]; return ok }

func (s nsSet) isNew(t specs.LinuxNamespaceType) bool {
	e, ok := s[t]
	return ok && e.path == ""
}

type errs []sdk.FieldError

func (e *errs) add(field, format string, args ...any) {
	*e = append(*e, sdk.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Validate checks the spec's namespace fields and the fields whose meaning
// depends on which namespaces the container gets (hostname, masked paths,
// sysctls). It returns every problem found, in spec order.
func Validate(spec *specs.Spec, h Host) []sdk.FieldError {
	var e errs
	if spec == nil || spec.Linux == nil {
		return nil
	}
	l := spec.Linux
	set := validateNamespaces(&e, l.Namespaces, h)

	validateUser(&e, spec, set)
	validateTime(&e, l, set)
	validateDependents(&e, spec, set)
	return e
}

func validateNamespaces(e *errs, list []specs.LinuxNamespace, h Host) nsSet {
	set := nsSet{}
	if len(list) > MaxNamespaces {
		e.add("linux.namespaces", "%d entries, more than the %d allowed", len(list), MaxNamespaces)
		return set
	}
	for i, ns := range list {
		field := fmt.Sprintf("linux.namespaces[%d]", i)
		if _, ok := KindOf(ns.Type); !ok {
			e.add(field+".type", "unknown namespace type %q", ns.Type)
			continue
		}
		if prev, dup := set[ns.Type]; dup {
			e.add(field+".type", "duplicate namespace type %q (also linux.namespaces[%d])", ns.Type, prev.index)
			continue
		}
		if !h.Supported(ns.Type) {
			e.add(field+".type", "this kernel has no %s namespaces", ns.Type)
			// Recorded anyway so that dependent checks do not pile up
			// misleading "needs a namespace" errors.
			set[ns.Type] = entry{index: i, path: ns.Path}
			continue
		}
		ent := entry{index: i, path: ns.Path}
		if ns.Path != "" {
			switch {
			case len(ns.Path) > MaxPath:
				e.add(field+".path", "%d bytes long, more than %d", len(ns.Path), MaxPath)
			case strings.IndexByte(ns.Path, 0) >= 0:
				e.add(field+".path", "contains a NUL byte")
			case !filepath.IsAbs(ns.Path):
				e.add(field+".path", "%q is not an absolute path", ns.Path)
			default:
				own, err := h.CheckJoin(ns.Type, ns.Path)
				if err != nil {
					e.add(field+".path", "%v", err)
				}
				ent.own = own
			}
		}
		set[ns.Type] = ent
	}
	return set
}

func validateUser(e *errs, spec *specs.Spec, set nsSet) {
	l := spec.Linux
	hasMaps := len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0
	if !set.has(specs.UserNamespace) {
		if len(l.UIDMappings) > 0 {
			e.add("linux.uidMappings", "set, but linux.namespaces has no user namespace")
		}
		if len(l.GIDMappings) > 0 {
			e.add("linux.gidMappings", "set, but linux.namespaces has no user namespace")
		}
		return
	}
	if !set.isNew(specs.UserNamespace) {
		// A joined namespace already has its maps; runc tolerates a copy of
		// them in the spec (containerd and CRI-O send one), and they are
		// never written. Only their shape is checked.
		if hasMaps {
			checkMappings(e, "linux.uidMappings", l.UIDMappings)
			checkMappings(e, "linux.gidMappings", l.GIDMappings)
		}
		return
	}
	// The init needs both maps: without a gid map it cannot setgid(2) to
	// process.user.gid, without a uid map it cannot setuid(2).
	if len(l.UIDMappings) == 0 {
		e.add("linux.uidMappings", "a new user namespace needs uid mappings")
	}
	if len(l.GIDMappings) == 0 {
		e.add("linux.gidMappings", "a new user namespace needs gid mappings")
	}
	uidOK := checkMappings(e, "linux.uidMappings", l.UIDMappings)
	gidOK := checkMappings(e, "linux.gidMappings", l.GIDMappings)
	if spec.Process == nil {
		return
	}
	u := spec.Process.User
	if uidOK && len(l.UIDMappings) > 0 && !mapped(l.UIDMappings, u.UID) {
		e.add("process.user.uid", "uid %d is not mapped by linux.uidMappings", u.UID)
	}
	if gidOK && len(l.GIDMappings) > 0 {
		if !mapped(l.GIDMappings, u.GID) {
			e.add("process.user.gid", "gid %d is not mapped by linux.gidMappings", u.GID)
		}
		for i, g := range u.AdditionalGids {
			if !mapped(l.GIDMappings, g) {
				e.add(fmt.Sprintf("process.user.additionalGids[%d]", i), "gid %d is not mapped by linux.gidMappings", g)
			}
		}
	}
}

// lastID is the highest id a map may cover: (uid_t)-1 is "no id" and the
// kernel refuses an extent whose end wraps around to it or past it.
const lastID = 1<<32 - 2

// checkMappings applies the kernel's rules for one uid_map/gid_map and
// reports whether the list is usable.
func checkMappings(e *errs, field string, m []specs.LinuxIDMapping) bool {
	if len(m) > MaxIDMappings {
		e.add(field, "%d mappings, more than the kernel's %d", len(m), MaxIDMappings)
		return false
	}
	ok := true
	for i, x := range m {
		f := fmt.Sprintf("%s[%d]", field, i)
		if x.Size == 0 {
			e.add(f+".size", "must be at least 1")
			ok = false
			continue
		}
		if uint64(x.ContainerID)+uint64(x.Size)-1 > lastID {
			e.add(f, "container ids %d..%d run past the last valid id %d", x.ContainerID, uint64(x.ContainerID)+uint64(x.Size)-1, uint64(lastID))
			ok = false
			continue
		}
		if uint64(x.HostID)+uint64(x.Size)-1 > lastID {
			e.add(f, "host ids %d..%d run past the last valid id %d", x.HostID, uint64(x.HostID)+uint64(x.Size)-1, uint64(lastID))
			ok = false
			continue
		}
		for j := 0; j < i; j++ {
			y := m[j]
			if y.Size == 0 {
				continue
			}
			if overlap(x.ContainerID, x.Size, y.ContainerID, y.Size) {
				e.add(f, "container ids overlap %s[%d]", field, j)
				ok = false
				break
			}
			if overlap(x.HostID, x.Size, y.HostID, y.Size) {
				e.add(f, "host ids overlap %s[%d]", field, j)
				ok = false
				break
			}
		}
	}
	if ok {
		if n := len(RenderIDMap(m)); n > MaxMapBytes {
			e.add(field, "renders to %d bytes; the kernel takes at most %d in the one write that sets a map", n, MaxMapBytes)
			ok = false
		}
	}
	return ok
}

func overlap(a, an, b, bn uint32) bool {
	return uint64(a) < uint64(b)+uint64(bn) && uint64(b) < uint64(a)+uint64(an)
}

func mapped(m []specs.LinuxIDMapping, id uint32) bool {
	for _, x := range m {
		if id >= x.ContainerID && uint64(id) < uint64(x.ContainerID)+uint64(x.Size) {
			return true
		}
	}
	return false
}

// Clocks a time namespace offsets (timens_offsets knows only these two).
var timeClocks = map[string]bool{"monotonic": true, "boottime": true}

func validateTime(e *errs, l *specs.Linux, set nsSet) {
	if len(l.TimeOffsets) == 0 {
		return
	}
	if !set.has(specs.TimeNamespace) {
		e.add("linux.timeOffsets", "set, but linux.namespaces has no time namespace")
		return
	}
	if !set.isNew(specs.TimeNamespace) {
		e.add("linux.timeOffsets", "offsets can be set only on a new time namespace, not on the one joined at linux.namespaces[%d].path", set[specs.TimeNamespace].index)
		return
	}
	for _, clock := range sortedKeys(l.TimeOffsets) {
		o := l.TimeOffsets[clock]
		f := "linux.timeOffsets." + clock
		if !timeClocks[clock] {
			e.add(f, "unknown clock %q (a time namespace offsets monotonic and boottime)", clock)
			continue
		}
		if o.Nanosecs >= 1e9 {
			e.add(f+".nanosecs", "%d is not below 1000000000", o.Nanosecs)
		}
		if o.Secs > MaxTimeOffsetSecs || o.Secs < -MaxTimeOffsetSecs {
			e.add(f+".secs", "%d is outside the kernel's range of ±%d", o.Secs, int64(MaxTimeOffsetSecs))
		}
	}
}

// ipcSysctls are the sysctls an ipc namespace isolates (besides fs.mqueue.*).
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// validateDependents checks the fields whose effect leaks to the host unless
// the container has the namespace that isolates them; runc refuses the same.
func validateDependents(e *errs, spec *specs.Spec, set nsSet) {
	l := spec.Linux
	if spec.Hostname != "" && !set.has(specs.UTSNamespace) {
		e.add("hostname", "setting the hostname needs a uts namespace in linux.namespaces")
	}
	if spec.Domainname != "" && !set.has(specs.UTSNamespace) {
		e.add("domainname", "setting the domainname needs a uts namespace in linux.namespaces")
	}
	if len(l.MaskedPaths) > 0 && !set.has(specs.MountNamespace) {
		e.add("linux.maskedPaths", "masking paths needs a mount namespace in linux.namespaces")
	}
	if len(l.ReadonlyPaths) > 0 && !set.has(specs.MountNamespace) {
		e.add("linux.readonlyPaths", "read-only paths need a mount namespace in linux.namespaces")
	}
	if len(l.Sysctl) > MaxSysctls {
		e.add("linux.sysctl", "%d entries, more than the %d allowed", len(l.Sysctl), MaxSysctls)
		return
	}
	for _, key := range sortedKeys(l.Sysctl) {
		f := "linux.sysctl[" + strconv.Quote(key) + "]"
		s := sysctlDots(key)
		switch {
		case ipcSysctls[s] || strings.HasPrefix(s, "fs.mqueue."):
			if !set.has(specs.IPCNamespace) {
				e.add(f, "sysctl %q needs an ipc namespace in linux.namespaces", s)
			}
		case strings.HasPrefix(s, "net."):
			net, ok := set[specs.NetworkNamespace]
			switch {
			case !ok:
				e.add(f, "sysctl %q needs a network namespace in linux.namespaces", s)
			case net.own:
				e.add(f, "sysctl %q is not allowed in the host's network namespace (linux.namespaces[%d].path)", s, net.index)
			}
		case s == "kernel.domainname" && set.has(specs.UTSNamespace):
		case s == "kernel.hostname" && set.has(specs.UTSNamespace):
			e.add(f, "sysctl %q conflicts with the hostname field; set that instead", s)
		default:
			e.add(f, "sysctl %q is not isolated by any namespace the container has", s)
		}
	}
}

// sysctlDots turns the slash form "net/ipv4/ip_forward" into the dot form,
// swapping dots and slashes as sysctl(8) does ("net/ipv4/conf/eth0.100/x"
// becomes "net.ipv4.conf.eth0/100.x").
func sysctlDots(s string) string {
	i := strings.IndexAny(s, "./")
	if i < 0 || s[i] == '.' {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
