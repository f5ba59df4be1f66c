package testutil

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// LeakSnapshot is what already existed before a test, so the checker blames
// the test only for what it added.
type LeakSnapshot struct {
	procs   map[string]bool // "pid/starttime"
	mounts  map[string]bool
	cgroups map[string]bool
}

// Snapshot records the processes, mounts and cgroup directories that exist
// now. Take it at the start of a test, before the first container.
func Snapshot() *LeakSnapshot {
	s := &LeakSnapshot{procs: map[string]bool{}, mounts: map[string]bool{}, cgroups: map[string]bool{}}
	for _, p := range listProcs() {
		s.procs[p.key] = true
	}
	for _, m := range Mounts() {
		s.mounts[m.Point] = true
	}
	for _, d := range cgroupDirs() {
		s.cgroups[d] = true
	}
	return s
}

// Leak is one thing a container left behind.
type Leak struct{ Kind, What string }

func (l Leak) String() string { return l.Kind + ": " + l.What }

// CheckNoLeaks fails the test if, after a bounded wait for asynchronous
// teardown, anything of the test's containers remains: a process whose
// cmdline, environ or cwd names a container id or the test's temp dir
// (bundles, --root), a mount under that dir, a cgroup directory (cgroup2
// mount and every v1 hierarchy, found from /proc/self/mountinfo) whose name
// contains an id, a state dir <root>/<id>, or a fifo anywhere under the
// temp dir. ids are checked in addition to every id the test made through
// this package.
func CheckNoLeaks(t testing.TB, snap *LeakSnapshot, ids ...string) {
	t.Helper()
	s := sess(t)
	for _, id := range ids {
		s.addID(id)
	}
	var leaks []Leak
	Poll(func() bool {
		leaks = findLeaks(s, snap)
		return len(leaks) == 0
	})
	for _, l := range leaks {
		t.Errorf("leak: %s", l)
	}
}

// FindLeaks returns the leaks without failing the test (for tests that
// expect them, e.g. while a container still runs).
func FindLeaks(t testing.TB, snap *LeakSnapshot) []Leak {
	t.Helper()
	return findLeaks(sess(t), snap)
}

func findLeaks(s *session, snap *LeakSnapshot) []Leak {
	if snap == nil {
		snap = &LeakSnapshot{}
	}
	ids, paths := s.markers()
	var leaks []Leak
	for _, p := range matchingProcs(ids, paths) {
		if !snap.procs[p.key] {
			leaks = append(leaks, Leak{"process", fmt.Sprintf("pid %d %q", p.pid, p.cmdline)})
		}
	}
	for _, m := range matchingMounts(paths) {
		if !snap.mounts[m] {
			leaks = append(leaks, Leak{"mount", m})
		}
	}
	for _, d := range matchingCgroups(ids) {
		if !snap.cgroups[d] {
			leaks = append(leaks, Leak{"cgroup", d})
		}
	}
	s.mu.Lock()
	rts := append([]*Runtime(nil), s.rts...)
	s.mu.Unlock()
	for _, rt := range rts {
		for _, id := range ids {
			if _, err := os.Lstat(filepath.Join(rt.Root, id)); err == nil {
				leaks = append(leaks, Leak{"state dir", filepath.Join(rt.Root, id)})
			}
		}
	}
	for _, p := range paths {
		_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			// A rootfs's own /proc etc. are plain dirs on the host; nothing
			// to skip, but never descend into a leaked mount.
			if d.Type()&fs.ModeNamedPipe != 0 {
				leaks = append(leaks, Leak{"fifo", path})
			}
			return nil
		})
	}
	return leaks
}

type proc struct {
	pid     int
	key     string
	cmdline string
	environ string
	cwd     string
	zombie  bool
}

func listProcs() []proc {
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		dir := "/proc/" + e.Name()
		stat, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue
		}
		// Fields after the parenthesised comm: state is the first, starttime
		// the 20th; comm itself may contain spaces and parens.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		f := strings.Fields(string(rest))
		if len(f) < 20 {
			continue
		}
		p := proc{pid: pid, key: e.Name() + "/" + f[19], zombie: f[0] == "Z"}
		if b, err := os.ReadFile(dir + "/cmdline"); err == nil {
			p.cmdline = strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		}
		if b, err := os.ReadFile(dir + "/environ"); err == nil {
			p.environ = string(bytes.ReplaceAll(b, []byte{0}, []byte{'\n'}))
		}
		p.cwd, _ = os.Readlink(dir + "/cwd")
		out = append(out, p)
	}
	return out
}

