package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/plugins/lsm/lsmhost"
	"github.com/rung-runtime/rung/plugins/lsm/lsmplan"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
)

type features struct {
	Linux struct {
		AppArmor struct {
			Enabled *bool `json:"enabled"`
		} `json:"apparmor"`
		SELinux struct {
			Enabled *bool `json:"enabled"`
		} `json:"selinux"`
	} `json:"linux"`
}

func describe(t *testing.T, root string) features {
	t.Helper()
	d, err := (&stage{root: root}).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "rung-lsm" || d.Stage != "lsm" ||
		!reflect.DeepEqual(d.Handles, []string{"process.apparmorProfile", "process.selinuxLabel", "linux.mountLabel"}) {
		t.Errorf("description %+v", d)
	}
	var f features
	if err := json.Unmarshal(d.Features, &f); err != nil {
		t.Fatalf("features %s: %v", d.Features, err)
	}
	if f.Linux.AppArmor.Enabled == nil || f.Linux.SELinux.Enabled == nil {
		t.Fatalf("features %s lack an enabled flag", d.Features)
	}
	return f
}

// The host's features are what Detect sees; on the development machine
// neither module runs, and the test says so if that is not the case.
func TestDescribeThisHost(t *testing.T) {
	f := describe(t, "/")
	h := lsmhost.Detect("/")
	if *f.Linux.AppArmor.Enabled != h.AppArmor.Enabled || *f.Linux.SELinux.Enabled != h.SELinux.Enabled {
		t.Errorf("features %+v, detection %+v", f, h)
	}
	if _, err := os.Stat("/sys/module/apparmor"); os.IsNotExist(err) && *f.Linux.AppArmor.Enabled {
		t.Error("AppArmor reported enabled on a kernel without the module")
	}
}

// fakeRoot is a host with AppArmor on (profiles loaded) and SELinux on.
func fakeRoot(t *testing.T, profiles string) string {
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(lsmhost.AppArmorParam, "Y\n")
	write(lsmhost.AppArmorProfiles, profiles)
	write("sys/fs/selinux/enforce", "1")
	write(lsmhost.MountInfo, "36 22 0:7 / /sys/kernel/security rw - securityfs securityfs rw\n"+
		"37 22 0:21 / /sys/fs/selinux rw - selinuxfs selinuxfs rw\n")
	return root
}

func TestEndToEndWithFakeHost(t *testing.T) {
	ctx := context.Background()
	root := fakeRoot(t, "rung-default (enforce)\n")
	f := describe(t, root)
	if !*f.Linux.AppArmor.Enabled || !*f.Linux.SELinux.Enabled {
		t.Fatalf("fake host features %+v", f)
	}
	s := &stage{root: root}
	spec := &specs.Spec{
		Process: &specs.Process{SelinuxLabel: "system_u:system_r:container_t:s0:c1,c2"},
		Linux:   &specs.Linux{MountLabel: "system_u:object_r:container_file_t:s0:c1,c2"},
	}
	c := &sdk.Container{ID: "c1", Spec: spec, Config: json.RawMessage(`{"defaultAppArmorProfile":"rung-default"}`), State: map[string]string{}}
	if errs, err := s.Validate(ctx, c); err != nil || len(errs) != 0 {
		t.Fatalf("Validate: %v %v", errs, err)
	}
	plan, err := s.Prepare(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range plan.Actions {
		switch k := a.Kind.(type) {
		case *stagev1.Action_ProcAttr:
			got = append(got, k.ProcAttr.Lsm+":"+k.ProcAttr.Value)
		case *stagev1.Action_MountLabel:
			got = append(got, "mount:"+k.MountLabel.Label)
		}
	}
	want := []string{"apparmor:exec rung-default", "selinux:system_u:system_r:container_t:s0:c1,c2", "mount:system_u:object_r:container_file_t:s0:c1,c2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("actions %v, want %v", got, want)
	}
	if plan.State[lsmplan.KeyAppArmorSource] != "config" {
		t.Errorf("state %v", plan.State)
	}

	// A profile that is gone fails Validate with the field, and Prepare too.
	spec.Process.ApparmorProfile = "other"
	errs, err := s.Validate(ctx, c)
	if err != nil || len(errs) != 1 || errs[0].Field != "process.apparmorProfile" || errs[0].Message != "profile other is not loaded" {
		t.Errorf("Validate missing profile: %v %v", errs, err)
	}
	if _, err := s.Prepare(ctx, c); err == nil || !strings.Contains(err.Error(), "profile other is not loaded") {
		t.Errorf("Prepare missing profile: %v", err)
	}

	// A broken operator config is a call error, not a spec field error.
	c.Config = json.RawMessage(`{"bogus":1}`)
	if _, err := s.Validate(ctx, c); err == nil || !strings.Contains(err.Error(), "rung-lsm config") {
		t.Errorf("bad config: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Destroy(ctx, &sdk.Container{ID: "c1"}); err != nil {
			t.Fatal(err)
		}
	}
}

// On a host without AppArmor (this one), a named profile is refused and a
// configured default is skipped.
func TestNoAppArmorHost(t *testing.T) {
	ctx := context.Background()
	s := &stage{root: t.TempDir()}
	c := &sdk.Container{ID: "c2", Spec: &specs.Spec{Process: &specs.Process{ApparmorProfile: "rung-default"}}}
	errs, err := s.Validate(ctx, c)
	if err != nil || len(errs) != 1 || !strings.HasPrefix(errs[0].Message, "AppArmor is not enabled on this host") {
		t.Errorf("Validate: %v %v", errs, err)
	}
	c.Spec.Process.ApparmorProfile = ""
	c.Config = json.RawMessage(`{"defaultAppArmorProfile":"rung-default"}`)
	plan, err := s.Prepare(ctx, c)
	if err != nil || len(plan.Actions) != 0 {
		t.Errorf("Prepare: %v %v", plan, err)
	}
}
