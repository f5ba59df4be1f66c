package initproc

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Seccomp is a compiled filter to install right before execve.
type Seccomp struct {
	Program          []byte `json:"program"`
	Flags            uint32 `json:"flags"`
	ListenerPath     string `json:"listenerPath,omitempty"`
	ListenerMetadata string `json:"listenerMetadata,omitempty"`
}

// ProcAttr is an LSM attribute for the init to write about itself.
type ProcAttr struct {
	LSM   string `json:"lsm"`
	Attr  string `json:"attr"`
	Value string `json:"value"`
}

// LandlockRule allows access to one path.
type LandlockRule struct {
	Path   string `json:"path"`
	Access uint64 `json:"access"`
}

// Landlock is a ruleset to restrict the container with before execve.
type Landlock struct {
	HandledAccessFS uint64         `json:"handledAccessFS"`
	Rules           []LandlockRule `json:"rules"`
}

// Plan is the part of the plugins' plans that the init applies.
type Plan struct {
	Seccomp    []Seccomp  `json:"seccomp,omitempty"`
	ProcAttrs  []ProcAttr `json:"procAttrs,omitempty"`
	MountLabel string     `json:"mountLabel,omitempty"`
	Landlock   []Landlock `json:"landlock,omitempty"`
	// Loopback brings lo up in the init's new network namespace first.
	Loopback bool `json:"loopback,omitempty"`
}

// Config is everything the init needs, sent by the host after Attach.
type Config struct {
	// Build is the host's BuildID; the init refuses another (a rung-init
	// left from an older install would misread the rest).
	Build   string      `json:"build"`
	ID      string      `json:"id"`
	Bundle  string      `json:"bundle"`
	Rootfs  string      `json:"rootfs"`
	Spec    *specs.Spec `json:"spec"`
	NoPivot bool        `json:"noPivot,omitempty"`
	// NoNewKeyring keeps the caller's session keyring instead of a fresh one.
	NoNewKeyring bool `json:"noNewKeyring,omitempty"`
	// Exec is set for `rung exec`: the container's rootfs is already the root,
	// so only process setup happens.
	Exec bool `json:"exec,omitempty"`
	// ExecRoot, for an exec into a container without a mount namespace, is
	// the init's root ("/proc/PID/root"): joining namespaces does not put the
	// new process in the init's chroot, so it chroots there itself.
	ExecRoot string `json:"execRoot,omitempty"`
	// Fds of the init, as the host laid them out with ExtraFiles.
	FifoFd          int  `json:"fifoFd,omitempty"`
	ConsoleSocketFd int  `json:"consoleSocketFd,omitempty"`
	PreserveFds     int  `json:"preserveFds,omitempty"`
	NewPidNS        bool `json:"newPidNS,omitempty"`
	NewUTS          bool `json:"newUTS,omitempty"`
	Plan            Plan `json:"plan"`
	// State is the OCI state hooks of the init (createContainer,
	// startContainer) get on stdin; the host fills in the pid.
	State *specs.State `json:"state,omitempty"`
	// Timing asks for the init's Marks on ready (rung --debug).
	Timing bool `json:"timing,omitempty"`
}

// SpecForInit is spec less what only the stages read (resources, seccomp,
// intelRdt) and annotations: the init decodes its config before anything
// else, and a runtime's default seccomp profile alone is hundreds of
// syscall names.
func SpecForInit(spec *specs.Spec) *specs.Spec {
	out := *spec
	out.Annotations = nil
	if spec.Linux != nil {
		l := *spec.Linux
		l.Resources, l.Seccomp, l.IntelRdt = nil, nil, nil
		out.Linux = &l
	}
	return &out
}
