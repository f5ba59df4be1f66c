package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/hooks"
	"github.com/rung-runtime/rung/internal/launcher"
	"github.com/rung-runtime/rung/internal/state"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk/teardown"
)

// pluginSpecFor finds the configured plugin of a stage.
func (env *Env) pluginSpecFor(stage string) (launcher.Spec, bool) {
	for _, s := range env.Plugins {
		if s.Stage == stage {
			return s, true
		}
	}
	return launcher.Spec{}, false
}

// storedContainer is the wire form of a container for calls after create.
func storedContainer(rec *state.Container, r *state.PluginRecord, p *launcher.Plugin) *stagev1.Container {
	pc := &stagev1.Container{Id: rec.ID, Bundle: rec.Bundle, Annotations: rec.Annotations, PluginConfigJson: p.Spec.Config,
		SpecJson: rec.RawSpec}
	if r != nil {
		pc.State = r.State
	}
	return pc
}

// launchFor starts only the plugins of the given stages that the container
// recorded (start, kill and delete never pay for the others).
func launchFor(ctx context.Context, env *Env, stages []string) (launcher.Set, error) {
	var specs []launcher.Spec
	for _, st := range stages {
		s, ok := env.pluginSpecFor(st)
		if !ok {
			return nil, fmt.Errorf("stage %s: no plugin configured", st)
		}
		specs = append(specs, s)
	}
	if len(specs) == 0 {
		return nil, nil
	}
	return launcher.LaunchAll(ctx, env.Log, specs, nil)
}

// keepWarm moves set's warm plugins to env.Warm and returns the others.
func (env *Env) keepWarm(set launcher.Set) launcher.Set {
	var rest launcher.Set
	for _, p := range set {
		if p.Warm() {
			env.Warm = append(env.Warm, p)
		} else {
			rest = append(rest, p)
		}
	}
	return rest
}

// destroyPlugins calls Destroy on every plugin that needs it, using set's
// already-running plugins where it has them.
func destroyPlugins(ctx context.Context, env *Env, rec *state.Container, set launcher.Set) error {
	return launchDestroyers(ctx, env, rec, set).destroy(ctx, rec)
}

// destroyers are the plugins a container's Destroy calls go to; those not
// in the caller's set are launched (or dialled) in the background, so a
// delete overlaps that with killing and unmounting. A stage whose Prepare
// described its Destroy as a Teardown is not launched: the host tries
// that first, once the processes are gone, and launches the plugin only
// if the teardown leaves something.
type destroyers struct {
	env      *Env
	set      launcher.Set
	launched chan launchResult
}

type launchResult struct {
	set launcher.Set
	err error
}

func launchDestroyers(ctx context.Context, env *Env, rec *state.Container, set launcher.Set) *destroyers {
	var need []string
	for stage, r := range rec.Plugins {
		if r.NeedsDestroy() && set.ByStage(stage) == nil && !hostTearsDown(r) {
			need = append(need, stage)
		}
	}
	d := &destroyers{env: env, set: set, launched: make(chan launchResult, 1)}
	go func() {
		extra, err := launchFor(ctx, env, need)
		d.launched <- launchResult{extra, err}
	}()
	return d
}

// take waits for the launches; only the first of destroy and abandon gets
// their result.
func (d *destroyers) take() (launchResult, bool) {
	l, ok := <-d.launched
	if ok {
		close(d.launched)
	}
	return l, ok
}