func matchingProcs(ids, paths []string) []proc {
	var markers []string
	for _, m := range append(append([]string(nil), ids...), paths...) {
		// Belt and braces on top of addID: a short marker would match
		// unrelated processes, and cleanup kills what matches.
		if len(m) >= 14 {
			markers = append(markers, m)
		}
	}
	var out []proc
	for _, p := range listProcs() {
		// A zombie has no cmdline, environ or cwd left to match, and is its
		// parent's to reap rather than the runtime's leak.
		if p.zombie {
			continue
		}
		hit := false
		for _, m := range markers {
			if strings.Contains(p.cmdline, m) || strings.Contains(p.environ, m) || p.cwd == m || strings.HasPrefix(p.cwd, m+"/") {
				hit = true
				break
			}
		}
		if hit {
			out = append(out, p)
		}
	}
	return out
}

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	Point, FSType string
	// SuperOptions are the filesystem's own options (a v1 cgroup
	// hierarchy's controllers, say).
	SuperOptions string
}

// Mounts reads this process's /proc/self/mountinfo.
func Mounts() []Mount {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []Mount
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		i := 6
		for i < len(f) && f[i] != "-" {
			i++
		}
		if i+3 >= len(f) {
			continue
		}
		out = append(out, Mount{Point: UnescapeMount(f[4]), FSType: f[i+1], SuperOptions: f[i+3]})
	}
	return out
}

// UnescapeMount undoes mountinfo's octal escapes (\040 for a space).
func UnescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func matchingMounts(paths []string) []string {
	var out []string
	for _, m := range Mounts() {
		for _, p := range paths {
			if m.Point == p || strings.HasPrefix(m.Point, p+"/") {
				out = append(out, m.Point)
				break
			}
		}
	}
	return out
}

// cgroupRoots are the mount points of the cgroup2 hierarchy and of every v1
// hierarchy, as this host mounts them (hybrid: v1 under /sys/fs/cgroup/*,
// v2 at /sys/fs/cgroup/unified), never assumed.
func cgroupRoots() []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range Mounts() {
		if (m.FSType == "cgroup" || m.FSType == "cgroup2") && !seen[m.Point] {
			seen[m.Point] = true
			out = append(out, m.Point)
		}
	}
	return out
}

// cgroupDirs lists every cgroup directory, bounded in depth so a runaway
// hierarchy cannot stall the checker.
func cgroupDirs() []string {
	var out []string
	for _, root := range cgroupRoots() {
		depth0 := strings.Count(root, "/")
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if strings.Count(p, "/")-depth0 > 8 {
				return fs.SkipDir
			}
			if p != root {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

func matchingCgroups(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	var safe []string
	for _, id := range ids {
		if len(id) >= 14 {
			safe = append(safe, id)
		}
	}
	if len(safe) == 0 {
		return nil
	}
	ids = safe
	var out []string
	roots := cgroupRoots()
	for _, d := range cgroupDirs() {
		// The path below the hierarchy's root, so a runtime's sub-cgroups
		// (<id>/init) count as well.
		rel := d
		for _, r := range roots {
			if strings.HasPrefix(d, r+"/") {
				rel = strings.TrimPrefix(d, r)
				break
			}
		}
		for _, id := range ids {
			if strings.Contains(rel, id) {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// reapLeftovers removes what a failed test's containers left: it kills the
// processes (found by this test's unique markers, by pid), detaches mounts
// under the temp dir and removes cgroup dirs named after the ids. It is a
// last resort after `delete --force`, so one broken runtime build cannot
// poison the host for the tests that follow.
const maxReap = 32

// ancestors are this process and its parents up to pid 1: never to be
// killed, whatever they contain.
func ancestors() map[int]bool {
	out := map[int]bool{1: true, os.Getpid(): true}
	for pid := os.Getppid(); pid > 1 && !out[pid]; {
		out[pid] = true
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			break
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 2 {
			break
		}
		pid, _ = strconv.Atoi(f[1])
	}
	return out
}

func reapLeftovers(t testing.TB, ids, paths []string) {
	procs := matchingProcs(ids, paths)
	// A container is a handful of processes; many more means the matching is
	// wrong, and killing them would hit the host.
	if len(procs) > maxReap {
		t.Errorf("cleanup: %d processes match this test's markers; refusing to kill that many", len(procs))
		return
	}
	protected := ancestors()
	for _, p := range procs {
		if protected[p.pid] {
			continue
		}
		t.Logf("cleanup: killing leftover pid %d %q", p.pid, p.cmdline)
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
	if len(procs) > 0 {
		Poll(func() bool { return len(matchingProcs(ids, paths)) == 0 })
	}
	mounts := matchingMounts(paths)
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		t.Logf("cleanup: unmounting leftover %s", m)
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	cgs := matchingCgroups(ids)
	if len(cgs) > 4*maxReap {
		t.Errorf("cleanup: %d cgroups match this test's ids; refusing to remove them", len(cgs))
		return
	}
	// Deepest first: a cgroup with children cannot be removed.
	sort.Slice(cgs, func(i, j int) bool { return strings.Count(cgs[i], "/") > strings.Count(cgs[j], "/") })
	for _, d := range cgs {
		t.Logf("cleanup: removing leftover cgroup %s", d)
		if err := syscall.Rmdir(d); err != nil {
			t.Logf("cleanup: rmdir %s: %v", d, err)
		}
	}
}
