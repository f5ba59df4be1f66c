package lsmplan

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/proto/stagev1"
)

type fakeHost struct {
	aa, se     bool
	profiles   map[string]string
	profileErr error
	listed     int
}

func (f *fakeHost) AppArmorEnabled() (bool, string) {
	if f.aa {
		return true, ""
	}
	return false, "the kernel has no AppArmor module"
}

func (f *fakeHost) AppArmorProfiles() (map[string]string, error) {
	f.listed++
	return f.profiles, f.profileErr
}

func (f *fakeHost) SELinuxEnabled() (bool, string) {
	if f.se {
		return true, ""
	}
	return false, "selinuxfs is not mounted"
}

func aaHost() *fakeHost {
	return &fakeHost{aa: true, profiles: map[string]string{"rung-default": "enforce", "custom": "complain"}}
}

func spec(profile, label, mountLabel string) *specs.Spec {
	return &specs.Spec{
		Process: &specs.Process{ApparmorProfile: profile, SelinuxLabel: label},
		Linux:   &specs.Linux{MountLabel: mountLabel},
	}
}

const label = "system_u:system_r:container_t:s0:c1,c2"

func TestDecide(t *testing.T) {
	def := Config{DefaultAppArmorProfile: "rung-default"}
	tests := []struct {
		name string
		s    *specs.Spec
		cfg  Config
		h    *fakeHost
		// want is the decision's (profile, fromConfig, label, mountLabel),
		// or the field errors (field → message substring).
		want     Decision
		errs     map[string]string
		ignoreds int
	}{
		{"nothing", spec("", "", ""), Config{}, aaHost(), Decision{}, nil, 0},
		{"loaded profile", spec("custom", "", ""), Config{}, aaHost(), Decision{AppArmorProfile: "custom"}, nil, 0},
		{"unconfined when enabled", spec("unconfined", "", ""), Config{}, aaHost(), Decision{AppArmorProfile: "unconfined"}, nil, 0},
		{"profile not loaded", spec("nope", "", ""), Config{}, aaHost(), Decision{}, map[string]string{"process.apparmorProfile": "profile nope is not loaded"}, 0},
		{"apparmor disabled", spec("custom", "", ""), Config{}, &fakeHost{}, Decision{},
			map[string]string{"process.apparmorProfile": "AppArmor is not enabled on this host (the kernel has no AppArmor module)"}, 0},
		{"unconfined when disabled", spec("unconfined", "", ""), Config{}, &fakeHost{}, Decision{}, nil, 1},
		{"bad profile name", spec("a\nexec unconfined", "", ""), Config{}, aaHost(), Decision{}, map[string]string{"process.apparmorProfile": "control character"}, 0},
		{"default profile", spec("", "", ""), def, aaHost(), Decision{AppArmorProfile: "rung-default", FromConfig: true}, nil, 0},
		{"spec beats default", spec("custom", "", ""), def, aaHost(), Decision{AppArmorProfile: "custom"}, nil, 0},
		{"default not loaded", spec("", "", ""), Config{DefaultAppArmorProfile: "gone"}, aaHost(), Decision{},
			map[string]string{"process.apparmorProfile": "default profile gone (rung-lsm config defaultAppArmorProfile) is not loaded"}, 0},
		{"default with apparmor off", spec("", "", ""), def, &fakeHost{}, Decision{}, nil, 1},
		{"selinux labels", spec("", label, "system_u:object_r:container_file_t:s0"), Config{}, &fakeHost{se: true},
			Decision{ProcessLabel: label, MountLabel: "system_u:object_r:container_file_t:s0"}, nil, 0},
		{"selinux labels ignored when off", spec("", label, "system_u:object_r:container_file_t:s0"), Config{}, &fakeHost{}, Decision{}, nil, 2},
		{"bad labels", spec("", "container_t", "a:b:"), Config{}, &fakeHost{se: true}, Decision{},
			map[string]string{"process.selinuxLabel": "not a SELinux context", "linux.mountLabel": "empty type"}, 0},
		{"bad label even when off", spec("", "u:r", ""), Config{}, &fakeHost{}, Decision{}, map[string]string{"process.selinuxLabel": "not a SELinux context"}, 0},
		{"no process", &specs.Spec{}, def, aaHost(), Decision{}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, errs, err := Decide(tc.s, tc.cfg, tc.h)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, e := range errs {
				got[e.Field] = e.Message
			}
			for f, sub := range tc.errs {
				if !strings.Contains(got[f], sub) {
					t.Errorf("%s: got %q, want it to contain %q", f, got[f], sub)
				}
				delete(got, f)
			}
			if len(got) > 0 {
				t.Errorf("unexpected errors %v", got)
			}
			if tc.errs != nil {
				if d != nil {
					t.Errorf("decision %+v returned with errors", d)
				}
				return
			}
			if len(d.Ignored) != tc.ignoreds {
				t.Errorf("ignored %q, want %d", d.Ignored, tc.ignoreds)
			}
			d.Ignored = nil
			if !reflect.DeepEqual(*d, tc.want) {
				t.Errorf("decision %+v, want %+v", *d, tc.want)
			}
		})
	}
}