// destroy waits for the launches and calls Destroy; it ends what it
// launched.
func (d *destroyers) destroy(ctx context.Context, rec *state.Container) error {
	l, ok := d.take()
	if !ok {
		return nil
	}
	if l.err != nil {
		return l.err
	}
	defer l.set.Close()
	var late []string
	var extra launcher.Set
	for stage, r := range rec.Plugins {
		if r.NeedsDestroy() && d.set.ByStage(stage) == nil && hostTearsDown(r) {
			if err := teardown.Run(r.Teardown.CgroupDirs, r.Teardown.EmptyParents); err != nil {
				d.env.Log.Debugf("container %q: stage %s: teardown left work for Destroy: %v", rec.ID, stage, err)
				late = append(late, stage)
			}
		}
	}
	if len(late) > 0 {
		var err error
		if extra, err = launchFor(ctx, d.env, late); err != nil {
			return err
		}
		defer extra.Close()
	}
	all := append(append(append(launcher.Set{}, d.set...), l.set...), extra...)
	var targets launcher.Set
	for _, p := range all {
		if r := rec.Plugins[p.Spec.Stage]; r != nil && r.NeedsDestroy() {
			targets = append(targets, p)
		}
	}
	return targets.Each(func(p *launcher.Plugin) error {
		return p.Call(ctx, "destroy", func(ctx context.Context) error {
			_, err := p.Stage().Destroy(ctx, &stagev1.DestroyRequest{Container: storedContainer(rec, rec.Plugins[p.Spec.Stage], p)})
			return err
		})
	})
}

// hostTearsDown says whether the host does r's Destroy as the Teardown its
// Prepare answered (a Prepare cut off before answering has none), on a
// kernel where that can work.
func hostTearsDown(r *state.PluginRecord) bool {
	return r.Prepared && r.Teardown != nil && len(r.Teardown.CgroupDirs) > 0 && teardown.Supported()
}

// abandon ends the launches of a delete that fails before Destroy.
func (d *destroyers) abandon() {
	if l, ok := d.take(); ok {
		l.set.Close()
	}
}

// resourcesPlugin launches the plugin that serves the Resources service.
func resourcesPlugin(ctx context.Context, env *Env, rec *state.Container) (*launcher.Plugin, *state.PluginRecord, error) {
	for stage, r := range rec.Plugins {
		if !r.Resources {
			continue
		}
		set, err := launchFor(ctx, env, []string{stage})
		if err != nil {
			return nil, nil, err
		}
		return set[0], r, nil
	}
	return nil, nil, fmt.Errorf("container %q: no stage manages its resources", rec.ID)
}

// Load reads a container's record.
func Load(env *Env, id string) (*state.Container, error) {
	return env.Store.Load(id)
}

// State returns the OCI state document.
func State(env *Env, id string) (*specs.State, error) {
	rec, err := env.Store.Load(id)
	if err != nil {
		return nil, err
	}
	st := rec.OCIState(env.Store)
	return &st, nil
}

// Start releases a created container's init.
func Start(ctx context.Context, env *Env, id string) error {
	unlock, err := env.Store.Lock(id)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := env.Store.Load(id)
	if err != nil {
		return err
	}
	switch st := rec.Current(env.Store); st {
	case state.Created:
	case state.Stopped:
		return fmt.Errorf("container %q: cannot start a container that has stopped", id)
	default:
		return fmt.Errorf("container %q: cannot start a container in state %s", id, st)
	}
	fifo := env.Store.FifoPath(id)
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("container %q: opening the exec fifo: %w", id, err)
	}
	defer unix.Close(fd)
	// The init's open for writing completes now; wait for its byte, but not
	// past its death.
	buf := make([]byte, 1)
	for deadline := time.Now().Add(30 * time.Second); ; {
		n, err := unix.Read(fd, buf)
		if n == 1 {
			break
		}
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			return fmt.Errorf("container %q: reading the exec fifo: %w", id, err)
		}
		if !rec.Alive() {
			// A quick container may open the fifo, write, exec and exit
			// between our read and this check: its byte is still there.
			if n, _ := unix.Read(fd, buf); n == 1 {
				break
			}
			return fmt.Errorf("container %q: the init exited before start", id)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("container %q: the init did not answer start", id)
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		_, _ = unix.Poll(pfd, 20)
	}
	// The fifo's removal is the record of the start: Current reads a live
	// init without its fifo as running, as runc does, so no save (a new
	// inode, ~1 ms on a disk /run) is needed.
	if err := os.Remove(fifo); err != nil {
		return fmt.Errorf("container %q: removing the exec fifo: %w", id, err)
	}
	if h, err := rec.Hooks(); err != nil {
		env.Log.Warnf("poststart hooks not run: %v", err)
	} else if h != nil {
		st := rec.OCIState(env.Store)
		for _, err := range hooks.RunEach("poststart", h.Poststart, &st) {
			env.Log.Warnf("container %q: %v", id, err)
		}
	}
	return nil
}

