package sdk

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/rung-runtime/rung/sdk/wire"
)

// The warm pool's variables (see package wire): every plugin built with
// the SDK can be kept warm, Serve does the plugin's part.
const (
	EnvPoolFD   = wire.EnvPoolFD
	EnvPoolIdle = wire.EnvPoolIdle
	PoolReady   = wire.PoolReady
)

// servePool serves impl on the host's socket until no host has been
// connected for the idle time.
func servePool(impl Stage, fdVar, idleVar string) {
	fd, err := strconv.Atoi(fdVar)
	idle, ierr := time.ParseDuration(idleVar)
	if err != nil || fd < 3 || ierr != nil || idle <= 0 {
		fmt.Fprintf(os.Stderr, "%s=%q, %s=%q: want a descriptor >= 3 and a positive duration\n", EnvPoolFD, fdVar, EnvPoolIdle, idleVar)
		os.Exit(1)
	}
	ln, err := listenPool(fd)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warm plugin: %v\n", err)
		os.Exit(1)
	}
	srv := grpc.NewServer()
	if err := (&GRPCPlugin{Impl: impl}).GRPCServer(nil, srv); err != nil {
		fmt.Fprintf(os.Stderr, "warm plugin: %v\n", err)
		os.Exit(1)
	}
	if _, err := fmt.Printf("%s %d\n", PoolReady, ProtocolVersion); err != nil {
		os.Exit(1)
	}
	// The host that started us reads one line and goes on; it may be gone
	// long before we are, and a write to its pipes would kill us with
	// SIGPIPE. Logs of a warm plugin are dropped, as a daemon's stdio is.
	detachStdio()
	ln.idle = idle
	ln.onIdle = func() { srv.Stop(); os.Exit(0) }
	ln.armIdle()
	_ = srv.Serve(ln)
	os.Exit(0)
}

func listenPool(fd int) (*poolListener, error) {
	if err := unix.Listen(fd, 128); err != nil {
		return nil, fmt.Errorf("listen on descriptor %d: %w", fd, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("socket name of descriptor %d: %w", fd, err)
	}
	un, ok := sa.(*unix.SockaddrUnix)
	if !ok || un.Name == "" {
		return nil, fmt.Errorf("descriptor %d is not a bound unix socket", fd)
	}
	// The host bound this name just before starting us, and holds the
	// plugin's lock until we are ready: the file there now is our socket.
	// (fstat of the descriptor would give the socket's own inode, not the
	// name's.)
	var st unix.Stat_t
	if err := unix.Lstat(un.Name, &st); err != nil {
		return nil, fmt.Errorf("socket %s: %w", un.Name, err)
	}
	f := os.NewFile(uintptr(fd), un.Name)
	inner, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("descriptor %d: %w", fd, err)
	}
	return &poolListener{Listener: inner, path: un.Name, ino: st.Ino}, nil
}

func detachStdio() {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return
	}
	for _, fd := range []int{0, 1, 2} {
		_ = unix.Dup2(int(null.Fd()), fd)
	}
	null.Close()
}

// poolListener counts the host connections; when none has been open for
// the idle time it unlinks its socket and ends the plugin. It unlinks
// before it stops accepting, and only the socket it was given: a host that
// finds the name gone or refused starts a new plugin under that name, and
// the old one must not take the new one's socket with it. A host that
// connected just before the unlink waits in the backlog, and is served,
// not reset: it may skip Describe (hosts keep its answer per process), so
// its first call may be one that must not be lost, such as a Prepare.
type poolListener struct {
	net.Listener
	path string
	ino  uint64

	mu      sync.Mutex
	conns   int
	closing bool
	timer   *time.Timer
	idle    time.Duration
	onIdle  func()
}

func (l *poolListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		// The directory already keeps others out; the uid check keeps a
		// socket someone passed on from serving them.
		if !peerIsSelf(c) {
			c.Close()
			l.mu.Lock()
			closing := l.closing
			l.mu.Unlock()
			if closing {
				go l.expire()
			}
			continue
		}
		l.mu.Lock()
		l.conns++
		if l.timer != nil {
			l.timer.Stop()
		}
		l.mu.Unlock()
		return &poolConn{Conn: c, l: l}, nil
	}
}

func (l *poolListener) armIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
	}
	l.timer = time.AfterFunc(l.idle, l.expire)
}

// expire ends the plugin if no host is connected or waiting. Once the
// name is unlinked no connection can arrive but those already queued;
// while one is, Accept takes it, and its close runs expire again.
func (l *poolListener) expire() {
	l.mu.Lock()
	if l.conns > 0 {
		l.mu.Unlock()
		return
	}
	if !l.closing {
		l.closing = true
		var st unix.Stat_t
		if unix.Lstat(l.path, &st) == nil && st.Ino == l.ino {
			_ = unix.Unlink(l.path)
		}
	}
	if l.queued() {
		l.mu.Unlock()
		return
	}
	l.Listener.Close()
	l.mu.Unlock()
	l.onIdle()
}

// queued says whether a connection waits in the listen backlog.
func (l *poolListener) queued() bool {
	sc, ok := l.Listener.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ready := false
	_ = raw.Control(func(fd uintptr) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 0)
		ready = err == nil && n > 0 && pfd[0].Revents&unix.POLLIN != 0
	})
	return ready
}

func (l *poolListener) released() {
	l.mu.Lock()
	l.conns--
	last := l.conns == 0
	closing := l.closing
	l.mu.Unlock()
	switch {
	case last && closing:
		// Not on this goroutine: gRPC's transport closes the connection,
		// and the plugin's stop waits for its transports.
		go l.expire()
	case last:
		l.armIdle()
	}
}

type poolConn struct {
	net.Conn
	l    *poolListener
	once sync.Once
}

func (c *poolConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.l.released)
	return err
}

// PeerCred is the pid and uid of the process at the other end of a unix
// socket connection: for the dialing side, the process that called listen.
func PeerCred(c net.Conn) (*unix.Ucred, error) { return wire.PeerCred(c) }

// peerIsSelf: a warm plugin serves only its own user (root, under rung).
func peerIsSelf(c net.Conn) bool {
	cred, err := PeerCred(c)
	return err == nil && cred.Uid == uint32(os.Geteuid())
}
