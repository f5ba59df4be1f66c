package nsplan

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
)

// State keys this stage stores (Prepare) and reads back (Attach, Destroy).
const (
	// KeyNew lists the namespace types the init creates, comma-separated in
	// spec order (e.g. "mount,network,user"); present, possibly empty, after
	// every Prepare.
	KeyNew = "new"
	// KeyJoined is a JSON object from namespace type to the path joined.
	KeyJoined = "joined"
	// KeyUIDMappings and KeyGIDMappings are the JSON arrays of
	// specs.LinuxIDMapping written for a new user namespace.
	KeyUIDMappings = "uidMappings"
	KeyGIDMappings = "gidMappings"
	// KeyAttached is set by Attach to what it did, comma-separated
	// ("uid_map,gid_map,loopback").
	KeyAttached = "attached"
)

// State is what Attach needs, decoded from the stored map.
type State struct {
	New         []specs.LinuxNamespaceType
	Joined      map[specs.LinuxNamespaceType]string
	UIDMappings []specs.LinuxIDMapping
	GIDMappings []specs.LinuxIDMapping
}

// IsNew reports whether the init creates a namespace of type t.
func (s *State) IsNew(t specs.LinuxNamespaceType) bool {
	for _, n := range s.New {
		if n == t {
			return true
		}
	}
	return false
}

// Build turns a validated spec into the init's namespace actions and the
// state Attach reads back. One action per linux.namespaces entry, in spec
// order (the init's bootstrap orders joins and creation itself), plus the
// time offsets of a new time namespace.
func Build(spec *specs.Spec) (*sdk.Plan, error) {
	st := State{Joined: map[specs.LinuxNamespaceType]string{}}
	plan := &sdk.Plan{State: map[string]string{}}
	var l *specs.Linux
	if spec != nil {
		l = spec.Linux
	}
	if l == nil {
		l = &specs.Linux{}
	}
	for i, ns := range l.Namespaces {
		k, ok := KindOf(ns.Type)
		if !ok {
			return nil, fmt.Errorf("linux.namespaces[%d].type: unknown namespace type %q", i, ns.Type)
		}
		plan.Actions = append(plan.Actions, sdk.NamespaceAction(k.Wire, ns.Path))
		if ns.Path == "" {
			st.New = append(st.New, ns.Type)
		} else {
			st.Joined[ns.Type] = ns.Path
		}
	}
	if st.IsNew(specs.UserNamespace) {
		st.UIDMappings = l.UIDMappings
		st.GIDMappings = l.GIDMappings
	}
	if st.IsNew(specs.NetworkNamespace) {
		// The init brings lo up from inside, as runc's does.
		plan.Actions = append(plan.Actions, sdk.LoopbackAction())
	}
	// Only id maps for a new user namespace must be written from outside.
	plan.SkipAttach = !NeedsAttach(&st)
	// A joined namespace is checked at its path, which may name another
	// namespace by the next container; what is created follows from the
	// spec alone, on any kernel that passed Validate this boot.
	plan.Reusable = plan.SkipAttach && len(st.Joined) == 0
	if st.IsNew(specs.TimeNamespace) && len(l.TimeOffsets) > 0 {
		o := &stagev1.TimeOffsets{}
		if m, ok := l.TimeOffsets["monotonic"]; ok {
			o.MonotonicSecs, o.MonotonicNanos = m.Secs, m.Nanosecs
		}
		if b, ok := l.TimeOffsets["boottime"]; ok {
			o.BoottimeSecs, o.BoottimeNanos = b.Secs, b.Nanosecs
		}
		plan.Actions = append(plan.Actions, sdk.TimeOffsetsAction(o))
	}
	if err := st.encode(plan.State); err != nil {
		return nil, err
	}
	return plan, nil
}

// NeedsAttach says whether Attach has work for st: the id maps of a new
// user namespace, which only a process outside it may write.
func NeedsAttach(st *State) bool {
	return st.IsNew(specs.UserNamespace) && (len(st.UIDMappings) > 0 || len(st.GIDMappings) > 0)
}

