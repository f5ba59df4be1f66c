package main

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rung-runtime/rung/plugins/cgroupv2/cgroupfs"
	"github.com/rung-runtime/rung/plugins/cgroupv2/internal/cgtest"
	cgshared "github.com/rung-runtime/rung/plugins/internal/cgtest"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
	"github.com/rung-runtime/rung/sdk/stagetest"
)

// launch builds the plugin and starts it as the host does, through
// go-plugin, so Serve, the handshake and the wire types are covered.
func launch(t *testing.T) *sdk.Conn {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skips building and launching the plugin binary")
	}
	conn := stagetest.BuildAndConnect(t, "rung-cgroupv2")
	return conn
}

func TestPluginProcess(t *testing.T) {
	m := cgtest.Mount(t)
	conn := launch(t)
	ctx := context.Background()

	cgshared.CheckPluginDescribe(t, conn, "rung-cgroupv2")

	pc := func(spec string, state map[string]string) *stagev1.Container {
		return &stagev1.Container{Id: "ctr", SpecJson: []byte(spec), State: state}
	}
	v, err := conn.Stage.Validate(ctx, &stagev1.ValidateRequest{Container: pc(`{"linux":{"cgroupsPath":"/a/../b"}}`, nil)})
	if err != nil || len(v.Errors) != 1 || v.Errors[0].Field != "linux.cgroupsPath" {
		t.Errorf("Validate of a bad path = %v, %v", v, err)
	}

	top := cgtest.Top(t)
	t.Cleanup(func() { _ = cgroupfs.Remove(context.Background(), m.Dir(top)) })
	spec := `{"linux":{"cgroupsPath":"` + top + `/ctr"}}`
	// A limit the kernel refuses comes back as InvalidArgument naming the field.
	_, err = conn.Stage.Prepare(ctx, &stagev1.PrepareRequest{Container: pc(`{"linux":{"cgroupsPath":"`+top+`/ctr","resources":{"pids":{"limit":-5}}}}`, nil)})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("Prepare with a bad field: %v, want InvalidArgument", err)
	}
	p, err := conn.Stage.Prepare(ctx, &stagev1.PrepareRequest{Container: pc(spec, nil)})
	if err != nil {
		t.Fatal(err)
	}
	dir := p.State[statePath]
	if dir != m.Dir(top+"/ctr") || len(p.Actions) != 1 || p.Actions[0].GetCgroup().GetPath() != dir {
		t.Fatalf("Prepare = %v", p)
	}
	c := pc(spec, p.State)
	sleeper := cgtest.Start(t, dir, "sleep", "1000")
	cgshared.AttachOne(t, conn, c, sleeper.Process.Pid)
	ref := &stagev1.ContainerRef{Container: c}
	if _, err := conn.Resources.Pause(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if f, _ := cgroupfs.Frozen(dir); !f {
		t.Error("not frozen after Pause")
	}
	if _, err := conn.Resources.Resume(ctx, ref); err != nil {
		t.Fatal(err)
	}
	st, err := conn.Resources.Stats(ctx, &stagev1.StatsRequest{Container: c})
	if err != nil {
		t.Fatal(err)
	}
	var stats cgroupfs.Stats
	if err := json.Unmarshal(st.StatsJson, &stats); err != nil || stats.Pids.Current != 1 {
		t.Errorf("Stats = %s, %v", st.StatsJson, err)
	}
	cgshared.KillAndDestroy(t, conn, c)
	if _, err := os.Stat(m.Dir(top)); !os.IsNotExist(err) {
		t.Errorf("Destroy left %s: %v", m.Dir(top), err)
	}
	if _, err := conn.Stage.Destroy(ctx, &stagev1.DestroyRequest{Container: pc(spec, nil)}); err != nil {
		t.Errorf("Destroy again, without state: %v", err)
	}
}
