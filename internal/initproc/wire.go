// Package initproc is the container's init (`rung init`, the host binary
// re-executed) and the host's side of the conversation with it. The init
// applies the host's rootfs and process setup and the plugins' typed plan;
// it never runs plugin code.
package initproc

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/version"
)

// wireVersion changes whenever Config, Plan or the messages change in a way
// an older init would misread.
const wireVersion = 4

// BuildID names the build of this init protocol: the host and the init it
// starts (rung itself, or a separately installed rung-init) must agree.
func BuildID() string { return fmt.Sprintf("%s/init-wire-%d", version.Version, wireVersion) }

// MaxFrame bounds every host↔init message (CVE-2021-43784 class): a spec
// with thousands of mounts and env entries still fits.
const MaxFrame = 8 << 20

// WriteFrame sends v as a length-prefixed JSON frame.
func WriteFrame(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(data) > MaxFrame {
		return fmt.Errorf("init message of %d bytes exceeds %d", len(data), MaxFrame)
	}
	buf := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(data)), uint32(len(data)))
	_, err = w.Write(append(buf, data...))
	return err
}

// ReadFrame reads one frame into v, refusing lengths above MaxFrame.
func ReadFrame(r io.Reader, v any) error {
	data, err := readFrame(r)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func readFrame(r io.Reader) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(l[:])
	if n > MaxFrame {
		return nil, fmt.Errorf("init message of %d bytes exceeds %d", n, MaxFrame)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, err
	}
	return data, nil
}

// WriteConfig sends c in its binary form (configwire.go) as one frame.
func WriteConfig(w io.Writer, c *Config) error {
	data, err := c.MarshalBinary()
	if err != nil {
		return err
	}
	if len(data) > MaxFrame {
		return fmt.Errorf("init config of %d bytes exceeds %d", len(data), MaxFrame)
	}
	buf := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(data)), uint32(len(data)))
	_, err = w.Write(append(buf, data...))
	return err
}

// ReadConfig reads what WriteConfig sent. A config of another build gives
// an *otherBuildError, for the init to tell the host.
func ReadConfig(r io.Reader, c *Config) error {
	data, err := readFrame(r)
	if err != nil {
		return err
	}
	err = c.UnmarshalBinary(data)
	if err != nil && len(data) > 0 && data[0] == '{' {
		// A rung from before the binary config sent JSON: name its build,
		// as the init always has, rather than fail on the format. Only this
		// failure pays for encoding/json.
		var old struct {
			Build string `json:"build"`
		}
		if json.Unmarshal(data, &old) == nil && old.Build != BuildID() {
			return &otherBuildError{host: old.Build}
		}
	}
	return err
}

// Message types the init sends.
const (
	MsgHooks   = "hooks"   // rootfs prepared: run createRuntime/prestart now
	MsgReady   = "ready"   // waiting on the exec fifo (create) or about to exec (exec)
	MsgError   = "error"   // setup failed; Error says why
	MsgHooksOK = "hooksOK" // host → init: the request (hooks, rlimits) is done
	MsgRlimits = "rlimits" // set process.rlimits on the init (prlimit)
)

// Message is a frame from the init, or the host's answer to a hooks request.
type Message struct {
	Type  string `json:"type"`
	Error string `json:"error,omitempty"`
	// Marks, on ready when the host asked for Config.Timing, are the init's
	// own steps: the host logs them among its create steps.
	Marks []Mark `json:"marks,omitempty"`
}

// Mark is the wall-clock time (Unix ns) an init step ended; host and init
// share the clock, so the host can place it on its own create timeline.
type Mark struct {
	Step string `json:"step"`
	At   int64  `json:"at"`
}

// timeline collects the init's marks, and nothing unless timing was asked
// for: a plain create pays one branch per step.
type timeline struct {
	on    bool
	marks []Mark
}

func (t *timeline) mark(step string) {
	if t.on {
		t.marks = append(t.marks, Mark{Step: step, At: time.Now().UnixNano()})
	}
}

// MsgSeccompFd carries a seccomp notify fd (SCM_RIGHTS) from the init to the
// host, which hands it to the listener: the listener's socket is a host
// path the init, past pivot_root, cannot reach.
const MsgSeccompFd = "seccompFd"

// WriteFrameWithFd sends v as one frame with fd attached to its first byte.
func WriteFrameWithFd(sock *os.File, v any, fd int) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(data)), uint32(len(data)))
	buf = append(buf, data...)
	n, err := unix.SendmsgN(int(sock.Fd()), buf, unix.UnixRights(fd), nil, 0)
	if err != nil {
		return err
	}
	_, err = sock.Write(buf[n:])
	return err
}

// FdReader reads a socket with recvmsg, keeping the fds that arrive with the
// bytes (a plain read would drop them).
type FdReader struct {
	Sock *os.File
	Fds  []int
}

func (r *FdReader) Read(b []byte) (int, error) {
	rc, err := r.Sock.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		oob := make([]byte, unix.CmsgSpace(4*4))
		var oobn int
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), b, oob, unix.MSG_CMSG_CLOEXEC)
		if rerr == unix.EAGAIN {
			return false
		}
		if rerr == nil && oobn > 0 {
			msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
			if perr == nil {
				for _, m := range msgs {
					if fds, err := unix.ParseUnixRights(&m); err == nil {
						r.Fds = append(r.Fds, fds...)
					}
				}
			}
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	if n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// TakeFd returns the oldest received fd, or -1.
func (r *FdReader) TakeFd() int {
	if len(r.Fds) == 0 {
		return -1
	}
	fd := r.Fds[0]
	r.Fds = r.Fds[1:]
	return fd
}

// Close closes fds nobody took.
func (r *FdReader) Close() {
	for _, fd := range r.Fds {
		unix.Close(fd)
	}
	r.Fds = nil
}
