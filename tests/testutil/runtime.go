package testutil

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultTimeout bounds every runtime call, so a hung runtime fails the test
// instead of the whole suite.
const DefaultTimeout = 60 * time.Second

// pollLimit bounds every wait-for-a-condition loop.
const pollLimit = 20 * time.Second

// Runtime drives the runtime binary through the CLI the way containerd's
// shim does: `--root R --log L --log-format json` before every command.
type Runtime struct {
	Bin  string
	Root string // state directory, private to this Runtime
	Log  string // --log file, JSON lines
	// Env is appended to the environment of every call (e.g.
	// RUNG_PLUGIN_DIR=...).
	Env     []string
	Timeout time.Duration
	s       *session
}

// NewRuntime returns a Runtime with a private --root and --log in this
// test's temp dir. It skips the test when not root or the binary is missing.
func NewRuntime(t testing.TB) *Runtime {
	t.Helper()
	RequireRoot(t)
	s := sess(t)
	dir := s.mkdir("runtime-")
	rt := &Runtime{
		Bin:     RuntimeBin(),
		Root:    filepath.Join(dir, "root"),
		Log:     filepath.Join(dir, "log.json"),
		Timeout: DefaultTimeout,
		s:       s,
	}
	s.mu.Lock()
	s.rts = append(s.rts, rt)
	s.mu.Unlock()
	return rt
}

// IsRunc reports whether this runtime is runc.
func (r *Runtime) IsRunc() bool { return IsRunc() }

// LogEntry is one line of the runtime's --log file.
type LogEntry struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Time  string `json:"time"`
	// Raw is the line as written; Bad is set when it was not a JSON object.
	Raw string `json:"-"`
	Bad bool   `json:"-"`
}

// Result is the outcome of one runtime call.
type Result struct {
	Args     []string
	Stdout   string
	Stderr   string
	Exit     int
	TimedOut bool
	// Log holds the --log lines written during this call.
	Log []LogEntry
}

func (r Result) String() string {
	return fmt.Sprintf("%q: exit %d\nstdout: %s\nstderr: %s\nlog: %v", r.Args, r.Exit, r.Stdout, r.Stderr, r.Log)
}

// Errors returns the messages of the call's level=error log lines.
func (r Result) Errors() []string {
	var out []string
	for _, e := range r.Log {
		if e.Level == "error" {
			out = append(out, e.Msg)
		}
	}
	return out
}

// ExecOpts is the full form of a runtime call.
type ExecOpts struct {
	// Args follow the global flags, e.g. {"create", "--bundle", b, id}.
	Args []string
	// Dir is the working directory; containerd runs the runtime in the bundle.
	Dir string
	// Stdin, Stdout, Stderr default to /dev/null and private temp files. They
	// are files, not Go pipes: a created container inherits them and would
	// keep a pipe open, so Wait would block until the container exits.
	Stdin, Stdout, Stderr *os.File
	// ExtraFiles become fds 3, 4, ... of the runtime process.
	ExtraFiles []*os.File
	Env        []string
	Timeout    time.Duration
	quiet      bool
}

// Run calls the runtime with the global flags and args.
func (r *Runtime) Run(t testing.TB, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	res := r.Exec(t, ExecOpts{Args: args})
	return res.Stdout, res.Stderr, res.Exit
}

// Exec is Run with full control; its Result carries the call's log lines.
func (r *Runtime) Exec(t testing.TB, o ExecOpts) Result {
	t.Helper()
	return r.exec(t, o)
}

func (r *Runtime) exec(t testing.TB, o ExecOpts) Result {
	t.Helper()
	res := Result{Args: o.Args}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = r.Timeout
	}
	var logStart int64
	if st, err := os.Stat(r.Log); err == nil {
		logStart = st.Size()
	}
	args := append([]string{"--root", r.Root, "--log", r.Log, "--log-format", "json"}, o.Args...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.Bin, args...)
	cmd.Dir = o.Dir
	cmd.Env = append(append(os.Environ(), r.Env...), o.Env...)
	cmd.ExtraFiles = o.ExtraFiles
	// Own process group so a timeout can kill the runtime and anything it
	// forked, and nothing else.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second

	var outF, errF *os.File
	var err error
	cmd.Stdin = o.Stdin
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	} else {
		if outF, err = os.CreateTemp(r.s.base, "stdout-"); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(outF.Name())
		defer outF.Close()
		cmd.Stdout = outF
	}
	if o.Stderr != nil {
		cmd.Stderr = o.Stderr
	} else {
		if errF, err = os.CreateTemp(r.s.base, "stderr-"); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(errF.Name())
		defer errF.Close()
		cmd.Stderr = errF
	}

	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Exit = ee.ExitCode()
		if res.Exit < 0 {
			res.Exit = 128 + int(ee.Sys().(syscall.WaitStatus).Signal())
		}
	default:
		res.Exit = -1
		res.Stderr = err.Error()
	}
	if ctx.Err() != nil {
		res.TimedOut = true
	}
	if outF != nil {
		b, _ := os.ReadFile(outF.Name())
		res.Stdout = string(b)
	}
	if errF != nil {
		b, _ := os.ReadFile(errF.Name())
		res.Stderr += string(b)
	}
	res.Log = readLog(r.Log, logStart)
	if res.TimedOut && !o.quiet {
		t.Errorf("runtime call timed out after %v: %s", timeout, res)
	}
	return res
}

