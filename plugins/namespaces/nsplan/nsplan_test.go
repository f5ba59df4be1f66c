package nsplan

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
)

type fakeHost struct {
	unsupported map[specs.LinuxNamespaceType]bool
	// joinable maps a path to the namespace type found there.
	joinable map[string]specs.LinuxNamespaceType
	own      map[string]bool
}

func (f fakeHost) Supported(t specs.LinuxNamespaceType) bool { return !f.unsupported[t] }

func (f fakeHost) CheckJoin(t specs.LinuxNamespaceType, path string) (bool, error) {
	got, ok := f.joinable[path]
	if !ok {
		return false, errors.New("open " + path + ": no such file or directory")
	}
	if got != t {
		return false, errors.New(path + ": is a " + string(got) + " namespace, not " + string(t))
	}
	return f.own[path], nil
}

var host = fakeHost{
	joinable: map[string]specs.LinuxNamespaceType{
		"/run/netns/a":      specs.NetworkNamespace,
		"/proc/1/ns/net":    specs.NetworkNamespace,
		"/proc/9/ns/user":   specs.UserNamespace,
		"/proc/9/ns/time":   specs.TimeNamespace,
		"/proc/9/ns/ipc":    specs.IPCNamespace,
		"/run/netns/itsuts": specs.UTSNamespace,
	},
	own: map[string]bool{"/proc/1/ns/net": true},
}

func ns(types ...string) []specs.LinuxNamespace {
	var out []specs.LinuxNamespace
	for _, t := range types {
		typ, path, _ := strings.Cut(t, "=")
		out = append(out, specs.LinuxNamespace{Type: specs.LinuxNamespaceType(typ), Path: path})
	}
	return out
}

func idmap(c, h, n uint32) specs.LinuxIDMapping {
	return specs.LinuxIDMapping{ContainerID: c, HostID: h, Size: n}
}

// base is a typical rootful spec: every namespace new, no user namespace.
func base() *specs.Spec {
	return &specs.Spec{
		Process:  &specs.Process{User: specs.User{UID: 0, GID: 0}},
		Hostname: "box",
		Linux: &specs.Linux{
			Namespaces:  ns("pid", "network", "ipc", "uts", "mount", "cgroup"),
			MaskedPaths: []string{"/proc/kcore"},
		},
	}
}

func userns() *specs.Spec {
	s := base()
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{idmap(0, 100000, 65536)}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{idmap(0, 100000, 65536)}
	return s
}

