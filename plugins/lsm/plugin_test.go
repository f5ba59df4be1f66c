package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/plugins/lsm/lsmhost"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk/stagetest"
)

// The built binary, launched through go-plugin as the host does, answers
// for this host.
func TestPluginProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips building and launching the plugin binary")
	}
	conn := stagetest.BuildAndConnect(t, "rung-lsm")
	st := conn.Stage
	ctx := context.Background()

	d, err := st.Describe(ctx, &stagev1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	h := lsmhost.Detect("/")
	var f features
	if err := json.Unmarshal(d.FeaturesJson, &f); err != nil || f.Linux.AppArmor.Enabled == nil || *f.Linux.AppArmor.Enabled != h.AppArmor.Enabled {
		t.Errorf("features %s (err %v), host AppArmor %v", d.FeaturesJson, err, h.AppArmor.Enabled)
	}

	spec, _ := json.Marshal(&specs.Spec{Process: &specs.Process{ApparmorProfile: "rung-test-not-loaded"}})
	v, err := st.Validate(ctx, &stagev1.ValidateRequest{Container: &stagev1.Container{Id: "lsm-plugin-test", SpecJson: spec}})
	if err != nil {
		t.Fatal(err)
	}
	want := "profile rung-test-not-loaded is not loaded"
	if !h.AppArmor.Enabled {
		want = "AppArmor is not enabled on this host"
	}
	if len(v.Errors) != 1 || v.Errors[0].Field != "process.apparmorProfile" || !strings.Contains(v.Errors[0].Message, want) {
		t.Errorf("validate %v, want %q", v.Errors, want)
	}
	if _, err := st.Destroy(ctx, &stagev1.DestroyRequest{Container: &stagev1.Container{Id: "lsm-plugin-test"}}); err != nil {
		t.Error(err)
	}
}
