package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"syscall"

	"github.com/hashicorp/go-plugin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk/wire"
)

// GRPCPlugin binds a Stage to go-plugin. Plugins use it through Serve; the
// host and stagetest use it (with Impl nil) to get a Conn.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the plugin's stage; nil on the client side.
	Impl Stage
}

// Conn is the client side of a launched plugin.
type Conn = wire.Conn

// GRPCServer registers the plugin's services.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	stagev1.RegisterStageServer(s, &stageServer{impl: p.Impl})
	if rs, ok := p.Impl.(ResourceStage); ok {
		stagev1.RegisterResourcesServer(s, &resourcesServer{impl: rs})
	}
	return nil
}

// GRPCClient returns a *Conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return NewConn(c), nil
}

// NewConn is the client side of a plugin on a gRPC connection.
func NewConn(c grpc.ClientConnInterface) *Conn { return wire.NewConn(c) }

// DecodeContainer turns the wire form into a Container, decoding the spec.
func DecodeContainer(pc *stagev1.Container) (*Container, error) {
	if pc == nil {
		return nil, status.Error(codes.InvalidArgument, "request has no container")
	}
	c := &Container{
		ID:          pc.GetId(),
		Bundle:      pc.GetBundle(),
		SpecJSON:    pc.GetSpecJson(),
		State:       pc.GetState(),
		Config:      json.RawMessage(pc.GetPluginConfigJson()),
		Annotations: pc.GetAnnotations(),
	}
	if c.State == nil {
		c.State = map[string]string{}
	}
	if len(c.SpecJSON) > 0 {
		var s specs.Spec
		if err := json.Unmarshal(c.SpecJSON, &s); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "config.json: %v", err)
		}
		c.Spec = &s
	}
	return c, nil
}

type stageServer struct {
	stagev1.UnimplementedStageServer
	impl Stage
}

func (s *stageServer) Describe(ctx context.Context, _ *stagev1.DescribeRequest) (*stagev1.DescribeResponse, error) {
	d, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, err
	}
	_, resources := s.impl.(ResourceStage)
	return &stagev1.DescribeResponse{
		Name: d.Name, Version: d.Version, ProtocolVersion: ProtocolVersion, Stage: d.Stage,
		Handles: d.Handles, FeaturesJson: d.Features, Resources: resources, NoDestroy: d.NoDestroy,
		NoAttach: d.NoAttach, ValidatesInPrepare: true, PlanInputs: d.PlanInputs,
	}, nil
}

func (s *stageServer) Validate(ctx context.Context, req *stagev1.ValidateRequest) (*stagev1.ValidateResponse, error) {
	c, err := DecodeContainer(req.GetContainer())
	if err != nil {
		return nil, err
	}
	errs, err := s.validate(ctx, c)
	if err != nil {
		return nil, err
	}
	return &stagev1.ValidateResponse{Errors: errs}, nil
}

func (s *stageServer) validate(ctx context.Context, c *Container) ([]*stagev1.FieldError, error) {
	errs, err := s.impl.Validate(ctx, c)
	if err != nil {
		return nil, err
	}
	var out []*stagev1.FieldError
	for _, e := range errs {
		out = append(out, &stagev1.FieldError{Field: e.Field, Message: e.Message})
	}
	return out, nil
}

func (s *stageServer) Prepare(ctx context.Context, req *stagev1.PrepareRequest) (*stagev1.PrepareResponse, error) {
	c, err := DecodeContainer(req.GetContainer())
	if err != nil {
		return nil, err
	}
	if req.GetValidate() {
		// The host skipped Validate for this call: the spec is checked on
		// the copy already decoded, and a refused one prepares nothing.
		errs, err := s.validate(ctx, c)
		if err != nil {
			return nil, err
		}
		if len(errs) > 0 {
			return &stagev1.PrepareResponse{Errors: errs}, nil
		}
	}
	plan, err := s.impl.Prepare(ctx, c)
	if err != nil {
		return nil, asStatus(err)
	}
	if plan == nil {
		plan = &Plan{}
	}
	resp := &stagev1.PrepareResponse{State: plan.State, Actions: plan.Actions, SkipAttach: plan.SkipAttach, Reusable: plan.Reusable}
	if t := plan.Teardown; t != nil {
		resp.Teardown = &stagev1.Teardown{CgroupDirs: t.CgroupDirs, EmptyParents: t.EmptyParents}
	}
	return resp, nil
}