// fields maps each error's field to its message.
func fields(errs []sdk.FieldError) map[string]string {
	m := map[string]string{}
	for _, e := range errs {
		m[e.Field] = e.Message
	}
	return m
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*specs.Spec) *specs.Spec
		h      Host
		// want maps field → a substring of its message; nil means no errors.
		want map[string]string
	}{
		{"typical", func(s *specs.Spec) *specs.Spec { return s }, host, nil},
		{"user namespace", func(*specs.Spec) *specs.Spec { return userns() }, host, nil},
		{"no linux section", func(s *specs.Spec) *specs.Spec { s.Linux = nil; return s }, host, nil},
		{"unknown type", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces[2].Type = "bogus"
			return s
		}, host, map[string]string{"linux.namespaces[2].type": `unknown namespace type "bogus"`}},
		{"duplicate type", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "pid"})
			return s
		}, host, map[string]string{"linux.namespaces[6].type": "duplicate namespace type \"pid\" (also linux.namespaces[0])"}},
		{"unsupported by kernel", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "time"})
			return s
		}, fakeHost{unsupported: map[specs.LinuxNamespaceType]bool{"time": true}}, map[string]string{"linux.namespaces[6].type": "this kernel has no time namespaces"}},
		{"too many", func(s *specs.Spec) *specs.Spec {
			for len(s.Linux.Namespaces) <= MaxNamespaces {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "pid"})
			}
			s.Hostname, s.Linux.MaskedPaths = "", nil
			return s
		}, host, map[string]string{"linux.namespaces": "more than the 32 allowed"}},
		{"join ok", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces[1].Path = "/run/netns/a"
			return s
		}, host, nil},
		{"join missing", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces[1].Path = "/run/netns/missing"
			return s
		}, host, map[string]string{"linux.namespaces[1].path": "no such file"}},
		{"join wrong type", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces[1].Path = "/run/netns/itsuts"
			return s
		}, host, map[string]string{"linux.namespaces[1].path": "is a uts namespace, not network"}},
		{"join relative", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces[1].Path = "run/netns/a"
			return s
		}, host, map[string]string{"linux.namespaces[1].path": "not an absolute path"}},
		{"join NUL", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces[1].Path = "/run/netns/a\x00"
			return s
		}, host, map[string]string{"linux.namespaces[1].path": "NUL"}},
		{"join too long", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces[1].Path = "/" + strings.Repeat("a", MaxPath)
			return s
		}, host, map[string]string{"linux.namespaces[1].path": "more than 4095"}},
		{"mappings without user namespace", func(s *specs.Spec) *specs.Spec {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{idmap(0, 1000, 1)}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{idmap(0, 1000, 1)}
			return s
		}, host, map[string]string{"linux.uidMappings": "no user namespace", "linux.gidMappings": "no user namespace"}},
		{"new user namespace without mappings", func(*specs.Spec) *specs.Spec {
			s := userns()
			s.Linux.UIDMappings, s.Linux.GIDMappings = nil, nil
			return s
		}, host, map[string]string{"linux.uidMappings": "needs uid mappings", "linux.gidMappings": "needs gid mappings"}},
		{"new user namespace without gid mappings", func(*specs.Spec) *specs.Spec {
			s := userns()
			s.Linux.GIDMappings = nil
			return s
		}, host, map[string]string{"linux.gidMappings": "needs gid mappings"}},
		{"joined user namespace without mappings", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces = append(s.Linux.Namespaces, ns("user=/proc/9/ns/user")...)
			return s
		}, host, nil},
		{"joined user namespace with mappings", func(*specs.Spec) *specs.Spec {
			s := userns()
			s.Linux.Namespaces[len(s.Linux.Namespaces)-1].Path = "/proc/9/ns/user"
			return s
		}, host, nil},
		{"zero size", func(*specs.Spec) *specs.Spec {
			s := userns()
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, idmap(70000, 1, 0))
			return s
		}, host, map[string]string{"linux.uidMappings[1].size": "at least 1"}},
		{"container overlap", func(*specs.Spec) *specs.Spec {
			s := userns()
			s.Linux.GIDMappings = append(s.Linux.GIDMappings, idmap(65535, 300000, 10))
			return s
		}, host, map[string]string{"linux.gidMappings[1]": "container ids overlap linux.gidMappings[0]"}},
		{"host overlap", func(*specs.Spec) *specs.Spec {
			s := userns()
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, idmap(70000, 165535, 10))
			return s
		}, host, map[string]string{"linux.uidMappings[1]": "host ids overlap linux.uidMappings[0]"}},
		{"adjacent is fine", func(*specs.Spec) *specs.Spec {
			s := userns()
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, idmap(65536, 165536, 10))
			return s
		}, host, nil},
		{"range past last id", func(*specs.Spec) *specs.Spec {
			s := userns()
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, idmap(4294967290, 1, 6))
			return s
		}, host, map[string]string{"linux.uidMappings[1]": "run past the last valid id 4294967294"}},
		{"range ends at last id", func(*specs.Spec) *specs.Spec {
			s := userns()
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, idmap(4294967290, 1, 5))
			return s
		}, host, nil},
		{"too many mappings", func(*specs.Spec) *specs.Spec {
			s := userns()
			for i := uint32(1); i <= MaxIDMappings; i++ {
				s.Linux.UIDMappings = append(s.Linux.UIDMappings, idmap(100000+i, 200000+i, 1))
			}
			return s
		}, host, map[string]string{"linux.uidMappings": "more than the kernel's 340"}},
		{"map text too long", func(*specs.Spec) *specs.Spec {
			s := userns()
			for i := uint32(1); i < 300; i++ {
				s.Linux.UIDMappings = append(s.Linux.UIDMappings, idmap(1000000000+i, 2000000000+i, 1))
			}
			return s
		}, host, map[string]string{"linux.uidMappings": "the kernel takes at most 4095"}},
		{"process uid unmapped", func(*specs.Spec) *specs.Spec {
			s := userns()
			s.Process.User = specs.User{UID: 70000, GID: 5, AdditionalGids: []uint32{6, 99999}}
			return s
		}, host, map[string]string{"process.user.uid": "uid 70000 is not mapped", "process.user.additionalGids[1]": "gid 99999 is not mapped"}},
		{"time offsets without time namespace", func(s *specs.Spec) *specs.Spec {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 10}}
			return s
		}, host, map[string]string{"linux.timeOffsets": "no time namespace"}},
		{"time offsets on joined time namespace", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces = append(s.Linux.Namespaces, ns("time=/proc/9/ns/time")...)
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 10}}
			return s
		}, host, map[string]string{"linux.timeOffsets": "only on a new time namespace"}},
		{"time offsets ok", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces = append(s.Linux.Namespaces, ns("time")...)
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 10, Nanosecs: 5}, "boottime": {Secs: -3}}
			return s
		}, host, nil},
		{"time offsets bad", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces = append(s.Linux.Namespaces, ns("time")...)
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{
				"monotonic": {Secs: MaxTimeOffsetSecs + 1},
				"boottime":  {Nanosecs: 1e9},
				"realtime":  {Secs: 1},
			}
			return s
		}, host, map[string]string{
			"linux.timeOffsets.monotonic.secs":    "outside the kernel's range",
			"linux.timeOffsets.boottime.nanosecs": "not below 1000000000",
			"linux.timeOffsets.realtime":          `unknown clock "realtime"`,
		}},
		{"hostname without uts", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces = ns("pid", "mount")
			s.Domainname = "example.org"
			return s
		}, host, map[string]string{"hostname": "needs a uts namespace", "domainname": "needs a uts namespace"}},
		{"masked paths without mount namespace", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces = ns("pid", "uts")
			s.Linux.ReadonlyPaths = []string{"/proc/sys"}
			return s
		}, host, map[string]string{"linux.maskedPaths": "needs a mount namespace", "linux.readonlyPaths": "need a mount namespace"}},
		{"sysctls allowed", func(s *specs.Spec) *specs.Spec {
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.msg_max": "10", "kernel.domainname": "x", "net/ipv4/conf/eth0.100/rp_filter": "0"}
			return s
		}, host, nil},
		{"sysctls refused", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces = ns("pid", "mount", "uts", "network=/proc/1/ns/net")
			s.Linux.Sysctl = map[string]string{"net.core.somaxconn": "1", "kernel.msgmax": "1", "kernel.hostname": "x", "vm.swappiness": "1"}
			return s
		}, host, map[string]string{
			`linux.sysctl["net.core.somaxconn"]`: "host's network namespace",
			`linux.sysctl["kernel.msgmax"]`:      "needs an ipc namespace",
			`linux.sysctl["kernel.hostname"]`:    "conflicts with the hostname field",
			`linux.sysctl["vm.swappiness"]`:      "not isolated",
		}},
		{"net sysctl without network namespace", func(s *specs.Spec) *specs.Spec {
			s.Linux.Namespaces = ns("pid", "mount", "uts", "ipc")
			s.Linux.Sysctl = map[string]string{"net.core.somaxconn": "1"}
			return s
		}, host, map[string]string{`linux.sysctl["net.core.somaxconn"]`: "needs a network namespace"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fields(Validate(tc.mutate(base()), tc.h))
			for f, sub := range tc.want {
				msg, ok := got[f]
				if !ok {
					t.Errorf("no error for %s", f)
					continue
				}
				if !strings.Contains(msg, sub) {
					t.Errorf("%s: message %q does not contain %q", f, msg, sub)
				}
				delete(got, f)
			}
			if len(got) > 0 {
				t.Errorf("unexpected errors: %v", got)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	s := userns()
	s.Linux.Namespaces = append(s.Linux.Namespaces, ns("time")...)
	s.Linux.Namespaces[1].Path = "/run/netns/a"
	s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 7881, Nanosecs: 2718281}, "boottime": {Secs: -1337, Nanosecs: 3}}
	plan, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var offsets *stagev1.TimeOffsets
	for _, a := range plan.Actions {
		switch k := a.Kind.(type) {
		case *stagev1.Action_Namespace:
			got = append(got, k.Namespace.Type.String()+"="+k.Namespace.Path)
		case *stagev1.Action_TimeOffsets:
			offsets = k.TimeOffsets
		default:
			t.Fatalf("unexpected action %T", k)
		}
	}
	want := []string{
		"NAMESPACE_PID=", "NAMESPACE_NETWORK=/run/netns/a", "NAMESPACE_IPC=", "NAMESPACE_UTS=",
		"NAMESPACE_MOUNT=", "NAMESPACE_CGROUP=", "NAMESPACE_USER=", "NAMESPACE_TIME=",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("namespace actions\n got %v\nwant %v", got, want)
	}
	if offsets == nil || offsets.MonotonicSecs != 7881 || offsets.MonotonicNanos != 2718281 || offsets.BoottimeSecs != -1337 || offsets.BoottimeNanos != 3 {
		t.Errorf("time offsets = %v", offsets)
	}
	wantState := map[string]string{
		KeyNew:         "pid,ipc,uts,mount,cgroup,user,time",
		KeyJoined:      `{"network":"/run/netns/a"}`,
		KeyUIDMappings: `[{"containerID":0,"hostID":100000,"size":65536}]`,
		KeyGIDMappings: `[{"containerID":0,"hostID":100000,"size":65536}]`,
	}
	if !reflect.DeepEqual(plan.State, wantState) {
		t.Errorf("state\n got %v\nwant %v", plan.State, wantState)
	}

	st, ok, err := DecodeState(plan.State)
	if err != nil || !ok {
		t.Fatalf("DecodeState: ok=%v err=%v", ok, err)
	}
	if !st.IsNew(specs.UserNamespace) || st.IsNew(specs.NetworkNamespace) || st.Joined[specs.NetworkNamespace] != "/run/netns/a" {
		t.Errorf("decoded state %+v", st)
	}
	if !reflect.DeepEqual(st.UIDMappings, s.Linux.UIDMappings) || !reflect.DeepEqual(st.GIDMappings, s.Linux.GIDMappings) {
		t.Errorf("decoded mappings %+v %+v", st.UIDMappings, st.GIDMappings)
	}
	if plan.SkipAttach {
		t.Error("the id maps of the new user namespace need Attach")
	}
}

