package lifecycle

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/initproc"
	"github.com/rung-runtime/rung/internal/launcher"
	"github.com/rung-runtime/rung/internal/logging"
	"github.com/rung-runtime/rung/internal/rootfs"
	"github.com/rung-runtime/rung/internal/state"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk/plancheck"
)

// Env is what every lifecycle operation needs from the CLI.
type Env struct {
	Store   state.Store
	Log     *logging.Logger
	Plugins []launcher.Spec
	// Stdio is the caller's real stdin/stdout/stderr (os.Stdin is shielded).
	Stdio [3]*os.File
	// KeepWarm keeps create's connections to warm plugins in Warm for a
	// later call in the same process (`run`'s delete), which then needs
	// no dial; the caller closes Warm.
	KeepWarm bool
	Warm     launcher.Set
}

// CreateOptions are `rung create`'s flags.
type CreateOptions struct {
	ID            string
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoPivot       bool
	NoNewKeyring  bool
	PreserveFds   int
}

// initTimeout bounds the whole conversation with the init, hooks included.
const initTimeout = 2 * time.Minute

type creation struct {
	env     *Env
	opts    CreateOptions
	bundle  *Bundle
	plugins launcher.Set
	rec     *state.Container
	plan    plan
	spawner *spawner
	began   time.Time
	saver   *state.Saver
	// restoring is a CRIU restore, which asks every stage everything:
	// Validate apart (only the cgroup stage then prepares), and Attach.
	restoring bool
	// skipAttach are the stages whose Prepare said Attach has nothing to do.
	skipAttach map[string]bool
}

// Create makes the container and leaves its init waiting on the exec fifo.
// On any failure it undoes everything it did.
func Create(ctx context.Context, env *Env, opts CreateOptions) (err error) {
	if err := state.ValidateID(opts.ID); err != nil {
		return err
	}
	if opts.PreserveFds < 0 || opts.PreserveFds > 1024 {
		return fmt.Errorf("--preserve-fds: %d is out of range", opts.PreserveFds)
	}
	began := time.Now()
	// Plugin launch is the slowest step; overlap it with reading the bundle.
	// A plugin whose answer may have been kept waits for the spec instead.
	type launched struct {
		set launcher.Set
		err error
	}
	ch := make(chan launched, 1)
	read := make(chan struct{})
	var rawSpec []byte
	go func() {
		set, err := launcher.LaunchAll(ctx, env.Log, env.Plugins, func() []byte { <-read; return rawSpec })
		ch <- launched{set, err}
	}()
	bundle, berr := LoadBundle(opts.Bundle)
	if berr == nil && bundle.Spec.Process != nil {
		rawSpec = bundle.RawSpec
	}
	close(read)
	l := <-ch
	if berr != nil {
		l.set.Close()
		return fmt.Errorf("container %q: %w", opts.ID, berr)
	}
	if l.err != nil {
		return fmt.Errorf("container %q: %w", opts.ID, l.err)
	}
	c := &creation{env: env, opts: opts, bundle: bundle, plugins: l.set, began: began}
	env.Log.Debug("plugins launched and bundle read", "container", opts.ID, "ms", logging.MsSince(began))
	defer func() {
		if err == nil && env.KeepWarm {
			c.plugins = env.keepWarm(c.plugins)
		}
		c.plugins.Close()
	}()
	if bundle.Spec.Process == nil {
		return fmt.Errorf("container %q: config.json: process: missing", opts.ID)
	}
	if err := checkConsoleFlags(bundle.Spec.Process, opts.ConsoleSocket); err != nil {
		return fmt.Errorf("container %q: %w", opts.ID, err)
	}
	if err := c.validate(ctx); err != nil {
		return fmt.Errorf("container %q: %w", opts.ID, err)
	}
	if err := env.Store.Reserve(opts.ID); err != nil {
		return err
	}
	c.saver = env.Store.Saver(opts.ID)
	defer c.saver.Close()
	defer func() {
		if err != nil {
			c.abort()
		}
	}()
	if err := c.run(ctx); err != nil {
		return fmt.Errorf("container %q: %w", opts.ID, err)
	}
	return nil
}

