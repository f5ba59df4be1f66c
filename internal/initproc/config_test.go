package initproc

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSpecForInitLeavesOutTheStagesInput(t *testing.T) {
	spec := &specs.Spec{
		Hostname:    "h",
		Annotations: map[string]string{"a": "b"},
		Process:     &specs.Process{Args: []string{"true"}},
		Linux: &specs.Linux{
			Resources:   &specs.LinuxResources{},
			Seccomp:     &specs.LinuxSeccomp{DefaultAction: specs.ActErrno},
			IntelRdt:    &specs.LinuxIntelRdt{},
			MaskedPaths: []string{"/proc/kcore"},
			Namespaces:  []specs.LinuxNamespace{{Type: specs.PIDNamespace}},
		},
	}
	got := SpecForInit(spec)
	if got.Annotations != nil || got.Linux.Resources != nil || got.Linux.Seccomp != nil || got.Linux.IntelRdt != nil {
		t.Errorf("kept the stages' input: %+v", got.Linux)
	}
	if got.Hostname != "h" || got.Process != spec.Process || len(got.Linux.MaskedPaths) != 1 || len(got.Linux.Namespaces) != 1 {
		t.Errorf("lost what the init reads: %+v", got)
	}
	if spec.Annotations == nil || spec.Linux.Resources == nil || spec.Linux.Seccomp == nil || spec.Linux.IntelRdt == nil {
		t.Error("changed the host's spec")
	}
}
