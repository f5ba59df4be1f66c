package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/plugins/cgroupv2/cgroupfs"
	"github.com/rung-runtime/rung/plugins/cgroupv2/devfilter"
	"github.com/rung-runtime/rung/plugins/cgroupv2/plan"
	"github.com/rung-runtime/rung/plugins/internal/cgroupstage"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
)

const (
	version = "0.1.0"

	// State keys.
	statePath    = "path"    // absolute cgroup directory
	stateMount   = "mount"   // the cgroup2 mount point it is under
	stateCreated = "created" // JSON array of the directories Prepare made, outermost first
)

type stage struct {
	sdk.Base
	// findMount is swapped in tests.
	findMount func() (cgroupfs.Mount, error)
	// hugePageDir lists the host's huge page sizes.
	hugePageDir string
	log         hclog.Logger
}

func newStage() *stage {
	return &stage{findMount: cgroupfs.FindMount, hugePageDir: "/sys/kernel/mm/hugepages", log: sdk.Logger().Named("cgroupv2")}
}

var features = json.RawMessage(`{"linux":{"cgroup":{"v1":false,"v2":true,"systemd":false,"systemdUser":false,"rdma":true}}}`)

func (s *stage) Describe(context.Context) (sdk.Description, error) {
	return cgroupstage.Description("rung-cgroupv2", version, features), nil
}

// checked is a validated spec: where its cgroup goes and what to write.
type checked struct {
	mount cgroupfs.Mount
	rel   string
	dir   string
	plan  *plan.Plan
}

// check does all of Validate's work and returns the FieldErrors, or the
// resolved target when there are none.
func (s *stage) check(c *sdk.Container) (*checked, []sdk.FieldError, error) {
	rel, err := plan.CgroupPath(cgroupstage.CgroupsPathOf(c.Spec), c.ID)
	if err != nil {
		return nil, []sdk.FieldError{{Field: "linux.cgroupsPath", Message: err.Error()}}, nil
	}
	m, err := s.findMount()
	if err != nil {
		return nil, nil, fmt.Errorf("container %s: cgroups stage: %w", c.ID, err)
	}
	p, errs := plan.Resources(cgroupstage.ResourcesOf(c.Spec), plan.Options{})
	if len(errs) > 0 {
		return nil, errs, nil
	}
	// The controllers a new cgroup can get are those of the cgroup it is
	// made in (for an existing one, its parent's, which enables them).
	parent, avail, err := m.NearestControllers(filepath.Dir(rel))
	if err != nil {
		return nil, nil, fmt.Errorf("container %s: cgroups stage: read the controllers of %s: %w", c.ID, parent, err)
	}
	errs = plan.CheckAvailable(p, avail, parent)
	errs = append(errs, s.checkPageSizes(p)...)
	if len(errs) > 0 {
		return nil, errs, nil
	}
	return &checked{mount: m, rel: rel, dir: m.Dir(rel), plan: p}, nil, nil
}

// checkPageSizes refuses hugepageLimits for page sizes the host lacks.
func (s *stage) checkPageSizes(p *plan.Plan) []sdk.FieldError {
	sizes := p.PageSizes()
	if len(sizes) == 0 {
		return nil
	}
	have := map[string]bool{}
	entries, _ := os.ReadDir(s.hugePageDir)
	for _, e := range entries {
		if kb, ok := strings.CutPrefix(e.Name(), "hugepages-"); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(kb, "kB"), 10, 64); err == nil {
				have[pageSizeName(n)] = true
			}
		}
	}
	var list []string
	for h := range have {
		list = append(list, h)
	}
	sort.Strings(list)
	return cgroupstage.CheckPageSizes(sizes, list)
}

// pageSizeName spells a size in kB as the hugetlb controller names it ("2MB").
func pageSizeName(kb uint64) string {
	units := []string{"KB", "MB", "GB", "TB", "PB"}
	i := 0
	for kb >= 1024 && kb%1024 == 0 && i < len(units)-1 {
		kb /= 1024
		i++
	}
	return fmt.Sprintf("%d%s", kb, units[i])
}

