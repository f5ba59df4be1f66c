package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/hooks"
	"github.com/rung-runtime/rung/internal/initproc"
	"github.com/rung-runtime/rung/internal/nsexec"
	"github.com/rung-runtime/rung/internal/process"
	"github.com/rung-runtime/rung/plugins/seccomp/install"
)

// spawner runs one init (create) or exec'd process through the bootstrap:
// spawn, Attach while it waits, fork, config, ready. The caller's callbacks
// record each step before the next hand-off.
type spawner struct {
	env           *Env
	id            string
	process       *specs.Process
	consoleSocket string
	preserveFds   int
	fifo          *os.File // create only
	cgroupDir     string
	cgroupV1Dirs  []string
	bootstrap     nsexec.Bootstrap
	hooks         *specs.Hooks

	step    func(string) error
	started func(bootPid int) error
	attach  func(pid int) error // nil: nothing to attach
	forked  func(pid int) error
	config  func(pid int) *initproc.Config
	// initMarks, when set, gets the init's own steps (config.Timing).
	initMarks func([]initproc.Mark)

	boot *exec.Cmd
	sock *os.File
	Pid  int
}

func (sp *spawner) run() error {
	extra := make([]*os.File, 0, sp.preserveFds+3)
	for i := 0; i < sp.preserveFds; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved-fd-"+strconv.Itoa(3+i)))
	}
	if err := checkConsoleFlags(sp.process, sp.consoleSocket); err != nil {
		return err
	}
	var console *os.File
	if sp.process.Terminal {
		var err error
		console, err = dialConsole(sp.consoleSocket)
		if err != nil {
			return err
		}
		defer console.Close()
	}

	parent, child, err := socketPair()
	if err != nil {
		return err
	}
	sp.sock = parent
	defer child.Close()
	syncFd := 3 + len(extra)
	extra = append(extra, child)
	fifoFd := -1
	if sp.fifo != nil {
		fifoFd = 3 + len(extra)
		extra = append(extra, sp.fifo)
	}
	consoleFd := -1
	if console != nil {
		consoleFd = 3 + len(extra)
		extra = append(extra, console)
	}

	cgroupTasks, err := openCgroupV1Tasks(sp.cgroupV1Dirs)
	if err != nil {
		return err
	}
	defer closeFiles(cgroupTasks)
	sp.bootstrap.CgroupTasks = sp.bootstrap.CgroupTasks[:0]
	for i, f := range cgroupTasks {
		sp.bootstrap.CgroupTasks = append(sp.bootstrap.CgroupTasks, nsexec.CgroupTasks{Fd: 3 + len(extra), Dir: sp.cgroupV1Dirs[i]})
		extra = append(extra, f)
	}

	self, err := sealedInit(sp.env.Log, extra, sp.env.Store.Root)
	if err != nil {
		return err
	}
	defer self.Close()
	cmd := &exec.Cmd{
		Path: "/proc/self/fd/" + strconv.Itoa(int(self.Fd())),
		// The id in the cmdline lets an operator tell which container an init
		// that has not exec'd yet belongs to.
		Args:       []string{"rung", "init", sp.id},
		Env:        []string{nsexec.InitEnv + "=" + strconv.Itoa(syncFd)},
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			// The bootstrap must not outlive a rung that died mid-way.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	if sp.process.Terminal {
		null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer null.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	} else {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = sp.env.Stdio[0], sp.env.Stdio[1], sp.env.Stdio[2]
	}
	if sp.cgroupDir != "" {
		cg, err := os.Open(sp.cgroupDir)
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", sp.cgroupDir, err)
		}
		defer cg.Close()
		var fs unix.Statfs_t
		if err := unix.Fstatfs(int(cg.Fd()), &fs); err != nil || fs.Type != unix.CGROUP2_SUPER_MAGIC {
			return fmt.Errorf("cgroup %s from the cgroups stage is not a cgroup v2 directory", sp.cgroupDir)
		}
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(cg.Fd())
	}
	bootMsg, err := sp.bootstrap.Encode()
	if err != nil {
		return err
	}
	if err := sp.step("spawn"); err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the init: %w", err)
	}
	sp.boot = cmd
	if err := sp.started(cmd.Process.Pid); err != nil {
		return err
	}
	child.Close()
	closeFiles(cgroupTasks)
	_ = parent.SetDeadline(time.Now().Add(initTimeout))
	if _, err := parent.Write(bootMsg); err != nil {
		return sp.initFailed("sending the bootstrap", err)
	}
	rep, err := nsexec.ReadReply(parent)
	if err != nil || rep.Type != nsexec.ReplyAttach {
		return sp.bootstrapFailed(rep, err)
	}
	if sp.attach != nil {
		if err := sp.attach(rep.Value); err != nil {
			return err
		}
	}
	if _, err := parent.Write(nsexec.Go()); err != nil {
		return sp.initFailed("releasing the bootstrap", err)
	}
	rep, err = nsexec.ReadReply(parent)
	if err != nil || rep.Type != nsexec.ReplyPid {
		return sp.bootstrapFailed(rep, err)
	}
	sp.Pid = rep.Value
	// The config goes out before the pid is saved and the bootstrap reaped:
	// the init wants it as soon as its Go runtime is up, and cannot get past
	// ready without this rung (its writes to the socket fail once we die).
	cfg := sp.config(sp.Pid)
	cfg.Build = initproc.BuildID()
	cfg.FifoFd, cfg.ConsoleSocketFd, cfg.PreserveFds = fifoFd, consoleFd, sp.preserveFds
	if err := initproc.WriteConfig(parent, cfg); err != nil {
		return sp.initFailed("sending the config", err)
	}
	if err := sp.forked(rep.Value); err != nil {
		return initSaid(parent, err)
	}
	if err := sp.boot.Wait(); err != nil {
		return sp.initFailed("bootstrap", err)
	}
	sp.boot = nil

	marks, err := talkToInit(parent, cfg, sp.hooks, cfg.State, sp.Pid)
	if err == nil && sp.initMarks != nil {
		sp.initMarks(marks)
	}
	return err
}

