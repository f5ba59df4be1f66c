package compile

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Host is what this host's libseccomp and kernel support, found by probing.
type Host struct {
	// Enabled is false when the kernel has no seccomp filter mode.
	Enabled bool
	// Library is libseccomp's version, "2.5.4".
	Library string
	// Native is the native architecture, as the spec names it.
	Native specs.Arch

	actions   map[specs.LinuxSeccompAction]bool
	archs     map[specs.Arch]bool
	flagsOK   map[specs.LinuxSeccompFlag]bool
	archErr   map[specs.Arch]error
	actionErr map[specs.LinuxSeccompAction]error
}

var (
	hostOnce sync.Once
	host     *Host
)

// HostSupport probes the host once and returns what it found. Probing has no
// side effect on the process: every seccomp(2) call it makes is one the
// kernel rejects before installing anything.
func HostSupport() *Host {
	hostOnce.Do(func() { host = probe() })
	return host
}

func probe() *Host {
	maj, min, mic := libseccomp.GetLibraryVersion()
	h := &Host{
		Library:   fmt.Sprintf("%d.%d.%d", maj, min, mic),
		actions:   map[specs.LinuxSeccompAction]bool{},
		archs:     map[specs.Arch]bool{},
		flagsOK:   map[specs.LinuxSeccompFlag]bool{},
		archErr:   map[specs.Arch]error{},
		actionErr: map[specs.LinuxSeccompAction]error{},
	}
	// A NULL program makes seccomp(2) fail with EFAULT only after it has
	// accepted the mode and the flags; EINVAL means it refused them.
	h.Enabled = seccompSetFilter(0, nil) == unix.EFAULT
	if native, err := libseccomp.GetNativeArch(); err == nil {
		h.Native, _ = specArch(native)
	}
	for _, name := range archOrder {
		h.archErr[name] = probeArch(arches[name].scmp)
		h.archs[name] = h.archErr[name] == nil
	}
	for _, name := range actionOrder {
		h.actionErr[name] = probeAction(h.Enabled, actions[name])
		h.actions[name] = h.actionErr[name] == nil
	}
	for _, name := range flagOrder {
		bits := flags[name]
		if bits == unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
			// The kernel takes it only together with NEW_LISTENER.
			bits |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		}
		h.flagsOK[name] = h.Enabled && seccompSetFilter(uintptr(bits), nil) == unix.EFAULT
	}
	return h
}

// probeArch asks libseccomp to add the architecture next to the native one,
// which is what compiling a profile that lists it does: libseccomp refuses
// architectures it was built without, and ones of the other endianness.
func probeArch(a libseccomp.ScmpArch) error {
	f, err := libseccomp.NewFilter(libseccomp.ActAllow)
	if err != nil {
		return err
	}
	defer f.Release()
	return f.AddArch(a)
}

// probeAction checks both halves: libseccomp accepts a rule with the action
// (it knows it and its own kernel probe agrees), and the kernel says it is
// available.
func probeAction(enabled bool, a actionInfo) error {
	if !enabled {
		return errors.New("the kernel has no seccomp filter support")
	}
	def := libseccomp.ActKillThread
	if a.scmp == libseccomp.ActKillThread {
		def = libseccomp.ActAllow
	}
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return err
	}
	defer f.Release()
	nr, err := libseccomp.GetSyscallFromName("getpid")
	if err != nil {
		return err
	}
	if err := f.AddRule(nr, a.scmp); err != nil {
		return fmt.Errorf("libseccomp refuses it: %w", err)
	}
	ret := a.ret
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&ret)))
	switch errno {
	case 0:
		return nil
	case unix.EINVAL:
		// Kernels before 4.14 have no SECCOMP_GET_ACTION_AVAIL; they know
		// only the original actions, and libseccomp already vouched for it.
		return nil
	case unix.EOPNOTSUPP:
		return errors.New("the kernel does not support it")
	default:
		return fmt.Errorf("probing the kernel: %w", errno)
	}
}

func seccompSetFilter(flags uintptr, prog *unix.SockFprog) unix.Errno {
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(prog)))
	return errno
}

// Features is the stage's part of `rung features`: the runtime-spec
// features.md seccomp object, truthful for this host.
func (h *Host) Features() features.Seccomp {
	enabled := h.Enabled
	out := features.Seccomp{
		Enabled:        &enabled,
		Actions:        []string{},
		Operators:      []string{},
		Archs:          []string{},
		KnownFlags:     []string{},
		SupportedFlags: []string{},
	}
	for _, a := range actionOrder {
		if h.actions[a] {
			out.Actions = append(out.Actions, string(a))
		}
	}
	for _, o := range operatorOrder {
		out.Operators = append(out.Operators, string(o))
	}
	for _, a := range archOrder {
		if h.archs[a] {
			out.Archs = append(out.Archs, string(a))
		}
	}
	for _, f := range flagOrder {
		out.KnownFlags = append(out.KnownFlags, string(f))
		if h.flagsOK[f] {
			out.SupportedFlags = append(out.SupportedFlags, string(f))
		}
	}
	return out
}

// FeaturesJSON is Features wrapped as {"linux":{"seccomp":{...}}}, ready to
// merge into the features document.
func (h *Host) FeaturesJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"linux": map[string]any{"seccomp": h.Features()}})
}
