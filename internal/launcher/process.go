package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/rung-runtime/rung/sdk/wire"
)

// The host starts a per-command plugin with go-plugin's launch protocol,
// spoken here rather than through go-plugin's client: plugins are go-plugin
// servers (sdk.Serve), but linking the client costs every rung command
// about 1 ms of package init (see package wire), and the host uses little of
// it: the environment, the one handshake line, a gRPC connection over the
// unix socket the line names, the plugin's log on its stderr, and a kill.
// go-plugin's extras (AutoMTLS, the broker, the stdio stream, net/rpc) are
// never used by rung.

// goPluginCoreVersion is the first field of go-plugin's handshake line, the
// version of go-plugin's own protocol.
const goPluginCoreVersion = "1"

// process is a plugin launched for one command.
type process struct {
	cmd *exec.Cmd
	cc  *grpc.ClientConn
	// addr is the socket the handshake named; sock is set while its file
	// is still there to remove.
	addr, sock string
	// exited is closed once the process is reaped; logs once its stderr is
	// drained.
	exited chan struct{}
	logs   chan struct{}
	tail   *lastLine
	state  *os.ProcessState // set before exited is closed

	closeOnce sync.Once
}

// startProcess runs the verified binary bin (as path, with args) and
// completes go-plugin's handshake within timeout. log receives the
// plugin's stderr.
func startProcess(ctx context.Context, bin *os.File, path string, args []string, log io.Writer, timeout time.Duration) (*process, error) {
	env := append(os.Environ(),
		wire.CookieKey+"="+wire.CookieValue,
		"PLUGIN_PROTOCOL_VERSIONS="+strconv.Itoa(wire.ProtocolVersion),
		// Read only by plugins that fall back to TCP (not on Linux); go-plugin's
		// client always sets them.
		"PLUGIN_MIN_PORT=10000", "PLUGIN_MAX_PORT=25000",
	)
	if dir := socketDir(); dir != "" {
		env = append(env, "PLUGIN_UNIX_SOCKET_DIR="+dir)
	}
	cmd := &exec.Cmd{
		// The child gets the verified descriptor as fd 3 and the kernel executes
		// that inode; a script's interpreter can still open /proc/self/fd/3.
		Path:       "/proc/self/fd/3",
		Args:       append([]string{path}, args...),
		Env:        env,
		ExtraFiles: []*os.File{bin},
		// A plugin must not outlive a rung that was killed mid-call.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	stdout, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = w
	stderr, err := cmd.StderrPipe()
	if err != nil {
		stdout.Close()
		w.Close()
		return nil, err
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		stdout.Close()
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan struct{}), logs: make(chan struct{}), tail: &lastLine{}}
	go func() {
		defer close(p.logs)
		_, _ = io.Copy(io.MultiWriter(log, p.tail), stderr)
	}()
	go func() {
		p.state, _ = cmd.Process.Wait()
		// Its last words, unless a child of its own holds its stderr open.
		select {
		case <-p.logs:
		case <-time.After(100 * time.Millisecond):
		}
		stderr.Close()
		stdout.Close()
		close(p.exited)
	}()
	fail := func(err error) (*process, error) {
		p.close()
		return nil, err
	}
	line, err := readLine(ctx, stdout, timeout)
	if errors.Is(err, errNoLine) {
		select {
		case <-p.exited:
		case <-time.After(time.Second):
		}
		return fail(p.exitError("exited before the handshake"))
	}
	if err != nil {
		return fail(fmt.Errorf("handshake: %w", err))
	}
	// Only the first line matters: go-plugin's server moves its stdout to a
	// pipe of its own right after it. Anything else written to the
	// descriptor is drained, so it never blocks the plugin.
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	addr, err := parseHandshake(strings.TrimRight(line, "\r"))
	if err != nil {
		return fail(err)
	}
	p.addr, p.sock = addr, addr
	if p.cc, err = DialWarm(ctx, addr, nil); err != nil {
		return fail(fmt.Errorf("connecting to %s: %w", addr, err))
	}
	// Connected (DialWarm dials at once), this command is the plugin's only
	// client: the name can go now, so a rung killed later leaves no socket
	// file behind for the sweep.
	if os.Remove(addr) == nil {
		p.sock = ""
	}
	return p, nil
}

// parseHandshake checks go-plugin's line
// CORE|APP|NETWORK|ADDRESS|PROTOCOL[|CERT[|MUX]] and returns the socket.
func parseHandshake(line string) (string, error) {
	f := strings.Split(line, "|")
	if len(f) < 5 {
		return "", fmt.Errorf("not a go-plugin handshake: %.80q", line)
	}
	switch {
	case f[0] != goPluginCoreVersion:
		return "", errors.New("protocol version mismatch: the plugin was built with an incompatible go-plugin")
	case f[1] != strconv.Itoa(wire.ProtocolVersion):
		return "", fmt.Errorf("protocol version mismatch: the plugin speaks stage protocol %.16s, rung speaks %d", f[1], wire.ProtocolVersion)
	case f[4] != "grpc":
		return "", fmt.Errorf("the plugin speaks %.16q, not grpc: it was not built with rung's sdk", f[4])
	case f[2] != "unix" || !strings.HasPrefix(f[3], "/"):
		return "", fmt.Errorf("the plugin listens on %.16s %.80q, not a unix socket", f[2], f[3])
	case len(f) > 5 && f[5] != "":
		// A server certificate means AutoMTLS, which rung never asks for.
		return "", errors.New("the plugin offers TLS, which rung does not ask for")
	}
	return f[3], nil
}

// exitError says how the process ended, with its last stderr line.
func (p *process) exitError(what string) error {
	msg := what
	if st := p.state; st != nil {
		msg += " (" + st.String() + ")"
	}
	if last := p.tail.get(); last != "" {
		msg += fmt.Sprintf(": %.200s", last)
	}
	return errors.New(msg)
}

// close kills the process and waits for it: a per-command plugin keeps
// nothing a graceful stop would save, and its socket file, which only a
// graceful stop would remove, is gone already or removed here.
func (p *process) close() {
	p.closeOnce.Do(func() {
		if p.cc != nil {
			p.cc.Close()
		}
		_ = p.cmd.Process.Kill()
		<-p.exited
		if p.sock != "" {
			_ = os.Remove(p.sock)
		}
	})
}

// lastLine keeps the last non-empty line written to it, for errors.
type lastLine struct {
	mu   sync.Mutex
	cur  []byte
	last string
}

func (l *lastLine) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range b {
		if c == '\n' {
			if s := strings.TrimSpace(string(l.cur)); s != "" {
				l.last = s
			}
			l.cur = l.cur[:0]
		} else if len(l.cur) < 512 {
			l.cur = append(l.cur, c)
		}
	}
	return len(b), nil
}

func (l *lastLine) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := strings.TrimSpace(string(l.cur)); s != "" {
		return s
	}
	return l.last
}
