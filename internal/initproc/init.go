package initproc

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/hooks"
	"github.com/rung-runtime/rung/internal/nsexec"
	"github.com/rung-runtime/rung/internal/process"
	"github.com/rung-runtime/rung/internal/procfs"
	"github.com/rung-runtime/rung/internal/rootfs"
	"github.com/rung-runtime/rung/plugins/seccomp/install"
)

// IsInit says whether this process is a container init the bootstrap forked.
func IsInit() bool {
	return os.Getenv(nsexec.InitEnv) != "" && len(os.Args) > 1 && os.Args[1] == "init"
}

// Main is the init's whole life: it never returns. On success it is replaced
// by the container's process; on failure it tells the host and exits.
func Main() {
	// Everything per-thread (LSM attributes, the seccomp filter before TSYNC,
	// namespace state) must happen on the thread that finally calls execve.
	runtime.LockOSThread()
	started := time.Now()
	fd, err := strconv.Atoi(os.Getenv(nsexec.InitEnv))
	if err != nil || fd < 3 {
		os.Exit(nsexec.ExitBootstrap)
	}
	os.Unsetenv(nsexec.InitEnv)
	sock := os.NewFile(uintptr(fd), "init-sync")
	var cfg Config
	// Of the failures to read the config, another build's is told to the
	// host (below): the user can do something about it.
	var other *otherBuildError
	if err = ReadConfig(sock, &cfg); err != nil && !errors.As(err, &other) {
		os.Exit(nsexec.ExitBootstrap)
	}
	if err == nil {
		t := &timeline{on: cfg.Timing}
		if t.on {
			t.marks = []Mark{{Step: "init go", At: started.UnixNano()}}
		}
		t.mark("init config")
		err = run(sock, &cfg, t)
	}
	_ = WriteFrame(sock, Message{Type: MsgError, Error: err.Error()})
	os.Exit(1)
}