func (s *stage) Validate(_ context.Context, c *sdk.Container) ([]sdk.FieldError, error) {
	_, errs, err := s.check(c)
	return errs, err
}

func (s *stage) Prepare(ctx context.Context, c *sdk.Container) (_ *sdk.Plan, err error) {
	t, errs, err := s.check(c)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, cgroupstage.FieldErrors(errs)
	}
	for _, n := range t.plan.Notes {
		s.log.Info(n, "container", c.ID)
	}
	created, err := cgroupfs.Create(t.mount, t.rel)
	if err != nil {
		return nil, fmt.Errorf("container %s: create cgroup: %w", c.ID, err)
	}
	defer func() {
		if err == nil {
			return
		}
		// Leave nothing behind that the host has no state for.
		if len(created) > 0 && created[len(created)-1] == t.dir {
			if rerr := cgroupfs.Remove(ctx, t.dir); rerr != nil {
				s.log.Warn("cannot remove the cgroup of a failed prepare", "container", c.ID, "path", t.dir, "error", rerr)
			}
			created = created[:len(created)-1]
		}
		_ = cgroupfs.RemoveIfEmpty(created)
	}()
	if err := s.apply(t.mount, t.rel, t.plan); err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	createdJSON, err := json.Marshal(created)
	if err != nil {
		return nil, err
	}
	return &sdk.Plan{
		State: map[string]string{
			statePath:    t.dir,
			stateMount:   t.mount.Path,
			stateCreated: string(createdJSON),
		},
		Actions: []*stagev1.Action{sdk.CgroupAction(t.dir)},
		// The host clones the init into the cgroup (or moves it there) and
		// fails the create if it cannot: Attach would only look again.
		SkipAttach: true,
		// Once the processes are gone, Destroy is these rmdirs; the host
		// does them itself and calls Destroy only for a cgroup still busy.
		Teardown: cgroupstage.Teardown([]string{t.dir}, emptyParents(t.mount, t.dir, created)),
	}, nil
}

// apply enables controllers, writes the plan's files and installs its device
// filter: the one code path for create and update.
func (s *stage) apply(m cgroupfs.Mount, rel string, p *plan.Plan) error {
	dir := m.Dir(rel)
	if err := cgroupfs.EnableControllers(m, rel, p.Controllers()); err != nil {
		return fmt.Errorf("cgroup %s: %w", dir, err)
	}
	if err := cgroupfs.Apply(dir, p.Writes); err != nil {
		return fmt.Errorf("cgroup %s: %w", dir, err)
	}
	if p.Devices != nil {
		if err := attachDevices(dir, p.Devices); err != nil {
			return fmt.Errorf("linux.resources.devices: cgroup %s: %w", dir, err)
		}
	}
	return nil
}

