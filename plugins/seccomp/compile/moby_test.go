package compile

import (
	"encoding/json"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

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

// dockerDefaultCaps is the capability set docker gives a container.
var dockerDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// mobyToOCI does what moby's setupSeccomp does for a container on this host
// with docker's default capabilities.
func mobyToOCI(t testing.TB, path string) *specs.LinuxSeccomp {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p mobyProfile
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	native := HostSupport().Native
	out := &specs.LinuxSeccomp{DefaultAction: p.DefaultAction, DefaultErrnoRet: p.DefaultErrnoRet}
	for _, m := range p.ArchMap {
		if m.Arch == native {
			out.Architectures = append([]specs.Arch{m.Arch}, m.SubArch...)
		}
	}
	kernel := kernelVersion(t)
	for _, sc := range p.Syscalls {
		in, ex := sc.Includes, sc.Excludes
		if len(in.Arches) > 0 && !slices.Contains(in.Arches, runtime.GOARCH) {
			continue
		}
		if slices.Contains(ex.Arches, runtime.GOARCH) {
			continue
		}
		if len(in.Caps) > 0 && !allIn(in.Caps, dockerDefaultCaps) {
			continue
		}
		if anyIn(ex.Caps, dockerDefaultCaps) {
			continue
		}
		if in.MinKernel != "" && versionLess(kernel, in.MinKernel) {
			continue
		}
		out.Syscalls = append(out.Syscalls, sc.LinuxSyscall)
	}
	return out
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
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

func kernelVersion(t testing.TB) string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Release[:])
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
