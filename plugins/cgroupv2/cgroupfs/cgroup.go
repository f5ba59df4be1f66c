package cgroupfs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/plugins/cgroupv2/plan"
)

// DefaultTimeout bounds every wait (freeze, emptying, removal) whose context
// has no deadline of its own.
const DefaultTimeout = 10 * time.Second

// ReadFile reads one interface file of the cgroup at dir.
func ReadFile(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	return string(b), err
}

// WriteFile writes value to one interface file in a single write(2), as
// the kernel parses one record per write. It never creates the file.
func WriteFile(dir, name, value string) error {
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_WRONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(value))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// KeyValues parses a flat keyed file ("key value" lines) such as
// cgroup.events, memory.events or cpu.stat.
func KeyValues(dir, name string) (map[string]uint64, error) {
	data, err := ReadFile(dir, name)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(data, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// Controllers returns the controllers listed in dir's cgroup.controllers
// (those its children may use once enabled in its cgroup.subtree_control).
func Controllers(dir string) (map[string]bool, error) {
	data, err := ReadFile(dir, "cgroup.controllers")
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, c := range strings.Fields(data) {
		out[c] = true
	}
	return out, nil
}

// Create makes the cgroup rel and any missing parents and returns the
// directories it made, outermost first, so that only those are removed
// later. An existing empty cgroup is reused (as runc does); one with
// processes in it is refused, as it belongs to someone else.
func Create(m Mount, rel string) (created []string, err error) {
	defer func() {
		if err != nil {
			for i := len(created) - 1; i >= 0; i-- {
				_ = unix.Rmdir(created[i])
			}
			created = nil
		}
	}()
	leaf := m.Dir(rel)
	parts := strings.Split(strings.Trim(filepath.Clean("/"+rel), "/"), "/")
	dir := m.Path
	for i, p := range parts {
		dir = filepath.Join(dir, p)
		// A concurrent Destroy may rmdir a shared parent we just saw; then
		// the next mkdir gets ENOENT and the walk starts over.
		for attempt := 0; ; attempt++ {
			err := unix.Mkdir(dir, 0o755)
			if err == nil {
				created = append(created, dir)
				break
			}
			if err == unix.EEXIST {
				break
			}
			if err == unix.ENOENT && i > 0 && attempt < RemovalRetries {
				if e := unix.Mkdir(filepath.Dir(dir), 0o755); e == nil {
					created = append(created, filepath.Dir(dir))
				}
				continue
			}
			return created, &os.PathError{Op: "mkdir", Path: dir, Err: err}
		}
	}
	if len(created) == 0 || created[len(created)-1] != leaf {
		pop, err := Populated(leaf)
		if err != nil {
			return created, err
		}
		if pop {
			return created, fmt.Errorf("cgroup %s already exists and has processes in it (is another container using it?)", leaf)
		}
	}
	return created, nil
}

// EnableControllers enables in every ancestor of rel, from the mount root
// down, each controller that ancestor has, as runc does, so that later
// updates and stats find their files. The mount root itself is the host's:
// there only the controllers in need are enabled, so that on a hybrid host
// running a container does not turn on controllers host-wide. A controller
// in need that cannot be enabled is an error; the others are skipped.
func EnableControllers(m Mount, rel string, need []string) error {
	needed := map[string]bool{}
	for _, c := range need {
		needed[c] = true
	}
	parts := strings.Split(strings.Trim(filepath.Clean("/"+rel), "/"), "/")
	dir := m.Path
	for i := 0; i < len(parts); i++ {
		avail, err := Controllers(dir)
		if err != nil {
			return err
		}
		for c := range needed {
			if !avail[c] {
				return fmt.Errorf("%s controller is not available in %s", c, dir)
			}
		}
		on, err := ReadFile(dir, "cgroup.subtree_control")
		if err != nil {
			return err
		}
		enabled := map[string]bool{}
		for _, c := range strings.Fields(on) {
			enabled[c] = true
		}
		names := make([]string, 0, len(avail))
		for c := range avail {
			names = append(names, c)
		}
		sort.Strings(names)
		for _, c := range names {
			if enabled[c] || (dir == m.Path && !needed[c]) {
				continue
			}
			if err := WriteFile(dir, "cgroup.subtree_control", "+"+c); err != nil && needed[c] {
				return fmt.Errorf("enable the %s controller: %w", c, err)
			}
		}
		dir = filepath.Join(dir, parts[i])
	}
	return nil
}

// Apply carries out the writes of a plan on the cgroup at dir, in order.
func Apply(dir string, writes []plan.Write) error {
	for _, w := range writes {
		if err := apply(dir, w); err != nil {
			return err
		}
	}
	return nil
}

func apply(dir string, w plan.Write) error {
	w, ok := Resolve(dir, w)
	if !ok {
		switch {
		case w.IfExists || w.BestEffort:
			return nil
		case w.Controller != "" && !exists(filepath.Join(dir, "cgroup.controllers")):
			return fmt.Errorf("%s: cgroup %s does not exist", w.Field, dir)
		case w.Controller != "":
			return fmt.Errorf("%s: %s does not exist; is the %s controller enabled for %s?", w.Field, w.File, w.Controller, dir)
		}
		return fmt.Errorf("%s: %s does not exist in %s", w.Field, w.File, dir)
	}
	if err := WriteFile(dir, w.File, w.Value); err != nil && !w.BestEffort {
		return fmt.Errorf("%s: %w", w.Field, err)
	}
	return nil
}

// Resolve follows w's Else chain to the write to carry out in dir: the
// first whose file exists there. When none does, ok is false and the last
// of the chain comes back, for the caller to skip (IfExists, BestEffort) or
// to report in its own words. Both drivers apply writes through it, so a
// fallback file means the same to each.
func Resolve(dir string, w plan.Write) (_ plan.Write, ok bool) {
	for !exists(filepath.Join(dir, w.File)) {
		if w.Else == nil {
			return w, false
		}
		w = *w.Else
	}
	return w, true
}

// Populated reports whether the cgroup or any descendant has processes.
func Populated(dir string) (bool, error) {
	ev, err := KeyValues(dir, "cgroup.events")
	if err != nil {
		return false, err
	}
	return ev["populated"] == 1, nil
}

// Frozen reports whether the cgroup is (completely) frozen.
func Frozen(dir string) (bool, error) {
	ev, err := KeyValues(dir, "cgroup.events")
	if err != nil {
		return false, err
	}
	return ev["frozen"] == 1, nil
}

// Procs lists the processes directly in the cgroup.
func Procs(dir string) ([]int, error) {
	data, err := ReadFile(dir, "cgroup.procs")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(data) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// AllPids lists the processes in the cgroup and all its descendants.
func AllPids(dir string) ([]int, error) {
	leaf, err := isLeaf(dir)
	if err != nil {
		return nil, err
	}
	if leaf {
		return Procs(dir)
	}
	var pids []int
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// A child cgroup removed during the walk is not an error.
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		ps, err := Procs(p)
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		pids = append(pids, ps...)
		return nil
	})
	return pids, err
}

// Gone says err is what a cgroup removed under us gives: ENOENT for a
// path that no longer resolves, ENODEV for a file opened before the rmdir.
func Gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV)
}

