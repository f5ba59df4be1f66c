package lifecycle

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/launcher"
	"github.com/rung-runtime/rung/internal/state"
)

// CriuOptions are the CRIU options `rung checkpoint` and `rung restore`
// share (runc's names).
type CriuOptions struct {
	Criu           string // the global --criu
	ImagePath      string
	WorkPath       string
	TCPEstablished bool
	ExtUnixSk      bool
	ShellJob       bool
	FileLocks      bool
	// ManageCgroupsMode is runc's --manage-cgroups-mode (soft, full, strict,
	// ignore); empty is CRIU's default.
	ManageCgroupsMode string
	// EmptyNs names namespaces (runc's "network") CRIU leaves out of the
	// images; whoever restores makes them.
	EmptyNs   []string
	AutoDedup bool
}

// check refuses what neither operation can run with.
func (o CriuOptions) check() error {
	if o.ImagePath == "" {
		return errors.New("--image-path is required")
	}
	return CheckManageCgroupsMode(o.ManageCgroupsMode)
}

// args are the criu arguments the shared options amount to.
func (o CriuOptions) args(leaveRunning bool) []string {
	var out []string
	for _, f := range []struct {
		on   bool
		flag string
	}{{leaveRunning, "--leave-running"}, {o.TCPEstablished, "--tcp-established"}, {o.ExtUnixSk, "--ext-unix-sk"},
		{o.ShellJob, "--shell-job"}, {o.FileLocks, "--file-locks"}, {o.AutoDedup, "--auto-dedup"}} {
		if f.on {
			out = append(out, f.flag)
		}
	}
	for _, ns := range o.EmptyNs {
		out = append(out, "--empty-ns", criuNSName(ns))
	}
	return out
}

// CheckpointOptions are `rung checkpoint`'s flags.
type CheckpointOptions struct {
	ID string
	CriuOptions
	LeaveRunning bool
	ParentPath   string
	PreDump      bool
}

// RestoreOptions are `rung restore`'s flags.
type RestoreOptions struct {
	ID string
	CriuOptions
	Bundle        string
	PidFile       string
	ConsoleSocket string
}

// checkpointMeta is what rung keeps next to CRIU's images so a restore knows
// what the dumped container looked like.
type checkpointMeta struct {
	ID     string      `json:"id"`
	Bundle string      `json:"bundle"`
	Rootfs string      `json:"rootfs"`
	Spec   *specs.Spec `json:"spec"`
	// Descriptors are the init's fds 0-2 as /proc/PID/fd shows them (runc's
	// descriptors.json): a pipe among them is handed over on restore.
	Descriptors []string `json:"descriptors"`
}

const (
	checkpointMetaName = "rung-checkpoint.json"
	// runc's name, which tools that look into images know.
	descriptorsName = "descriptors.json"
	dumpLogName     = "dump.log"
	restoreLogName  = "restore.log"
)

// Checkpoint dumps a running container with CRIU. Without LeaveRunning the
// container's processes are gone afterwards and it is stopped.
func Checkpoint(ctx context.Context, env *Env, opts CheckpointOptions) error {
	if err := state.ValidateID(opts.ID); err != nil {
		return err
	}
	if err := opts.check(); err != nil {
		return fmt.Errorf("container %q: checkpoint: %w", opts.ID, err)
	}
	unlock, err := env.Store.Lock(opts.ID)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := env.Store.Load(opts.ID)
	if err != nil {
		return err
	}
	if st := rec.Current(env.Store); st != state.Running {
		return fmt.Errorf("container %q: checkpoint: container is %s, not running", opts.ID, st)
	}
	images, work, err := criuDirs(opts.ImagePath, opts.WorkPath)
	if err != nil {
		return fmt.Errorf("container %q: checkpoint: %w", opts.ID, err)
	}
	spec, err := rec.Spec()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	meta := checkpointMeta{ID: rec.ID, Bundle: rec.Bundle, Rootfs: rec.Rootfs, Spec: spec,
		Descriptors: descriptorsOf(rec.Pid)}
	if err := writeJSONFile(filepath.Join(images, checkpointMetaName), meta); err != nil {
		return fmt.Errorf("container %q: checkpoint: %w", opts.ID, err)
	}
	if err := writeJSONFile(filepath.Join(images, descriptorsName), meta.Descriptors); err != nil {
		return fmt.Errorf("container %q: checkpoint: %w", opts.ID, err)
	}
	args := dumpArgs(rec, spec, images, work, opts)
	env.Log.Debug("criu dump", "container", opts.ID, "args", strings.Join(args, " "))
	if err := runCriu(ctx, opts.Criu, args, filepath.Join(work, dumpLogName), nil); err != nil {
		return fmt.Errorf("container %q: checkpoint: %w", opts.ID, err)
	}
	if opts.LeaveRunning || opts.PreDump {
		return nil
	}
	// CRIU killed the tree once the images were written; the init may not be
	// reaped yet by whoever is its parent.
	waitGone(rec)
	rec.Status = state.Stopped
	return env.Store.Save(rec)
}

