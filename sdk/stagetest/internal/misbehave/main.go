// Command misbehave is a stage plugin that breaks the protocol on purpose,
// in the way its second argument names, so the conformance kit and the
// host's failure handling can be tested against it:
//
//	misbehave STAGE MODE
//
// Modes: ok, describe-protocol (Describe announces protocol 2),
// handshake-protocol (go-plugin handshake version 2), bad-describe (a name
// with a newline), invalid-plan (a relative cgroup path), crash-prepare,
// hang-prepare, hang-validate, refuse-all (a field error for every spec),
// destroy-once (a second Destroy fails), go-plugin-only (well behaved, but
// served by go-plugin directly, as a plugin built without rung's SDK: it
// cannot be kept warm), no-attach (declares NoAttach and fails any Attach),
// skip-attach (its plans say SkipAttach, and it fails any Attach),
// loopback (asks the init to bring lo up, whatever namespaces are planned),
// prepare-skips-validate (claims validates_in_prepare but prepares what
// Validate refuses), no-fold (written without the SDK and not claiming
// validates_in_prepare: only its Validate refuses), reuse-ok (lists plan
// inputs, and its reusable plans follow from them), reuse-by-id (its
// "reusable" plans name the container), reuse-needs-attach (reusable plans
// that leave Attach to call). Every mode's Validate
// refuses a spec with the annotation misbehave.refuse.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
)

type stage struct {
	sdk.Base
	name, mode string
	mu         sync.Mutex
	destroyed  map[string]bool
}

func (s *stage) Describe(context.Context) (sdk.Description, error) {
	name := "misbehave-" + s.mode
	if s.mode == "bad-describe" {
		name = "two\nlines"
	}
	d := sdk.Description{Name: name, Version: "0.0.1", Stage: s.name, NoAttach: s.mode == "no-attach"}
	if strings.HasPrefix(s.mode, "reuse-") {
		d.PlanInputs, d.NoDestroy = []string{"linux.seccomp"}, true
		d.NoAttach = s.mode != "reuse-needs-attach"
	}
	return d, nil
}

func (s *stage) Attach(context.Context, *sdk.Container, int) (map[string]string, error) {
	switch s.mode {
	case "no-attach":
		return nil, errors.New("Attach called although Describe said no_attach")
	case "skip-attach":
		return nil, errors.New("Attach called although the plan said skip_attach")
	}
	return nil, nil
}

func (s *stage) Validate(ctx context.Context, c *sdk.Container) ([]sdk.FieldError, error) {
	switch s.mode {
	case "hang-validate":
		select {} // ignores its deadline on purpose
	case "refuse-all":
		return []sdk.FieldError{{Field: "process.args", Message: "refused"}}, nil
	}
	if c.Annotations[refuseAnnotation] != "" {
		return []sdk.FieldError{{Field: "annotations." + refuseAnnotation, Message: "refused"}}, nil
	}
	return nil, nil
}

func (s *stage) Prepare(ctx context.Context, c *sdk.Container) (*sdk.Plan, error) {
	switch s.mode {
	case "invalid-plan":
		return &sdk.Plan{Actions: []*stagev1.Action{sdk.CgroupAction("relative/cgroup")}}, nil
	case "crash-prepare":
		os.Exit(3)
	case "hang-prepare":
		select {}
	case "loopback":
		return &sdk.Plan{State: map[string]string{"prepared": "yes"}, Actions: []*stagev1.Action{sdk.LoopbackAction()}}, nil
	case "reuse-ok", "reuse-needs-attach":
		return &sdk.Plan{State: map[string]string{"prepared": "yes"}, Reusable: true}, nil
	case "reuse-by-id":
		return &sdk.Plan{State: map[string]string{"prepared": c.ID}, Reusable: true}, nil
	}
	return &sdk.Plan{State: map[string]string{"prepared": "yes"}, SkipAttach: s.mode == "skip-attach"}, nil
}

func (s *stage) Destroy(ctx context.Context, c *sdk.Container) error {
	if s.mode != "destroy-once" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed[c.ID] {
		return fmt.Errorf("container %s was destroyed already", c.ID)
	}
	s.destroyed[c.ID] = true
	return nil
}