// RemovalRetries bounds how often a walk over cgroups starts over because a
// concurrent Destroy removed a shared parent (the default /rung) under it.
const RemovalRetries = 5

// isLeaf says whether the cgroup at dir has no child cgroups, from its
// link count: kernfs keeps a directory's at 2 plus its subdirectories, so
// 2 answers without listing the dozens of control files a cgroup has (on
// delete, once per hierarchy: a third of a v1 Destroy). Any other count,
// including a file system that does not keep one, means look.
func isLeaf(dir string) (bool, error) {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return false, &os.PathError{Op: "lstat", Path: dir, Err: err}
	}
	return st.Nlink == 2, nil
}

// AddProc moves pid into the cgroup.
func AddProc(dir string, pid int) error {
	return WriteFile(dir, "cgroup.procs", strconv.Itoa(pid))
}

func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// waitFor polls cond with a growing interval until it is true, it fails, or
// ctx ends. Only the cgroup.events file can tell when the kernel is done,
// and polling it is cheap.
func waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	return Poll(ctx, what, time.Millisecond, 50*time.Millisecond, cond)
}

// Poll calls cond until it is true, it fails, or ctx ends (after
// DefaultTimeout if ctx has no deadline), waiting first between calls and
// doubling that up to most. It is the one wait loop of both drivers; the
// cgroup v1 one, with no file that signals a change, polls at a fixed
// interval (first == most).
func Poll(ctx context.Context, what string, first, most time.Duration, cond func() (bool, error)) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	delay := first
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s: %w", what, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, most)
	}
}

// Freeze freezes the cgroup and waits until every process in it is frozen.
// If that does not happen in time the cgroup is thawed again, so a failed
// pause leaves the container running rather than half frozen.
func Freeze(ctx context.Context, dir string) error {
	if err := WriteFile(dir, "cgroup.freeze", "1"); err != nil {
		return err
	}
	err := waitFor(ctx, "the cgroup "+dir+" to freeze", func() (bool, error) { return Frozen(dir) })
	if err != nil {
		_ = WriteFile(dir, "cgroup.freeze", "0")
	}
	return err
}