// ParseSignal takes runc's forms: 9, KILL, SIGKILL, sigkill.
func ParseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d is out of range", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	if strings.HasPrefix(name, "SIGRTMIN+") || strings.HasPrefix(name, "SIGRTMAX-") {
		off, err := strconv.Atoi(name[9:])
		if err == nil && off >= 0 && off <= 30 {
			if name[6] == 'I' {
				return unix.Signal(34 + off), nil
			}
			return unix.Signal(64 - off), nil
		}
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// Kill signals the container's init, or every process of it with all.
func Kill(ctx context.Context, env *Env, id string, sig unix.Signal, all bool) error {
	rec, err := env.Store.Load(id)
	if err != nil {
		return err
	}
	st := rec.Current(env.Store)
	if st == state.Stopped && !all {
		return fmt.Errorf("container %q: container not running", id)
	}
	if all {
		_, err := withResources(ctx, env, id, "kill all", func(ctx context.Context, rc stagev1.ResourcesClient, c *stagev1.Container) error {
			_, err := rc.KillAll(ctx, &stagev1.KillAllRequest{Container: c, Signal: int32(sig)})
			return err
		})
		return err
	}
	if err := unix.Kill(rec.Pid, sig); err != nil {
		return fmt.Errorf("container %q: signalling pid %d: %w", id, rec.Pid, err)
	}
	return nil
}

// Delete removes a stopped container, or any container with force. A missing
// container is success with force, as containerd needs after a failed create.
func Delete(ctx context.Context, env *Env, id string, force bool) error {
	if err := state.ValidateID(id); err != nil {
		return err
	}
	unlock, err := env.Store.Lock(id)
	if errors.Is(err, state.ErrNotExist) {
		if force {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := env.Store.Load(id)
	if err != nil {
		return err
	}
	st := rec.Current(env.Store)
	if (st == state.Running || st == state.Paused || st == state.Creating) && !force {
		return fmt.Errorf("container %q: cannot delete a container that is not stopped: %s", id, st)
	}
	// Only processes that are still the ones recorded: a pid whose process
	// was reaped may belong to anything on the host by now.
	if rec.BootstrapAlive() {
		_ = unix.Kill(rec.BootstrapPid, unix.SIGKILL)
	}
	if rec.Alive() {
		_ = unix.Kill(rec.Pid, unix.SIGKILL)
	}
	if force && st == state.Creating && rec.CreatorAlive() {
		_ = unix.Kill(rec.CreatorPid, unix.SIGKILL)
	}
	destroy := launchDestroyers(ctx, env, rec, env.Warm)
	defer destroy.abandon()
	waitGone(rec)
	if err := unmountContainerMounts(rec); err != nil {
		return fmt.Errorf("container %q: %w", id, err)
	}
	if err := destroy.destroy(ctx, rec); err != nil {
		return fmt.Errorf("container %q: %w", id, err)
	}
	if h, err := rec.Hooks(); err != nil {
		env.Log.Warnf("poststop hooks not run: %v", err)
	} else if h != nil {
		s := rec.OCIState(env.Store)
		s.Status = specs.StateStopped
		for _, err := range hooks.RunEach("poststop", h.Poststop, &s) {
			env.Log.Warnf("container %q: %v", id, err)
		}
	}
	return env.Store.Remove(id)
}
