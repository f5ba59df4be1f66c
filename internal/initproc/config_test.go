package initproc

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The init gets the spec less what only the stages read; everything its
// code reads comes through as it was.
func TestConfigCarriesTheInitsPartOfTheSpec(t *testing.T) {
	uid := uint32(7)
	spec := &specs.Spec{
		Version:     "1.3.0",
		Hostname:    "h",
		Domainname:  "d",
		Annotations: map[string]string{"a": "b"},
		Process:     &specs.Process{Args: []string{"true"}, Cwd: "/", Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 9, Soft: 9}}},
		Root:        &specs.Root{Path: "rootfs", Readonly: true},
		Mounts:      []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc", UIDMappings: []specs.LinuxIDMapping{{Size: 1}}}},
		Hooks:       &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}},
		Linux: &specs.Linux{
			Resources:         &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			Seccomp:           &specs.LinuxSeccomp{DefaultAction: specs.ActErrno},
			IntelRdt:          &specs.LinuxIntelRdt{ClosID: "x"},
			CgroupsPath:       "/x",
			Namespaces:        []specs.LinuxNamespace{{Type: specs.PIDNamespace}},
			Devices:           []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, UID: &uid}},
			Sysctl:            map[string]string{"net.ipv4.ip_forward": "1"},
			RootfsPropagation: "rslave",
			MaskedPaths:       []string{"/proc/kcore"},
			ReadonlyPaths:     []string{"/proc/sys"},
			MountLabel:        "system_u:object_r:container_file_t:s0",
		},
	}
	b, err := (&Config{Build: BuildID(), ID: "c", Spec: spec, FifoFd: 4, Plan: Plan{Loopback: true}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Config
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if got.ID != "c" || got.FifoFd != 4 || !got.Plan.Loopback {
		t.Errorf("lost the config's own fields: %+v", got)
	}
	want := *spec
	want.Annotations = nil
	l := *spec.Linux
	l.Resources, l.Seccomp, l.IntelRdt, l.CgroupsPath = nil, nil, nil, ""
	want.Linux = &l
	if !reflect.DeepEqual(got.Spec, &want) {
		t.Errorf("init's spec:\n got %+v\nwant %+v", got.Spec.Linux, want.Linux)
	}
	if spec.Linux.Resources == nil || spec.Annotations == nil {
		t.Error("changed the host's spec")
	}
	b, _ = (&Config{Build: BuildID(), ID: "x"}).MarshalBinary()
	var none Config
	if err := none.UnmarshalBinary(b); err != nil || none.Spec != nil || none.ID != "x" {
		t.Errorf("a config without a spec: %+v %v", none, err)
	}
}
