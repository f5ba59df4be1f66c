package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/plugins/cgroupv1/cgroupfs"
	"github.com/rung-runtime/rung/plugins/cgroupv1/plan"
	v2fs "github.com/rung-runtime/rung/plugins/cgroupv2/cgroupfs"
	v2plan "github.com/rung-runtime/rung/plugins/cgroupv2/plan"
	"github.com/rung-runtime/rung/plugins/internal/cgroupstage"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
)

const (
	version = "0.1.0"

	// State keys.
	statePaths   = "paths"   // JSON object: subsystem → the container's v1 directory
	statePath    = "path"    // the cgroup2 directory of a hybrid host, or absent
	stateMount   = "mount"   // the cgroup2 mount it is under
	stateCreated = "created" // JSON array of the directories Prepare made, outermost first per hierarchy
)

type stage struct {
	sdk.Base
	// findHost is swapped in tests.
	findHost func() (*cgroupfs.Host, error)
	log      hclog.Logger
}

func newStage() *stage {
	return &stage{findHost: cgroupfs.Find, log: sdk.Logger().Named("cgroupv1")}
}

// pathWords has v2plan.CgroupPathFor name this plugin and the v1
// hierarchies in its errors; the path rules themselves are rung-cgroupv2's.
var pathWords = v2plan.PathOptions{Driver: "rung-cgroupv1", Hierarchy: "the cgroup v1 hierarchies"}

var features = json.RawMessage(`{"linux":{"cgroup":{"v1":true,"v2":false,"systemd":false,"systemdUser":false,"rdma":true}}}`)

func (s *stage) Describe(context.Context) (sdk.Description, error) {
	return cgroupstage.Description("rung-cgroupv1", version, features), nil
}

// checked is a validated spec: where its cgroups go and what to write.
type checked struct {
	host *cgroupfs.Host
	rel  string
	plan *plan.Plan
}

// check does all of Validate's work and returns the FieldErrors, or the
// resolved target when there are none.
func (s *stage) check(c *sdk.Container) (*checked, []sdk.FieldError, error) {
	// The same path rules as rung-cgroupv2, so a spec means the same
	// cgroup on either kind of host.
	rel, err := v2plan.CgroupPathFor(cgroupstage.CgroupsPathOf(c.Spec), c.ID, pathWords)
	if err != nil {
		return nil, []sdk.FieldError{{Field: "linux.cgroupsPath", Message: err.Error()}}, nil
	}
	h, err := s.findHost()
	if err != nil {
		return nil, nil, fmt.Errorf("container %s: cgroups stage: %w", c.ID, err)
	}
	if !h.Mounted("devices") {
		// runc treats it as fatal too: without it the container could
		// open every device node it can make.
		return nil, nil, fmt.Errorf("container %s: cgroups stage: the devices cgroup v1 hierarchy is not mounted; a container cannot be confined without it", c.ID)
	}
	p, errs := plan.Resources(cgroupstage.ResourcesOf(c.Spec), plan.Options{MemoryLimit: math.MaxUint64})
	if len(errs) > 0 {
		return nil, errs, nil
	}
	errs = plan.CheckAvailable(p, h.Mounted)
	errs = append(errs, checkPageSizes(h, p)...)
	if len(errs) > 0 {
		return nil, errs, nil
	}
	return &checked{host: h, rel: rel, plan: p}, nil, nil
}

// checkPageSizes refuses hugepageLimits for page sizes the hugetlb
// hierarchy has no files for.
func checkPageSizes(h *cgroupfs.Host, p *plan.Plan) []sdk.FieldError {
	sizes := p.PageSizes()
	x, ok := h.Hierarchy("hugetlb")
	if len(sizes) == 0 || !ok {
		return nil
	}
	have, _ := cgroupfs.PageSizes(x.Path)
	return cgroupstage.CheckPageSizes(sizes, have)
}