func (s *State) encode(m map[string]string) error {
	names := make([]string, len(s.New))
	for i, t := range s.New {
		names[i] = string(t)
	}
	m[KeyNew] = strings.Join(names, ",")
	if len(s.Joined) > 0 {
		b, err := json.Marshal(s.Joined)
		if err != nil {
			return fmt.Errorf("encode joined namespaces: %w", err)
		}
		m[KeyJoined] = string(b)
	}
	for key, maps := range map[string][]specs.LinuxIDMapping{KeyUIDMappings: s.UIDMappings, KeyGIDMappings: s.GIDMappings} {
		if len(maps) == 0 {
			continue
		}
		b, err := json.Marshal(maps)
		if err != nil {
			return fmt.Errorf("encode %s: %w", key, err)
		}
		m[key] = string(b)
	}
	return nil
}

// DecodeState reads the stored state back. ok is false when the state has no
// KeyNew (Prepare's result was never stored), so the caller may rebuild it
// from the spec instead.
func DecodeState(m map[string]string) (st *State, ok bool, err error) {
	raw, ok := m[KeyNew]
	if !ok {
		return nil, false, nil
	}
	st = &State{Joined: map[specs.LinuxNamespaceType]string{}}
	if raw != "" {
		for _, n := range strings.Split(raw, ",") {
			t := specs.LinuxNamespaceType(n)
			if _, known := KindOf(t); !known {
				return nil, true, fmt.Errorf("state %q: unknown namespace type %q", KeyNew, n)
			}
			st.New = append(st.New, t)
		}
	}
	if v := m[KeyJoined]; v != "" {
		if err := json.Unmarshal([]byte(v), &st.Joined); err != nil {
			return nil, true, fmt.Errorf("state %q: %w", KeyJoined, err)
		}
	}
	for key, dst := range map[string]*[]specs.LinuxIDMapping{KeyUIDMappings: &st.UIDMappings, KeyGIDMappings: &st.GIDMappings} {
		if v := m[key]; v != "" {
			if err := json.Unmarshal([]byte(v), dst); err != nil {
				return nil, true, fmt.Errorf("state %q: %w", key, err)
			}
			if len(*dst) > MaxIDMappings {
				return nil, true, fmt.Errorf("state %q: %d mappings, more than the kernel's %d", key, len(*dst), MaxIDMappings)
			}
		}
	}
	return st, true, nil
}

// StateFromSpec is the state Build would have stored for spec.
func StateFromSpec(spec *specs.Spec) (*State, error) {
	p, err := Build(spec)
	if err != nil {
		return nil, err
	}
	st, _, err := DecodeState(p.State)
	return st, err
}

// RenderIDMap formats mappings the way /proc/<pid>/uid_map takes them: one
// "inside outside count" line per extent, all in one write.
func RenderIDMap(m []specs.LinuxIDMapping) []byte {
	var b []byte
	for _, x := range m {
		b = strconv.AppendUint(b, uint64(x.ContainerID), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(x.HostID), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(x.Size), 10)
		b = append(b, '\n')
	}
	return b
}

// SameIDMap reports whether the contents of a /proc/<pid>/uid_map file (which
// the kernel pads with spaces, and sorts when there are many extents)
// describe exactly the mappings m, so a repeated Attach can tell an already
// written map from a different one.
func SameIDMap(current []byte, m []specs.LinuxIDMapping) bool {
	var got []specs.LinuxIDMapping
	for _, line := range strings.Split(string(current), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return false
		}
		var v [3]uint32
		for j := range f {
			n, err := strconv.ParseUint(f[j], 10, 32)
			if err != nil {
				return false
			}
			v[j] = uint32(n)
		}
		got = append(got, specs.LinuxIDMapping{ContainerID: v[0], HostID: v[1], Size: v[2]})
	}
	if len(got) != len(m) {
		return false
	}
	want := slices.Clone(m)
	byContainerID := func(a, b specs.LinuxIDMapping) int { return cmp.Compare(a.ContainerID, b.ContainerID) }
	slices.SortFunc(got, byContainerID)
	slices.SortFunc(want, byContainerID)
	return slices.Equal(got, want)
}

// SetgroupsDeny reports whether "deny" must go to /proc/<pid>/setgroups
// before gid_map: the kernel refuses a gid_map from a writer without
// CAP_SETGID over the parent namespace unless setgroups(2) is disabled, which
// is runc's rootless case. A privileged writer leaves setgroups allowed, so
// the container can still set its supplementary groups.
func SetgroupsDeny(writerHasSetgid bool) bool { return !writerHasSetgid }
