// Command rung-landlock is an extra rung stage that confines each
// container with Landlock: filesystem rules from its block in the operator's
// config, plus any the container gives itself in the annotation
// io.github.rung-runtime.landlock.rules. It changes nothing on the host; it
// returns the rulesets as a typed action that the container's init enforces
// right before execve. Enable it by adding it to /etc/rung/config.json:
//
//	{"plugins": [{"stage": "landlock", "binary": "rung-landlock",
//	  "config": {"rules": [{"path": "/", "access": "ro"}, {"path": "/tmp", "access": "rw"}]}}]}
package main

import (
	"context"
	"fmt"
	"slices"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
)

type stage struct {
	sdk.Base
	abi func() (int, error)
}

func (stage) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{Name: "rung-landlock", Version: "0.1.0", Stage: "landlock",
		Handles: []string{"annotations." + rulesAnnotation},
		// The init restricts itself with the rulesets Prepare returned.
		NoAttach: true}, nil
}

// plan is the rulesets for the container: the operator's, then the
// container's own.
func (s stage) plan(c *sdk.Container) ([]*stagev1.Action, []sdk.FieldError, error) {
	cfg, err := parseConfig(c.Config)
	if err != nil {
		return nil, nil, err
	}
	var acts []*stagev1.Action
	if len(cfg.Rules) > 0 {
		acts = append(acts, sdk.LandlockAction(ruleset(cfg.Rules, uint64(cfg.Handled))))
	}
	if v, ok := c.Annotations[rulesAnnotation]; ok {
		own, err := parseAnnotation(v)
		if err != nil {
			return nil, []sdk.FieldError{{Field: "annotations." + rulesAnnotation, Message: err.Error()}}, nil
		}
		acts = append(acts, sdk.LandlockAction(ruleset(own, 0)))
	}
	if len(acts) == 0 {
		return nil, nil, nil
	}
	abi, err := s.abi()
	if err != nil || abi < 1 {
		return nil, nil, fmt.Errorf("landlock: this kernel has no Landlock (%v); remove the landlock stage or enable the LSM", err)
	}
	if need := needsABI(uint64(cfg.Handled)); need > abi {
		return nil, nil, fmt.Errorf("landlock config: handled rights need Landlock ABI %d, the kernel has %d", need, abi)
	}
	if p := c.Spec.Process; p != nil && !p.NoNewPrivileges && !keepsSysAdmin(p) {
		return nil, []sdk.FieldError{{Field: "process.noNewPrivileges",
			Message: "must be true for Landlock (without it the kernel lets only CAP_SYS_ADMIN restrict itself)"}}, nil
	}
	return acts, nil, nil
}

func keepsSysAdmin(p *specs.Process) bool {
	return p.Capabilities != nil && slices.Contains(p.Capabilities.Effective, "CAP_SYS_ADMIN")
}

func (s stage) Validate(_ context.Context, c *sdk.Container) ([]sdk.FieldError, error) {
	if c.Spec == nil {
		return nil, fmt.Errorf("container %s has no config.json", c.ID)
	}
	_, errs, err := s.plan(c)
	return errs, err
}

func (s stage) Prepare(_ context.Context, c *sdk.Container) (*sdk.Plan, error) {
	if c.Spec == nil {
		return nil, fmt.Errorf("container %s has no config.json", c.ID)
	}
	acts, errs, err := s.plan(c)
	if err == nil && len(errs) > 0 {
		err = errs[0]
	}
	return &sdk.Plan{Actions: acts}, err
}

func main() { sdk.Serve(stage{abi: ll.LandlockGetABIVersion}) }
