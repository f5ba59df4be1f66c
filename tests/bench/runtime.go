package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runtime is one OCI runtime under comparison, driven only through its CLI
// (`--root R <command>`), the way containerd's shim drives it.
type runtime struct {
	name string
	bin  string
	root string // private state dir
	// global flags before the command (e.g. --debug --log L for rung).
	global []string
	// env is added to every call; it carries the bench marker so leaked
	// plugin processes (which inherit rung's environment) can be found.
	env     []string
	version string
	// why is set when the runtime cannot run a container on this host.
	why string
}

// call is the outcome of one runtime invocation.
type call struct {
	start  time.Time
	wall   time.Duration
	rusage *syscall.Rusage // the runtime process and the children it reaped
	err    error
}

// invoke runs the runtime once with the given command line, stdio on
// /dev/null and stderr in a private file (a created container inherits the
// runtime's stdio; a pipe would keep Wait waiting for the container).
// Only Start..Wait is timed; building the command and the temp file is not.
func (r *runtime) invoke(dir string, args ...string) call {
	return r.invokeWith(dir, nil, args...)
}

// invokeWith is invoke with a hook that runs just after the process started
// (the RSS sampler attaches there).
func (r *runtime) invokeWith(dir string, started func(pid int), args ...string) call {
	full := append(append(append([]string(nil), r.global...), "--root", r.root), args...)
	cmd := exec.Command(r.bin, full...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), r.env...)
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return call{err: err}
	}
	defer null.Close()
	errf, err := os.CreateTemp(dir, ".stderr-")
	if err != nil {
		return call{err: err}
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, errf
	// Own process group, so nothing a runtime leaves behind shares ours.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return call{err: err}
	}
	if started != nil {
		started(cmd.Process.Pid)
	}
	err = cmd.Wait()
	c := call{start: t0, wall: time.Since(t0)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		c.rusage = ru
	}
	if err != nil {
		msg, _ := os.ReadFile(errf.Name())
		c.err = fmt.Errorf("%s %s: %v: %s", r.name, strings.Join(args, " "), err, oneLine(string(msg)))
	}
	return c
}

// oneLine keeps the runtime's error on one line: its last line (where runc
// and rung put the error) after whatever else it and the container's init
// printed, shortened.
func oneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	out := lines[len(lines)-1]
	if len(lines) > 1 {
		out += " (before it: " + strings.Join(lines[:len(lines)-1], " | ") + ")"
	}
	if len(out) > 600 {
		out = out[:600] + "..."
	}
	return out
}

// versionOf is the first line of `bin --version`.
func versionOf(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "unknown"
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return first
}

// readPid reads a --pid-file.
func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// waitInit reaps a container's init. The bench is a child subreaper, so the
// init of a container made by `create` (whose runtime process has exited) is
// our child: wait4 gives its exit and its rusage, whose ru_maxrss includes
// the peak from before it exec'd the container's process (the kernel keeps
// the old mm's high-water mark across execve).
func waitInit(pid int) (*syscall.Rusage, error) {
	var ws syscall.WaitStatus
	var ru syscall.Rusage
	for {
		_, err := syscall.Wait4(pid, &ws, 0, &ru)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("waiting for init %d: %w", pid, err)
		}
		return &ru, nil
	}
}

// probe runs one container to see whether the runtime works here; the
// reason it does not is its own last error line.
func (r *runtime) probe(b *bundles, id string) {
	c := r.invoke(b.trueDir, "run", "--bundle", b.trueDir, id)
	if c.err != nil {
		r.why = strings.TrimPrefix(c.err.Error(), r.name+" run --bundle "+b.trueDir+" "+id+": ")
		// Whatever it half-made goes; a missing container is not an error.
		r.invoke(b.trueDir, "delete", "--force", id)
	}
}

func (r *runtime) stateDirs() []string {
	m, _ := filepath.Glob(filepath.Join(r.root, "*"))
	var out []string
	for _, p := range m {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			out = append(out, p)
		}
	}
	return out
}