// initSaid is the init's own error if it sent one, else err: with its
// config in hand early, an init that refuses it (another build's) may be
// gone before the host records its pid.
func initSaid(sock *os.File, err error) error {
	_ = sock.SetReadDeadline(time.Now().Add(time.Second))
	var m initproc.Message
	if rerr := initproc.ReadFrame(sock, &m); rerr == nil && m.Type == initproc.MsgError {
		return fmt.Errorf("init: %s", m.Error)
	}
	return err
}

func (sp *spawner) bootstrapFailed(rep nsexec.Reply, err error) error {
	if err == nil && rep.Type == nsexec.ReplyError {
		sp.reap()
		return fmt.Errorf("init bootstrap: %s", rep.Text)
	}
	if err == nil {
		err = fmt.Errorf("unexpected reply %d", rep.Type)
	}
	return sp.initFailed("bootstrap", err)
}

func (sp *spawner) initFailed(what string, err error) error {
	if sp.boot != nil {
		_ = sp.boot.Process.Kill()
		sp.reap()
	}
	return fmt.Errorf("init %s: %w", what, err)
}

func (sp *spawner) reap() {
	if sp.boot != nil {
		_ = sp.boot.Wait()
		sp.boot = nil
	}
}

// close ends whatever of the spawn is still running.
func (sp *spawner) close() {
	if sp.sock != nil {
		sp.sock.Close()
	}
	if sp.boot != nil {
		_ = sp.boot.Process.Kill()
		sp.reap()
	}
}

