package main

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rung-runtime/rung/plugins/cgroupv1/cgroupfs"
	"github.com/rung-runtime/rung/plugins/cgroupv1/internal/cgtest"
	cgshared "github.com/rung-runtime/rung/plugins/internal/cgtest"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk/stagetest"
)

func TestPluginProcess(t *testing.T) {
	h := cgtest.Host(t)
	if testing.Short() {
		t.Skip("-short: skips building and launching the plugin binary")
	}
	conn := stagetest.BuildAndConnect(t, "rung-cgroupv1")
	ctx := context.Background()

	cgshared.CheckPluginDescribe(t, conn, "rung-cgroupv1")
	pc := func(spec string, state map[string]string) *stagev1.Container {
		return &stagev1.Container{Id: "ctr", SpecJson: []byte(spec), State: state}
	}
	v, err := conn.Stage.Validate(ctx, &stagev1.ValidateRequest{Container: pc(`{"linux":{"resources":{"unified":{"pids.max":"5"}}}}`, nil)})
	if err != nil || len(v.Errors) != 1 || v.Errors[0].Field != "linux.resources.unified" {
		t.Errorf("Validate of unified = %v, %v", v, err)
	}

	top := cgtest.Top(t)
	spec := `{"linux":{"cgroupsPath":"` + top + `/ctr"}}`
	_, err = conn.Stage.Prepare(ctx, &stagev1.PrepareRequest{Container: pc(`{"linux":{"cgroupsPath":"`+top+`/ctr","resources":{"pids":{"limit":-5}}}}`, nil)})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("Prepare with a bad field: %v, want InvalidArgument", err)
	}
	p, err := conn.Stage.Prepare(ctx, &stagev1.PrepareRequest{Container: pc(spec, nil)})
	if err != nil {
		t.Fatal(err)
	}
	var cg cgroupfs.Cgroup
	if err := json.Unmarshal([]byte(p.State[statePaths]), &cg); err != nil {
		t.Fatal(err)
	}
	pl := p.Actions[0].GetCgroup()
	if len(p.Actions) != 1 || !slices.Equal(pl.GetV1Paths(), cg.Dirs()) || len(pl.GetV1Paths()) != len(h.Hierarchies) {
		t.Fatalf("Prepare = %v", p)
	}
	if err := stagetest.CheckActions(p.Actions); err != nil {
		t.Errorf("the host would refuse the plan: %v", err)
	}
	c := pc(spec, p.State)
	sleeper := cgtest.Start(t, cg, pl.GetPath(), "sleep", "1000")
	cgshared.AttachOne(t, conn, c, sleeper.Process.Pid)
	ref := &stagev1.ContainerRef{Container: c}
	if _, err := conn.Resources.Pause(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Resources.Resume(ctx, ref); err != nil {
		t.Fatal(err)
	}
	lim := int64(7)
	rj, _ := json.Marshal(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &lim}})
	if _, err := conn.Resources.Update(ctx, &stagev1.UpdateRequest{Container: c, ResourcesJson: rj}); err != nil {
		t.Fatal(err)
	}
	st, err := conn.Resources.Stats(ctx, &stagev1.StatsRequest{Container: c})
	if err != nil {
		t.Fatal(err)
	}
	var stats cgroupfs.Stats
	if err := json.Unmarshal(st.StatsJson, &stats); err != nil || stats.Pids.Current != 1 || (cg["pids"] != "" && stats.Pids.Limit != 7) {
		t.Errorf("Stats = %s, %v", st.StatsJson, err)
	}
	cgshared.KillAndDestroy(t, conn, c)
	for _, d := range append(cg.Dirs(), pl.GetPath()) {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("Destroy left %s: %v", d, err)
		}
	}
	if _, err := conn.Stage.Destroy(ctx, &stagev1.DestroyRequest{Container: pc(spec, nil)}); err != nil {
		t.Errorf("Destroy again, without state: %v", err)
	}
}

// TestConformance runs the kit as CI does for the built-in plugins: a
// deny-all device spec, and a bad device type it must name.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips building and launching the plugin binary")
	}
	bin := t.TempDir() + "/rung-cgroupv1"
	if out, err := execGoBuild(bin); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	spec := stagetest.DefaultSpec()
	spec.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	rep := stagetest.Test(t, stagetest.Options{Binary: bin, Stage: "cgroups", Spec: spec, Bad: []stagetest.Bad{
		{Name: "device-type", Field: "linux.resources.devices", Mutate: func(s *specs.Spec) {
			s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Type: "z", Access: "rwm"}}
		}},
		{Name: "unified", Field: "linux.resources.unified", Mutate: func(s *specs.Spec) {
			s.Linux.Resources.Unified = map[string]string{"memory.high": "1"}
		}},
		{Name: "systemd-path", Field: "linux.cgroupsPath", Patch: json.RawMessage(`{"linux":{"cgroupsPath":"system.slice:rung:x"}}`)},
	}})
	if os.Geteuid() == 0 {
		for _, r := range rep.Results {
			if r.Status == stagetest.Skip {
				t.Errorf("as root, %s was skipped: %s", r.Check, r.Detail)
			}
		}
	}
}