func (c *creation) step(s string) error { return c.stepSaving(s, !unsaved[s]) }

// stepSaving records step s, saving the record only if save: a save is a
// rewrite and rename of state.json (0.2-0.3 ms on a disk /run).
func (c *creation) stepSaving(s string, save bool) error {
	c.rec.Steps = append(c.rec.Steps, s)
	c.env.Log.Debug("create step", "container", c.opts.ID, "step", s, "ms", logging.MsSince(c.began))
	if save {
		if err := c.saver.Save(c.rec); err != nil {
			return err
		}
	}
	dieAt(s)
	return nil
}

// unsaved are the steps whose record holds nothing a killed create's
// cleanup needs beyond the save before them: at "spawn" the bootstrap does
// not exist yet, and at "attach" it was recorded at "spawned" (and dies
// with rung in any case). A save is ~0.3 ms on a disk /run.
var unsaved = map[string]bool{"spawn": true, "attach": true}

func (c *creation) container(p *launcher.Plugin) *stagev1.Container {
	pc := &stagev1.Container{
		Id: c.opts.ID, Bundle: c.bundle.Dir, SpecJson: c.bundle.RawSpec,
		PluginConfigJson: p.Spec.Config, Annotations: c.bundle.Spec.Annotations,
	}
	if c.rec != nil {
		if r := c.rec.Plugins[p.Spec.Stage]; r != nil {
			pc.State = r.State
		}
	}
	return pc
}

// validate asks every plugin to check the spec, except, when create folds
// validation into Prepare, the plugins whose Prepare does it (one round
// fewer; the cost is that a refused spec is refused after the state dir was
// reserved, and the abort removes it).
func (c *creation) validate(ctx context.Context) error {
	var ask launcher.Set
	for _, p := range c.plugins {
		if !c.validatesInPrepare(p) {
			ask = append(ask, p)
		}
	}
	return ask.Each(func(p *launcher.Plugin) error { return callValidate(ctx, p, c.container(p)) })
}

func (c *creation) validatesInPrepare(p *launcher.Plugin) bool {
	return !c.restoring && p.Desc.GetValidatesInPrepare()
}

func callValidate(ctx context.Context, p *launcher.Plugin, pc *stagev1.Container) error {
	return p.Call(ctx, "validate", func(ctx context.Context) error {
		resp, err := p.Stage().Validate(ctx, &stagev1.ValidateRequest{Container: pc})
		if err != nil {
			return err
		}
		return fieldErrors(resp.GetErrors())
	})
}

// callPrepare asks p to Prepare, and with validate to validate first; the
// answer is nil if the plugin refused the spec (it then made nothing).
func callPrepare(ctx context.Context, p *launcher.Plugin, pc *stagev1.Container, validate bool) (*stagev1.PrepareResponse, error) {
	what := "prepare"
	if validate {
		what = "validate+prepare"
	}
	var resp *stagev1.PrepareResponse
	err := p.Call(ctx, what, func(ctx context.Context) error {
		r, err := p.Stage().Prepare(ctx, &stagev1.PrepareRequest{Container: pc, Validate: validate})
		if err != nil {
			return err
		}
		if ferr := fieldErrors(r.GetErrors()); ferr != nil {
			return ferr
		}
		resp = r
		return nil
	})
	return resp, err
}

// fieldErrors is the host's one-line error for a plugin's field errors.
func fieldErrors(errs []*stagev1.FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	e := errs[0]
	more := ""
	if n := len(errs); n > 1 {
		more = fmt.Sprintf(" (and %d more)", n-1)
	}
	return fmt.Errorf("config.json: %s: %s%s", e.GetField(), e.GetMessage(), more)
}

func (c *creation) run(ctx context.Context) error {
	if err := c.begin(ctx); err != nil {
		return err
	}
	if err := c.spawn(ctx); err != nil {
		return err
	}
	if c.opts.PidFile != "" {
		if err := writePidFile(c.opts.PidFile, c.rec.Pid); err != nil {
			return err
		}
	}
	c.rec.Status = state.Created
	c.rec.CreatorPid, c.rec.CreatorStartTime = 0, 0
	return c.step("created")
}

