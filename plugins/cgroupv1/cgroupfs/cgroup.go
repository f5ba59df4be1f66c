package cgroupfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/plugins/cgroupv1/plan"
	v2fs "github.com/rung-runtime/rung/plugins/cgroupv2/cgroupfs"
	"github.com/rung-runtime/rung/plugins/cgroupv2/devfilter"
)

// DefaultTimeout bounds every wait (freeze, emptying, removal) whose
// context has no deadline of its own. It is cgroupv2's, as the waits are
// cgroupv2's Poll.
const DefaultTimeout = v2fs.DefaultTimeout

// Cgroup maps each subsystem the container joins ("memory",
// "name=systemd") to its directory in that hierarchy; co-mounted
// subsystems share a directory.
type Cgroup map[string]string

// Dirs returns the distinct directories, sorted.
func (c Cgroup) Dirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range c {
		if d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// ProcsDir is the directory whose cgroup.procs lists the container's
// processes: pids, memory or freezer (any hierarchy holds them all; these
// are the ones that cannot be absent without the limits noticing).
func (c Cgroup) ProcsDir() string {
	for _, s := range []string{"pids", "memory", "freezer", "devices"} {
		if d := c[s]; d != "" {
			return d
		}
	}
	if dirs := c.Dirs(); len(dirs) > 0 {
		return dirs[0]
	}
	return ""
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func parts(rel string) []string {
	return strings.Split(strings.Trim(filepath.Clean("/"+rel), "/"), "/")
}

// Create makes the cgroup rel, and any missing parent, in every hierarchy
// of h and returns it with the directories it made, outermost first within
// each hierarchy, so that only those are removed later. An existing empty
// cgroup is reused (as runc does); one with processes in it is refused, as
// it belongs to someone else. On an error nothing made is left.
func Create(h *Host, rel string) (c Cgroup, created []string, err error) {
	defer func() {
		if err != nil {
			for i := len(created) - 1; i >= 0; i-- {
				_ = unix.Rmdir(created[i])
			}
			created = nil
		}
	}()
	for _, x := range h.Hierarchies {
		made, err := makeIn(x, rel)
		created = append(created, made...)
		if err != nil {
			return nil, created, err
		}
	}
	c = h.Paths(rel)
	for _, dir := range c.Dirs() {
		if slicesContains(created, dir) {
			continue
		}
		pids, err := v2fs.Procs(dir)
		if err != nil {
			return nil, created, err
		}
		if len(pids) > 0 {
			return nil, created, fmt.Errorf("cgroup %s already exists and has processes in it (is another container using it?)", dir)
		}
	}
	return c, created, nil
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// makeIn makes rel in one hierarchy. A concurrent Destroy may remove a
// shared parent (the default /rung) between two mkdirs, or between its
// mkdir and reading its cpuset; the walk then starts over a few times.
func makeIn(x Hierarchy, rel string) (made []string, err error) {
	leaf := x.Dir(rel)
	for attempt := 0; ; attempt++ {
		dir := x.Path
		retry := false
		for _, p := range parts(rel) {
			parent := dir
			dir = filepath.Join(dir, p)
			switch err := unix.Mkdir(dir, 0o755); err {
			case nil:
				made = append(made, dir)
			case unix.EEXIST:
				if dir != leaf {
					// A parent another create has just made may not have
					// its cpus and mems yet: copying an empty value down
					// would leave ours unjoinable (ENOSPC), so fill an
					// empty one first, as runc's cpusetEnsureParent does.
					// One with values is left alone.
					if x.Has("cpuset") {
						err := cpusetInherit(dir, parent)
						if v2fs.Gone(err) && attempt < v2fs.RemovalRetries {
							// Removed between our mkdir and the read.
							retry = true
							break
						}
						if err != nil {
							return made, err
						}
					}
					continue
				}
			case unix.ENOENT:
				if attempt >= v2fs.RemovalRetries {
					return made, &os.PathError{Op: "mkdir", Path: dir, Err: err}
				}
				retry = true
			default:
				return made, &os.PathError{Op: "mkdir", Path: dir, Err: err}
			}
			if retry {
				break
			}
			if x.Has("cpuset") {
				// A new cpuset has no cpus or mems, and no process can
				// join it so: runc copies the parent's. A shared parent
				// we made can be removed by a Destroy before our leaf is
				// in it.
				err := cpusetInherit(dir, parent)
				if v2fs.Gone(err) && dir != leaf && attempt < v2fs.RemovalRetries {
					retry = true
					break
				}
				if err != nil {
					return made, err
				}
			}
		}
		if !retry {
			return made, nil
		}
	}
}

func cpusetInherit(dir, parent string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := v2fs.ReadFile(dir, f)
		if err != nil {
			return err
		}
		if strings.TrimSpace(cur) != "" {
			continue
		}
		val, err := v2fs.ReadFile(parent, f)
		if err != nil {
			return err
		}
		if err := v2fs.WriteFile(dir, f, strings.TrimSpace(val)); err != nil {
			return err
		}
	}
	return nil
}

// Apply carries out the writes of a plan on the container's cgroup, in order.
func Apply(c Cgroup, writes []plan.Write) error {
	for _, w := range writes {
		if err := apply(c, w); err != nil {
			return err
		}
	}
	return nil
}

func apply(c Cgroup, w plan.Write) error {
	dir := c[w.Controller]
	if dir == "" {
		if w.IfExists || w.BestEffort {
			return nil
		}
		return fmt.Errorf("%s: the %s controller has no cgroup v1 hierarchy mounted here", w.Field, w.Controller)
	}
	// An Else is a file of the same controller (blkio's CFQ and BFQ
	// weights), so it is looked for in dir as well.
	w, ok := v2fs.Resolve(dir, w)
	if !ok {
		switch {
		case w.IfExists || w.BestEffort:
			return nil
		case !exists(dir):
			return fmt.Errorf("%s: cgroup %s does not exist", w.Field, dir)
		}
		return fmt.Errorf("%s: %s does not exist in %s (not supported by this kernel)", w.Field, w.File, dir)
	}
	err := v2fs.WriteFile(dir, w.File, w.Value)
	if err == nil || w.BestEffort {
		return nil
	}
	if w.File == "memory.limit_in_bytes" && errors.Is(err, unix.EBUSY) {
		// runc's message: the kernel cannot reclaim below the usage.
		usage, _ := v2fs.ReadFile(dir, "memory.usage_in_bytes")
		peak, _ := v2fs.ReadFile(dir, "memory.max_usage_in_bytes")
		return fmt.Errorf("%s: unable to set memory limit to %s (current usage: %s, peak usage: %s): %w",
			w.Field, w.Value, strings.TrimSpace(usage), strings.TrimSpace(peak), err)
	}
	return fmt.Errorf("%s: %w", w.Field, err)
}

// ApplyDevices brings the devices cgroup at dir to target with the fewest
// writes (plan.DeviceWrites) and checks the result, as runc does.
func ApplyDevices(dir string, target devfilter.Filter) error {
	list, err := v2fs.ReadFile(dir, "devices.list")
	if err != nil {
		return err
	}
	cur, err := plan.ParseDevicesList(list)
	if err != nil {
		return err
	}
	for _, w := range plan.DeviceWrites(cur, target) {
		if err := v2fs.WriteFile(dir, w.File, w.Value); err != nil {
			return err
		}
	}
	list, err = v2fs.ReadFile(dir, "devices.list")
	if err != nil {
		return err
	}
	after, err := plan.ParseDevicesList(list)
	if err != nil {
		return err
	}
	// The kernel does not list the exceptions of an allow-all cgroup; for
	// it only the mode can be checked.
	if after.DefaultAllow != target.DefaultAllow || (!target.DefaultAllow && !sameRules(after.Exceptions, target.Exceptions)) {
		return fmt.Errorf("the devices cgroup %s does not match the rules after writing them (devices.list: %q)", dir, strings.TrimSpace(list))
	}
	return nil
}

func sameRules(a, b []devfilter.Rule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// poll calls cond every few milliseconds until it holds, fails, or ctx
// ends: cgroup v1 has no file that signals emptiness or a finished freeze,
// so unlike cgroup2's waits the interval does not grow.
func poll(ctx context.Context, what string, cond func() (bool, error)) error {
	return v2fs.Poll(ctx, what, 2*time.Millisecond, 2*time.Millisecond, cond)
}

// FreezerState reads freezer.state: THAWED, FREEZING or FROZEN.
func FreezerState(dir string) (string, error) {
	s, err := v2fs.ReadFile(dir, "freezer.state")
	return strings.TrimSpace(s), err
}

// Freeze freezes the cgroup and waits until the kernel reports FROZEN. A
// v1 cgroup can stay FREEZING while processes keep appearing in it; like
// runc, the freeze is written again, with an occasional thaw to let a
// racing fork finish. If it does not freeze in time it is thawed again, so
// a failed pause leaves the container running rather than half frozen.
func Freeze(ctx context.Context, dir string) (err error) {
	defer func() {
		if err != nil {
			_ = v2fs.WriteFile(dir, "freezer.state", "THAWED")
		}
	}()
	i := 0
	return poll(ctx, "the cgroup "+dir+" to freeze", func() (bool, error) {
		i++
		if i%50 == 0 {
			if err := v2fs.WriteFile(dir, "freezer.state", "THAWED"); err != nil {
				return false, err
			}
		}
		if err := v2fs.WriteFile(dir, "freezer.state", "FROZEN"); err != nil {
			return false, err
		}
		st, err := FreezerState(dir)
		switch {
		case err != nil:
			return false, err
		case st == "FROZEN":
			return true, nil
		case st == "FREEZING":
			return false, nil
		}
		return false, fmt.Errorf("unexpected freezer.state %q while freezing %s", st, dir)
	})
}

// Thaw thaws the cgroup and waits until it reads back THAWED.
func Thaw(ctx context.Context, dir string) error {
	if err := v2fs.WriteFile(dir, "freezer.state", "THAWED"); err != nil {
		return err
	}
	return poll(ctx, "the cgroup "+dir+" to thaw", func() (bool, error) {
		st, err := FreezerState(dir)
		return st == "THAWED", err
	})
}

// Signal sends sig to every process of the container: frozen first when
// there is a freezer, so that none forks a child past the signal, and
// thawed after, so that the signal is acted on. Processes that exit
// meanwhile are not an error. A process in any of the container's
// directories counts: the host may have placed one in some hierarchies only.
func Signal(ctx context.Context, c Cgroup, sig syscall.Signal) error {
	fz := c["freezer"]
	if fz != "" {
		if err := Freeze(ctx, fz); err != nil {
			return err
		}
	}
	pids, err := AllPids(c)
	for _, pid := range pids {
		if kerr := unix.Kill(pid, sig); kerr != nil && kerr != unix.ESRCH && err == nil {
			err = fmt.Errorf("signal %d to pid %d: %w", sig, pid, kerr)
		}
	}
	if fz != "" {
		if terr := Thaw(ctx, fz); err == nil {
			err = terr
		}
	}
	return err
}

// AllPids lists the processes in any of the container's directories and
// their children, sorted; a directory already gone has none.
func AllPids(c Cgroup) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for _, d := range c.Dirs() {
		pids, err := v2fs.AllPids(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, p := range pids {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Ints(out)
	return out, nil
}

// Remove kills what runs in the container's cgroup and removes its
// directory (with any child cgroups, leaf first) in every hierarchy. A
// directory that does not exist is removed already.
func Remove(ctx context.Context, all Cgroup) error {
	c := Cgroup{}
	for sub, d := range all {
		// The usual delete finds the processes gone and no child cgroups:
		// one rmdir a hierarchy, and the slow path for what is still busy.
		switch err := unix.Rmdir(d); err {
		case nil, unix.ENOENT:
			continue
		}
		if exists(d) {
			c[sub] = d
		}
	}
	if len(c) == 0 {
		return nil
	}
	if fz := c["freezer"]; fz != "" {
		// A frozen process dies only once it can run again.
		if st, err := FreezerState(fz); err == nil && st != "THAWED" {
			_ = v2fs.WriteFile(fz, "freezer.state", "THAWED")
		}
	}
	err := poll(ctx, "the processes of "+c.ProcsDir()+" to exit", func() (bool, error) {
		pids, err := AllPids(c)
		if err != nil || len(pids) == 0 {
			return err == nil, err
		}
		// Kill again on every round: a process may have forked, or have
		// been placed in one hierarchy after the last look.
		if err := Signal(ctx, c, unix.SIGKILL); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	for _, d := range c.Dirs() {
		// Empty now, a v1 cgroup is removed as a v2 one is: rmdir leaf
		// first, retried while the kernel still finishes with it.
		if err := v2fs.RemoveTree(ctx, d); err != nil {
			return err
		}
	}
	return nil
}