func attachDevices(dir string, rules []devfilter.Rule) error {
	f, err := devfilter.Emulate(rules)
	if err != nil {
		return err
	}
	insts, err := devfilter.Program(f)
	if err != nil {
		return err
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	return devfilter.Attach(fd, insts)
}

// locate finds the container's cgroup from its stored state, or, when the
// state has none (a create that stopped early), from the spec as Prepare
// would have. dir is "" when there is nothing to find.
func (s *stage) locate(c *sdk.Container) (m cgroupfs.Mount, dir string, created []string, err error) {
	m, err = s.findMount()
	if err != nil {
		return m, "", nil, err
	}
	if p := c.State[statePath]; p != "" {
		if mp := c.State[stateMount]; mp != "" && mp != m.Path {
			return m, "", nil, fmt.Errorf("the cgroup2 mount moved from %s to %s since the container was made", mp, m.Path)
		}
		if raw := c.State[stateCreated]; raw != "" {
			if err := json.Unmarshal([]byte(raw), &created); err != nil {
				return m, "", nil, fmt.Errorf("stored state %q: %w", stateCreated, err)
			}
		}
		dir = filepath.Clean(p)
	} else {
		rel, perr := plan.CgroupPath(cgroupstage.CgroupsPathOf(c.Spec), c.ID)
		if perr != nil {
			return m, "", nil, nil
		}
		dir = m.Dir(rel)
	}
	if dir == m.Path || !strings.HasPrefix(dir, m.Path+"/") {
		return m, "", nil, fmt.Errorf("%s is not a cgroup below the cgroup2 mount %s", dir, m.Path)
	}
	for _, d := range created {
		if d != filepath.Clean(d) || !strings.HasPrefix(d, m.Path+"/") || !strings.HasPrefix(dir+"/", d+"/") {
			return m, "", nil, fmt.Errorf("stored state %q names %s, which is not %s or one of its ancestors", stateCreated, d, dir)
		}
	}
	return m, dir, created, nil
}

// cgroup is locate for calls that need the cgroup to exist.
func (s *stage) cgroup(c *sdk.Container) (cgroupfs.Mount, string, error) {
	m, dir, _, err := s.locate(c)
	if err != nil {
		return m, "", fmt.Errorf("container %s: %w", c.ID, err)
	}
	if dir == "" {
		return m, "", fmt.Errorf("container %s has no cgroup", c.ID)
	}
	if err := m.Check(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return m, "", fmt.Errorf("container %s: its cgroup %s does not exist", c.ID, dir)
		}
		return m, "", fmt.Errorf("container %s: %w", c.ID, err)
	}
	return m, dir, nil
}

func (s *stage) Attach(_ context.Context, c *sdk.Container, pid int) (map[string]string, error) {
	m, dir, err := s.cgroup(c)
	if err != nil {
		return nil, err
	}
	cur, err := m.ProcessCgroup(pid)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	if cur == dir {
		return nil, nil
	}
	if err := cgroupfs.AddProc(dir, pid); err != nil {
		return nil, fmt.Errorf("container %s: move pid %d into %s: %w", c.ID, pid, dir, err)
	}
	return nil, nil
}

func (s *stage) Destroy(ctx context.Context, c *sdk.Container) error {
	m, dir, created, err := s.locate(c)
	if errors.Is(err, cgroupfs.ErrNoCgroup2) && c.State[statePath] == "" {
		return nil // nothing can have been made
	}
	if err != nil {
		return fmt.Errorf("container %s: destroy: %w", c.ID, err)
	}
	if dir == "" {
		return nil
	}
	if _, err := os.Lstat(dir); err == nil {
		if err := m.Check(dir); err != nil {
			return fmt.Errorf("container %s: destroy: %w", c.ID, err)
		}
		if err := cgroupfs.Remove(ctx, dir); err != nil {
			return fmt.Errorf("container %s: destroy: %w", c.ID, err)
		}
	}
	if err := cgroupfs.RemoveIfEmpty(emptyParents(m, dir, created)); err != nil {
		return fmt.Errorf("container %s: destroy: %w", c.ID, err)
	}
	return nil
}

// emptyParents are the directories above the container's cgroup dir that
// its teardown removes if they are empty, outermost first (the order
// cgroupfs.Create made them in).
func emptyParents(m cgroupfs.Mount, dir string, created []string) []string {
	var parents []string
	for _, d := range created {
		if d != dir {
			parents = append(parents, d)
		}
	}
	if def := m.Dir(plan.DefaultParent); filepath.Dir(dir) == def && !slices.Contains(parents, def) {
		// The default parent is shared by every container without a
		// cgroupsPath, and only the first one recorded making it: whichever
		// goes last removes it (a concurrent Create that loses it makes it
		// again).
		parents = []string{def}
	}
	return parents
}