func TestDecideListsProfilesOnce(t *testing.T) {
	h := aaHost()
	if _, _, err := Decide(spec("custom", "", ""), Config{}, h); err != nil {
		t.Fatal(err)
	}
	h.profileErr = errors.New("permission denied")
	if _, _, err := Decide(spec("custom", "", ""), Config{}, h); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("unreadable profile list: %v", err)
	}
	// "unconfined" needs no list.
	h.listed = 0
	if _, _, err := Decide(spec("unconfined", "", ""), Config{}, h); err != nil || h.listed != 0 {
		t.Errorf("unconfined: err=%v listed=%d", err, h.listed)
	}
}

func TestPlan(t *testing.T) {
	d := &Decision{AppArmorProfile: "rung-default", FromConfig: true, ProcessLabel: label, MountLabel: "system_u:object_r:container_file_t:s0"}
	p := d.Plan()
	var got []string
	for _, a := range p.Actions {
		switch k := a.Kind.(type) {
		case *stagev1.Action_ProcAttr:
			got = append(got, k.ProcAttr.Lsm+"/"+k.ProcAttr.Attr+"="+k.ProcAttr.Value)
		case *stagev1.Action_MountLabel:
			got = append(got, "mount="+k.MountLabel.Label)
		default:
			t.Fatalf("unexpected action %T", k)
		}
	}
	want := []string{"apparmor/exec=exec rung-default", "selinux/exec=" + label, "mount=system_u:object_r:container_file_t:s0"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("actions %v, want %v", got, want)
	}
	wantState := map[string]string{
		KeyAppArmorProfile: "rung-default", KeyAppArmorSource: "config",
		KeySELinuxLabel: label, KeyMountLabel: "system_u:object_r:container_file_t:s0",
	}
	if !reflect.DeepEqual(p.State, wantState) {
		t.Errorf("state %v", p.State)
	}
	if p := (&Decision{}).Plan(); len(p.Actions) != 0 || len(p.State) != 0 {
		t.Errorf("empty decision planned %v", p)
	}
}

func TestCheckLabel(t *testing.T) {
	good := []string{
		"system_u:system_r:container_t",
		"system_u:system_r:container_t:s0",
		"system_u:system_r:container_t:s0:c1,c2",
		"unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023",
	}
	for _, l := range good {
		if err := CheckLabel(l); err != nil {
			t.Errorf("%q: %v", l, err)
		}
	}
	bad := map[string]string{
		"container_t":                        "not a SELinux context",
		"u:r":                                "not a SELinux context",
		":r:t":                               "empty user",
		"u::t":                               "empty role",
		"u:r:t:":                             "empty level",
		"u:r:t t":                            "space",
		"u:r:t\n":                            "control character",
		"u:r$:t":                             "role",
		"u:r:t:s0;rm":                        "level",
		"u:r:t:" + strings.Repeat("s", 4000): "bytes long",
	}
	for l, sub := range bad {
		if err := CheckLabel(l); err == nil || !strings.Contains(err.Error(), sub) {
			t.Errorf("%q: %v, want %q", l, err, sub)
		}
	}
}

func TestParseConfig(t *testing.T) {
	for _, raw := range []string{"", "null", " {} "} {
		c, err := ParseConfig(json.RawMessage(raw))
		if err != nil || c != (Config{}) {
			t.Errorf("%q: %+v %v", raw, c, err)
		}
	}
	c, err := ParseConfig(json.RawMessage(`{"defaultAppArmorProfile":"rung-default"}`))
	if err != nil || c.DefaultAppArmorProfile != "rung-default" {
		t.Errorf("%+v %v", c, err)
	}
	if _, err := ParseConfig(json.RawMessage(`{"defaultProfile":"x"}`)); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("misspelt key: %v", err)
	}
	if _, err := ParseConfig(json.RawMessage(`{"defaultAppArmorProfile":"x\u0000"}`)); err == nil {
		t.Error("NUL in default profile accepted")
	}
}