// refuseAnnotation on a spec makes every mode's Validate refuse it: the
// kit's bad spec.
const refuseAnnotation = "misbehave.refuse"

// skipsValidate prepares whatever it is given, as a plugin written without
// the SDK might; claims says whether it claims validates_in_prepare anyway.
type skipsValidate struct {
	stagev1.UnimplementedStageServer
	stage, mode string
	claims      bool
}

func (s skipsValidate) Describe(context.Context, *stagev1.DescribeRequest) (*stagev1.DescribeResponse, error) {
	return &stagev1.DescribeResponse{Name: "misbehave-" + s.mode, Version: "0.0.1",
		ProtocolVersion: sdk.ProtocolVersion, Stage: s.stage, ValidatesInPrepare: s.claims}, nil
}

func (s skipsValidate) Validate(_ context.Context, req *stagev1.ValidateRequest) (*stagev1.ValidateResponse, error) {
	if req.GetContainer().GetAnnotations()[refuseAnnotation] != "" {
		return &stagev1.ValidateResponse{Errors: []*stagev1.FieldError{{Field: "annotations." + refuseAnnotation, Message: "refused"}}}, nil
	}
	if req.GetContainer() == nil || !json.Valid(req.GetContainer().GetSpecJson()) {
		return nil, status.Error(codes.InvalidArgument, "no spec")
	}
	return &stagev1.ValidateResponse{}, nil
}

func (s skipsValidate) Prepare(context.Context, *stagev1.PrepareRequest) (*stagev1.PrepareResponse, error) {
	return &stagev1.PrepareResponse{}, nil
}

func (s skipsValidate) Attach(context.Context, *stagev1.AttachRequest) (*stagev1.AttachResponse, error) {
	return &stagev1.AttachResponse{}, nil
}

func (s skipsValidate) Destroy(context.Context, *stagev1.DestroyRequest) (*stagev1.DestroyResponse, error) {
	return &stagev1.DestroyResponse{}, nil
}

// rawStage answers Describe itself, bypassing the SDK, which always
// announces the protocol it speaks.
type rawStage struct {
	stagev1.UnimplementedStageServer
	stage string
}

func (r rawStage) Describe(context.Context, *stagev1.DescribeRequest) (*stagev1.DescribeResponse, error) {
	return &stagev1.DescribeResponse{Name: "misbehave-describe-protocol", Version: "0.0.1", ProtocolVersion: 2, Stage: r.stage}, nil
}

type rawPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv stagev1.StageServer
}

func (p *rawPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	stagev1.RegisterStageServer(s, p.srv)
	return nil
}

func (p *rawPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) {
	return nil, fmt.Errorf("server only")
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: misbehave STAGE MODE")
		os.Exit(2)
	}
	st, mode := os.Args[1], os.Args[2]
	switch mode {
	case "describe-protocol":
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: sdk.Handshake,
			Plugins:         plugin.PluginSet{sdk.PluginName: &rawPlugin{srv: rawStage{stage: st}}},
			GRPCServer:      plugin.DefaultGRPCServer,
		})
	case "prepare-skips-validate", "no-fold":
		srv := skipsValidate{stage: st, mode: mode, claims: mode == "prepare-skips-validate"}
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: sdk.Handshake,
			Plugins:         plugin.PluginSet{sdk.PluginName: &rawPlugin{srv: srv}},
			GRPCServer:      plugin.DefaultGRPCServer,
		})
	case "handshake-protocol":
		hs := sdk.Handshake
		hs.ProtocolVersion = sdk.ProtocolVersion + 1
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: hs,
			Plugins:         plugin.PluginSet{sdk.PluginName: &sdk.GRPCPlugin{Impl: &stage{name: st, mode: mode}}},
			GRPCServer:      plugin.DefaultGRPCServer,
		})
	case "go-plugin-only":
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: sdk.Handshake,
			Plugins:         plugin.PluginSet{sdk.PluginName: &sdk.GRPCPlugin{Impl: &stage{name: st, mode: mode}}},
			GRPCServer:      plugin.DefaultGRPCServer,
		})
	default:
		sdk.Serve(&stage{name: st, mode: mode, destroyed: map[string]bool{}})
	}
}
