package testutil

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// MobyDefaultProfile is moby's default seccomp profile, as the repository
// keeps it for the seccomp stage's tests.
func MobyDefaultProfile() string {
	return filepath.Join(RepoRoot(), "plugins", "seccomp", "compile", "testdata", "moby-default.json")
}

// mobyProfile is moby's profile format: the OCI object plus an arch map and
// per-rule filters on arch, capabilities and kernel version.
type mobyProfile struct {
	DefaultAction   specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet *uint                    `json:"defaultErrnoRet"`
	ArchMap         []struct {
		Arch    specs.Arch   `json:"architecture"`
		SubArch []specs.Arch `json:"subArchitectures"`
	} `json:"archMap"`
	Syscalls []struct {
		specs.LinuxSyscall
		Includes mobyFilter `json:"includes"`
		Excludes mobyFilter `json:"excludes"`
	} `json:"syscalls"`
}

type mobyFilter struct {
	Arches    []string `json:"arches"`
	Caps      []string `json:"caps"`
	MinKernel string   `json:"minKernel"`
}

// DockerDefaultCaps is the capability set docker gives a container.
var DockerDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// NativeSeccompArch is this machine's architecture as the runtime-spec
// names it for seccomp.
func NativeSeccompArch() specs.Arch {
	switch runtime.GOARCH {
	case "arm64":
		return specs.ArchAARCH64
	case "386":
		return specs.ArchX86
	}
	return specs.ArchX86_64
}

// MobyToOCI does what moby's setupSeccomp does with the profile at path for
// a container on this host (native is its libseccomp architecture, e.g.
// SCMP_ARCH_X86_64) with docker's default capabilities: the linux.seccomp
// every docker container gets.
func MobyToOCI(path string, native specs.Arch) (*specs.LinuxSeccomp, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p mobyProfile
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	kernel, err := KernelRelease()
	if err != nil {
		return nil, err
	}
	out := &specs.LinuxSeccomp{DefaultAction: p.DefaultAction, DefaultErrnoRet: p.DefaultErrnoRet}
	for _, m := range p.ArchMap {
		if m.Arch == native {
			out.Architectures = append([]specs.Arch{m.Arch}, m.SubArch...)
		}
	}
	for _, sc := range p.Syscalls {
		in, ex := sc.Includes, sc.Excludes
		switch {
		case len(in.Arches) > 0 && !slices.Contains(in.Arches, runtime.GOARCH),
			slices.Contains(ex.Arches, runtime.GOARCH),
			len(in.Caps) > 0 && !allIn(in.Caps, DockerDefaultCaps),
			anyIn(ex.Caps, DockerDefaultCaps),
			in.MinKernel != "" && versionLess(kernel, in.MinKernel):
			continue
		}
		out.Syscalls = append(out.Syscalls, sc.LinuxSyscall)
	}
	return out, nil
}

func allIn(want, have []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func anyIn(want, have []string) bool {
	return slices.ContainsFunc(want, func(w string) bool { return slices.Contains(have, w) })
}

// KernelRelease is uname's release of the running kernel ("6.1.0-57-amd64").
func KernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// versionLess compares dotted kernel versions numerically ("6.18.44-x" vs "4.8").
func versionLess(a, b string) bool {
	pa, pb := versionParts(a), versionParts(b)
	for i := 0; i < 3; i++ {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return false
}

func versionParts(v string) [3]int {
	var out [3]int
	v, _, _ = strings.Cut(v, "-")
	for i, p := range strings.SplitN(v, ".", 3) {
		out[i], _ = strconv.Atoi(p)
	}
	return out
}
