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

// Config is everything the init needs, sent by the host after Attach in
// the binary form of configwire.go (its json tags are not the wire).
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

// initSpec is the spec as the init gets it: the fields its code reads,
// under the spec's own names. What only the stages read (resources,
// seccomp, intelRdt, cgroupsPath) and annotations stay behind: fewer bytes
// for every init to read, and configwire.go has only these types to carry
// (no Windows, VM, ...). A field the init comes to read must be added here
// and there.
type initSpec struct {
	Version    string
	Process    *specs.Process
	Root       *specs.Root
	Hostname   string
	Domainname string
	Mounts     []specs.Mount
	Hooks      *specs.Hooks
	Linux      *initLinux
}

// initLinux is the part of linux the init applies: namespaces (which it
// checks), devices, masked and read-only paths, sysctls, propagation.
type initLinux struct {
	Namespaces        []specs.LinuxNamespace
	Devices           []specs.LinuxDevice
	Sysctl            map[string]string
	RootfsPropagation string
	MaskedPaths       []string
	ReadonlyPaths     []string
	MountLabel        string
}

func toInitSpec(s *specs.Spec) *initSpec {
	if s == nil {
		return nil
	}
	out := &initSpec{Version: s.Version, Process: s.Process, Root: s.Root, Hostname: s.Hostname,
		Domainname: s.Domainname, Mounts: s.Mounts, Hooks: s.Hooks}
	if l := s.Linux; l != nil {
		out.Linux = &initLinux{Namespaces: l.Namespaces, Devices: l.Devices, Sysctl: l.Sysctl,
			RootfsPropagation: l.RootfsPropagation, MaskedPaths: l.MaskedPaths,
			ReadonlyPaths: l.ReadonlyPaths, MountLabel: l.MountLabel}
	}
	return out
}

func (w *initSpec) spec() *specs.Spec {
	if w == nil {
		return nil
	}
	out := &specs.Spec{Version: w.Version, Process: w.Process, Root: w.Root, Hostname: w.Hostname,
		Domainname: w.Domainname, Mounts: w.Mounts, Hooks: w.Hooks}
	if l := w.Linux; l != nil {
		out.Linux = &specs.Linux{Namespaces: l.Namespaces, Devices: l.Devices, Sysctl: l.Sysctl,
			RootfsPropagation: l.RootfsPropagation, MaskedPaths: l.MaskedPaths,
			ReadonlyPaths: l.ReadonlyPaths, MountLabel: l.MountLabel}
	}
	return out
}
