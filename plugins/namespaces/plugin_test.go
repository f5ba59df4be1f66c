package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/plugins/namespaces/nsplan"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
	"github.com/rung-runtime/rung/sdk/stagetest"
)

// launch builds this plugin and starts it the way the host does, through
// go-plugin, so the test covers Serve, the handshake and the wire types.
func launch(t *testing.T) stagev1.StageClient {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skips building and launching the plugin binary")
	}
	conn := stagetest.BuildAndConnect(t, "rung-namespaces")
	return conn.Stage
}

func TestPluginProcess(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: Attach writes another process's id maps")
	}
	st := launch(t)
	ctx := context.Background()

	d, err := st.Describe(ctx, &stagev1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "rung-namespaces" || d.ProtocolVersion != sdk.ProtocolVersion || !strings.Contains(string(d.FeaturesJson), `"user"`) {
		t.Errorf("describe %v", d)
	}

	spec := &specs.Spec{
		Process: &specs.Process{},
		Linux: &specs.Linux{
			Namespaces:  []specs.LinuxNamespace{{Type: "user"}, {Type: "network"}, {Type: "ipc", Path: "/proc/self/ns/uts"}},
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
		},
	}
	container := func() *stagev1.Container {
		b, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		return &stagev1.Container{Id: "plugin-test", SpecJson: b}
	}
	v, err := st.Validate(ctx, &stagev1.ValidateRequest{Container: container()})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Errors) != 1 || v.Errors[0].Field != "linux.namespaces[2].path" || !strings.Contains(v.Errors[0].Message, "is a uts namespace, not ipc") {
		t.Errorf("validate errors %v", v.Errors)
	}
	spec.Linux.Namespaces = spec.Linux.Namespaces[:2]
	if v, err = st.Validate(ctx, &stagev1.ValidateRequest{Container: container()}); err != nil || len(v.Errors) != 0 {
		t.Fatalf("validate: %v %v", v, err)
	}
	p, err := st.Prepare(ctx, &stagev1.PrepareRequest{Container: container()})
	if err != nil {
		t.Fatal(err)
	}
	// Two namespaces and lo up, for the init; Attach writes the id maps.
	if len(p.Actions) != 3 || p.Actions[2].GetLoopback() == nil || p.SkipAttach || p.State[nsplan.KeyNew] != "user,network" {
		t.Errorf("prepare %v", p)
	}

	// The waiting init: a process in new user and network namespaces.
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	c := container()
	c.State = p.State
	a, err := st.Attach(ctx, &stagev1.AttachRequest{Container: c, Pid: int32(cmd.Process.Pid)})
	if err != nil {
		t.Fatal(err)
	}
	if a.State[nsplan.KeyAttached] != "uid_map,gid_map" {
		t.Errorf("attach state %v", a.State)
	}
	uidMap, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/uid_map")
	if err != nil || strings.Join(strings.Fields(string(uidMap)), " ") != "0 100000 65536" {
		t.Errorf("uid_map %q %v", uidMap, err)
	}
	// Destroy with full, partial and empty state.
	for _, state := range []map[string]string{p.State, {nsplan.KeyNew: "user"}, nil} {
		c := container()
		c.State = state
		if _, err := st.Destroy(ctx, &stagev1.DestroyRequest{Container: c}); err != nil {
			t.Errorf("destroy with state %v: %v", state, err)
		}
	}
}
