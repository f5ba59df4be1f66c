// Package cgroupfs is the part of the cgroup v2 stage that touches the
// kernel: it finds the cgroup2 mount, makes and removes cgroups, writes the
// files a plan.Plan lists, and freezes, signals and reads a cgroup. Nothing
// here assumes /sys/fs/cgroup or a pure v2 host: on a hybrid host the cgroup2
// mount is wherever mountinfo says (/sys/fs/cgroup/unified, typically).
package cgroupfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Mount is a cgroup2 mount.
type Mount struct {
	// Path is the mount point, e.g. /sys/fs/cgroup/unified.
	Path string
	// Root is the cgroup the mount shows at Path, as /proc/PID/cgroup would
	// name it; "/" except under a cgroup namespace or a bind mount.
	Root string
}

// ErrNoCgroup2 says there is no cgroup2 mount.
var ErrNoCgroup2 = errors.New("no cgroup2 filesystem is mounted (see /proc/self/mountinfo)")

var ownMount Derived[Mount]

// FindMount returns this process's cgroup2 mount.
func FindMount() (Mount, error) {
	m, err := ownMount.Derive(func(data []byte) (Mount, error) { return ParseMountinfo(bytes.NewReader(data)) })
	if err != nil && !errors.Is(err, ErrNoCgroup2) {
		return Mount{}, fmt.Errorf("find the cgroup2 mount: %w", err)
	}
	return m, err
}

// ParseMountinfo picks the cgroup2 mount out of a mountinfo table. With
// several, the one whose root is "/" wins, then the first: the full
// hierarchy is the one to make cgroups in.
func ParseMountinfo(r io.Reader) (Mount, error) {
	mounts, err := mountinfo.GetMountsFromReader(r, mountinfo.FSTypeFilter("cgroup2"))
	if err != nil {
		return Mount{}, fmt.Errorf("read mountinfo: %w", err)
	}
	if len(mounts) == 0 {
		return Mount{}, ErrNoCgroup2
	}
	best := mounts[0]
	for _, m := range mounts {
		if m.Root == "/" {
			best = m
			break
		}
	}
	return Mount{Path: filepath.Clean(best.Mountpoint), Root: best.Root}, nil
}

// Dir is the directory of the cgroup rel ("/a/b", relative to the mount root).
func (m Mount) Dir(rel string) string { return filepath.Join(m.Path, filepath.Clean("/"+rel)) }

// Check makes sure dir is a cgroup strictly below the mount, on a cgroup2
// filesystem, before anything destructive is done there: a stored state
// naming some other directory must not get its "cgroup.procs" killed.
func (m Mount) Check(dir string) error {
	clean := filepath.Clean(dir)
	if clean != dir || !strings.HasPrefix(dir, m.Path+"/") {
		return fmt.Errorf("%s is not a cgroup below the cgroup2 mount %s", dir, m.Path)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: dir, Err: err}
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("%s is not on a cgroup2 filesystem", dir)
	}
	return nil
}

// NearestExisting returns the deepest existing directory on the way to rel:
// the cgroup itself if it exists, else the ancestor it would be made in.
func (m Mount) NearestExisting(rel string) string {
	dir := m.Dir(rel)
	for dir != m.Path {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
		dir = filepath.Dir(dir)
	}
	return m.Path
}

// NearestControllers returns NearestExisting(rel) and the controllers
// listed there: those a cgroup made at rel can get. That directory may be a
// shared parent another container's Destroy removes as it is read (ENODEV,
// seen in CI); it is then looked for again, as Create's walk does.
func (m Mount) NearestControllers(rel string) (string, map[string]bool, error) {
	for attempt := 0; ; attempt++ {
		dir := m.NearestExisting(rel)
		avail, err := Controllers(dir)
		if err == nil || !Gone(err) || attempt == RemovalRetries {
			return dir, avail, err
		}
	}
}

// ProcessCgroup returns the directory of pid's cgroup v2 cgroup ("0::" line
// of /proc/PID/cgroup) under m, or "" if it is outside what m shows.
func (m Mount) ProcessCgroup(pid int) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	return m.cgroupLine(string(data), pid)
}

func (m Mount) cgroupLine(data string, pid int) (string, error) {
	for _, line := range strings.Split(data, "\n") {
		p, ok := strings.CutPrefix(line, "0::")
		if !ok {
			continue
		}
		// A process outside our cgroup namespace shows as "/../x".
		p = strings.TrimSuffix(p, " (deleted)")
		if m.Root != "/" {
			if p != m.Root && !strings.HasPrefix(p, m.Root+"/") {
				return "", nil
			}
			p = strings.TrimPrefix(p, m.Root)
		}
		if strings.Contains("/"+p+"/", "/../") {
			return "", nil
		}
		return m.Dir(p), nil
	}
	return "", fmt.Errorf("pid %d has no cgroup v2 membership in /proc/%d/cgroup", pid, pid)
}