func (s *stage) Update(_ context.Context, c *sdk.Container, r *specs.LinuxResources) error {
	m, dir, err := s.cgroup(c)
	if err != nil {
		return err
	}
	// What the update leaves out of a pair comes from the cgroup's files, as
	// runc takes it from its stored config.
	var cur plan.Current
	read := func(name string) string { v, _ := cgroupfs.ReadFile(dir, name); return strings.TrimSpace(v) }
	if r != nil && r.CPU != nil {
		cur.CPUMax = read("cpu.max")
	}
	if r != nil && r.Memory != nil {
		cur.MemoryMax, cur.SwapMax = read("memory.max"), read("memory.swap.max")
	}
	p, errs := plan.Resources(plan.MergeUpdate(r, cur), plan.Options{Update: true})
	if len(errs) > 0 {
		return cgroupstage.FieldErrors(errs)
	}
	if r != nil && r.Memory != nil {
		if cur, err := cgroupfs.ReadFile(dir, "memory.current"); err == nil {
			if n, err := strconv.ParseUint(strings.TrimSpace(cur), 10, 64); err == nil {
				if err := plan.CheckMemoryUsage(r.Memory, n); err != nil {
					return err
				}
			}
		}
	}
	parent := filepath.Dir(dir)
	avail, err := cgroupfs.Controllers(parent)
	if err != nil {
		return fmt.Errorf("container %s: update: %w", c.ID, err)
	}
	if errs := plan.CheckAvailable(p, avail, parent); len(errs) > 0 {
		return cgroupstage.FieldErrors(errs)
	}
	for _, n := range p.Notes {
		s.log.Info(n, "container", c.ID)
	}
	if err := s.apply(m, strings.TrimPrefix(dir, m.Path), p); err != nil {
		return fmt.Errorf("container %s: update: %w", c.ID, err)
	}
	return nil
}

func (s *stage) Stats(_ context.Context, c *sdk.Container) (json.RawMessage, error) {
	_, dir, err := s.cgroup(c)
	if err != nil {
		return nil, err
	}
	st, err := cgroupfs.ReadStats(dir)
	if err != nil {
		if st == nil {
			return nil, fmt.Errorf("container %s: stats: %w", c.ID, err)
		}
		s.log.Warn("some cgroup statistics could not be read", "container", c.ID, "error", err)
	}
	return json.Marshal(st)
}

func (s *stage) Pause(ctx context.Context, c *sdk.Container) error {
	_, dir, err := s.cgroup(c)
	if err != nil {
		return err
	}
	if err := cgroupfs.Freeze(ctx, dir); err != nil {
		return fmt.Errorf("container %s: pause: %w", c.ID, err)
	}
	return nil
}

func (s *stage) Resume(ctx context.Context, c *sdk.Container) error {
	_, dir, err := s.cgroup(c)
	if err != nil {
		return err
	}
	if err := cgroupfs.Thaw(ctx, dir); err != nil {
		return fmt.Errorf("container %s: resume: %w", c.ID, err)
	}
	return nil
}

func (s *stage) Pids(_ context.Context, c *sdk.Container) ([]int, error) {
	_, dir, err := s.cgroup(c)
	if err != nil {
		return nil, err
	}
	pids, err := cgroupfs.AllPids(dir)
	if err != nil {
		return nil, fmt.Errorf("container %s: pids: %w", c.ID, err)
	}
	sort.Ints(pids)
	return pids, nil
}

func (s *stage) KillAll(ctx context.Context, c *sdk.Container, sig syscall.Signal) error {
	_, dir, err := s.cgroup(c)
	if err != nil {
		return err
	}
	if sig == unix.SIGKILL {
		err = cgroupfs.Kill(ctx, dir)
	} else {
		err = cgroupfs.Signal(dir, sig)
	}
	if err != nil {
		return fmt.Errorf("container %s: kill --all: %w", c.ID, err)
	}
	return nil
}

func (s *stage) Events(ctx context.Context, c *sdk.Container, send func(sdk.Event) error) error {
	_, dir, err := s.cgroup(c)
	if err != nil {
		return err
	}
	return cgroupfs.WatchOOM(ctx, dir, func(uint64) error {
		return send(sdk.Event{Type: "oom"})
	})
}