func (s *stage) Validate(_ context.Context, c *sdk.Container) ([]sdk.FieldError, error) {
	_, errs, err := s.check(c)
	return errs, err
}

// placement is the action that has the host put the init in every
// directory: the v1 ones by pid, the cgroup2 one by CLONE_INTO_CGROUP.
func placement(cg cgroupfs.Cgroup, unified string) *stagev1.Action {
	return &stagev1.Action{Kind: &stagev1.Action_Cgroup{Cgroup: &stagev1.CgroupPlacement{Path: unified, V1Paths: cg.Dirs()}}}
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
	cg, created, err := cgroupfs.Create(t.host, t.rel)
	if err != nil {
		return nil, fmt.Errorf("container %s: create cgroup: %w", c.ID, err)
	}
	defer func() {
		if err != nil {
			// Leave nothing behind that the host has no state for; no
			// process can be in cgroups made a moment ago.
			if rerr := v2fs.RemoveIfEmpty(created); rerr != nil {
				s.log.Warn("cannot remove the cgroups of a failed prepare", "container", c.ID, "error", rerr)
			}
		}
	}()
	unified := ""
	if m := t.host.Unified; m != nil {
		// runc joins the cgroup2 hierarchy of a hybrid host too, so that
		// tools reading only it (systemd) see the container.
		made, err := v2fs.Create(*m, t.rel)
		created = append(created, made...)
		if err != nil {
			return nil, fmt.Errorf("container %s: create cgroup: %w", c.ID, err)
		}
		unified = m.Dir(t.rel)
	}
	// The order of the memory writes depends on the limit the cgroup has
	// now (an existing one may have some).
	p, errs := plan.Resources(cgroupstage.ResourcesOf(c.Spec), plan.Options{MemoryLimit: memoryLimit(cg)})
	if len(errs) > 0 {
		return nil, cgroupstage.FieldErrors(errs)
	}
	if err := apply(cg, p); err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	state := map[string]string{}
	if err := putJSON(state, statePaths, cg); err != nil {
		return nil, err
	}
	if err := putJSON(state, stateCreated, created); err != nil {
		return nil, err
	}
	if unified != "" {
		state[statePath], state[stateMount] = unified, t.host.Unified.Path
	}
	// Once the processes are gone, Destroy is rmdirs; the host does them
	// itself and calls Destroy only for a cgroup still busy.
	made := &located{host: t.host, cg: cg, unified: unified, created: created}
	// The host moves the init into every directory of the placement and
	// fails the create if it cannot: Attach would only look again.
	return &sdk.Plan{State: state, Actions: []*stagev1.Action{placement(cg, unified)}, SkipAttach: true,
		Teardown: cgroupstage.Teardown(made.leaves(), made.parents())}, nil
}

func putJSON(state map[string]string, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	state[key] = string(b)
	return nil
}

// memoryLimit is the memory cgroup's current limit, or "none" when it
// cannot be read (a cgroup without the memory hierarchy has no writes
// to order).
func memoryLimit(cg cgroupfs.Cgroup) uint64 {
	v, err := v2fs.ReadFile(cg["memory"], "memory.limit_in_bytes")
	if n, _, ok := plan.ParseLimit(v); err == nil && ok {
		return n
	}
	return math.MaxUint64
}

// apply writes the plan's files and device rules: the one code path for
// create and update.
func apply(cg cgroupfs.Cgroup, p *plan.Plan) error {
	if err := cgroupfs.Apply(cg, p.Writes); err != nil {
		return err
	}
	if p.Devices != nil {
		if err := cgroupfs.ApplyDevices(cg["devices"], *p.Devices); err != nil {
			return fmt.Errorf("linux.resources.devices: cgroup %s: %w", cg["devices"], err)
		}
	}
	return nil
}

// located is where a container's cgroups are.
type located struct {
	host    *cgroupfs.Host
	cg      cgroupfs.Cgroup
	unified string
	created []string
}