func run(sock *os.File, cfg *Config, t *timeline) error {
	spec := cfg.Spec
	if spec == nil || spec.Process == nil {
		return errors.New("init: no process in the config")
	}
	p := spec.Process
	if !cfg.NoNewKeyring {
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + cfg.ID); err != nil && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EACCES) {
			return fmt.Errorf("joining a new session keyring: %w", err)
		}
	}
	if _, err := unix.Setsid(); err != nil && !cfg.Exec {
		return fmt.Errorf("setsid: %w", err)
	}

	if !cfg.Exec && cfg.Plan.Loopback {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	if cfg.Exec && cfg.ExecRoot != "" {
		if err := unix.Chroot(cfg.ExecRoot); err != nil {
			return fmt.Errorf("entering the container's root %s: %w", cfg.ExecRoot, err)
		}
		if err := unix.Chdir("/"); err != nil {
			return err
		}
	}
	rcfg := &rootfs.Config{Spec: spec, Rootfs: cfg.Rootfs, Bundle: cfg.Bundle, NoPivot: cfg.NoPivot, MountLabel: cfg.Plan.MountLabel}
	if !cfg.Exec {
		if err := rootfs.Prepare(rcfg); err != nil {
			return err
		}
		t.mark("init rootfs")
		if h := spec.Hooks; h != nil && (len(h.Prestart) > 0 || len(h.CreateRuntime) > 0) { //nolint:staticcheck
			if err := askHost(sock, MsgHooks); err != nil {
				return err
			}
		}
		if spec.Hooks != nil {
			if err := hooks.Run("createContainer", spec.Hooks.CreateContainer, cfg.State); err != nil {
				return err
			}
		}
		if err := rootfs.Pivot(rcfg); err != nil {
			return err
		}
		t.mark("init pivot")
		// runc creates a missing cwd (images often name a workdir they lack);
		// past pivot_root every path resolves inside the container.
		if err := os.MkdirAll(p.Cwd, 0o755); err != nil {
			return fmt.Errorf("process.cwd: creating %q: %w", p.Cwd, err)
		}
	}
	if p.Terminal {
		slave, err := setupConsole(cfg.ConsoleSocketFd)
		if err != nil {
			return err
		}
		rcfg.ConsoleSlave = slave
	}
	if !cfg.Exec {
		if err := rootfs.Finalize(rcfg); err != nil {
			return err
		}
		if err := setHostname(spec, cfg.NewUTS); err != nil {
			return err
		}
		if spec.Linux != nil {
			if err := process.ApplySysctl(spec.Linux.Sysctl); err != nil {
				return err
			}
		}
		t.mark("init finalize")
	}
	if err := process.SetOOMScoreAdj(p.OOMScoreAdj); err != nil {
		return err
	}
	// Without no_new_privs the kernel lets only CAP_SYS_ADMIN install a
	// filter, so it goes in before the capabilities are dropped (as runc).
	// What Finalize needs from /proc comes first: an older profile denies
	// close_range and the statx the verified procfs needs.
	prep, err := process.Prepare(3 + cfg.PreserveFds)
	if err != nil {
		return err
	}
	// The exec fifo is reopened for writing only at start, possibly under the
	// container's filter, which may not allow the verified procfs's calls:
	// the fd directory is opened through it now, and at start the fifo is
	// reached with one openat below it.
	var fdDir *os.File
	if !cfg.Exec {
		if fdDir, err = procfs.OpenSelf("fd", unix.O_RDONLY|unix.O_DIRECTORY); err != nil {
			return fmt.Errorf("opening the exec fifo's fd directory: %w", err)
		}
	}
	// The exec label only takes effect at execve; it is written before any
	// filter, which may not allow the verified procfs's calls (as runc).
	for _, a := range cfg.Plan.ProcAttrs {
		if err := procfs.WriteThreadSelfAttr(a.LSM, a.Attr, a.Value); err != nil {
			return fmt.Errorf("setting the %s %s label: %w", a.LSM, a.Attr, err)
		}
	}
	if !p.NoNewPrivileges {
		if err := installSeccomp(sock, cfg); err != nil {
			return err
		}
	}
	// The host sets the rlimits (prlimit on our pid), as runc does: set by
	// the init itself, a small RLIMIT_AS could starve its Go runtime. It
	// happens before the user switch, while the host may still prlimit us
	// without CAP_SYS_RESOURCE (same uid, or a user namespace it owns).
	if len(p.Rlimits) > 0 {
		if err := askHost(sock, MsgRlimits); err != nil {
			return err
		}
	}
	keepNofileAcrossExec()
	if err := process.FinalizeWith(p, process.Options{KeepFds: 3 + cfg.PreserveFds, Prepared: prep}); err != nil {
		return err
	}
	// Resolved as the container's user, as runc does, so its permissions
	// and noexec mounts apply; HOME comes from the container's passwd.
	p.Env = process.EnvWithHome(p.Env, p.User.UID)
	path, err := process.LookPath(p.Args[0], p.Env)
	if err != nil {
		return err
	}
	// Landlock rulesets are built now, before the filter (which may not
	// allow building them) and while an error still reaches the host, and
	// enforced last: they would also confine the fifo and the hooks.
	landlockFds, err := buildLandlock(cfg.Plan.Landlock)
	if err != nil {
		return err
	}
	// With no_new_privs the filter goes in last, before the sync socket
	// closes so a notify fd can still reach the host.
	if p.NoNewPrivileges {
		if err := installSeccomp(sock, cfg); err != nil {
			return err
		}
	}
	t.mark("init process")
	if err := WriteFrame(sock, Message{Type: MsgReady, Marks: t.marks}); err != nil {
		return err
	}
	sock.Close()
	if !cfg.Exec {
		if err := waitForStart(fdDir, cfg.FifoFd); err != nil {
			// The host is gone; the only witness is our stderr.
			fmt.Fprintln(os.Stderr, "rung init:", err)
			os.Exit(1)
		}
		if spec.Hooks != nil {
			if err := hooks.Run("startContainer", spec.Hooks.StartContainer, cfg.State); err != nil {
				fmt.Fprintln(os.Stderr, "rung init:", err)
				os.Exit(1)
			}
		}
	}
	if err := restrictLandlock(landlockFds); err != nil {
		fmt.Fprintln(os.Stderr, "rung init:", err)
		os.Exit(1)
	}
	err = execWithLimits(path, p.Args, p.Env, p.Rlimits)
	fmt.Fprintf(os.Stderr, "rung init: exec %s: %v\n", p.Args[0], err)
	os.Exit(127)
	return nil
}