// begin records the new container, marking every plugin's Prepare as
// started before it is called, and runs the Prepares.
func (c *creation) begin(ctx context.Context) error {
	owner := ""
	if u, err := user.Current(); err == nil {
		owner = u.Username
	}
	c.rec = &state.Container{
		ID: c.opts.ID, Bundle: c.bundle.Dir, Rootfs: c.bundle.Rootfs, Created: time.Now().UTC(),
		Owner: owner, Status: state.Creating, CreatorPid: os.Getpid(), CreatorStartTime: selfStartTime(),
		Annotations: c.bundle.Spec.Annotations, Plugins: map[string]*state.PluginRecord{},
	}
	c.rec.SetSpec(c.bundle.RawSpec, c.bundle.Spec)
	if rootfs.SharesHostMounts(c.bundle.Spec) {
		if err := recordHostMounts(c.rec); err != nil {
			return fmt.Errorf("root.path: %w", err)
		}
	}
	for _, p := range c.plugins {
		c.rec.Plugins[p.Spec.Stage] = &state.PluginRecord{Stage: p.Spec.Stage, Binary: p.Path, PrepareStarted: true,
			Resources: p.Desc.GetResources(), NoDestroy: p.Desc.GetNoDestroy()}
	}
	if err := c.step("prepare"); err != nil {
		return err
	}
	if err := c.prepare(ctx); err != nil {
		return err
	}
	return nil
}

func (c *creation) prepare(ctx context.Context) error {
	type answer struct {
		resp *stagev1.PrepareResponse
	}
	answers := make([]answer, len(c.plugins))
	err := c.plugins.Each(func(p *launcher.Plugin) error {
		i := indexOf(c.plugins, p)
		if p.Kept != nil {
			answers[i].resp = p.Kept
			return nil
		}
		resp, err := callPrepare(ctx, p, c.container(p), c.validatesInPrepare(p))
		answers[i].resp = resp
		return err
	})
	// Record every answer that came, even on failure, so the cleanup can
	// Destroy what was made.
	for i, p := range c.plugins {
		if resp := answers[i].resp; resp != nil {
			r := c.rec.Plugins[p.Spec.Stage]
			if serr := plancheck.State(resp.GetState()); serr != nil {
				// Keep what Destroy needs to find (none of it), not the junk.
				r.PrepareStarted, r.Prepared = true, false
				if err == nil {
					err = fmt.Errorf("%s: prepare: %w", p.Label(), serr)
				}
				continue
			}
			r.Prepared, r.State = true, resp.GetState()
			if t := resp.GetTeardown(); t != nil {
				if terr := plancheck.Teardown(t, resp.GetActions()); terr != nil {
					// Destroy, called instead, finds the cgroups from State.
					if err == nil {
						err = fmt.Errorf("%s: prepare: %w", p.Label(), terr)
					}
				} else {
					r.Teardown = &state.Teardown{CgroupDirs: t.GetCgroupDirs(), EmptyParents: t.GetEmptyParents()}
				}
			}
			if resp.GetSkipAttach() && !c.restoring {
				if c.skipAttach == nil {
					c.skipAttach = map[string]bool{}
				}
				c.skipAttach[p.Spec.Stage] = true
			}
			acts, aerr := encodeActions(resp.GetActions())
			if aerr != nil && err == nil {
				err = fmt.Errorf("%s: prepare: %w", p.Label(), aerr)
			}
			r.Actions = acts
		}
	}
	if serr := c.step("prepared"); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	loopbackBy := ""
	for i, p := range c.plugins {
		if err := c.plan.add(answers[i].resp.GetActions()); err != nil {
			return fmt.Errorf("%s: prepare: %w", p.Label(), err)
		}
		if loopbackBy == "" && c.plan.init.Loopback {
			loopbackBy = p.Label()
		}
	}
	// The init would set lo up in whatever namespace it is in: the host's,
	// if no stage planned a new one.
	if loopbackBy != "" && c.plan.bootstrap.CloneFlags&unix.CLONE_NEWNET == 0 {
		return fmt.Errorf("%s: prepare: invalid plan: a Loopback action, but no stage plans a new network namespace", loopbackBy)
	}
	// Kept only once the host took the answer: a refused one is asked
	// again next time.
	for i, p := range c.plugins {
		p.KeepAnswer(c.bundle.RawSpec, answers[i].resp)
	}
	c.rec.CgroupPath = c.plan.cgroupDir
	c.rec.CgroupV1Paths = c.plan.cgroupV1Dirs
	return nil
}