// locate finds the container's cgroups from its stored state, or, when the
// state has none (a create that stopped early), from the spec as Prepare
// would have. cg is empty when there is nothing to find.
func (s *stage) locate(c *sdk.Container) (*located, error) {
	h, err := s.findHost()
	if err != nil {
		return nil, err
	}
	l := &located{host: h, cg: cgroupfs.Cgroup{}}
	if raw := c.State[statePaths]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &l.cg); err != nil {
			return nil, fmt.Errorf("stored state %q: %w", statePaths, err)
		}
		if raw := c.State[stateCreated]; raw != "" {
			if err := json.Unmarshal([]byte(raw), &l.created); err != nil {
				return nil, fmt.Errorf("stored state %q: %w", stateCreated, err)
			}
		}
		l.unified = c.State[statePath]
		if mp := c.State[stateMount]; l.unified != "" && (h.Unified == nil || mp != h.Unified.Path) {
			return nil, fmt.Errorf("the cgroup2 mount moved from %s since the container was made", mp)
		}
	} else {
		rel, perr := v2plan.CgroupPathFor(cgroupstage.CgroupsPathOf(c.Spec), c.ID, pathWords)
		if perr != nil {
			return l, nil
		}
		l.cg = h.Paths(rel)
		if h.Unified != nil {
			l.unified = h.Unified.Dir(rel)
		}
	}
	for sub, dir := range l.cg {
		x, ok := h.Hierarchy(sub)
		if !ok || filepath.Clean(dir) != dir || !strings.HasPrefix(dir, x.Path+"/") {
			return nil, fmt.Errorf("stored state %q names %s for %s, which is not a cgroup below that hierarchy's mount", statePaths, dir, sub)
		}
	}
	if l.unified != "" {
		if filepath.Clean(l.unified) != l.unified || !strings.HasPrefix(l.unified, h.Unified.Path+"/") {
			return nil, fmt.Errorf("%s is not a cgroup below the cgroup2 mount %s", l.unified, h.Unified.Path)
		}
	}
	leaves := l.leaves()
	for _, d := range l.created {
		ok := filepath.Clean(d) == d && slices.ContainsFunc(leaves, func(leaf string) bool { return strings.HasPrefix(leaf+"/", d+"/") })
		if !ok {
			return nil, fmt.Errorf("stored state %q names %s, which is not one of the container's cgroups or their ancestors", stateCreated, d)
		}
	}
	return l, nil
}

// checkDirs makes sure every existing directory is what it should be
// before anything there is killed or removed; missing ones are dropped.
func (l *located) checkDirs() (cgroupfs.Cgroup, string, error) {
	cg := cgroupfs.Cgroup{}
	for sub, dir := range l.cg {
		err := l.host.Check(sub, dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, "", err
		default:
			cg[sub] = dir
		}
	}
	unified := ""
	if l.unified != "" {
		err := l.host.Unified.Check(l.unified)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, "", err
		default:
			unified = l.unified
		}
	}
	return cg, unified, nil
}

// cgroup is locate for calls that need the cgroup to exist.
func (s *stage) cgroup(c *sdk.Container) (*located, error) {
	l, err := s.locate(c)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	if len(l.cg) == 0 {
		return nil, fmt.Errorf("container %s has no cgroup", c.ID)
	}
	cg, unified, err := l.checkDirs()
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	if _, err := os.Stat(filepath.Join(cg.ProcsDir(), "cgroup.procs")); len(cg) == 0 || err != nil {
		return nil, fmt.Errorf("container %s: its cgroup %s does not exist", c.ID, l.cg.ProcsDir())
	}
	l.cg, l.unified = cg, unified
	return l, nil
}