// Thaw unfreezes the cgroup and waits until it is no longer frozen.
func Thaw(ctx context.Context, dir string) error {
	if err := WriteFile(dir, "cgroup.freeze", "0"); err != nil {
		return err
	}
	return waitFor(ctx, "the cgroup "+dir+" to thaw", func() (bool, error) {
		f, err := Frozen(dir)
		return !f, err
	})
}

// Signal sends sig to every process in the cgroup and its descendants.
// Processes that exit meanwhile are not an error.
func Signal(dir string, sig syscall.Signal) error {
	pids, err := AllPids(dir)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
			return fmt.Errorf("signal %d to pid %d: %w", sig, pid, err)
		}
	}
	return nil
}

// Kill kills every process in the cgroup tree: with cgroup.kill (5.14+) in
// one atomic step, else by freezing (so nothing forks), SIGKILLing each
// process and thawing so the kills are delivered.
func Kill(ctx context.Context, dir string) error {
	if exists(filepath.Join(dir, "cgroup.kill")) {
		return WriteFile(dir, "cgroup.kill", "1")
	}
	frozeErr := Freeze(ctx, dir)
	err := Signal(dir, unix.SIGKILL)
	if frozeErr == nil {
		if terr := Thaw(ctx, dir); err == nil {
			err = terr
		}
	}
	return err
}

// WaitEmpty waits until no process is left in the cgroup tree.
func WaitEmpty(ctx context.Context, dir string) error {
	return waitFor(ctx, "the processes of "+dir+" to exit", func() (bool, error) {
		pop, err := Populated(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil
		}
		return !pop, err
	})
}

// Remove kills what runs in the cgroup at dir and removes it with every
// child cgroup, leaf first. A cgroup that does not exist is removed already.
func Remove(ctx context.Context, dir string) error {
	// The usual delete finds the processes gone and no child cgroups: one
	// rmdir, and the slow path only for a cgroup that is still busy.
	switch unix.Rmdir(dir) {
	case nil, unix.ENOENT:
		return nil
	}
	if !exists(dir) {
		return nil
	}
	// Thaw first: a frozen process dies only once it can run again.
	if f, err := Frozen(dir); err == nil && f {
		_ = WriteFile(dir, "cgroup.freeze", "0")
	}
	if pop, err := Populated(dir); err == nil && pop {
		if err := Kill(ctx, dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("kill the processes of %s: %w", dir, err)
		}
		if err := WaitEmpty(ctx, dir); err != nil {
			return err
		}
	}
	return RemoveTree(ctx, dir)
}

// RemoveTree removes the cgroup at dir and every child cgroup, leaf first,
// once no process is left in them: it kills nothing and does not wait for
// processes, only for the kernel to let go of an emptied cgroup. A cgroup
// that does not exist is removed already. Remove uses it after emptying a
// cgroup2 tree; the cgroup v1 driver, which empties its hierarchies its own
// way, uses it directly.
func RemoveTree(ctx context.Context, dir string) error {
	leaf, err := isLeaf(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !leaf {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.IsDir() {
				if err := RemoveTree(ctx, filepath.Join(dir, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	// A cgroup whose last process has just exited can stay busy for a
	// moment while the kernel finishes with it.
	return waitFor(ctx, "the removal of "+dir, func() (bool, error) {
		err := unix.Rmdir(dir)
		switch err {
		case nil, unix.ENOENT:
			return true, nil
		case unix.EBUSY:
			return false, nil
		}
		return false, &os.PathError{Op: "rmdir", Path: dir, Err: err}
	})
}

// RemoveIfEmpty removes dirs (innermost last in the list, removed first)
// that are now empty cgroups; one still in use by another container stays.
func RemoveIfEmpty(dirs []string) error {
	for i := len(dirs) - 1; i >= 0; i-- {
		err := unix.Rmdir(dirs[i])
		switch err {
		case nil, unix.ENOENT, unix.EBUSY, unix.ENOTEMPTY:
		default:
			return &os.PathError{Op: "rmdir", Path: dirs[i], Err: err}
		}
	}
	return nil
}

// OOMKills reads the oom_kill counter of memory.events; ok is false when
// the file is missing (memory controller not enabled).
func OOMKills(dir string) (n uint64, ok bool, err error) {
	ev, err := KeyValues(dir, "memory.events")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return ev["oom_kill"], true, nil
}

// scanLines calls fn on each line of a file; a missing file calls it never.
func scanLines(p string, fn func(string)) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fn(s.Text())
	}
	return s.Err()
}