// execWithLimits lowers the deferred soft rlimits and execs, allocating
// nothing in between: everything execve needs is built first. A small
// RLIMIT_AS (or DATA, NPROC) set while we waited for start would starve our
// runtime (a Go process reserves far more address space than it uses), so
// the host left those soft limits at their hard ones; syscall.Exec itself
// allocates (C strings of the arguments), which failed now and then once the
// limit was down.
func execWithLimits(path string, args, env []string, rl []specs.POSIXRlimit) error {
	argv0, err := syscall.BytePtrFromString(path)
	if err != nil {
		return err
	}
	argv, err := syscall.SlicePtrFromStrings(args)
	if err != nil {
		return err
	}
	envv, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return err
	}
	if err := process.LowerDeferredRlimits(rl); err != nil {
		return err
	}
	_, _, errno := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(argv0)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])))
	return errno
}

// keepNofileAcrossExec stops Go from undoing RLIMIT_NOFILE at an exec. The
// Go runtime raised the soft limit at start-up, and syscall.Exec and the
// children of os/exec (the hooks the init runs) get the saved original put
// back, which would replace the container's limits set by the host with
// ours, and with CAP_SYS_RESOURCE even raise its hard limit again. Setting
// the current value through package syscall makes Go forget the saved one.
// (The container's process itself is exec'd by execWithLimits, which does
// not go through syscall.Exec.)
func keepNofileAcrossExec() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

func installSeccomp(sock *os.File, cfg *Config) error {
	for _, s := range cfg.Plan.Seccomp {
		fd, err := install.Install(s.Program, s.Flags)
		if err != nil {
			return fmt.Errorf("installing the seccomp filter: %w", err)
		}
		if fd >= 0 {
			if err := sendNotifyFd(sock, s, fd); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitForStart blocks until `rung start` opens the exec fifo. The fifo's
// O_PATH handle is reopened for writing through fdDir, the init's own fd
// directory from a verified procfs: the container's /proc may be missing (a
// config without a proc mount is valid) or not procfs at all.
func waitForStart(fdDir *os.File, fifoFd int) error {
	defer fdDir.Close()
	fd, err := unix.Openat(int(fdDir.Fd()), strconv.Itoa(fifoFd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening the exec fifo: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte("0")); err != nil {
		return fmt.Errorf("writing the exec fifo: %w", err)
	}
	unix.Close(fifoFd)
	return nil
}

func setHostname(spec *specs.Spec, newUTS bool) error {
	if spec.Hostname == "" && spec.Domainname == "" {
		return nil
	}
	// One joined by path is the container's too: runc checks the type only.
	if !newUTS && (spec.Linux == nil || !slices.ContainsFunc(spec.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.UTSNamespace })) {
		return errors.New("hostname: setting the hostname requires a uts namespace in linux.namespaces")
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("hostname %q: %w", spec.Hostname, err)
		}
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return fmt.Errorf("domainname %q: %w", spec.Domainname, err)
		}
	}
	return nil
}

// askHost sends a request the host must carry out before the init goes on,
// and waits for its answer.
func askHost(sock *os.File, what string) error {
	if err := WriteFrame(sock, Message{Type: what}); err != nil {
		return err
	}
	var m Message
	if err := ReadFrame(sock, &m); err != nil {
		return fmt.Errorf("waiting for the host (%s): %w", what, err)
	}
	if m.Type != MsgHooksOK {
		return fmt.Errorf("host refused %s: %s", what, m.Error)
	}
	return nil
}

// loopbackUp sets lo up in this process's network namespace, a new one a
// stage planned: an ioctl, as runc's init does it, where the plugin would
// have to enter the namespace from outside in a round of its own.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: reading the flags of lo: %w", err)
	}
	if ifr.Uint16()&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: setting lo up: %w", err)
	}
	return nil
}