// dumpArgs is the criu dump command line runc's options amount to.
func dumpArgs(rec *state.Container, spec *specs.Spec, images, work string, opts CheckpointOptions) []string {
	cmd := "dump"
	if opts.PreDump {
		// A pre-dump only copies memory; the container keeps running.
		cmd = "pre-dump"
	}
	args := []string{cmd, "--tree", strconv.Itoa(rec.Pid), "--images-dir", images, "--work-dir", work,
		"--root", rec.Rootfs, manageCgroups(opts.ManageCgroupsMode), "-v4", "--log-file", dumpLogName}
	if opts.ParentPath != "" {
		// CRIU takes it relative to the images dir, as runc passes it.
		args = append(args, "--prev-images-dir", opts.ParentPath, "--track-mem")
	} else if opts.PreDump {
		args = append(args, "--track-mem")
	}
	for _, m := range extMountsForDump(spec, rec.Pid) {
		args = append(args, "--ext-mount-map", m)
	}
	// A joined network namespace (a CNI one) is not the container's to
	// dump: CRIU records it as external and restore hands it back (runc).
	if ino, ok := joinedNetNSInode(spec); ok {
		args = append(args, "--external", fmt.Sprintf("net[%d]:%s", ino, extNetNSKey))
	}
	if spec.Process != nil && spec.Process.Terminal {
		args = append(args, "--orphan-pts-master")
	}
	return append(args, opts.args(opts.LeaveRunning && !opts.PreDump)...)
}

// extNetNSKey is runc's name for a joined network namespace in the images.
const extNetNSKey = "extRootNetNS"

func manageCgroups(mode string) string {
	if mode == "" {
		return "--manage-cgroups"
	}
	return "--manage-cgroups=" + mode
}

// criuNSName is CRIU's name of a runtime-spec namespace type.
func criuNSName(ns string) string {
	if ns == string(specs.NetworkNamespace) {
		return "net"
	}
	return ns
}

func joinedNetNSPath(spec *specs.Spec) string {
	if spec == nil || spec.Linux == nil {
		return ""
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			return ns.Path
		}
	}
	return ""
}

func joinedNetNSInode(spec *specs.Spec) (uint64, bool) {
	p := joinedNetNSPath(spec)
	if p == "" {
		return 0, false
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, false
	}
	return st.Ino, true
}

// CheckManageCgroupsMode accepts runc's --manage-cgroups-mode values.
func CheckManageCgroupsMode(mode string) error {
	switch mode {
	case "", "soft", "full", "strict", "ignore":
		return nil
	}
	return fmt.Errorf("--manage-cgroups-mode: %q is not soft, full, strict or ignore", mode)
}

// extMountsForDump names, as runc does, every mount CRIU cannot dump itself:
// bind mounts (their source is outside the container) and the /dev/null
// binds over masked files, which restore maps back to the host's /dev/null.
func extMountsForDump(spec *specs.Spec, pid int) []string {
	if spec == nil {
		return nil
	}
	var out []string
	for _, m := range bindMounts(spec) {
		out = append(out, m.Destination+":"+m.Destination)
	}
	if spec.Linux != nil {
		for _, p := range spec.Linux.MaskedPaths {
			fi, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid), "root", p))
			if err != nil || fi.IsDir() {
				continue // a missing path is not masked; a dir gets a tmpfs CRIU dumps
			}
			out = append(out, p+":/dev/null")
		}
	}
	return out
}

