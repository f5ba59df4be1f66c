//go:build linux

package rootfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/procfs"
)

// mountCgroup gives the container its cgroup: a cgroup2 filesystem (for
// both "cgroup" and "cgroup2" mounts: rung manages cgroup v2 only), which in
// a cgroup namespace shows exactly the container's subtree. Where the
// kernel refuses that (EPERM: no cgroup namespace owned by our user
// namespace; EBUSY), the container's own cgroup directory on the host's
// cgroup2 mount is bound instead, as runc does.
func (r *root) mountCgroup(m specs.Mount, dest string, mo MountOptions) (*os.File, error) {
	target, err := r.mkdirAll(dest)
	if err != nil {
		return nil, fmt.Errorf("create mount point: %w", err)
	}
	if err := r.checkTarget(target, m, false); err != nil {
		target.Close()
		return nil, err
	}
	err = doMount("cgroup2", target, "cgroup2", mo.Flags, mo.Data)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY) {
		src, serr := ownCgroup2Dir()
		if serr != nil {
			err = fmt.Errorf("%w; binding the container's cgroup instead failed: %w", err, serr)
		} else {
			err = r.bindAndRemount(src, target, mo.Flags|unix.MS_BIND|unix.MS_REC, mo.Cleared)
			if err != nil {
				err = fmt.Errorf("bind the container's cgroup %q: %w", src, err)
			}
		}
	}
	if err != nil {
		target.Close()
		return nil, err
	}
	return target, nil
}

// ownCgroup2Dir finds this process's cgroup directory on the host's cgroup2
// mount, from /proc/self/cgroup and /proc/self/mountinfo (on hybrid hosts
// the cgroup2 mount is not at /sys/fs/cgroup).
func ownCgroup2Dir() (string, error) {
	b, err := procfs.ReadSelf("cgroup")
	if err != nil {
		return "", err
	}
	cg, err := parseCgroup2Path(b)
	if err != nil {
		return "", err
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup2"))
	if err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	if len(mounts) == 0 {
		return "", errors.New("no cgroup2 filesystem is mounted")
	}
	for _, mnt := range mounts {
		if p, ok := cgroupDirIn(mnt.Mountpoint, mnt.Root, cg); ok {
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("cgroup %q is not visible under any cgroup2 mount", cg)
}

// parseCgroup2Path returns the "0::" entry of /proc/self/cgroup.
func parseCgroup2Path(b []byte) (string, error) {
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if p, ok := strings.CutPrefix(s.Text(), "0::"); ok {
			return p, nil
		}
	}
	return "", errors.New("/proc/self/cgroup has no cgroup v2 entry")
}

// cgroupDirIn maps cgroup path cg to a directory under a cgroup2 mount at
// mountpoint whose root (as mountinfo shows it) is mroot. A root shown
// with ".." lies outside our cgroup namespace and cannot be mapped.
func cgroupDirIn(mountpoint, mroot, cg string) (string, bool) {
	if strings.Contains(mroot, "..") || strings.Contains(cg, "..") || !filepath.IsAbs(cg) {
		return "", false
	}
	rel, ok := strings.CutPrefix(cg, mroot)
	if mroot == "/" {
		rel, ok = cg, true
	} else if ok && rel != "" && !strings.HasPrefix(rel, "/") {
		ok = false
	}
	if !ok {
		return "", false
	}
	return filepath.Join(mountpoint, rel), true
}
