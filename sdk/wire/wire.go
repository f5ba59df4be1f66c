// Package wire is what both ends of the stage protocol share: its version,
// the launch cookie, the warm pool's variables and the typed client of a
// plugin's services. It imports no go-plugin, so the rung host links none:
// go-plugin's client side (net/rpc, gob, yamux, gRPC reflection and its
// descriptors) cost every rung command about 1 ms of package init, whether
// it launched a plugin or not. Plugin authors use sdk, which re-exports
// what they need of it.
package wire

import (
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/rung-runtime/rung/proto/stagev1"
)

// ProtocolVersion is the stage protocol version, announced in go-plugin's
// handshake line, in Describe, and in a warm plugin's ready line.
const ProtocolVersion = 1

// The launch cookie: a plugin binary started without it says it is not
// run by hand and exits. It stops no one; checksums and trusted paths do.
const (
	CookieKey   = "RUNG_STAGE_PLUGIN"
	CookieValue = "4f1c2a6e-rung-stage-protocol"
)

// A warm plugin serves many rung commands, one after another and at once,
// instead of being launched and killed by each: the host binds a unix socket
// in a root-only directory, starts the plugin with it and these variables,
// and later commands dial it.
const (
	// EnvPoolFD names the descriptor of the bound, not yet listening socket.
	// The plugin listens on it itself, so SO_PEERCRED on the host's side
	// names the plugin's pid, which the host checks against the binary.
	EnvPoolFD = "RUNG_STAGE_POOL_FD"
	// EnvPoolIdle is how long the plugin stays with no host connected
	// before it exits (a Go duration).
	EnvPoolIdle = "RUNG_STAGE_POOL_IDLE"
	// PoolReady, then the protocol version, is the one line a warm plugin
	// writes to its stdout once it listens. Anything else (go-plugin's
	// handshake from a plugin that knows no pool) tells the host to launch
	// that plugin per command instead.
	PoolReady = "rung-stage-pool-ready"
)

// Conn is the client side of a launched plugin.
type Conn struct {
	// Stage is the client of the plugin's Stage service.
	Stage stagev1.StageClient
	// Resources is usable only if Describe said resources=true.
	Resources stagev1.ResourcesClient
}

// NewConn is the client side of a plugin on a gRPC connection.
func NewConn(c grpc.ClientConnInterface) *Conn {
	return &Conn{Stage: stagev1.NewStageClient(c), Resources: stagev1.NewResourcesClient(c)}
}

// PeerCred is the pid and uid of the process at the other end of a unix
// socket connection: for the dialing side, the process that called listen.
func PeerCred(c net.Conn) (*unix.Ucred, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%T is not a unix socket", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, credErr
}
