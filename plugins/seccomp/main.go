// Command rung-seccomp is rung's seccomp stage: it compiles linux.seccomp
// into a classic BPF program with libseccomp (see package compile) and hands
// it to the container init as a SeccompFilter action, which the init loads
// with package install right before execve.
package main

import (
	"context"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/plugins/seccomp/compile"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
)

const version = "0.1.0"

type stage struct{ sdk.Base }

func (stage) Describe(context.Context) (sdk.Description, error) {
	feat, err := compile.HostSupport().FeaturesJSON()
	if err != nil {
		return sdk.Description{}, fmt.Errorf("seccomp stage: features: %w", err)
	}
	return sdk.Description{
		Name:     "rung-seccomp",
		Version:  version,
		Stage:    "seccomp",
		Handles:  []string{compile.Root},
		Features: feat,
		// A filter belongs to the processes it holds; nothing to undo,
		// and the init loads it itself.
		NoDestroy: true, NoAttach: true,
		// The filter follows from linux.seccomp, libseccomp and the kernel
		// alone, so the host may keep it for every container that asks
		// for the same profile.
		PlanInputs: []string{compile.Root},
	}, nil
}

func profile(c *sdk.Container) *specs.LinuxSeccomp {
	if c == nil || c.Spec == nil || c.Spec.Linux == nil {
		return nil
	}
	return c.Spec.Linux.Seccomp
}

func (stage) Validate(_ context.Context, c *sdk.Container) ([]sdk.FieldError, error) {
	return compile.Validate(profile(c)), nil
}

func (stage) Prepare(_ context.Context, c *sdk.Container) (*sdk.Plan, error) {
	s := profile(c)
	if s == nil {
		return &sdk.Plan{Reusable: true}, nil
	}
	res, err := compile.Compiled(s)
	if err != nil {
		return nil, fmt.Errorf("container %s: seccomp stage: %w", c.ID, err)
	}
	log := sdk.Logger().With("container", c.ID)
	if len(res.Skipped) > 0 {
		// runc logs these too: libseccomp here does not know them, so no
		// program built against it can make them either.
		log.Debug("seccomp: syscalls unknown to libseccomp skipped", "libseccomp", compile.HostSupport().Library, "syscalls", strings.Join(res.Skipped, ","))
	}
	log.Debug("seccomp: filter compiled", "instructions", res.Instructions(), "enosys_stub", res.StubInstructions,
		"clone3_enosys", res.Clone3ENOSYS, "flags", fmt.Sprintf("%#x", res.Flags))
	return &sdk.Plan{Actions: []*stagev1.Action{sdk.SeccompAction(&stagev1.SeccompFilter{
		Program:          res.Program,
		Flags:            res.Flags,
		ListenerPath:     res.ListenerPath,
		ListenerMetadata: res.ListenerMetadata,
	})}, Reusable: true}, nil
}

func main() { sdk.Serve(stage{}) }