func (s *stageServer) Attach(ctx context.Context, req *stagev1.AttachRequest) (*stagev1.AttachResponse, error) {
	c, err := DecodeContainer(req.GetContainer())
	if err != nil {
		return nil, err
	}
	if req.GetPid() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "attach: pid must be positive")
	}
	st, err := s.impl.Attach(ctx, c, int(req.GetPid()))
	if err != nil {
		return nil, asStatus(err)
	}
	return &stagev1.AttachResponse{State: st}, nil
}

func (s *stageServer) Destroy(ctx context.Context, req *stagev1.DestroyRequest) (*stagev1.DestroyResponse, error) {
	c, err := DecodeContainer(req.GetContainer())
	if err != nil {
		return nil, err
	}
	if err := s.impl.Destroy(ctx, c); err != nil {
		return nil, asStatus(err)
	}
	return &stagev1.DestroyResponse{}, nil
}

type resourcesServer struct {
	stagev1.UnimplementedResourcesServer
	impl ResourceStage
}

func (s *resourcesServer) Update(ctx context.Context, req *stagev1.UpdateRequest) (*stagev1.UpdateResponse, error) {
	c, err := DecodeContainer(req.GetContainer())
	if err != nil {
		return nil, err
	}
	var r specs.LinuxResources
	if err := json.Unmarshal(req.GetResourcesJson(), &r); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "resources: %v", err)
	}
	if err := s.impl.Update(ctx, c, &r); err != nil {
		return nil, asStatus(err)
	}
	return &stagev1.UpdateResponse{}, nil
}

func (s *resourcesServer) Stats(ctx context.Context, req *stagev1.StatsRequest) (*stagev1.StatsResponse, error) {
	c, err := DecodeContainer(req.GetContainer())
	if err != nil {
		return nil, err
	}
	js, err := s.impl.Stats(ctx, c)
	if err != nil {
		return nil, asStatus(err)
	}
	return &stagev1.StatsResponse{StatsJson: js}, nil
}

func (s *resourcesServer) Pause(ctx context.Context, req *stagev1.ContainerRef) (*stagev1.Empty, error) {
	return s.each(ctx, req, s.impl.Pause)
}

func (s *resourcesServer) Resume(ctx context.Context, req *stagev1.ContainerRef) (*stagev1.Empty, error) {
	return s.each(ctx, req, s.impl.Resume)
}

func (s *resourcesServer) each(ctx context.Context, req *stagev1.ContainerRef, f func(context.Context, *Container) error) (*stagev1.Empty, error) {
	c, err := DecodeContainer(req.GetContainer())
	if err != nil {
		return nil, err
	}
	if err := f(ctx, c); err != nil {
		return nil, asStatus(err)
	}
	return &stagev1.Empty{}, nil
}

func (s *resourcesServer) Pids(ctx context.Context, req *stagev1.ContainerRef) (*stagev1.PidsResponse, error) {
	c, err := DecodeContainer(req.GetContainer())
	if err != nil {
		return nil, err
	}
	pids, err := s.impl.Pids(ctx, c)
	if err != nil {
		return nil, asStatus(err)
	}
	resp := &stagev1.PidsResponse{}
	for _, p := range pids {
		resp.Pids = append(resp.Pids, int32(p))
	}
	return resp, nil
}

func (s *resourcesServer) KillAll(ctx context.Context, req *stagev1.KillAllRequest) (*stagev1.Empty, error) {
	c, err := DecodeContainer(req.GetContainer())
	if err != nil {
		return nil, err
	}
	if req.GetSignal() <= 0 || req.GetSignal() > 64 {
		return nil, status.Errorf(codes.InvalidArgument, "signal %d out of range", req.GetSignal())
	}
	if err := s.impl.KillAll(ctx, c, syscall.Signal(req.GetSignal())); err != nil {
		return nil, asStatus(err)
	}
	return &stagev1.Empty{}, nil
}

func (s *resourcesServer) Events(req *stagev1.EventsRequest, stream stagev1.Resources_EventsServer) error {
	c, err := DecodeContainer(req.GetContainer())
	if err != nil {
		return err
	}
	return asStatus(s.impl.Events(stream.Context(), c, func(e Event) error {
		return stream.Send(&stagev1.Event{Type: e.Type, DataJson: e.Data})
	}))
}

// asStatus keeps FieldErrors recognisable on the host side: they travel as
// InvalidArgument with the field first, so the host can name it.
func asStatus(err error) error {
	if err == nil {
		return nil
	}
	var fe FieldError
	if errors.As(err, &fe) {
		return status.Error(codes.InvalidArgument, fe.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unknown, fmt.Sprint(err))
}
