// Package hooks runs OCI lifecycle hooks: the executable at path with args
// and env, the container's state JSON on stdin, bounded by its timeout.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Validate checks the hook definitions of a spec; errors name the field.
func Validate(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	for kind, list := range Kinds(h) {
		for i, hk := range list {
			field := fmt.Sprintf("hooks.%s[%d]", kind, i)
			if !strings.HasPrefix(hk.Path, "/") {
				return fmt.Errorf("%s.path: %q is not an absolute path", field, hk.Path)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return fmt.Errorf("%s.timeout: must be positive, got %d", field, *hk.Timeout)
			}
		}
	}
	return nil
}

// Kinds maps each hook kind's spec name to its list.
func Kinds(h *specs.Hooks) map[string][]specs.Hook {
	//nolint:staticcheck // prestart is deprecated but still part of the spec.
	return map[string][]specs.Hook{
		"prestart":        h.Prestart,
		"createRuntime":   h.CreateRuntime,
		"createContainer": h.CreateContainer,
		"startContainer":  h.StartContainer,
		"poststart":       h.Poststart,
		"poststop":        h.Poststop,
	}
}

// Run runs the hooks of one kind in order, stopping at the first failure.
func Run(kind string, list []specs.Hook, state *specs.State) error {
	if len(list) == 0 {
		return nil
	}
	input, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for i, h := range list {
		if err := runOne(h, input); err != nil {
			return fmt.Errorf("%s hook #%d (%s): %w", kind, i, h.Path, err)
		}
	}
	return nil
}

// RunEach runs every hook of one kind even when some fail, as the spec asks
// of poststart and poststop (a failure is a warning there), and returns each
// failure.
func RunEach(kind string, list []specs.Hook, state *specs.State) []error {
	if len(list) == 0 {
		return nil
	}
	input, err := json.Marshal(state)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for i, h := range list {
		if err := runOne(h, input); err != nil {
			errs = append(errs, fmt.Errorf("%s hook #%d (%s): %w", kind, i, h.Path, err))
		}
	}
	return errs
}

func runOne(h specs.Hook, input []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(input)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 512 {
			msg = msg[:512]
		}
		if msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}
