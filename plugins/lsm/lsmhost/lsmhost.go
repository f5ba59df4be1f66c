// Package lsmhost finds out which Linux security modules the host runs and,
// for AppArmor, which profiles it has loaded. It only reads: securityfs and
// selinuxfs are never mounted here. Every function takes the root directory
// the host's /sys and /proc are found under ("/" in production, a fake tree
// in tests).
package lsmhost

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// Paths, relative to the root, that detection reads.
const (
	AppArmorParam    = "sys/module/apparmor/parameters/enabled"
	SecurityFS       = "sys/kernel/security"
	AppArmorFS       = SecurityFS + "/apparmor"
	AppArmorProfiles = AppArmorFS + "/profiles"
	MountInfo        = "proc/self/mountinfo"
	SELinuxDefault   = "/sys/fs/selinux"
)

// maxProfilesBytes bounds how much of the profile list is read; a host with
// tens of thousands of profiles stays well below it.
const maxProfilesBytes = 16 << 20

// AppArmor is what the host says about AppArmor.
type AppArmor struct {
	Enabled bool
	// Reason says why AppArmor counts as disabled (empty when enabled).
	Reason string
	root   string
}

// SELinux is what the host says about SELinux.
type SELinux struct {
	Enabled bool
	// Reason says why SELinux counts as disabled (empty when enabled).
	Reason string
	// Mount is where selinuxfs is mounted, as the mount table names it.
	Mount string
}

// Host is the detected state of both modules.
type Host struct {
	AppArmor AppArmor
	SELinux  SELinux
}

// Detect looks at the host under root.
func Detect(root string) Host {
	mounts, mountsErr := readMounts(root)
	return Host{
		AppArmor: detectAppArmor(root, mounts, mountsErr),
		SELinux:  detectSELinux(root, mounts, mountsErr),
	}
}

func readMounts(root string) ([]*mountinfo.Info, error) {
	f, err := os.Open(filepath.Join(root, MountInfo))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return mountinfo.GetMountsFromReader(f, nil)
}

func hasFSType(mounts []*mountinfo.Info, fstype, mountpoint string) bool {
	for _, m := range mounts {
		if m.FSType == fstype && (mountpoint == "" || m.Mountpoint == mountpoint) {
			return true
		}
	}
	return false
}

// detectAppArmor follows what runc and containerd check: the module says it
// is enabled and its securityfs directory is there to talk to. Without
// securityfs the kernel may run AppArmor, but no profile can be listed or
// loaded, so for containers it counts as disabled.
func detectAppArmor(root string, mounts []*mountinfo.Info, mountsErr error) AppArmor {
	a := AppArmor{root: root}
	b, err := readSmall(filepath.Join(root, AppArmorParam))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		a.Reason = "the kernel has no AppArmor module"
		return a
	case err != nil:
		a.Reason = fmt.Sprintf("cannot read /%s: %v", AppArmorParam, err)
		return a
	case !bytes.HasPrefix(b, []byte("Y")):
		a.Reason = "the AppArmor module is disabled (apparmor=0 or another major LSM)"
		return a
	}
	if st, err := os.Stat(filepath.Join(root, AppArmorFS)); err != nil || !st.IsDir() {
		switch {
		case mountsErr == nil && !hasFSType(mounts, "securityfs", "/"+SecurityFS):
			a.Reason = "AppArmor is on in the kernel but securityfs is not mounted at /" + SecurityFS
		default:
			a.Reason = "AppArmor is on in the kernel but /" + AppArmorFS + " is missing"
		}
		return a
	}
	a.Enabled = true
	return a
}

// Profiles returns the loaded profiles, name → mode ("enforce",
// "complain", ...), from securityfs's "name (mode)" lines.
func (a AppArmor) Profiles() (map[string]string, error) {
	if !a.Enabled {
		return nil, errors.New("AppArmor is not enabled")
	}
	f, err := os.Open(filepath.Join(a.root, AppArmorProfiles))
	if err != nil {
		return nil, fmt.Errorf("list AppArmor profiles: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxProfilesBytes+1))
	if err != nil {
		return nil, fmt.Errorf("list AppArmor profiles: %w", err)
	}
	if len(b) > maxProfilesBytes {
		return nil, fmt.Errorf("list AppArmor profiles: more than %d bytes", maxProfilesBytes)
	}
	return ParseProfiles(b), nil
}

// ParseProfiles parses the securityfs profiles list. A name may itself hold
// " (", so the mode is taken from the last one.
func ParseProfiles(b []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, " \r")
		if line == "" {
			continue
		}
		name, mode := line, ""
		if i := strings.LastIndex(line, " ("); i >= 0 && strings.HasSuffix(line, ")") {
			name, mode = line[:i], line[i+2:len(line)-1]
		}
		out[name] = mode
	}
	return out
}

// detectSELinux follows go-selinux: SELinux is usable when selinuxfs is
// mounted (preferably at /sys/fs/selinux) and has its "enforce" file.
func detectSELinux(root string, mounts []*mountinfo.Info, mountsErr error) SELinux {
	s := SELinux{}
	if mountsErr != nil {
		s.Reason = fmt.Sprintf("cannot read /%s: %v", MountInfo, mountsErr)
		return s
	}
	var candidates []string
	for _, m := range mounts {
		if m.FSType != "selinuxfs" {
			continue
		}
		if m.Mountpoint == SELinuxDefault {
			candidates = append([]string{m.Mountpoint}, candidates...)
		} else {
			candidates = append(candidates, m.Mountpoint)
		}
	}
	if len(candidates) == 0 {
		s.Reason = "selinuxfs is not mounted"
		return s
	}
	for _, mp := range candidates {
		if _, err := os.Stat(filepath.Join(root, mp, "enforce")); err == nil {
			s.Enabled, s.Mount = true, mp
			return s
		}
	}
	s.Reason = "selinuxfs at " + candidates[0] + " has no enforce file"
	return s
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 64))
}

// AppArmorEnabled reports whether profiles can be applied, and if not why.
func (h Host) AppArmorEnabled() (bool, string) { return h.AppArmor.Enabled, h.AppArmor.Reason }

// AppArmorProfiles lists the loaded profiles.
func (h Host) AppArmorProfiles() (map[string]string, error) { return h.AppArmor.Profiles() }

// SELinuxEnabled reports whether labels can be applied, and if not why.
func (h Host) SELinuxEnabled() (bool, string) { return h.SELinux.Enabled, h.SELinux.Reason }
