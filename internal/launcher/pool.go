package launcher

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rung-runtime/rung/internal/logging"
	"github.com/rung-runtime/rung/internal/state"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk/wire"
)

// EnvPool overrides the config's pool setting for one command: a Go
// duration keeps plugins warm for that long without a host, "off" (or 0)
// launches them per command.
const EnvPool = "RUNG_PLUGIN_POOL"

// poolIdle is how long s's plugin stays warm, 0 for a plugin launched and
// ended by each command.
func poolIdle(s Spec) (time.Duration, error) {
	v, ok := os.LookupEnv(EnvPool)
	if !ok || v == "" {
		return s.PoolIdle, nil
	}
	if v == "off" || v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q: want a duration such as 30s, or off", EnvPool, v)
	}
	return d, nil
}

// ErrNoPool sends a plugin back to the per-command launch: the pool is
// unavailable here (no root-only tmpfs for its sockets), or the plugin
// answered a warm start with go-plugin's handshake (it is served by
// go-plugin alone, not rung's SDK).
var ErrNoPool = errors.New("no warm plugin")

// member is where one warm plugin lives: its socket, and the lock under
// which a command starts it. The name is a digest of everything that makes
// two plugin processes interchangeable: the binary's path, inode, size and
// mtime (another file, or the same one rewritten, gets a new plugin, which
// verifies it again), the arguments and pin, and the caller's namespaces (a
// plugin serves only commands that see the world as the one that started
// it did). Not the ctime: a hard link changes it, not the content. While a
// warm plugin runs, the kernel refuses writes to its binary (ETXTBSY), so
// what it was verified as at its start is what it still runs.
type member struct {
	sock, lock, oneshot, desc string
	bin                       unix.Stat_t
	// peer is the verified pid at the other end of the last connection.
	peer int
}

func memberFor(s Spec, path string) (*member, error) {
	dir := socketDir()
	if dir == "" {
		return nil, ErrNoPool
	}
	m := &member{}
	if err := unix.Stat(path, &m.bin); err != nil {
		return nil, err
	}
	h := sha256.New()
	io.WriteString(h, "rung-pool\x00")
	writeBinaryIdentity(h, s, path, &m.bin)
	name := filepath.Join(dir, "warm-"+hex.EncodeToString(h.Sum(nil))[:24])
	m.sock, m.lock, m.oneshot, m.desc = name+".sock", name+".lock", name+".oneshot", name+".desc"
	return m, nil
}

// dialWarm connects to s's warm plugin, starting it when none is running.
func dialWarm(ctx context.Context, log *logging.Logger, s Spec, path string, idle time.Duration) (*grpc.ClientConn, *member, error) {
	m, err := memberFor(s, path)
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Lstat(m.oneshot); err == nil {
		return nil, nil, ErrNoPool
	}
	cc, err := m.dial(ctx)
	if err == nil || errors.Is(err, errImpostor) {
		return cc, m, err
	}
	log.Debugf("warm plugin %s: %v; starting one", path, err)
	unlock, err := lockFile(ctx, m.lock)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	// Whoever held the lock before us may have started it.
	if cc, err := m.dial(ctx); err == nil || errors.Is(err, errImpostor) {
		return cc, m, err
	}
	if err := m.start(ctx, log, s, path, idle); err != nil {
		return nil, nil, err
	}
	cc, err = m.dial(ctx)
	return cc, m, err
}

// A warm plugin's Describe answer is kept beside its socket for the process
// that gave it (pid and start time), and later commands connected to that
// process take it from there: one round trip fewer in each, ~1.5 ms of a
// create here. A plugin that goes idle as a command connects still serves
// that command (sdk's pool listener), so skipping the Describe loses no
// check that the plugin is there.

// cachedDescription is the kept answer of the process this member's
// connection reached, or nil.
func (m *member) cachedDescription() *stagev1.DescribeResponse {
	if m.peer == 0 {
		return nil
	}
	d := &stagev1.DescribeResponse{}
	if !readTagged(m.desc, m.processTag(), d) {
		return nil
	}
	return d
}

