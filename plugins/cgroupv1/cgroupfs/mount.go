// Package cgroupfs is the part of the cgroup v1 stage that touches the
// kernel: it finds the v1 hierarchies (and the cgroup2 mount of a hybrid
// host) in mountinfo, makes and removes the container's cgroup in each,
// writes the files a plan lists, and freezes, signals and reads them.
// Nothing assumes /sys/fs/cgroup/<name>: every hierarchy is where
// mountinfo says, co-mounted controllers (cpu,cpuacct) share a directory.
package cgroupfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	v2fs "github.com/rung-runtime/rung/plugins/cgroupv2/cgroupfs"
)

// Subsystems are the hierarchies runc's cgroupfs driver joins (and so
// this stage), in its order; others (name=elogind, ...) are left alone.
var Subsystems = []string{"cpuset", "devices", "memory", "cpu", "cpuacct", "pids", "blkio", "hugetlb",
	"net_cls", "net_prio", "perf_event", "freezer", "rdma", "name=systemd", "misc"}

// Hierarchy is one mounted cgroup v1 hierarchy.
type Hierarchy struct {
	// Subsystems are the known controllers (or "name=X") mounted together
	// here, e.g. [cpu cpuacct].
	Subsystems []string
	// Path is the mount point, e.g. /sys/fs/cgroup/memory.
	Path string
	// Root is the cgroup the mount shows at Path, as /proc/PID/cgroup names
	// it: "/" except under a cgroup namespace or a bind mount.
	Root string
}

// Dir is the directory of the cgroup rel ("/a/b", relative to the hierarchy's root).
func (h Hierarchy) Dir(rel string) string { return filepath.Join(h.Path, filepath.Clean("/"+rel)) }

// Has says whether subsystem is mounted in h.
func (h Hierarchy) Has(subsystem string) bool {
	for _, s := range h.Subsystems {
		if s == subsystem {
			return true
		}
	}
	return false
}

// Host is the cgroup layout of this host as mountinfo shows it.
type Host struct {
	// Hierarchies are the v1 hierarchies, sorted by mount point.
	Hierarchies []Hierarchy
	// Unified is the cgroup2 mount of a hybrid host; nil when there is none.
	Unified *v2fs.Mount
}

// ErrNoCgroupV1 says there is no cgroup v1 hierarchy this stage joins.
var ErrNoCgroupV1 = errors.New("no cgroup v1 hierarchy is mounted (see /proc/self/mountinfo); on a cgroup v2 host use rung-cgroupv2")

var ownHost v2fs.Derived[*Host]

// Find reads this process's mountinfo (again only once it changed). The
// Host it returns is shared: callers must not modify it.
func Find() (*Host, error) {
	h, err := ownHost.Derive(ParseMountinfo)
	if err != nil && !errors.Is(err, ErrNoCgroupV1) {
		return nil, fmt.Errorf("find the cgroup mounts: %w", err)
	}
	return h, err
}

// ParseMountinfo picks the cgroup mounts out of a mountinfo table. A
// hierarchy mounted more than once (bind mounts) is taken at the mount
// that shows its root, else at its first.
func ParseMountinfo(data []byte) (*Host, error) {
	mounts, err := mountinfo.GetMountsFromReader(bytes.NewReader(data), mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	type dev struct{ major, minor int }
	byDev := map[dev]int{}
	h := &Host{}
	for _, m := range mounts {
		var subs []string
		for _, o := range strings.Split(m.VFSOptions, ",") {
			for _, s := range Subsystems {
				if o == s {
					subs = append(subs, s)
				}
			}
		}
		if len(subs) == 0 {
			continue
		}
		d := dev{m.Major, m.Minor}
		hier := Hierarchy{Subsystems: subs, Path: filepath.Clean(m.Mountpoint), Root: m.Root}
		if i, seen := byDev[d]; seen {
			if h.Hierarchies[i].Root != "/" && m.Root == "/" {
				h.Hierarchies[i] = hier
			}
			continue
		}
		byDev[d] = len(h.Hierarchies)
		h.Hierarchies = append(h.Hierarchies, hier)
	}
	sort.Slice(h.Hierarchies, func(i, j int) bool { return h.Hierarchies[i].Path < h.Hierarchies[j].Path })
	if len(h.Hierarchies) == 0 {
		return nil, ErrNoCgroupV1
	}
	if u, err := v2fs.ParseMountinfo(bytes.NewReader(data)); err == nil {
		h.Unified = &u
	} else if !errors.Is(err, v2fs.ErrNoCgroup2) {
		return nil, err
	}
	return h, nil
}

// Hierarchy returns the hierarchy subsystem is mounted in.
func (h *Host) Hierarchy(subsystem string) (Hierarchy, bool) {
	for _, x := range h.Hierarchies {
		if x.Has(subsystem) {
			return x, true
		}
	}
	return Hierarchy{}, false
}

// Mounted says whether subsystem has a hierarchy.
func (h *Host) Mounted(subsystem string) bool {
	_, ok := h.Hierarchy(subsystem)
	return ok
}

// Paths maps every mounted subsystem to the directory of the cgroup rel
// in its hierarchy.
func (h *Host) Paths(rel string) Cgroup {
	c := Cgroup{}
	for _, x := range h.Hierarchies {
		for _, s := range x.Subsystems {
			c[s] = x.Dir(rel)
		}
	}
	return c
}

// Check makes sure dir is a cgroup strictly below the mount of the
// hierarchy that has subsystem, on a cgroup v1 filesystem, before anything
// destructive is done there: a stored state naming some other directory
// must not get its processes killed.
func (h *Host) Check(subsystem, dir string) error {
	x, ok := h.Hierarchy(subsystem)
	if !ok {
		return fmt.Errorf("the %s hierarchy is no longer mounted", subsystem)
	}
	if filepath.Clean(dir) != dir || !strings.HasPrefix(dir, x.Path+"/") {
		return fmt.Errorf("%s is not a cgroup below the %s hierarchy at %s", dir, subsystem, x.Path)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: dir, Err: err}
	}
	if st.Type != unix.CGROUP_SUPER_MAGIC {
		return fmt.Errorf("%s is not on a cgroup v1 filesystem", dir)
	}
	return nil
}

// ProcessCgroups maps each subsystem of h to the directory pid is in
// there ("" where that is outside what the mount shows).
func (h *Host) ProcessCgroups(pid int) (Cgroup, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	return h.parseProcCgroup(string(data)), nil
}

func (h *Host) parseProcCgroup(data string) Cgroup {
	out := Cgroup{}
	for _, line := range strings.Split(data, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue
		}
		for _, s := range strings.Split(parts[1], ",") {
			x, ok := h.Hierarchy(s)
			if !ok {
				continue
			}
			p := parts[2]
			if x.Root != "/" {
				if p != x.Root && !strings.HasPrefix(p, x.Root+"/") {
					out[s] = ""
					continue
				}
				p = strings.TrimPrefix(p, x.Root)
			}
			if strings.Contains("/"+p+"/", "/../") {
				out[s] = ""
				continue
			}
			out[s] = x.Dir(p)
		}
	}
	return out
}