func bindMounts(spec *specs.Spec) []specs.Mount {
	var out []specs.Mount
	for _, m := range spec.Mounts {
		bind := m.Type == "bind"
		for _, o := range m.Options {
			if o == "bind" || o == "rbind" {
				bind = true
			}
		}
		if bind {
			out = append(out, m)
		}
	}
	return out
}

func extMountsForRestore(spec *specs.Spec, bundle string) []string {
	var out []string
	for _, m := range bindMounts(spec) {
		src := m.Source
		if !filepath.IsAbs(src) {
			src = filepath.Join(bundle, src) // as create resolves it
		}
		out = append(out, m.Destination+":"+src)
	}
	if spec.Linux != nil && len(spec.Linux.MaskedPaths) > 0 {
		out = append(out, "/dev/null:/dev/null")
	}
	return out
}

// descriptorsOf reads the init's stdio links; an unreadable one is "".
func descriptorsOf(pid int) []string {
	out := make([]string, 3)
	for i := range out {
		out[i], _ = os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, i))
	}
	return out
}

func criuDirs(images, work string) (string, string, error) {
	images, err := filepath.Abs(images)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(images, 0o700); err != nil {
		return "", "", fmt.Errorf("--image-path: %w", err)
	}
	if work == "" {
		return images, images, nil
	}
	if work, err = filepath.Abs(work); err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(work, 0o700); err != nil {
		return "", "", fmt.Errorf("--work-path: %w", err)
	}
	return images, work, nil
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// runCriu runs criu and turns a failure into one line carrying criu's last
// error. prep, when set, adjusts the command (extra fds) before it starts.
func runCriu(ctx context.Context, bin string, args []string, logPath string, prep func(*exec.Cmd)) error {
	if bin == "" {
		bin = "criu"
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	// criu's own chatter belongs in its log, never on the container's or
	// the caller's stdio.
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if prep != nil {
		prep(cmd)
	}
	if err := cmd.Run(); err != nil {
		line := lastCriuError(logPath)
		if line == "" {
			line = lastLine(out.String())
		}
		if line == "" {
			line = err.Error()
		}
		return fmt.Errorf("criu %s failed: %s (log: %s)", args[0], line, logPath)
	}
	return nil
}

// lastCriuError is the first and last "Error (...)" lines of a criu log:
// the first usually names the cause, the last what criu gave up on.
func lastCriuError(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		l := sc.Text()
		if i := strings.Index(l, "Error ("); i >= 0 {
			lines = append(lines, strings.TrimSpace(l[i:]))
		}
	}
	return firstAndLast(lines)
}

func firstAndLast(lines []string) string {
	switch len(lines) {
	case 0:
		return ""
	case 1:
		return lines[0]
	}
	return lines[0] + " ... " + lines[len(lines)-1]
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// CriuCheck runs `criu check` and returns its last error line when the
// kernel (or criu) cannot checkpoint here.
func CriuCheck(ctx context.Context, bin string) error {
	if bin == "" {
		bin = "criu"
	}
	out, err := exec.CommandContext(ctx, bin, "check").CombinedOutput()
	if err == nil {
		return nil
	}
	var errs []string
	for _, l := range strings.Split(string(out), "\n") {
		if i := strings.Index(l, "Error ("); i >= 0 {
			errs = append(errs, strings.TrimSpace(l[i:]))
		}
	}
	last := firstAndLast(errs)
	if last == "" {
		last = lastLine(string(out))
	}
	if last == "" {
		last = err.Error()
	}
	return fmt.Errorf("criu check failed: %s", last)
}

// Restore makes a new container from a checkpoint: a state record as
// create makes, the cgroup from the cgroup stage's Prepare, and the process
// tree from CRIU. It returns the restored init's pid.
func Restore(ctx context.Context, env *Env, opts RestoreOptions) (pid int, err error) {
	if err := state.ValidateID(opts.ID); err != nil {
		return 0, err
	}
	if err := opts.check(); err != nil {
		return 0, fmt.Errorf("container %q: restore: %w", opts.ID, err)
	}
	if opts.ManageCgroupsMode == "ignore" {
		// rung does not run criu inside the new cgroup, so CRIU must place
		// the tree itself.
		return 0, fmt.Errorf("container %q: restore: --manage-cgroups-mode ignore is not supported", opts.ID)
	}
	images, work, err := criuDirs(opts.ImagePath, opts.WorkPath)
	if err != nil {
		return 0, fmt.Errorf("container %q: restore: %w", opts.ID, err)
	}
	var meta checkpointMeta
	if b, err := os.ReadFile(filepath.Join(images, checkpointMetaName)); err != nil {
		return 0, fmt.Errorf("container %q: restore: %w (not a rung checkpoint?)", opts.ID, err)
	} else if err := json.Unmarshal(b, &meta); err != nil {
		return 0, fmt.Errorf("container %q: restore: %s: %w", opts.ID, checkpointMetaName, err)
	}
	bundle, err := LoadBundle(opts.Bundle)
	if err != nil {
		return 0, fmt.Errorf("container %q: %w", opts.ID, err)
	}
	if bundle.Spec.Process == nil {
		return 0, fmt.Errorf("container %q: config.json: process: missing", opts.ID)
	}
	if bundle.Spec.Process.Terminal || opts.ConsoleSocket != "" {
		return 0, fmt.Errorf("container %q: restore: process.terminal: restoring a terminal container is not supported yet", opts.ID)
	}
	for _, ns := range bundle.Spec.Linux.Namespaces {
		if ns.Path != "" && ns.Type != specs.NetworkNamespace {
			return 0, fmt.Errorf("container %q: restore: linux.namespaces: joining namespace %s at %s is not supported on restore", opts.ID, ns.Type, ns.Path)
		}
	}
	set, err := launcher.LaunchAll(ctx, env.Log, env.Plugins, nil)
	if err != nil {
		return 0, fmt.Errorf("container %q: %w", opts.ID, err)
	}
	c := &creation{env: env, restoring: true, opts: CreateOptions{ID: opts.ID, Bundle: opts.Bundle, PidFile: opts.PidFile},
		bundle: bundle, plugins: set, began: time.Now()}
	defer func() { set.Close() }()
	if err := c.validate(ctx); err != nil {
		return 0, fmt.Errorf("container %q: %w", opts.ID, err)
	}
	// CRIU rebuilds namespaces, seccomp and LSM labels from the images; only
	// the stage that owns the cgroup has out-of-process work to redo.
	var keep launcher.Set
	for _, p := range set {
		if p.Desc.GetResources() {
			keep = append(keep, p)
		}
	}
	if len(keep) == 0 {
		return 0, fmt.Errorf("container %q: restore: no stage manages its cgroup", opts.ID)
	}
	c.plugins = keep
	if err := env.Store.Reserve(opts.ID); err != nil {
		return 0, err
	}
	c.saver = env.Store.Saver(opts.ID)
	defer c.saver.Close()
	defer func() {
		if err != nil {
			c.abort()
		}
	}()
	if err := c.restore(ctx, images, work, &meta, opts); err != nil {
		return 0, fmt.Errorf("container %q: restore: %w", opts.ID, err)
	}
	return c.rec.Pid, nil
}

func (c *creation) restore(ctx context.Context, images, work string, meta *checkpointMeta, opts RestoreOptions) error {
	if err := c.begin(ctx); err != nil {
		return err
	}
	if c.plan.cgroupDir == "" {
		return errors.New("the cgroup stage placed the container in no cgroup")
	}
	cgRoot, err := cgroupRelPath(c.plan.cgroupDir)
	if err != nil {
		return err
	}
	pidFile := filepath.Join(c.env.Store.Dir(c.opts.ID), "criu.pid")
	mnt := filepath.Join(c.env.Store.Dir(c.opts.ID), "criu-root")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		return err
	}
	defer os.Remove(mnt)
	args := []string{"restore", "--restore-detached", "--pidfile", pidFile, "--images-dir", images,
		"--work-dir", work, "--root", mnt, manageCgroups(opts.ManageCgroupsMode), "--cgroup-root", cgRoot,
		"-v4", "--log-file", restoreLogName}
	for _, m := range extMountsForRestore(c.bundle.Spec, c.bundle.Dir) {
		args = append(args, "--ext-mount-map", m)
	}
	args = append(args, opts.args(false)...)
	var extra []*os.File
	if p := joinedNetNSPath(c.bundle.Spec); p != "" {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("linux.namespaces: network path: %w", err)
		}
		defer f.Close()
		args = append(args, "--inherit-fd", fmt.Sprintf("fd[%d]:%s", 3+len(extra), extNetNSKey))
		extra = append(extra, f)
	}
	// The caller's stdio takes the place of the pipes the dumped init had,
	// as runc does for containerd's fifos.
	for i, d := range meta.Descriptors {
		if strings.HasPrefix(d, "pipe:") && i < len(c.env.Stdio) && c.env.Stdio[i] != nil {
			args = append(args, "--inherit-fd", fmt.Sprintf("fd[%d]:%s", 3+len(extra), d))
			extra = append(extra, c.env.Stdio[i])
		}
	}
	if err := c.step("restore"); err != nil {
		return err
	}
	c.env.Log.Debug("criu restore", "container", c.opts.ID, "args", strings.Join(args, " "))
	err = inPrivateMountNS(c.bundle.Rootfs, mnt, func() error {
		return runCriu(ctx, opts.Criu, args, filepath.Join(work, restoreLogName), func(cmd *exec.Cmd) {
			cmd.ExtraFiles = extra
		})
	})
	if b, rerr := os.ReadFile(pidFile); rerr == nil {
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
			if rperr := c.recordPid(pid); rperr != nil && err == nil {
				err = rperr
			}
		}
	}
	if err != nil {
		return err
	}
	if c.rec.Pid == 0 {
		return fmt.Errorf("criu restore wrote no pid to %s", pidFile)
	}
	// CRIU put the tree in the cgroup already; Attach makes sure of the
	// init and lets the stage record what it needs.
	if err := c.attach(ctx, c.rec.Pid); err != nil {
		return err
	}
	if c.opts.PidFile != "" {
		if err := writePidFile(c.opts.PidFile, c.rec.Pid); err != nil {
			return err
		}
	}
	c.rec.Status = state.Running
	c.rec.CreatorPid, c.rec.CreatorStartTime = 0, 0
	return c.step("restored")
}