// keepDescription stores d for the process this member's connection reached.
func (m *member) keepDescription(d *stagev1.DescribeResponse) {
	writeTagged(m.desc, m.processTag(), d)
}

// processTag names the peer process beyond its pid, which may be reused.
func (m *member) processTag() string {
	if m.peer == 0 {
		return ""
	}
	st, err := state.ProcessStartTime(m.peer)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("pid %d start %d", m.peer, st)
}

var errImpostor = errors.New("warm plugin socket served by another program")

// dial connects and checks who listens: root, running the very binary the
// command resolved and checked. The directory is root's alone, so a
// mismatch is a broken pool, never a plugin to trust.
func (m *member) dial(ctx context.Context) (*grpc.ClientConn, error) {
	return DialWarm(ctx, m.sock, m.verify)
}

// DialWarm connects to a warm plugin's socket; check, when given, vets
// each connection (the first, and any reconnect once the plugin went idle
// under us) before gRPC uses it.
func DialWarm(ctx context.Context, sock string, check func(net.Conn) error) (*grpc.ClientConn, error) {
	dial := func(ctx context.Context) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "unix", sock)
		if err == nil && check != nil {
			if err = check(c); err != nil {
				c.Close()
				return nil, err
			}
		}
		return c, err
	}
	first, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	used := false
	cc, err := grpc.NewClient("passthrough:///warm-plugin",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			if !used {
				used = true
				return first, nil
			}
			return dial(ctx)
		}))
	if err != nil {
		first.Close()
		return nil, err
	}
	// HTTP/2's preface exchange starts now, not at the first call: it then
	// overlaps whatever the command does before that call (create reads
	// the bundle), and the first call is one round trip.
	cc.Connect()
	return cc, nil
}

func (m *member) verify(c net.Conn) error {
	cred, err := wire.PeerCred(c)
	if err != nil {
		return fmt.Errorf("%s: peer credentials: %w", m.sock, err)
	}
	var exe unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(int(cred.Pid))+"/exe", &exe); err != nil {
		return fmt.Errorf("%s: pid %d: %w", m.sock, cred.Pid, err)
	}
	if cred.Uid != 0 || exe.Dev != m.bin.Dev || exe.Ino != m.bin.Ino {
		return fmt.Errorf("%w: %s (pid %d, uid %d)", errImpostor, m.sock, cred.Pid, cred.Uid)
	}
	m.peer = int(cred.Pid)
	return nil
}

// start runs the verified binary as s's warm plugin on the member's socket.
func (m *member) start(ctx context.Context, log *logging.Logger, s Spec, path string, idle time.Duration) error {
	bin, err := OpenVerified(path, s.SHA256)
	if err != nil {
		return err
	}
	defer bin.Close()
	// The socket's name and the check of every later connection are for the
	// inode seen when the name was made; a binary replaced since then would
	// start as a plugin nobody could verify.
	var st unix.Stat_t
	if err := unix.Fstat(int(bin.Fd()), &st); err != nil || st.Dev != m.bin.Dev || st.Ino != m.bin.Ino {
		return fmt.Errorf("%s was replaced while its warm plugin was being started; run the command again", path)
	}
	pid, err := StartWarm(ctx, bin, path, s.Args, m.sock, idle, startTimeout(s))
	if errors.Is(err, ErrNoPool) {
		// Not asked again: launched per command from now on.
		if f, err := os.OpenFile(m.oneshot, os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			f.Close()
		}
		log.Debugf("plugin %s does not serve a pool; launching it per command", path)
		return err
	}
	if err != nil {
		return fmt.Errorf("warm plugin %s: %w", path, err)
	}
	log.Debugf("warm plugin %s started: pid %d, socket %s, idle exit after %v", path, pid, m.sock, idle)
	return nil
}