func (s *stage) Attach(_ context.Context, c *sdk.Container, pid int) (map[string]string, error) {
	l, err := s.cgroup(c)
	if err != nil {
		return nil, err
	}
	// The host has placed the init already; a hierarchy it is not in yet
	// (one mounted since Prepare, a host that skipped it) gets it now.
	cur, err := l.host.ProcessCgroups(pid)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	moved := map[string]bool{}
	for sub, dir := range l.cg {
		if cur[sub] == dir || moved[dir] {
			continue
		}
		if err := v2fs.AddProc(dir, pid); err != nil {
			return nil, fmt.Errorf("container %s: move pid %d into %s: %w", c.ID, pid, dir, err)
		}
		moved[dir] = true
	}
	if l.unified != "" {
		if in, err := l.host.Unified.ProcessCgroup(pid); err != nil || in != l.unified {
			if err := v2fs.AddProc(l.unified, pid); err != nil {
				return nil, fmt.Errorf("container %s: move pid %d into %s: %w", c.ID, pid, l.unified, err)
			}
		}
	}
	return nil, nil
}

func (s *stage) Destroy(ctx context.Context, c *sdk.Container) error {
	l, err := s.locate(c)
	if errors.Is(err, cgroupfs.ErrNoCgroupV1) && c.State[statePaths] == "" {
		return nil // nothing can have been made
	}
	if err != nil {
		return fmt.Errorf("container %s: destroy: %w", c.ID, err)
	}
	cg, unified, err := l.checkDirs()
	if err != nil {
		return fmt.Errorf("container %s: destroy: %w", c.ID, err)
	}
	if err := cgroupfs.Remove(ctx, cg); err != nil {
		return fmt.Errorf("container %s: destroy: %w", c.ID, err)
	}
	if unified != "" {
		if err := v2fs.Remove(ctx, unified); err != nil {
			return fmt.Errorf("container %s: destroy: %w", c.ID, err)
		}
	}
	if err := v2fs.RemoveIfEmpty(l.parents()); err != nil {
		return fmt.Errorf("container %s: destroy: %w", c.ID, err)
	}
	return nil
}

// leaves are the container's own cgroups: one per v1 hierarchy, and the
// cgroup2 one on a hybrid host.
func (l *located) leaves() []string {
	leaves := l.cg.Dirs()
	if l.unified != "" {
		leaves = append(leaves, l.unified)
	}
	return leaves
}

// parents are the directories above the container's cgroups to remove if
// they are empty now: those Prepare made, and the shared default parent
// (/rung) in each hierarchy. Only the first container recorded making the
// default parent; whichever goes last removes it (a concurrent Create that
// loses it makes it again).
func (l *located) parents() []string {
	leaves := l.leaves()
	mounts := map[string]string{} // leaf → its mount point
	for sub, dir := range l.cg {
		if x, ok := l.host.Hierarchy(sub); ok {
			mounts[dir] = x.Path
		}
	}
	if l.unified != "" {
		mounts[l.unified] = l.host.Unified.Path
	}
	var out []string
	for _, d := range l.created {
		if !slices.Contains(leaves, d) {
			out = append(out, d)
		}
	}
	for _, leaf := range leaves {
		if def := filepath.Join(mounts[leaf], v2plan.DefaultParent); filepath.Dir(leaf) == def && !slices.Contains(out, def) {
			out = append(out, def)
		}
	}
	return out
}