func TestBuildNoTimeOffsetsForJoinedOrAbsent(t *testing.T) {
	s := base()
	plan, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	// One per namespace, and lo up for the new network namespace.
	if len(plan.Actions) != len(s.Linux.Namespaces)+1 || plan.Actions[len(plan.Actions)-1].GetLoopback() == nil {
		t.Errorf("%d actions for %d namespaces: %v", len(plan.Actions), len(s.Linux.Namespaces), plan.Actions)
	}
	if !plan.SkipAttach {
		t.Error("Attach asked for with no user namespace's id maps to write")
	}
	if _, ok := plan.State[KeyUIDMappings]; ok {
		t.Error("uid mappings stored without a new user namespace")
	}
	// An empty spec still stores KeyNew, so Attach can tell "nothing new"
	// from "Prepare never ran".
	plan, err = Build(&specs.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := plan.State[KeyNew]; !ok || v != "" || len(plan.Actions) != 0 {
		t.Errorf("empty spec: state %v actions %v", plan.State, plan.Actions)
	}
}

func TestDecodeState(t *testing.T) {
	if _, ok, err := DecodeState(map[string]string{}); ok || err != nil {
		t.Errorf("empty state: ok=%v err=%v", ok, err)
	}
	if _, _, err := DecodeState(map[string]string{KeyNew: "user,bogus"}); err == nil {
		t.Error("unknown type accepted")
	}
	if _, _, err := DecodeState(map[string]string{KeyNew: "user", KeyUIDMappings: "{"}); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestRenderAndSameIDMap(t *testing.T) {
	m := []specs.LinuxIDMapping{idmap(0, 100000, 65536), idmap(65536, 1000, 1)}
	if got := string(RenderIDMap(m)); got != "0 100000 65536\n65536 1000 1\n" {
		t.Errorf("RenderIDMap = %q", got)
	}
	// The kernel pads columns and may list extents sorted differently.
	proc := "     65536       1000          1\n         0     100000      65536\n"
	if !SameIDMap([]byte(proc), m) {
		t.Error("same mappings not recognised")
	}
	if SameIDMap([]byte("0 100000 65536\n"), m) {
		t.Error("a subset counted as the same")
	}
	if SameIDMap(nil, m) || !SameIDMap(nil, nil) {
		t.Error("empty map handling")
	}
}

func TestSetgroupsDeny(t *testing.T) {
	if SetgroupsDeny(true) || !SetgroupsDeny(false) {
		t.Error("setgroups is denied exactly when the writer lacks CAP_SETGID")
	}
}