// warmPath is a warm plugin's PATH, for the helpers it may run.
const warmPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// StartWarm binds sock and runs bin (opened by the caller, who checked it;
// path names it) as a warm plugin on it, detached from this process: its
// own session, / as its directory (it must not hold the caller's directory
// busy), none of our stdio once it is ready. It returns once the plugin
// listens, with its pid; the plugin outlives the caller, and whoever
// inherits it reaps it.
func StartWarm(ctx context.Context, bin *os.File, path string, args []string, sock string, idle, timeout time.Duration) (int, error) {
	sockFile, err := bindSocket(sock)
	if err != nil {
		return 0, err
	}
	defer sockFile.Close()
	out, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer out.Close()
	cmd := &exec.Cmd{
		Path:       "/proc/self/fd/3",
		Args:       append([]string{path}, args...),
		Dir:        "/",
		ExtraFiles: []*os.File{bin, sockFile},
		Stdout:     w,
		// Not the caller's environment, which a plugin launched per
		// command gets: a warm plugin outlives its first caller and serves
		// all of them.
		Env: []string{
			"PATH=" + warmPath,
			wire.CookieKey + "=" + wire.CookieValue,
			wire.EnvPoolFD + "=4",
			wire.EnvPoolIdle + "=" + idle.String(),
		},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("starting %s: %w", path, err)
	}
	line, err := readLine(ctx, out, timeout)
	if err == nil && line == fmt.Sprintf("%s %d", wire.PoolReady, wire.ProtocolVersion) {
		pid := cmd.Process.Pid
		return pid, cmd.Process.Release()
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	_ = os.Remove(sock)
	switch {
	case err != nil:
		return 0, err
	case !strings.HasPrefix(line, wire.PoolReady+" "):
		return 0, ErrNoPool
	}
	return 0, fmt.Errorf("protocol version mismatch: %q, rung speaks %d", line, wire.ProtocolVersion)
}

// bindSocket binds a fresh socket at path, replacing a dead one there
// (a plugin that ended without unlinking it, or that we could not reach).
func bindSocket(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// errNoLine is a process that closed its stdout, exiting, without a line.
var errNoLine = errors.New("exited before it was ready")

// readLine is the first line a starting process writes to f, within timeout.
func readLine(ctx context.Context, f *os.File, timeout time.Duration) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(f).ReadString('\n')
		ch <- result{strings.TrimSuffix(line, "\n"), err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.err != nil && r.line == "" {
			return "", errNoLine
		}
		return r.line, nil
	case <-t.C:
		return "", fmt.Errorf("not ready within %v", timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// lockFile takes an exclusive flock, polling so ctx can end the wait.
func lockFile(ctx context.Context, path string) (func(), error) {
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, err
		}
		if err := waitFlock(ctx, f, path); err != nil {
			f.Close()
			return nil, err
		}
		// The sweep removes idle members' locks: the file locked must still
		// be the one the name holds, or another command may lock a new one.
		var held, named unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Lstat(path, &named) == nil &&
			held.Dev == named.Dev && held.Ino == named.Ino {
			return func() { f.Close() }, nil
		}
		f.Close()
	}
}

func waitFlock(ctx context.Context, f *os.File, path string) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// sweepIdleMembers removes the files of warm-pool members that have no
// plugin: one lock and kept Describe per plugin binary identity ever used
// would pile up otherwise (every upgrade makes new ones). Only a lock a
// minute old that nobody holds and whose socket is gone; a member marked
// as serving no pool keeps its marker and lock.
func sweepIdleMembers(dir string, ents []os.DirEntry) {
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok || !strings.HasPrefix(base, "warm-") {
			continue
		}
		if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		name := filepath.Join(dir, base)
		if !absent(name+".sock") || !absent(name+".oneshot") {
			continue
		}
		f, err := os.OpenFile(name+".lock", os.O_RDWR|syscall.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil && absent(name+".sock") {
			_ = os.Remove(name + ".desc")
			_ = os.Remove(name + ".lock")
		}
		f.Close()
	}
}

func absent(path string) bool {
	_, err := os.Lstat(path)
	return errors.Is(err, fs.ErrNotExist)
}

func startTimeout(s Spec) time.Duration {
	if s.StartTimeout != 0 {
		return s.StartTimeout
	}
	return defaultStartTimeout
}
