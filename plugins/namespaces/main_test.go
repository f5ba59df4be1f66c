package main

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/plugins/namespaces/nsplan"
	"github.com/rung-runtime/rung/sdk"
)

func TestDescribeFeaturesMatchKernel(t *testing.T) {
	d, err := newStage().Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "rung-namespaces" || d.Stage != "namespaces" {
		t.Errorf("name %q stage %q", d.Name, d.Stage)
	}
	wantHandles := []string{"linux.namespaces", "linux.uidMappings", "linux.gidMappings", "linux.timeOffsets"}
	if !reflect.DeepEqual(d.Handles, wantHandles) {
		t.Errorf("handles %v", d.Handles)
	}
	var f struct {
		Linux struct {
			Namespaces []string `json:"namespaces"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(d.Features, &f); err != nil {
		t.Fatalf("features %s: %v", d.Features, err)
	}
	var want []string
	for _, k := range nsplan.Kinds {
		if _, err := os.Lstat("/proc/self/ns/" + k.Proc); err == nil {
			want = append(want, string(k.Type))
		}
	}
	if !reflect.DeepEqual(f.Linux.Namespaces, want) {
		t.Errorf("features namespaces %v, want %v", f.Linux.Namespaces, want)
	}
}

func TestValidatePrepareDestroy(t *testing.T) {
	s := newStage()
	ctx := context.Background()
	spec := &specs.Spec{Linux: &specs.Linux{
		Namespaces: []specs.LinuxNamespace{{Type: "pid"}, {Type: "network", Path: "/proc/self/ns/net"}, {Type: "mount"}},
	}}
	c := &sdk.Container{ID: "c1", Spec: spec, State: map[string]string{}}
	errs, err := s.Validate(ctx, c)
	if err != nil || len(errs) != 0 {
		t.Fatalf("Validate: %v %v", errs, err)
	}
	spec.Linux.Namespaces[1].Path = "/proc/self/ns/uts"
	errs, err = s.Validate(ctx, c)
	if err != nil || len(errs) != 1 || errs[0].Field != "linux.namespaces[1].path" {
		t.Fatalf("Validate wrong join type: %v %v", errs, err)
	}
	plan, err := s.Prepare(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Actions) != 3 || plan.State[nsplan.KeyNew] != "pid,mount" {
		t.Errorf("plan %v", plan)
	}
	if _, err := s.Validate(ctx, &sdk.Container{ID: "x"}); err == nil {
		t.Error("Validate without a spec succeeded")
	}
	// Destroy is idempotent and needs no state.
	for i := 0; i < 2; i++ {
		if err := s.Destroy(ctx, &sdk.Container{ID: "c1"}); err != nil {
			t.Fatal(err)
		}
	}
}