func indexOf(set launcher.Set, p *launcher.Plugin) int {
	for i, q := range set {
		if q == p {
			return i
		}
	}
	return -1
}

// spawn starts the bootstrap, runs every Attach while it waits, then hands
// the forked init its config and waits until it sits on the exec fifo.
func (c *creation) spawn(ctx context.Context) error {
	fifo := c.env.Store.FifoPath(c.opts.ID)
	if err := unix.Mkfifo(fifo, 0o622); err != nil {
		return fmt.Errorf("exec fifo: %w", err)
	}
	// Past the umask: the init opens it after dropping to the container's
	// user, who must be able to write it.
	if err := os.Chmod(fifo, 0o622); err != nil {
		return fmt.Errorf("exec fifo: %w", err)
	}
	fifoFile, err := os.OpenFile(fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("exec fifo: %w", err)
	}
	defer fifoFile.Close()
	if uid, gid, ok := rootIDs(c.bundle.Spec); ok {
		// The init drops to the container's root before it opens the fifo.
		if err := os.Chown(fifo, uid, gid); err != nil {
			return fmt.Errorf("exec fifo: %w", err)
		}
	}
	sp := &spawner{
		env: c.env, id: c.opts.ID, process: c.bundle.Spec.Process, consoleSocket: c.opts.ConsoleSocket,
		preserveFds: c.opts.PreserveFds, fifo: fifoFile, cgroupDir: c.plan.cgroupDir, cgroupV1Dirs: c.plan.cgroupV1Dirs,
		bootstrap: c.plan.bootstrap, hooks: c.bundle.Spec.Hooks,
		step:   c.step,
		attach: func(pid int) error { return c.attach(ctx, pid) },
		started: func(pid int) error {
			c.rec.BootstrapPid = pid
			// Our child, blocked on its first read: it is there to be read.
			c.rec.BootstrapStartTime, _ = state.ProcessStartTime(pid)
			return c.step("spawned")
		},
		forked: c.recordPid,
		config: func(pid int) *initproc.Config {
			st := c.ociState(specs.StateCreating)
			st.Pid = pid
			return &initproc.Config{
				ID: c.opts.ID, Bundle: c.bundle.Dir, Rootfs: c.bundle.Rootfs, Spec: c.bundle.Spec,
				NoPivot: c.opts.NoPivot, NoNewKeyring: c.opts.NoNewKeyring,
				NewPidNS: c.plan.bootstrap.CloneFlags&unix.CLONE_NEWPID != 0,
				NewUTS:   c.plan.bootstrap.CloneFlags&unix.CLONE_NEWUTS != 0,
				Plan:     c.plan.init, State: st,
				Timing: c.env.Log.Debugging(),
			}
		},
		initMarks: c.logInitMarks,
	}
	c.spawner = sp
	return sp.run()
}

// logInitMarks places the init's steps on create's timeline, as create
// steps of their own (nothing is saved at them).
func (c *creation) logInitMarks(marks []initproc.Mark) {
	for _, m := range marks {
		ms := float64(time.Unix(0, m.At).Sub(c.began).Microseconds()) / 1000
		c.env.Log.Debug("create step", "container", c.opts.ID, "step", m.Step, "ms", ms)
	}
}

func (c *creation) ociState(status specs.ContainerState) *specs.State {
	return &specs.State{Version: specs.Version, ID: c.opts.ID, Status: status, Pid: c.rec.Pid,
		Bundle: c.bundle.Dir, Annotations: c.bundle.Spec.Annotations}
}