func readLog(path string, from int64) []LogEntry {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(from, 0); err != nil {
		return nil
	}
	var out []LogEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		var e LogEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			e.Bad = true
		}
		e.Raw = line
		out = append(out, e)
	}
	return out
}

// Container is a container made by Create, with the files its stdio goes to.
type Container struct {
	ID, Bundle, PidFile string
	StdoutPath          string
	StderrPath          string
	rt                  *Runtime
}

// Stdout is what the container has written to its stdout so far.
func (c *Container) Stdout() string { b, _ := os.ReadFile(c.StdoutPath); return string(b) }

// Stderr is what the container (and, wrongly, the runtime) wrote to stderr.
func (c *Container) Stderr() string { b, _ := os.ReadFile(c.StderrPath); return string(b) }

// Pid is the pid-file contents, which must be decimal with no newline.
func (c *Container) Pid(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile(c.PidFile)
	if err != nil {
		t.Fatalf("%s: pid file: %v", c.ID, err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil || pid <= 0 {
		t.Fatalf("%s: pid file %s holds %q, want a decimal pid with no newline", c.ID, c.PidFile, b)
	}
	return pid
}

// CreateOpts tunes Create.
type CreateOpts struct {
	ExtraFiles []*os.File
	Env        []string
}

// Create runs `create --bundle B --pid-file B/init.pid ID` in the bundle dir
// with the container's stdout and stderr going to files, and fails the test
// if it does not succeed.
func (r *Runtime) Create(t testing.TB, id, bundle string) *Container {
	t.Helper()
	c, res := r.TryCreate(t, id, bundle, CreateOpts{})
	if res.Exit != 0 {
		t.Fatalf("create %s failed: %s", id, res)
	}
	return c
}

// TryCreate is Create that returns the result instead of failing.
func (r *Runtime) TryCreate(t testing.TB, id, bundle string, o CreateOpts) (*Container, Result) {
	t.Helper()
	r.s.addID(id)
	dir := r.s.mkdir("stdio-")
	c := &Container{
		ID: id, Bundle: bundle, rt: r,
		PidFile:    filepath.Join(bundle, "init.pid"),
		StdoutPath: filepath.Join(dir, "stdout"),
		StderrPath: filepath.Join(dir, "stderr"),
	}
	out, err := os.Create(c.StdoutPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	errf, err := os.Create(c.StderrPath)
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	// containerd runs the runtime in the bundle; a test of a missing bundle
	// still needs somewhere to run it.
	dir = bundle
	if _, err := os.Stat(bundle); err != nil {
		dir = ""
	}
	res := r.exec(t, ExecOpts{
		Args:   []string{"create", "--bundle", bundle, "--pid-file", c.PidFile, id},
		Dir:    dir,
		Stdout: out, Stderr: errf,
		ExtraFiles: o.ExtraFiles,
		Env:        o.Env,
	})
	return c, res
}

// Start runs `start ID` and fails the test unless it succeeds.
func (r *Runtime) Start(t testing.TB, id string) {
	t.Helper()
	if res := r.Exec(t, ExecOpts{Args: []string{"start", id}}); res.Exit != 0 {
		t.Fatalf("start %s failed: %s", id, res)
	}
}

// State runs `state ID` and decodes the OCI state, failing the test on error.
func (r *Runtime) State(t testing.TB, id string) specs.State {
	t.Helper()
	st, res := r.TryState(t, id)
	if res.Exit != 0 {
		t.Fatalf("state %s failed: %s", id, res)
	}
	return st
}

// TryState is State that returns the result instead of failing.
func (r *Runtime) TryState(t testing.TB, id string) (specs.State, Result) {
	t.Helper()
	var st specs.State
	res := r.Exec(t, ExecOpts{Args: []string{"state", id}})
	if res.Exit == 0 {
		if err := json.Unmarshal([]byte(res.Stdout), &st); err != nil {
			t.Fatalf("state %s: output is not an OCI state: %v\n%s", id, err, res.Stdout)
		}
	}
	return st, res
}

// WaitStatus polls `state` until the container reaches status (bounded).
func (r *Runtime) WaitStatus(t testing.TB, id string, status specs.ContainerState) specs.State {
	t.Helper()
	var st specs.State
	ok := Poll(func() bool {
		st = r.State(t, id)
		return st.Status == status
	})
	if !ok {
		t.Fatalf("%s: status stayed %q, want %q", id, st.Status, status)
	}
	return st
}

// Kill runs `kill ID SIG` and fails the test unless it succeeds.
func (r *Runtime) Kill(t testing.TB, id, sig string) {
	t.Helper()
	if res := r.Exec(t, ExecOpts{Args: []string{"kill", id, sig}}); res.Exit != 0 {
		t.Fatalf("kill %s %s failed: %s", id, sig, res)
	}
}

// Delete runs `delete [--force] ID` and returns the result.
func (r *Runtime) Delete(t testing.TB, id string, force bool) Result {
	t.Helper()
	args := []string{"delete", id}
	if force {
		args = []string{"delete", "--force", id}
	}
	return r.Exec(t, ExecOpts{Args: args})
}

// MustDelete is Delete failing the test unless it succeeds.
func (r *Runtime) MustDelete(t testing.TB, id string, force bool) {
	t.Helper()
	if res := r.Delete(t, id, force); res.Exit != 0 {
		t.Fatalf("delete %s failed: %s", id, res)
	}
}

// RunContainer runs `run --bundle B ID` (non-tty, foreground) and returns
// the container's stdout and stderr and its exit code.
func (r *Runtime) RunContainer(t testing.TB, id, bundle string) (stdout, stderr string, exit int) {
	t.Helper()
	res := r.TryRun(t, id, bundle)
	return res.Stdout, res.Stderr, res.Exit
}

// TryRun is RunContainer returning the whole Result (log lines included).
func (r *Runtime) TryRun(t testing.TB, id, bundle string) Result {
	t.Helper()
	r.s.addID(id)
	return r.Exec(t, ExecOpts{Args: []string{"run", "--bundle", bundle, id}, Dir: bundle})
}

// RunOK is RunContainer failing the test unless the container exits 0; it
// returns the container's stdout.
func (r *Runtime) RunOK(t testing.TB, id, bundle string) string {
	t.Helper()
	res := r.TryRun(t, id, bundle)
	if res.Exit != 0 {
		t.Fatalf("run %s: %s", id, res)
	}
	return res.Stdout
}

// Poll calls cond until it returns true or a generous bound passes. It is
// for waiting on the system, never for asserting how long something takes.
func Poll(cond func() bool) bool {
	deadline := time.Now().Add(pollLimit)
	delay := time.Millisecond
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(delay)
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}

// WaitOutput polls until the container's stdout contains want.
func (c *Container) WaitOutput(t testing.TB, want string) string {
	t.Helper()
	var out string
	if !Poll(func() bool { out = c.Stdout(); return strings.Contains(out, want) }) {
		t.Fatalf("%s: stdout %q never contained %q (stderr %q)", c.ID, out, want, c.Stderr())
	}
	return out
}

// Lines splits output into trimmed non-empty lines.
func Lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Fields normalises whitespace, for comparing tables like /proc/self/uid_map.
func Fields(s string) string { return strings.Join(strings.Fields(s), " ") }

// ExpectFailure asserts the containerd-visible error contract: non-zero
// exit, every --log line JSON, at least one {"level":"error"} line whose msg
// is one non-empty line. It returns the last error message.
func ExpectFailure(t testing.TB, res Result) string {
	t.Helper()
	if res.TimedOut {
		t.Fatalf("runtime hung: %s", res)
	}
	if res.Exit == 0 {
		t.Fatalf("expected failure, got success: %s", res)
	}
	for _, e := range res.Log {
		if e.Bad {
			t.Errorf("--log-format json line is not JSON: %q", e.Raw)
		}
	}
	errs := res.Errors()
	if len(errs) == 0 {
		t.Fatalf("no {\"level\":\"error\"} line in --log: %s", res)
	}
	msg := errs[len(errs)-1]
	if strings.TrimSpace(msg) == "" || strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error message must be one non-empty line, got %q", msg)
	}
	t.Logf("runtime error (exit %d): %.300s", res.Exit, msg)
	return msg
}

// StdinFile is a file holding data, opened for reading, for a runtime call
// that reads its stdin (`update --resources -`).
func StdinFile(t testing.TB, data []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
