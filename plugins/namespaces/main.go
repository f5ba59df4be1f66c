// Command rung-namespaces is rung's namespaces stage: it checks
// linux.namespaces, the id mappings and the time offsets, tells the init
// which namespaces to create or join, and, once the init waits in them,
// writes its id maps and brings up its loopback interface.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/plugins/namespaces/nskernel"
	"github.com/rung-runtime/rung/plugins/namespaces/nsplan"
	"github.com/rung-runtime/rung/sdk"
)

const (
	name    = "rung-namespaces"
	version = "0.1.0"
)

type stage struct {
	sdk.Base
	host nsplan.Host
	// supported lists the kernel's namespace types for Describe.
	supported func() []specs.LinuxNamespaceType
}

func newStage() *stage {
	return &stage{host: nskernel.NewHost(), supported: nskernel.Supported}
}

func (s *stage) Describe(context.Context) (sdk.Description, error) {
	types := []string{}
	for _, t := range s.supported() {
		types = append(types, string(t))
	}
	features, err := json.Marshal(map[string]any{"linux": map[string]any{"namespaces": types}})
	if err != nil {
		return sdk.Description{}, fmt.Errorf("%s: encode features: %w", name, err)
	}
	return sdk.Description{
		Name:     name,
		Version:  version,
		Stage:    "namespaces",
		Handles:  handles,
		Features: features,
		// Namespaces die with their last process; nothing to undo.
		NoDestroy: true,
		// Validate also reads whether the fields a namespace isolates are
		// set, and the sysctls' names.
		PlanInputs: append(slices.Clone(handles), "hostname?", "domainname?",
			"linux.maskedPaths?", "linux.readonlyPaths?", "linux.sysctl"),
	}, nil
}

var handles = []string{"linux.namespaces", "linux.uidMappings", "linux.gidMappings", "linux.timeOffsets"}

func (s *stage) Validate(_ context.Context, c *sdk.Container) ([]sdk.FieldError, error) {
	if c.Spec == nil {
		return nil, fmt.Errorf("%s: container %s has no config.json", name, c.ID)
	}
	errs := nsplan.Validate(c.Spec, s.host)
	if l := c.Spec.Linux; l != nil && len(errs) == 0 {
		for _, ns := range l.Namespaces {
			if ns.Type == specs.UserNamespace && ns.Path != "" && (len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0) {
				sdk.Logger().Warn("joining an existing user namespace: linux.uidMappings/gidMappings are not written and not checked against it",
					"container", c.ID, "path", ns.Path)
			}
		}
	}
	return errs, nil
}

func (s *stage) Prepare(_ context.Context, c *sdk.Container) (*sdk.Plan, error) {
	if c.Spec == nil {
		return nil, fmt.Errorf("%s: container %s has no config.json", name, c.ID)
	}
	plan, err := nsplan.Build(c.Spec)
	if err != nil {
		return nil, fmt.Errorf("%s: container %s: %w", name, c.ID, err)
	}
	sdk.Logger().Debug("namespace plan", "container", c.ID, "new", plan.State[nsplan.KeyNew], "joined", plan.State[nsplan.KeyJoined])
	return plan, nil
}

func (s *stage) Attach(ctx context.Context, c *sdk.Container, pid int) (map[string]string, error) {
	st, ok, err := nsplan.DecodeState(c.State)
	if err != nil {
		return nil, fmt.Errorf("%s: container %s: %w", name, c.ID, err)
	}
	if !ok {
		// The stored state predates Prepare's answer; the spec says the same.
		if c.Spec == nil {
			return nil, fmt.Errorf("%s: container %s: no stored state and no config.json", name, c.ID)
		}
		if st, err = nsplan.StateFromSpec(c.Spec); err != nil {
			return nil, fmt.Errorf("%s: container %s: %w", name, c.ID, err)
		}
	}
	done, err := nskernel.Attach(ctx, pid, st)
	if err != nil {
		return nil, fmt.Errorf("%s: container %s: %w", name, c.ID, err)
	}
	return map[string]string{nsplan.KeyAttached: strings.Join(done, ",")}, nil
}

// Destroy has nothing to undo: the namespaces end with their last process,
// and nothing is bind-mounted to keep one alive.
func (s *stage) Destroy(context.Context, *sdk.Container) error { return nil }

func main() { sdk.Serve(newStage()) }