func (s *stage) Update(_ context.Context, c *sdk.Container, r *specs.LinuxResources) error {
	l, err := s.cgroup(c)
	if err != nil {
		return err
	}
	cg := l.cg
	// What the update leaves out of a pair comes from the cgroup's files, as
	// runc takes it from its stored config.
	read := func(sub, name string) string { v, _ := v2fs.ReadFile(cg[sub], name); return v }
	merged := plan.MergeUpdate(r, plan.Files{
		CFSQuota: read("cpu", "cpu.cfs_quota_us"), CFSPeriod: read("cpu", "cpu.cfs_period_us"),
		MemoryLimit: read("memory", "memory.limit_in_bytes"), MemswLimit: read("memory", "memory.memsw.limit_in_bytes"),
	})
	p, errs := plan.Resources(merged, plan.Options{Update: true, MemoryLimit: memoryLimit(cg)})
	if len(errs) > 0 {
		return cgroupstage.FieldErrors(errs)
	}
	if r != nil && r.Memory != nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(read("memory", "memory.usage_in_bytes")), 10, 64); err == nil {
			if err := v2plan.CheckMemoryUsage(r.Memory, n); err != nil {
				return err
			}
		}
	}
	if errs := plan.CheckAvailable(p, func(sub string) bool { return cg[sub] != "" }); len(errs) > 0 {
		return cgroupstage.FieldErrors(errs)
	}
	if errs := checkPageSizes(l.host, p); len(errs) > 0 {
		return cgroupstage.FieldErrors(errs)
	}
	for _, n := range p.Notes {
		s.log.Info(n, "container", c.ID)
	}
	if err := apply(cg, p); err != nil {
		return fmt.Errorf("container %s: update: %w", c.ID, err)
	}
	return nil
}

func (s *stage) Stats(_ context.Context, c *sdk.Container) (json.RawMessage, error) {
	l, err := s.cgroup(c)
	if err != nil {
		return nil, err
	}
	st, err := cgroupfs.ReadStats(l.cg)
	if err != nil {
		if st == nil {
			return nil, fmt.Errorf("container %s: stats: %w", c.ID, err)
		}
		s.log.Warn("some cgroup statistics could not be read", "container", c.ID, "error", err)
	}
	return json.Marshal(st)
}

// freezer is the container's freezer cgroup, which pause and resume need.
func (s *stage) freezer(c *sdk.Container) (string, error) {
	l, err := s.cgroup(c)
	if err != nil {
		return "", err
	}
	if l.cg["freezer"] == "" {
		return "", fmt.Errorf("container %s: the freezer cgroup v1 hierarchy is not mounted", c.ID)
	}
	return l.cg["freezer"], nil
}

func (s *stage) Pause(ctx context.Context, c *sdk.Container) error {
	dir, err := s.freezer(c)
	if err != nil {
		return err
	}
	if err := cgroupfs.Freeze(ctx, dir); err != nil {
		return fmt.Errorf("container %s: pause: %w", c.ID, err)
	}
	return nil
}

func (s *stage) Resume(ctx context.Context, c *sdk.Container) error {
	dir, err := s.freezer(c)
	if err != nil {
		return err
	}
	if err := cgroupfs.Thaw(ctx, dir); err != nil {
		return fmt.Errorf("container %s: resume: %w", c.ID, err)
	}
	return nil
}

func (s *stage) Pids(_ context.Context, c *sdk.Container) ([]int, error) {
	l, err := s.cgroup(c)
	if err != nil {
		return nil, err
	}
	pids, err := v2fs.AllPids(l.cg.ProcsDir())
	if err != nil {
		return nil, fmt.Errorf("container %s: pids: %w", c.ID, err)
	}
	sort.Ints(pids)
	return pids, nil
}

func (s *stage) KillAll(ctx context.Context, c *sdk.Container, sig syscall.Signal) error {
	l, err := s.cgroup(c)
	if err != nil {
		return err
	}
	if err := cgroupfs.Signal(ctx, l.cg, sig); err != nil {
		return fmt.Errorf("container %s: kill --all: %w", c.ID, err)
	}
	return nil
}

func (s *stage) Events(ctx context.Context, c *sdk.Container, send func(sdk.Event) error) error {
	l, err := s.cgroup(c)
	if err != nil {
		return err
	}
	mem := l.cg["memory"]
	if mem == "" {
		// Without the memory hierarchy there is nothing to report.
		<-ctx.Done()
		return nil
	}
	return cgroupfs.WatchOOM(ctx, mem, func() error {
		return send(sdk.Event{Type: "oom"})
	})
}
