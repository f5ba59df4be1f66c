package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/rung-runtime/rung/internal/logging"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
)

// buildPlugins builds the SDK's test plugins, once per test binary, into
// a root-owned directory the launcher trusts.
func buildPlugins(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	if socketDir() == "" {
		t.Skip("no tmpfs /dev/shm for the pool's sockets")
	}
	built.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "rung-pool-test-")
		if built.err != nil {
			return
		}
		built.err = os.Chmod(built.dir, 0o755)
		for _, name := range []string{"hello", "misbehave"} {
			if built.err != nil {
				return
			}
			cmd := exec.Command("go", "build", "-o", filepath.Join(built.dir, name), "../../sdk/stagetest/internal/"+name)
			if out, err := cmd.CombinedOutput(); err != nil {
				built.err = fmt.Errorf("go build %s: %v\n%s", name, err, out)
			}
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir
}

var built struct {
	sync.Once
	dir string
	err error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// warmPid is the pid of s's warm plugin, 0 when none listens.
func warmPid(t *testing.T, s Spec) int {
	t.Helper()
	path, err := Resolve(s)
	if err != nil {
		t.Fatal(err)
	}
	m, err := memberFor(s, path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", m.sock)
	if err != nil {
		return 0
	}
	defer c.Close()
	cred, err := sdk.PeerCred(c)
	if err != nil {
		t.Fatal(err)
	}
	return int(cred.Pid)
}

// stopWarm ends s's warm plugin when the test ends; other tests' warm
// plugins are theirs.
func stopWarm(t *testing.T, s Spec) {
	t.Cleanup(func() {
		if pid := warmPid(t, s); pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
			eventually(func() bool { return exited(pid) })
		}
		path, _ := Resolve(s)
		if m, err := memberFor(s, path); err == nil {
			os.Remove(m.sock)
			os.Remove(m.lock)
			os.Remove(m.desc)
		}
	})
}

func launchWarm(t *testing.T, s Spec) *Plugin {
	t.Helper()
	p, err := Launch(context.Background(), logging.Discard(), s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWarmPluginServesManyCommands(t *testing.T) {
	dir := buildPlugins(t)
	s := Spec{Stage: "hello", Binary: filepath.Join(dir, "hello"), PoolIdle: time.Minute}
	stopWarm(t, s)
	first := launchWarm(t, s)
	if first.proc != nil || first.warm == nil {
		t.Fatalf("plugin was launched for the command, not kept warm")
	}
	pid := warmPid(t, s)
	first.Close()
	if pid == 0 || unix.Kill(pid, 0) != nil {
		t.Fatalf("warm plugin (pid %d) did not outlive the command's Close", pid)
	}
	second := launchWarm(t, s)
	defer second.Close()
	if got := warmPid(t, s); got != pid {
		t.Errorf("second command reached pid %d, want the warm %d", got, pid)
	}
	if second.Desc.GetName() != "hello" {
		t.Errorf("describe through the pool: %v", second.Desc)
	}
	// Its cwd is /, so it holds no bundle's file system busy; its stdio is
	// not ours.
	if cwd, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd"); cwd != "/" {
		t.Errorf("warm plugin's cwd is %q", cwd)
	}
	if sid, _ := unix.Getsid(pid); sid != pid {
		t.Errorf("warm plugin is in session %d, not its own", sid)
	}
}

func TestWarmPluginStartsOnceForConcurrentCommands(t *testing.T) {
	dir := buildPlugins(t)
	s := Spec{Stage: "hello", Binary: filepath.Join(dir, "hello"), PoolIdle: time.Minute}
	stopWarm(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := Launch(context.Background(), logging.Discard(), s)
			if err == nil {
				p.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	out, _ := exec.Command("pgrep", "-f", "-x", filepath.Join(dir, "hello")).Output()
	if n := len(strings.Fields(string(out))); n != 1 {
		t.Errorf("%d warm hello plugins run, want 1 (pids %s)", n, out)
	}
}

func TestWarmPluginExitsWhenIdleAndIsStartedAgain(t *testing.T) {
	dir := buildPlugins(t)
	s := Spec{Stage: "hello", Binary: filepath.Join(dir, "hello"), PoolIdle: 200 * time.Millisecond}
	stopWarm(t, s)
	p := launchWarm(t, s)
	pid := warmPid(t, s)
	path, _ := Resolve(s)
	m, _ := memberFor(s, path)
	// Connected, it stays however long the command takes.
	time.Sleep(500 * time.Millisecond)
	if unix.Kill(pid, 0) != nil {
		t.Fatal("warm plugin exited while a command was connected")
	}
	p.Close()
	if !eventually(func() bool { return exited(pid) }) {
		t.Fatalf("warm plugin %d still runs long after its idle time", pid)
	}
	if _, err := os.Lstat(m.sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("idle plugin left its socket: %v", err)
	}
	wantNewWarm(t, s, pid, "after the idle exit")
}

// A command waiting for a member's lock while the sweep removes it locks
// the new file at that name, not the removed one another command could not
// see.
func TestLockFileFollowsARemovedLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warm-x.lock")
	sweeper, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer sweeper.Close()
	if err := unix.Flock(int(sweeper.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		unlock, err := lockFile(context.Background(), path)
		if err == nil {
			defer unlock()
			// The file at the name now is the one held.
			other, oerr := os.Open(path)
			if oerr != nil {
				err = fmt.Errorf("no lock file at the name: %w", oerr)
			} else {
				if unix.Flock(int(other.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
					err = errors.New("locked the removed file, not the one at its name")
				}
				other.Close()
			}
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond) // it has opened the old file and waits
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	sweeper.Close()
	select {
	case err := <-got:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lockFile never returned")
	}
}

// A warm plugin's Describe answer is kept for its process: the next
// command takes it from the file (a doctored name there shows it was used),
// and an answer kept for another process is not used but replaced.
func TestWarmDescribeIsKeptPerProcess(t *testing.T) {
	dir := buildPlugins(t)
	s := Spec{Stage: "hello", Binary: filepath.Join(dir, "hello"), PoolIdle: time.Minute}
	stopWarm(t, s)
	first := launchWarm(t, s)
	first.Close()
	pid := warmPid(t, s)
	path, _ := Resolve(s)
	m, _ := memberFor(s, path)
	m.peer = pid
	tag := m.processTag()
	b, err := os.ReadFile(m.desc)
	if err != nil || !bytes.HasPrefix(b, []byte(tag+"\n")) {
		t.Fatalf("kept answer %q, %v; want it tagged %q", b, err, tag)
	}
	keep := func(tag, name string) {
		d := proto.Clone(first.Desc).(*stagev1.DescribeResponse)
		d.Name = name
		body, _ := proto.Marshal(d)
		if err := os.WriteFile(m.desc, append([]byte(tag+"\n"), body...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keep(tag, "kept-answer")
	p := launchWarm(t, s)
	if p.Desc.GetName() != "kept-answer" {
		t.Errorf("second command asked Describe (name %q) instead of using the kept answer", p.Desc.GetName())
	}
	p.Close()
	keep(fmt.Sprintf("pid %d start 1", pid), "stale-answer")
	p = launchWarm(t, s)
	if p.Desc.GetName() != first.Desc.GetName() {
		t.Errorf("an answer kept for another process was used: name %q", p.Desc.GetName())
	}
	p.Close()
	if b, _ := os.ReadFile(m.desc); !bytes.HasPrefix(b, []byte(tag+"\n")) {
		t.Errorf("the stale answer was not replaced: %q", b)
	}
	// A kept answer the host cannot use is asked again, not trusted.
	keep(tag, "two\nlines")
	p = launchWarm(t, s)
	if p.Desc.GetName() != first.Desc.GetName() {
		t.Errorf("an unusable kept answer was used: name %q", p.Desc.GetName())
	}
	p.Close()
}

// wantNewWarm launches s and checks it reached a new warm plugin, not old.
func wantNewWarm(t *testing.T, s Spec, old int, when string) {
	t.Helper()
	p := launchWarm(t, s)
	defer p.Close()
	if got := warmPid(t, s); got == 0 || got == old {
		t.Errorf("%s the next command reached pid %d (the old plugin was %d)", when, got, old)
	}
}

func TestDeadWarmPluginIsReplaced(t *testing.T) {
	dir := buildPlugins(t)
	s := Spec{Stage: "hello", Binary: filepath.Join(dir, "hello"), PoolIdle: time.Minute}
	stopWarm(t, s)
	launchWarm(t, s).Close()
	pid := warmPid(t, s)
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(func() bool { return warmPid(t, s) == 0 })
	wantNewWarm(t, s, pid, "after a kill")
}

// A socket at the plugin's name that another program serves is refused,
// not trusted: the pool verifies who listens.
func TestWarmSocketOfAnotherProgramIsRefused(t *testing.T) {
	dir := buildPlugins(t)
	s := Spec{Stage: "hello", Binary: filepath.Join(dir, "hello"), PoolIdle: time.Minute}
	path, _ := Resolve(s)
	m, err := memberFor(s, path)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(m.sock)
	ln, err := net.Listen("unix", m.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, err = Launch(context.Background(), logging.Discard(), s)
	if err == nil || !strings.Contains(err.Error(), "stage hello (hello): warm plugin: warm plugin socket served by another program") {
		t.Errorf("impostor socket: %v", err)
	}
}

// A plugin served by go-plugin alone (not rung's SDK) cannot be kept warm:
// it is launched per command, and not asked again.
func TestPluginWithoutPoolIsLaunchedPerCommand(t *testing.T) {
	dir := buildPlugins(t)
	s := Spec{Stage: "extra", Binary: filepath.Join(dir, "misbehave"), Args: []string{"extra", "go-plugin-only"}, PoolIdle: time.Minute}
	path, _ := Resolve(s)
	m, _ := memberFor(s, path)
	t.Cleanup(func() { os.Remove(m.oneshot); os.Remove(m.lock); os.Remove(m.sock) })
	for i := 0; i < 2; i++ {
		p := launchWarm(t, s)
		if p.proc == nil || p.warm != nil {
			t.Errorf("launch %d: want a per-command plugin", i)
		}
		p.Close()
	}
	if _, err := os.Lstat(m.oneshot); err != nil {
		t.Errorf("no marker for the plugin that serves no pool: %v", err)
	}
}

func TestPoolEnvOverridesTheConfig(t *testing.T) {
	for env, want := range map[string]time.Duration{"": 5 * time.Second, "off": 0, "0": 0, "90s": 90 * time.Second} {
		t.Setenv(EnvPool, env)
		if got, err := poolIdle(Spec{PoolIdle: 5 * time.Second}); err != nil || got != want {
			t.Errorf("%s=%q: %v, %v; want %v", EnvPool, env, got, err, want)
		}
	}
	t.Setenv(EnvPool, "soon")
	if _, err := poolIdle(Spec{}); err == nil || !strings.Contains(err.Error(), EnvPool+`="soon"`) {
		t.Errorf("bad %s: %v", EnvPool, err)
	}
}

// exited says whether pid has ended: the test started it, so it is reaped
// here (a command's warm plugins are inherited by whoever reaps orphans).
func exited(pid int) bool {
	got, err := unix.Wait4(pid, nil, unix.WNOHANG, nil)
	return got == pid || (errors.Is(err, unix.ECHILD) && unix.Kill(pid, 0) != nil)
}

func eventually(cond func() bool) bool {
	for i := 0; i < 200; i++ {
		if cond() {
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return cond()
}

// socketFile binds a unix socket at p (pool.go's bindSocket), listened on
// if listen, for the test's life.
func socketFile(t *testing.T, p string, listen bool) string {
	t.Helper()
	f, err := bindSocket(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if listen {
		if err := unix.Listen(int(f.Fd()), 1); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// Sockets nobody listens on, a minute old, go when the directory is swept;
// a live one and a fresh one stay.
func TestSweepRemovesOnlyDeadOldSockets(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	bind := func(name string, listen bool) string { return socketFile(t, filepath.Join(dir, name), listen) }
	old := time.Now().Add(-2 * time.Minute)
	dead, deadWarm, live, fresh := bind("plugin111", false), bind("warm-abc.sock", false), bind("plugin222", true), bind("plugin333", false)
	for _, p := range []string{dead, deadWarm, live} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < staleSweepAt; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("warm-%d.lock", i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Warm members' files: an idle member's go, a member whose lock is
	// held, whose plugin listens, or that serves no pool keeps them.
	liveWarm := bind("warm-live.sock", true)
	member := func(name string, exts ...string) []string {
		var out []string
		for _, ext := range append([]string{".lock"}, exts...) {
			p := filepath.Join(dir, name+ext)
			if ext != ".sock" {
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}
	idle := member("warm-idle", ".desc")
	held := member("warm-held")
	listening := member("warm-live", ".sock")
	oneshot := member("warm-one", ".oneshot")
	hold, err := os.Open(held[0])
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	if err := unix.Flock(int(hold.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	sweepStaleSockets(dir)
	for _, p := range idle {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s of an idle member survived the sweep", filepath.Base(p))
		}
	}
	for _, p := range append(append(append(held, listening...), oneshot...), liveWarm) {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was swept: %v", filepath.Base(p), err)
		}
	}
	for p, want := range map[string]bool{dead: false, deadWarm: false, live: true, fresh: true} {
		if _, err := os.Lstat(p); (err == nil) != want {
			t.Errorf("%s: present %v after the sweep, want %v", filepath.Base(p), err == nil, want)
		}
	}
}

// Kept answers do not count toward the sweep: hundreds of them are normal,
// and each command would otherwise pay for a sweep.
func TestSweepIgnoresKeptAnswersInItsCount(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	dead := socketFile(t, filepath.Join(dir, "plugin999"), false)
	old := time.Now().Add(-2 * time.Minute)
	if err := os.Chtimes(dead, old, old); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2*staleSweepAt; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s%d", keptPrefix, i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sweepStaleSockets(dir)
	if _, err := os.Lstat(dead); err != nil {
		t.Errorf("swept with only kept answers past the threshold: %v", err)
	}
}

// Commands sweep at most once a minute: the stamp says when one last did.
func TestSweepDueOnceAMinute(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	if !sweepDue(dir, now) {
		t.Fatal("first command does not sweep")
	}
	if sweepDue(dir, now.Add(30*time.Second)) {
		t.Error("swept again within the minute")
	}
	if !sweepDue(dir, now.Add(61*time.Second)) {
		t.Error("no sweep a minute later")
	}
}
