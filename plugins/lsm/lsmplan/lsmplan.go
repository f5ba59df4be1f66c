// Package lsmplan is the pure part of the rung-lsm stage: from the spec's
// LSM fields, the operator's config and what the host runs, it decides which
// AppArmor profile and SELinux labels the container gets and turns that into
// the init's actions.
package lsmplan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/sdk"
)

// Config is the operator's block for rung-lsm in the rung config.
type Config struct {
	// DefaultAppArmorProfile is applied when the spec names no profile and
	// AppArmor is enabled (Docker's "docker-default" behaviour).
	DefaultAppArmorProfile string `json:"defaultAppArmorProfile,omitempty"`
}

// ParseConfig decodes the operator's block; empty means defaults. Unknown
// keys are refused so a misspelt option is not silently ignored.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var c Config
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return c, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return c, fmt.Errorf("rung-lsm config: %w", err)
	}
	if c.DefaultAppArmorProfile != "" {
		if err := checkProfileName(c.DefaultAppArmorProfile); err != nil {
			return c, fmt.Errorf("rung-lsm config: defaultAppArmorProfile: %w", err)
		}
	}
	return c, nil
}

// Host is what the decision needs to know about the machine.
type Host interface {
	// AppArmorEnabled says whether profiles can be applied, and if not why.
	AppArmorEnabled() (bool, string)
	// AppArmorProfiles lists the loaded profiles (name → mode).
	AppArmorProfiles() (map[string]string, error)
	// SELinuxEnabled says whether labels can be applied, and if not why.
	SELinuxEnabled() (bool, string)
}

// Unconfined is the AppArmor pseudo-profile for "no confinement".
const Unconfined = "unconfined"

// State keys stored from Prepare; each is present only when applied.
const (
	KeyAppArmorProfile = "apparmorProfile"
	// KeyAppArmorSource is "spec" or "config" (the operator's default).
	KeyAppArmorSource = "apparmorSource"
	KeySELinuxLabel   = "selinuxLabel"
	KeyMountLabel     = "mountLabel"
)

// Decision is what the container gets.
type Decision struct {
	// AppArmorProfile is the profile to exec into; empty for none.
	AppArmorProfile string
	// FromConfig is set when the profile is the operator's default.
	FromConfig   bool
	ProcessLabel string
	MountLabel   string
	// Ignored lists settings left unapplied because the host lacks the
	// module, for the debug log.
	Ignored []string
}

// maxAttrValue keeps a /proc/.../attr write within the one page the kernel
// takes ("exec " plus the profile name).
const maxAttrValue = 4000

