// Command rung-lsm is rung's LSM stage: it checks the spec's AppArmor
// profile and SELinux labels against what the host runs and asks the init
// to exec into them (the exec attributes in /proc/thread-self/attr), and the
// host's rootfs setup to label mounts.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rung-runtime/rung/plugins/lsm/lsmhost"
	"github.com/rung-runtime/rung/plugins/lsm/lsmplan"
	"github.com/rung-runtime/rung/sdk"
)

const (
	name    = "rung-lsm"
	version = "0.1.0"
)

type stage struct {
	sdk.Base
	// root is where the host's /sys and /proc are read from; "/" except in tests.
	root string
}

func (s *stage) detect() lsmhost.Host {
	h := lsmhost.Detect(s.root)
	if !h.AppArmor.Enabled {
		sdk.Logger().Debug("AppArmor disabled", "reason", h.AppArmor.Reason)
	}
	if !h.SELinux.Enabled {
		sdk.Logger().Debug("SELinux disabled", "reason", h.SELinux.Reason)
	}
	return h
}

// Features reports the host's modules in the runtime-spec features layout.
func Features(h lsmhost.Host) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"linux": map[string]any{
		"apparmor": map[string]bool{"enabled": h.AppArmor.Enabled},
		"selinux":  map[string]bool{"enabled": h.SELinux.Enabled},
	}})
	return b
}

func (s *stage) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{
		Name:    name,
		Version: version,
		Stage:   "lsm",
		Handles: handles,
		// Only a plan with no label (see Prepare) is reusable.
		PlanInputs: handles,
		Features:   Features(s.detect()),
		// Labels belong to the processes they confine; nothing to undo,
		// and the init applies them itself.
		NoDestroy: true, NoAttach: true,
	}, nil
}

var handles = []string{"process.apparmorProfile", "process.selinuxLabel", "linux.mountLabel"}

func (s *stage) decide(c *sdk.Container) (*lsmplan.Decision, []sdk.FieldError, error) {
	if c.Spec == nil {
		return nil, nil, fmt.Errorf("%s: container %s has no config.json", name, c.ID)
	}
	cfg, err := lsmplan.ParseConfig(c.Config)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: container %s: %w", name, c.ID, err)
	}
	d, errs, err := lsmplan.Decide(c.Spec, cfg, s.detect())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: container %s: %w", name, c.ID, err)
	}
	if d != nil {
		for _, note := range d.Ignored {
			sdk.Logger().Debug("ignored", "container", c.ID, "setting", note)
		}
	}
	return d, errs, nil
}

func (s *stage) Validate(_ context.Context, c *sdk.Container) ([]sdk.FieldError, error) {
	_, errs, err := s.decide(c)
	return errs, err
}

func (s *stage) Prepare(_ context.Context, c *sdk.Container) (*sdk.Plan, error) {
	d, errs, err := s.decide(c)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		// Validate passed, so the host changed in between (a profile was
		// unloaded); refuse rather than start the container unconfined.
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("%s: container %s: %s", name, c.ID, strings.Join(msgs, "; "))
	}
	p := d.Plan()
	// A label depends on what is loaded now, and a setting ignored because
	// a module looked off (securityfs or selinuxfs not mounted yet, say)
	// would apply once it looks on: neither may be kept for later
	// containers. Nothing to apply and nothing ignored is what the spec's
	// handled fields alone decide.
	p.Reusable = len(p.Actions) == 0 && len(d.Ignored) == 0
	sdk.Logger().Debug("lsm plan", "container", c.ID, "apparmor", d.AppArmorProfile, "selinux", d.ProcessLabel, "mountLabel", d.MountLabel)
	return p, nil
}

// Destroy has nothing to undo: labels live and die with the processes.
func (s *stage) Destroy(context.Context, *sdk.Container) error { return nil }

func main() { sdk.Serve(&stage{root: "/"}) }