func (c *creation) attach(ctx context.Context, pid int) error {
	if err := c.step("attach"); err != nil {
		return err
	}
	results := make([]map[string]string, len(c.plugins))
	var ask launcher.Set
	for _, p := range c.plugins {
		if !p.Desc.GetNoAttach() && !c.skipAttach[p.Spec.Stage] {
			ask = append(ask, p)
		}
	}
	err := ask.Each(func(p *launcher.Plugin) error {
		i := indexOf(c.plugins, p)
		return p.Call(ctx, "attach", func(ctx context.Context) error {
			resp, err := p.Stage().Attach(ctx, &stagev1.AttachRequest{Container: c.container(p), Pid: int32(pid)})
			if err != nil {
				return err
			}
			merged := map[string]string{}
			for k, v := range c.rec.Plugins[p.Spec.Stage].State {
				merged[k] = v
			}
			for k, v := range resp.GetState() {
				merged[k] = v
			}
			if err := plancheck.State(merged); err != nil {
				return err
			}
			results[i] = resp.GetState()
			return nil
		})
	})
	for i, p := range c.plugins {
		if len(results[i]) == 0 {
			continue
		}
		r := c.rec.Plugins[p.Spec.Stage]
		if r.State == nil {
			r.State = map[string]string{}
		}
		// Prepare's teardown cannot know what Attach did: Destroy decides.
		r.Teardown = nil
		for k, v := range results[i] {
			r.State[k] = v
		}
	}
	// With no Attach round nothing came back to record: the save at
	// "spawned" holds everything a killed create's cleanup needs.
	if serr := c.stepSaving("attached", len(ask) > 0); serr != nil && err == nil {
		err = serr
	}
	return err
}

func (c *creation) recordPid(pid int) error {
	st, err := state.ProcessStartTime(pid)
	if err != nil {
		return fmt.Errorf("init %d: %w", pid, err)
	}
	c.rec.Pid, c.rec.PidStartTime = pid, st
	// The bootstrap exits now that it has forked the init, and is reaped
	// before anything else reads this record.
	c.rec.BootstrapPid, c.rec.BootstrapStartTime = 0, 0
	return c.step("forked")
}

// abort undoes a failed create: processes, plugin resources, state dir.
func (c *creation) abort() {
	if c.spawner != nil {
		c.spawner.close()
	}
	if c.rec == nil {
		return
	}
	if c.rec.Pid > 0 && c.rec.Alive() {
		_ = unix.Kill(c.rec.Pid, unix.SIGKILL)
		waitGone(c.rec)
	}
	if err := unmountContainerMounts(c.rec); err != nil {
		c.env.Log.Warnf("container %q: cleanup after failed create: %v", c.opts.ID, err)
	}
	if err := destroyPlugins(context.Background(), c.env, c.rec, c.plugins); err != nil {
		c.env.Log.Warnf("container %q: cleanup after failed create: %v", c.opts.ID, err)
	}
	if err := c.env.Store.Remove(c.opts.ID); err != nil {
		c.env.Log.Warnf("%v", err)
	}
}

func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--pid-file: %w", err)
	}
	return nil
}

func rootIDs(s *specs.Spec) (int, int, bool) {
	if s.Linux == nil || len(s.Linux.UIDMappings) == 0 {
		return 0, 0, false
	}
	uid, gid := -1, -1
	for _, m := range s.Linux.UIDMappings {
		if m.ContainerID == 0 {
			uid = int(m.HostID)
		}
	}
	for _, m := range s.Linux.GIDMappings {
		if m.ContainerID == 0 {
			gid = int(m.HostID)
		}
	}
	return uid, gid, uid >= 0 && gid >= 0
}

// waitGone waits, bounded, for the init to disappear after SIGKILL.
func waitGone(rec *state.Container) {
	for i := 0; i < 500 && rec.Alive(); i++ {
		time.Sleep(2 * time.Millisecond)
	}
}

// selfStartTime is this process's start time, recorded with its pid.
func selfStartTime() uint64 {
	st, _ := state.ProcessStartTime(os.Getpid())
	return st
}