// Decide checks the spec's LSM fields against the host and returns what to
// apply. Field errors are the spec's (or the config's) fault; err is a host
// problem (e.g. the profile list cannot be read).
func Decide(spec *specs.Spec, cfg Config, h Host) (*Decision, []sdk.FieldError, error) {
	d := &Decision{}
	var errs []sdk.FieldError
	fail := func(field, format string, args ...any) {
		errs = append(errs, sdk.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if spec == nil {
		return d, nil, nil
	}

	aaOn, aaWhy := h.AppArmorEnabled()
	var profiles map[string]string
	loaded := func(name string) (bool, error) {
		if name == Unconfined {
			return true, nil
		}
		if profiles == nil {
			p, err := h.AppArmorProfiles()
			if err != nil {
				return false, err
			}
			profiles = p
		}
		_, ok := profiles[name]
		return ok, nil
	}
	if p := spec.Process; p != nil {
		switch name := p.ApparmorProfile; {
		case name != "":
			if err := checkProfileName(name); err != nil {
				fail("process.apparmorProfile", "%v", err)
				break
			}
			if !aaOn {
				if name == Unconfined {
					// Without AppArmor every process is unconfined already.
					d.Ignored = append(d.Ignored, "process.apparmorProfile \"unconfined\": AppArmor is off ("+aaWhy+")")
					break
				}
				fail("process.apparmorProfile", "AppArmor is not enabled on this host (%s)", aaWhy)
				break
			}
			ok, err := loaded(name)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				fail("process.apparmorProfile", "profile %s is not loaded", name)
				break
			}
			d.AppArmorProfile = name
		case cfg.DefaultAppArmorProfile != "" && aaOn:
			ok, err := loaded(cfg.DefaultAppArmorProfile)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				fail("process.apparmorProfile", "unset, and the operator's default profile %s (rung-lsm config defaultAppArmorProfile) is not loaded", cfg.DefaultAppArmorProfile)
				break
			}
			d.AppArmorProfile, d.FromConfig = cfg.DefaultAppArmorProfile, true
		case cfg.DefaultAppArmorProfile != "":
			d.Ignored = append(d.Ignored, "default AppArmor profile "+cfg.DefaultAppArmorProfile+": AppArmor is off ("+aaWhy+")")
		}
	}

	seOn, seWhy := h.SELinuxEnabled()
	label := func(field, value string) string {
		if value == "" {
			return ""
		}
		if err := CheckLabel(value); err != nil {
			fail(field, "%v", err)
			return ""
		}
		if !seOn {
			// runc 1.1 ignores labels on a host without SELinux; so do we.
			d.Ignored = append(d.Ignored, field+" "+value+": SELinux is off ("+seWhy+")")
			return ""
		}
		return value
	}
	if spec.Process != nil {
		d.ProcessLabel = label("process.selinuxLabel", spec.Process.SelinuxLabel)
	}
	if spec.Linux != nil {
		d.MountLabel = label("linux.mountLabel", spec.Linux.MountLabel)
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	return d, nil, nil
}

// Plan turns the decision into the init's actions and the stored state.
// The exec attributes take effect at execve, so the init writes them last.
func (d *Decision) Plan() *sdk.Plan {
	p := &sdk.Plan{State: map[string]string{}}
	if d.AppArmorProfile != "" {
		p.Actions = append(p.Actions, sdk.ProcAttrAction("apparmor", "exec", "exec "+d.AppArmorProfile))
		p.State[KeyAppArmorProfile] = d.AppArmorProfile
		p.State[KeyAppArmorSource] = "spec"
		if d.FromConfig {
			p.State[KeyAppArmorSource] = "config"
		}
	}
	if d.ProcessLabel != "" {
		p.Actions = append(p.Actions, sdk.ProcAttrAction("selinux", "exec", d.ProcessLabel))
		p.State[KeySELinuxLabel] = d.ProcessLabel
	}
	if d.MountLabel != "" {
		p.Actions = append(p.Actions, sdk.MountLabelAction(d.MountLabel))
		p.State[KeyMountLabel] = d.MountLabel
	}
	return p
}

func checkProfileName(name string) error {
	if len(name) > maxAttrValue {
		return fmt.Errorf("profile name is %d bytes long, more than %d", len(name), maxAttrValue)
	}
	if strings.TrimSpace(name) != name {
		return fmt.Errorf("profile name %q has leading or trailing space", name)
	}
	if i := strings.IndexFunc(name, isControl); i >= 0 {
		return fmt.Errorf("profile name %q has a control character at byte %d", name, i)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// CheckLabel checks that s has the shape of a SELinux context,
// user:role:type[:level], as go-selinux's NewContext splits it (the level
// may itself hold colons, as in "s0-s0:c0.c1023").
func CheckLabel(s string) error {
	if len(s) > maxAttrValue {
		return fmt.Errorf("label is %d bytes long, more than %d", len(s), maxAttrValue)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return isControl(r) || r == ' ' }); i >= 0 {
		return fmt.Errorf("label %q has a space or control character at byte %d", s, i)
	}
	parts := strings.SplitN(s, ":", 4)
	if len(parts) < 3 {
		return fmt.Errorf("label %q is not a SELinux context (user:role:type[:level])", s)
	}
	for i, what := range []string{"user", "role", "type"} {
		if parts[i] == "" {
			return fmt.Errorf("label %q has an empty %s", s, what)
		}
		if !allIn(parts[i], identChars) {
			return fmt.Errorf("label %q: %s %q has characters outside [A-Za-z0-9_.-]", s, what, parts[i])
		}
	}
	if len(parts) == 4 {
		if parts[3] == "" {
			return fmt.Errorf("label %q has an empty level", s)
		}
		if !allIn(parts[3], levelChars) {
			return fmt.Errorf("label %q: level %q has characters outside [A-Za-z0-9_.,:-]", s, parts[3])
		}
	}
	return nil
}

const (
	identChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
	levelChars = identChars + ",:"
)

func allIn(s, set string) bool {
	for _, r := range s {
		if !strings.ContainsRune(set, r) {
			return false
		}
	}
	return true
}