// talkToInit serves the init's requests, its config sent, until it reports
// ready or fails.
func talkToInit(sock *os.File, cfg *initproc.Config, h *specs.Hooks, st *specs.State, pid int) ([]initproc.Mark, error) {
	in := &initproc.FdReader{Sock: sock}
	defer in.Close()
	notified := 0
	for heard := false; ; heard = true {
		var m initproc.Message
		if err := initproc.ReadFrame(in, &m); err != nil {
			if errors.Is(err, io.EOF) && !heard {
				// An init of another build that cannot read the config
				// exits without a word; a current one always says why.
				return nil, errors.New("init: exited during setup without a message (a rung-init of another build? install rung and rung-init from one build)")
			}
			if errors.Is(err, io.EOF) {
				return nil, errors.New("init: exited during setup")
			}
			return nil, fmt.Errorf("init: %w", err)
		}
		switch m.Type {
		case initproc.MsgReady:
			return m.Marks, nil
		case initproc.MsgError:
			return nil, fmt.Errorf("init: %s", m.Error)
		case initproc.MsgSeccompFd:
			fd := in.TakeFd()
			if fd < 0 {
				return nil, errors.New("init: seccomp notify message without an fd")
			}
			err := handOverNotifyFd(cfg, st, pid, &notified, fd)
			unix.Close(fd)
			if err != nil {
				return nil, err
			}
		case initproc.MsgRlimits:
			if err := answerInit(sock, process.SetRlimitsOf(pid, process.EarlyRlimits(cfg.Spec.Process.Rlimits))); err != nil {
				return nil, err
			}
		case initproc.MsgHooks:
			if err := answerInit(sock, runCreateHooks(h, st)); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("init: unexpected message %q", m.Type)
		}
	}
}

// handOverNotifyFd sends the n-th notify fd to its filter's listener with
// the container process state, as the runtime-spec's seccomp section says.
func handOverNotifyFd(cfg *initproc.Config, st *specs.State, pid int, n *int, fd int) error {
	var filter *initproc.Seccomp
	for i, seen := 0, 0; i < len(cfg.Plan.Seccomp); i++ {
		if cfg.Plan.Seccomp[i].ListenerPath == "" {
			continue
		}
		if seen == *n {
			filter = &cfg.Plan.Seccomp[i]
			break
		}
		seen++
	}
	*n++
	if filter == nil {
		return errors.New("init: a seccomp notify fd no filter asked for")
	}
	ps := specs.ContainerProcessState{
		Version: specs.Version, Fds: []string{specs.SeccompFdName}, Pid: pid, Metadata: filter.ListenerMetadata,
	}
	if st != nil {
		ps.State = *st
	}
	data, err := json.Marshal(ps)
	if err != nil {
		return err
	}
	if err := install.SendListener(filter.ListenerPath, data, fd); err != nil {
		return fmt.Errorf("linux.seccomp.listenerPath: %w", err)
	}
	return nil
}

func socketPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("init socket: %w", err)
	}
	// Non-blocking makes the parent end pollable, so deadlines apply.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "init-sync-parent"), os.NewFile(uintptr(fds[1]), "init-sync-child"), nil
}

func dialConsole(path string) (*os.File, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--console-socket %s: %w", path, err)
	}
	defer conn.Close()
	f, err := conn.(*net.UnixConn).File()
	if err != nil {
		return nil, fmt.Errorf("--console-socket %s: %w", path, err)
	}
	return f, nil
}

// checkConsoleFlags: a terminal needs somewhere to send its master, and a
// console socket without a terminal is a caller's mistake (runc refuses both).
func checkConsoleFlags(p *specs.Process, consoleSocket string) error {
	if p.Terminal && consoleSocket == "" {
		return errors.New("process.terminal: true needs --console-socket")
	}
	if !p.Terminal && consoleSocket != "" {
		return errors.New("--console-socket: given but process.terminal is false")
	}
	return nil
}

// answerInit tells the waiting init whether its request was carried out,
// and returns the request's error (or the reply's).
func answerInit(sock *os.File, err error) error {
	reply := initproc.Message{Type: initproc.MsgHooksOK}
	if err != nil {
		reply = initproc.Message{Type: initproc.MsgError, Error: err.Error()}
	}
	if werr := initproc.WriteFrame(sock, reply); werr != nil && err == nil {
		err = werr
	}
	return err
}

// runCreateHooks runs prestart and createRuntime, in the runtime's
// namespaces, once the init has prepared the rootfs.
func runCreateHooks(h *specs.Hooks, st *specs.State) error {
	if h == nil {
		return nil
	}
	//nolint:staticcheck // prestart is deprecated but runs, as runc.
	if err := hooks.Run("prestart", h.Prestart, st); err != nil {
		return err
	}
	return hooks.Run("createRuntime", h.CreateRuntime, st)
}