// cgroupRelPath is a cgroup directory as CRIU's --cgroup-root wants it:
// relative to the cgroup2 mount it lives on.
func cgroupRelPath(dir string) (string, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup2"))
	if err != nil {
		return "", err
	}
	best := ""
	for _, m := range mounts {
		if (dir == m.Mountpoint || strings.HasPrefix(dir, m.Mountpoint+"/")) && len(m.Mountpoint) > len(best) {
			best = m.Mountpoint
		}
	}
	if best == "" {
		return "", fmt.Errorf("cgroup %s is on no cgroup2 mount", dir)
	}
	rel := strings.TrimPrefix(dir, best)
	if rel == "" {
		rel = "/"
	}
	return rel, nil
}

// inPrivateMountNS runs f on a thread of its own in a new mount namespace
// where rootfs is bind-mounted on mnt (CRIU wants the root to restore into
// to be a mount point, as runc arranges), so the host never sees the mount.
// The thread goes back to the host's namespace afterwards: a thread that
// dies would SIGKILL the plugins it may have forked earlier (Pdeathsig).
func inPrivateMountNS(rootfs, mnt string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		cwd, err := os.Getwd()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		orig, err := os.Open("/proc/thread-self/ns/mnt")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("private mount namespace: %w", err)
			return
		}
		defer orig.Close()
		// CLONE_FS: setns back into a mount namespace needs an unshared fs.
		if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("private mount namespace: %w", err)
			return
		}
		errc <- func() error {
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return fmt.Errorf("private mount namespace: %w", err)
			}
			if err := unix.Mount(rootfs, mnt, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("bind %s on %s: %w", rootfs, mnt, err)
			}
			return f()
		}()
		// Only a thread back in the host's namespace, in the process's cwd,
		// may run other goroutines; otherwise it stays locked and dies.
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNS) == nil && unix.Chdir(cwd) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}
