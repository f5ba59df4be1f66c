package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/initproc"
	"github.com/rung-runtime/rung/internal/nsexec"
	"github.com/rung-runtime/rung/internal/state"
	"github.com/rung-runtime/rung/proto/stagev1"
)

// ExecOptions are `rung exec`'s flags.
type ExecOptions struct {
	ID            string
	Process       *specs.Process
	PidFile       string
	ConsoleSocket string
	PreserveFds   int
}

var nsProcName = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.MountNamespace: "mnt",
	specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time",
}

var nsCloneFlag = map[specs.LinuxNamespaceType]int{
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.NetworkNamespace: unix.CLONE_NEWNET, specs.MountNamespace: unix.CLONE_NEWNS,
	specs.IPCNamespace: unix.CLONE_NEWIPC, specs.UTSNamespace: unix.CLONE_NEWUTS, specs.UserNamespace: unix.CLONE_NEWUSER,
	specs.CgroupNamespace: unix.CLONE_NEWCGROUP, specs.TimeNamespace: unix.CLONE_NEWTIME,
}

// Exec starts a new process in a running container: every namespace of its
// init joined, cloned into its cgroup, under its seccomp filter. It returns
// the process's host pid.
func Exec(ctx context.Context, env *Env, opts ExecOptions) (int, error) {
	rec, err := env.Store.Load(opts.ID)
	if err != nil {
		return 0, err
	}
	fail := func(err error) (int, error) { return 0, fmt.Errorf("container %q: exec: %w", opts.ID, err) }
	if st := rec.Current(env.Store); st != state.Running && st != state.Created {
		return fail(fmt.Errorf("cannot exec in a container that is %s", st))
	}
	if opts.PreserveFds < 0 || opts.PreserveFds > 1024 {
		return fail(fmt.Errorf("--preserve-fds: %d is out of range", opts.PreserveFds))
	}
	if err := validateProcess(opts.Process, "process"); err != nil {
		return fail(err)
	}
	stored, err := rec.Spec()
	if err != nil {
		return fail(err)
	}
	spec := *stored
	spec.Process = opts.Process
	spec.Hooks = nil

	var boot nsexec.Bootstrap
	proc := fmt.Sprintf("/proc/%d/ns/", rec.Pid)
	for _, ns := range stored.Linux.Namespaces {
		name, ok := nsProcName[ns.Type]
		if !ok {
			continue
		}
		boot.Joins = append(boot.Joins, nsexec.Join{Flag: nsCloneFlag[ns.Type], Path: proc + name})
	}
	initPlan, err := execPlan(ctx, env, rec, stored, &spec)
	if err != nil {
		return fail(err)
	}
	sp := &spawner{
		env: env, id: opts.ID, process: opts.Process, consoleSocket: opts.ConsoleSocket, preserveFds: opts.PreserveFds,
		cgroupDir: rec.CgroupPath, cgroupV1Dirs: rec.CgroupV1Paths, bootstrap: boot,
		step:    func(string) error { return nil },
		started: func(int) error { return nil },
		forked:  func(int) error { return nil },
		config: func(int) *initproc.Config {
			st := rec.OCIState(env.Store)
			cfg := &initproc.Config{ID: rec.ID, Bundle: rec.Bundle, Rootfs: "/", Spec: &spec, Exec: true, Plan: initPlan, State: &st}
			if rec.SharesHostMounts {
				cfg.ExecRoot = fmt.Sprintf("/proc/%d/root", rec.Pid)
			}
			return cfg
		},
	}
	defer sp.close()
	if !rec.Alive() {
		return fail(fmt.Errorf("the container's init has exited"))
	}
	if err := sp.run(); err != nil {
		return fail(err)
	}
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, sp.Pid); err != nil {
			return fail(err)
		}
	}
	return sp.Pid, nil
}

// execPlan reuses what the stages planned at create for the new process:
// the seccomp filter, the mount label, Landlock, and the LSM labels unless
// the exec'd process asks for its own, in which case the lsm stage is asked
// again for just this process.
func execPlan(ctx context.Context, env *Env, rec *state.Container, stored, spec *specs.Spec) (initproc.Plan, error) {
	sameLSM := stored.Process != nil &&
		spec.Process.ApparmorProfile == stored.Process.ApparmorProfile &&
		spec.Process.SelinuxLabel == stored.Process.SelinuxLabel
	var pl plan
	for stage, r := range rec.Plugins {
		actions, err := decodeActions(r.Actions)
		if err != nil {
			return initproc.Plan{}, fmt.Errorf("stage %s: stored plan: %w", stage, err)
		}
		var keep []*stagev1.Action
		for _, a := range actions {
			switch a.GetKind().(type) {
			case *stagev1.Action_Namespace, *stagev1.Action_TimeOffsets, *stagev1.Action_Cgroup, *stagev1.Action_Loopback:
				continue // the joined namespaces and cgroup stand for these
			case *stagev1.Action_ProcAttr:
				if !sameLSM {
					continue
				}
			}
			keep = append(keep, a)
		}
		if err := pl.add(keep); err != nil {
			return initproc.Plan{}, fmt.Errorf("stage %s: stored plan: %w", stage, err)
		}
	}
	if !sameLSM {
		attrs, err := lsmAttrsFor(ctx, env, rec, spec)
		if err != nil {
			return initproc.Plan{}, err
		}
		pl.init.ProcAttrs = attrs
	}
	return pl.init, nil
}

// lsmAttrsFor asks the lsm stage to plan labels for an exec'd process.
func lsmAttrsFor(ctx context.Context, env *Env, rec *state.Container, spec *specs.Spec) ([]initproc.ProcAttr, error) {
	set, err := launchFor(ctx, env, []string{"lsm"})
	if err != nil {
		return nil, err
	}
	defer set.Close()
	p := set[0]
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	pc := &stagev1.Container{Id: rec.ID, Bundle: rec.Bundle, SpecJson: raw, Annotations: rec.Annotations, PluginConfigJson: p.Spec.Config}
	fold := p.Desc.GetValidatesInPrepare()
	if !fold {
		if err := callValidate(ctx, p, pc); err != nil {
			return nil, err
		}
	}
	resp, err := callPrepare(ctx, p, pc, fold)
	if err != nil {
		return nil, err
	}
	var pl plan
	var attrs []*stagev1.Action
	for _, a := range resp.GetActions() {
		if _, ok := a.GetKind().(*stagev1.Action_ProcAttr); ok {
			attrs = append(attrs, a)
		}
	}
	if err := pl.add(attrs); err != nil {
		return nil, fmt.Errorf("%s: prepare: %w", p.Label(), err)
	}
	return pl.init.ProcAttrs, nil
}

// LoadProcess reads an OCI process object (exec --process).
func LoadProcess(path string) (*specs.Process, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--process: %w", err)
	}
	defer f.Close()
	var p specs.Process
	dec := json.NewDecoder(&limitedReader{f, maxConfigSize})
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("--process %s: %w", path, err)
	}
	return &p, nil
}

type limitedReader struct {
	f *os.File
	n int
}

func (l *limitedReader) Read(b []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("larger than %d bytes", maxConfigSize)
	}
	if len(b) > l.n {
		b = b[:l.n]
	}
	n, err := l.f.Read(b)
	l.n -= n
	return n, err
}
