package main

import (
	"context"
	"encoding/json"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/plugins/seccomp/compile"
	"github.com/rung-runtime/rung/plugins/seccomp/install"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
	"github.com/rung-runtime/rung/sdk/stagetest"
)

func container(s *specs.LinuxSeccomp) *sdk.Container {
	spec := &specs.Spec{Linux: &specs.Linux{Seccomp: s}}
	raw, _ := json.Marshal(spec)
	return &sdk.Container{ID: "seccomp-test", Spec: spec, SpecJSON: raw, State: map[string]string{}}
}

var denyMount = &specs.LinuxSeccomp{
	DefaultAction: specs.ActAllow,
	Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog},
	Syscalls:      []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno}},
}

func TestDescribe(t *testing.T) {
	d, err := stage{}.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "rung-seccomp" || d.Stage != "seccomp" || len(d.Handles) != 1 || d.Handles[0] != "linux.seccomp" {
		t.Errorf("description %+v", d)
	}
	var doc struct {
		Linux struct {
			Seccomp features.Seccomp `json:"seccomp"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(d.Features, &doc); err != nil {
		t.Fatalf("features %s: %v", d.Features, err)
	}
	f := doc.Linux.Seccomp
	if f.Enabled == nil || *f.Enabled != compile.HostSupport().Enabled {
		t.Errorf("enabled = %v, host %v", f.Enabled, compile.HostSupport().Enabled)
	}
	if len(f.Operators) != 7 || len(f.KnownFlags) != 4 {
		t.Errorf("operators %v, known flags %v", f.Operators, f.KnownFlags)
	}
	if compile.HostSupport().Enabled {
		has := func(list []string, v string) bool {
			for _, x := range list {
				if x == v {
					return true
				}
			}
			return false
		}
		for _, a := range []string{"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_NOTIFY"} {
			if !has(f.Actions, a) {
				t.Errorf("actions %v lack %s on a 6.x kernel", f.Actions, a)
			}
		}
		if !has(f.Archs, string(compile.HostSupport().Native)) {
			t.Errorf("archs %v lack the native %s", f.Archs, compile.HostSupport().Native)
		}
		if !has(f.SupportedFlags, "SECCOMP_FILTER_FLAG_LOG") {
			t.Errorf("supported flags %v", f.SupportedFlags)
		}
	}
	t.Logf("features: %s", d.Features)
}

func TestPrepareWithoutSeccomp(t *testing.T) {
	for _, c := range []*sdk.Container{{ID: "x"}, {ID: "x", Spec: &specs.Spec{}}, container(nil)} {
		plan, err := stage{}.Prepare(context.Background(), c)
		if err != nil || len(plan.Actions) != 0 {
			t.Errorf("Prepare = %+v, %v; want no actions", plan, err)
		}
		if errs, err := (stage{}).Validate(context.Background(), c); len(errs) != 0 || err != nil {
			t.Errorf("Validate = %v, %v", errs, err)
		}
	}
}

func TestPrepare(t *testing.T) {
	if !compile.HostSupport().Enabled {
		t.Skip("the kernel has no seccomp filter mode")
	}
	plan, err := stage{}.Prepare(context.Background(), container(denyMount))
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, plan.Actions, unix.SECCOMP_FILTER_FLAG_LOG)
}

func checkPlan(t *testing.T, actions []*stagev1.Action, flags uint32) {
	t.Helper()
	if len(actions) != 1 || actions[0].GetSeccomp() == nil {
		t.Fatalf("actions %v; want one seccomp filter", actions)
	}
	f := actions[0].GetSeccomp()
	if err := install.Check(f.Program); err != nil {
		t.Error(err)
	}
	if f.Flags != flags {
		t.Errorf("flags %#x, want %#x", f.Flags, flags)
	}
}

func TestPrepareRefusesInvalid(t *testing.T) {
	_, err := stage{}.Prepare(context.Background(), container(&specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}))
	if err == nil {
		t.Fatal("Prepare accepted an unknown default action")
	}
	t.Log(err)
}

// The built binary, launched through go-plugin as the host does.
func TestPluginProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips building and launching the plugin binary")
	}
	if !compile.HostSupport().Enabled {
		t.Skip("the kernel has no seccomp filter mode")
	}
	conn := stagetest.BuildAndConnect(t, "rung-seccomp")
	st := conn.Stage
	ctx := context.Background()

	d, err := st.Describe(ctx, &stagev1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "rung-seccomp" || d.Stage != "seccomp" || len(d.FeaturesJson) == 0 {
		t.Errorf("describe %v", d)
	}

	bad := container(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActAllow},
			{Names: []string{"mount"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_SOMETIMES"}}},
		},
	})
	v, err := st.Validate(ctx, &stagev1.ValidateRequest{Container: &stagev1.Container{Id: bad.ID, SpecJson: bad.SpecJSON}})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Errors) != 1 || v.Errors[0].Field != "linux.seccomp.syscalls[1].args[0].op" {
		t.Errorf("validate %v", v.Errors)
	}

	good := container(denyMount)
	p, err := st.Prepare(ctx, &stagev1.PrepareRequest{Container: &stagev1.Container{Id: good.ID, SpecJson: good.SpecJSON}})
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, p.Actions, unix.SECCOMP_FILTER_FLAG_LOG)

	if _, err := st.Destroy(ctx, &stagev1.DestroyRequest{Container: &stagev1.Container{Id: good.ID}}); err != nil {
		t.Error(err)
	}
}
