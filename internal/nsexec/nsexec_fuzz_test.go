package nsexec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// parsed is what the C bootstrap takes out of a message.
type parsed struct {
	flags   uint32
	joins   []Join
	offsets string
	cgroups []CgroupTasks
}

// parseLikeC is a Go model of the parser in nsexec.c (rung_nsexec, up to
// the first open()). It returns the C side's parse error, or what it would
// act on. FuzzBootstrapWire checks the model against the real C code, and
// FuzzBootstrapEncode checks Encode against the model.
// syncFd is the bootstrap's socket to the host, which no cgroup entry may
// name; -1 for a model of no particular bootstrap.
func parseLikeC(msg []byte, syncFd int) (parsed, error) {
	var p parsed
	if len(msg) < 12 {
		return p, errors.New("bootstrap: reading header")
	}
	magicV := binary.LittleEndian.Uint32(msg[0:])
	word := binary.LittleEndian.Uint32(msg[4:])
	version, count := uint16(word), uint16(word>>16)
	bodyLen := binary.LittleEndian.Uint32(msg[8:])
	switch {
	case magicV != magic:
		return p, errors.New("bootstrap: bad magic")
	case version != wireVersion:
		return p, errors.New("bootstrap: wire version")
	case bodyLen > uint32(MaxBody) || int(count) > maxEntries:
		return p, errors.New("bootstrap: message exceeds the bounds")
	}
	if uint32(len(msg)-12) < bodyLen {
		return p, errors.New("bootstrap: reading body")
	}
	body := msg[12 : 12+bodyLen]
	off := uint32(0)
	for i := 0; i < int(count); i++ {
		if bodyLen-off < 4 {
			return p, errors.New("bootstrap: entry header past the end")
		}
		typ := binary.LittleEndian.Uint16(body[off:])
		l := uint32(binary.LittleEndian.Uint16(body[off+2:]))
		off += 4
		if l > bodyLen-off {
			return p, errors.New("bootstrap: entry length past the end")
		}
		data := body[off : off+l]
		off += l
		switch typ {
		case tCloneFlags:
			if l != 4 {
				return p, errors.New("bootstrap: clone flags size")
			}
			p.flags = binary.LittleEndian.Uint32(data)
			if uint64(p.flags)&^uint64(namespaceFlags) != 0 {
				return p, errors.New("bootstrap: clone flag is not a namespace")
			}
		case tJoin:
			if len(p.joins) >= maxJoins {
				return p, errors.New("bootstrap: too many joins")
			}
			t, path, err := wordAndPath(data, "join")
			if err != nil {
				return p, err
			}
			if !isNamespaceFlag(t) {
				return p, errors.New("bootstrap: join of unknown namespace type")
			}
			p.joins = append(p.joins, Join{Flag: int(t), Path: path})
		case tTimeOffsets:
			if int(l) > maxPath {
				return p, errors.New("bootstrap: time offsets size")
			}
			p.offsets = string(data)
		case tCgroupTasks:
			if len(p.cgroups) >= maxCgroupFds {
				return p, errors.New("bootstrap: too many cgroup v1 hierarchies")
			}
			fd, dir, err := wordAndPath(data, "cgroup")
			if err != nil {
				return p, err
			}
			if fd < 3 || fd > 1024 || int(fd) == syncFd {
				return p, errors.New("bootstrap: cgroup tasks fd")
			}
			p.cgroups = append(p.cgroups, CgroupTasks{Fd: int(fd), Dir: dir})
		default:
			return p, errors.New("bootstrap: unknown entry type")
		}
	}
	if off != bodyLen {
		return p, errors.New("bootstrap: trailing bytes")
	}
	if p.offsets != "" && p.flags&unix.CLONE_NEWTIME == 0 {
		return p, errors.New("bootstrap: time offsets without a new time namespace")
	}
	return p, nil
}

// wordAndPath models the C side's word_and_path.
func wordAndPath(data []byte, what string) (uint32, string, error) {
	if len(data) < 5 || len(data)-4 > maxPath {
		return 0, "", errors.New("bootstrap: " + what + " entry size")
	}
	path := string(data[4:])
	if strings.IndexByte(path, 0) >= 0 {
		return 0, "", errors.New("bootstrap: " + what + " path has a NUL byte")
	}
	return binary.LittleEndian.Uint32(data), path, nil
}

func isNamespaceFlag(t uint32) bool {
	switch t {
	case unix.CLONE_NEWNS, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC, unix.CLONE_NEWNET,
		unix.CLONE_NEWPID, unix.CLONE_NEWUSER, unix.CLONE_NEWCGROUP, unix.CLONE_NEWTIME:
		return true
	}
	return false
}

func seedMessages() [][]byte {
	var out [][]byte
	for _, b := range []Bootstrap{
		{},
		{CloneFlags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS},
		{CloneFlags: unix.CLONE_NEWNET, Joins: []Join{{Flag: unix.CLONE_NEWIPC, Path: "/proc/self/ns/ipc"}}},
		{CloneFlags: unix.CLONE_NEWTIME, TimeOffsets: "monotonic 5 0\nboottime 0 7\n"},
		{Joins: []Join{{Flag: unix.CLONE_NEWUSER, Path: "/proc/self/ns/user"}, {Flag: unix.CLONE_NEWNS, Path: "/proc/self/ns/mnt"}}},
		// No such fd in the fuzz child: the join fails as an action.
		{CgroupTasks: []CgroupTasks{{Fd: 9, Dir: "/sys/fs/cgroup/pids/rung/x"}}},
	} {
		m, err := b.Encode()
		if err != nil {
			panic(err)
		}
		out = append(out, m)
	}
	// And malformed ones: a length past the end, trailing bytes, an
	// unknown entry, a NUL in a path, time offsets without a time ns.
	hdr := func(count, body int) []byte {
		h := binary.LittleEndian.AppendUint32(nil, magic)
		h = binary.LittleEndian.AppendUint32(h, uint32(wireVersion)|uint32(count)<<16)
		return binary.LittleEndian.AppendUint32(h, uint32(body))
	}
	out = append(out,
		append(hdr(1, 4), 2, 0, 0xff, 0xff),
		append(hdr(0, 3), 1, 2, 3),
		append(hdr(1, 4), 9, 0, 0, 0),
		append(hdr(1, 10), append([]byte{2, 0, 6, 0, 0, 0, 0, 0x40}, 'a', 0)...),
		append(hdr(1, 6), 3, 0, 2, 0, 'x', 'y'),
		append(hdr(1, 6), 4, 0, 2, 0, 3, 0),
		append(hdr(1, 9), 4, 0, 5, 0, 3, 0, 0, 0, 'a'),
		hdr(65, 0),
		hdr(0, 1<<20),
		[]byte("RUNG"),
	)
	return out
}

// FuzzBootstrapEncode: whatever Encode accepts, the C side parses back to
// the same namespaces, and everything it emits is within the C side's bounds.
func FuzzBootstrapEncode(f *testing.F) {
	f.Add(uint32(unix.CLONE_NEWNS|unix.CLONE_NEWPID), uint8(1), uint32(unix.CLONE_NEWNET), "/proc/1/ns/net", "")
	f.Add(uint32(unix.CLONE_NEWTIME), uint8(0), uint32(0), "", "monotonic 1 2\nboottime 3 4\n")
	f.Add(uint32(1), uint8(17), uint32(unix.CLONE_NEWUSER), "/x", "")
	f.Add(uint32(0), uint8(2), uint32(unix.CLONE_NEWUTS), strings.Repeat("a", 4097), "")
	f.Add(uint32(0), uint8(1), uint32(unix.CLONE_NEWUTS), "/a\x00b", "")
	f.Fuzz(func(t *testing.T, flags uint32, n uint8, joinFlag uint32, path, offsets string) {
		b := Bootstrap{CloneFlags: uintptr(flags), TimeOffsets: offsets}
		for i := 0; i < int(n)%24; i++ {
			b.Joins = append(b.Joins, Join{Flag: int(joinFlag), Path: path})
		}
		for i := 0; i < int(n)%3; i++ {
			b.CgroupTasks = append(b.CgroupTasks, CgroupTasks{Fd: int(joinFlag % 1100), Dir: path})
		}
		msg, err := b.Encode()
		if err != nil {
			return
		}
		if len(msg) > 12+MaxBody {
			t.Fatalf("encoded %d bytes", len(msg))
		}
		p, err := parseLikeC(msg, -1)
		if err != nil {
			if strings.Contains(err.Error(), "time offsets without") {
				return // a plan check the host makes elsewhere
			}
			t.Fatalf("Encode(%+v) produced a message the bootstrap refuses: %v", b, err)
		}
		if uintptr(p.flags) != b.CloneFlags || p.offsets != b.TimeOffsets || len(p.joins) != len(b.Joins) || !slices.Equal(p.cgroups, b.CgroupTasks) {
			t.Fatalf("round trip: %+v -> %+v", b, p)
		}
		for i := range p.joins {
			if p.joins[i] != b.Joins[i] {
				t.Fatalf("join %d: %+v -> %+v", i, b.Joins[i], p.joins[i])
			}
		}
	})
}

// FuzzReadReply: any bytes the bootstrap (a process running in the
// container's namespaces) writes back are read within bounds.
func FuzzReadReply(f *testing.F) {
	rep := func(typ uint32, val int32, text string) []byte {
		b := binary.LittleEndian.AppendUint32(nil, typ)
		b = binary.LittleEndian.AppendUint32(b, uint32(val))
		if typ == ReplyError {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(text)))
			b = append(b, text...)
		}
		return b
	}
	f.Add(rep(ReplyAttach, 42, ""))
	f.Add(rep(ReplyPid, -1, ""))
	f.Add(rep(ReplyError, 0, "bootstrap: bad magic"))
	f.Add(append(rep(ReplyError, 0, ""), 0xff, 0xff, 0xff, 0xff))
	f.Add(rep(7, 1, ""))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &countingReader{r: bytes.NewReader(data)}
		rep, err := ReadReply(r)
		if r.largest > 4096 {
			t.Fatalf("ReadReply read into a buffer of %d bytes", r.largest)
		}
		if err != nil {
			return
		}
		switch rep.Type {
		case ReplyAttach, ReplyPid:
			if rep.Value <= 0 {
				t.Fatalf("accepted pid %d", rep.Value)
			}
		case ReplyError:
			if len(rep.Text) > 4096 {
				t.Fatalf("accepted %d bytes of error text", len(rep.Text))
			}
		default:
			t.Fatalf("accepted reply type %d", rep.Type)
		}
	})
}

// countingReader records the largest buffer a read was made into: what a
// declared length made the reader allocate.
type countingReader struct {
	r       io.Reader
	largest int
}

func (c *countingReader) Read(b []byte) (int, error) {
	c.largest = max(c.largest, len(b))
	return c.r.Read(b)
}

// wireChildEnv marks the child of FuzzBootstrapWire; the C constructor has
// already run by the time Go sees it.
const wireChildEnv = "RUNG_NSEXEC_FUZZ_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(wireChildEnv) != "" {
		// The bootstrap returned into Go: it forked the init. Nothing
		// should get here, as the fuzz host never sends the go word.
		fmt.Println("REACHED-GO")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// safeToAct says whether a message the model accepts may be handed to the
// real bootstrap, which will then open and join the namespaces it names and
// unshare the ones it asks for (in a child that is killed right after):
// only paths to this process's own namespaces, so a fuzzed path can never
// open a device or a fifo.
func safeToAct(p parsed) bool {
	for _, j := range p.joins {
		if !strings.HasPrefix(j.Path, "/proc/self/ns/") || strings.Contains(j.Path, "..") {
			return false
		}
	}
	return true
}

// FuzzBootstrapWire feeds bytes to the real C parser: this test binary
// links the bootstrap, so a child started with _RUNG_INIT_PIPE reads the
// message before Go starts. The C side and the Go model must agree on
// what is malformed, the child must end by exit (never a signal, never
// reaching Go), and every reply must be one ReadReply accepts.
func FuzzBootstrapWire(f *testing.F) {
	for _, m := range seedMessages() {
		f.Add(m)
	}
	self, err := os.Executable()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 12+MaxBody+16 {
			return
		}
		want, perr := parseLikeC(data, 3) // the child's InitEnv below
		if perr == nil && !safeToAct(want) {
			t.Skip("accepted message joins a namespace outside /proc/self/ns")
		}
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		parent, child := os.NewFile(uintptr(fds[0]), "parent"), os.NewFile(uintptr(fds[1]), "child")
		defer parent.Close()
		cmd := exec.Command(self, "-test.run=^$")
		cmd.Env = []string{InitEnv + "=3", wireChildEnv + "=1"}
		cmd.ExtraFiles = []*os.File{child}
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		child.Close()
		_ = parent.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = parent.Write(data)
		// Half-close: a short message reaches EOF, and the child can still
		// write its reply (a full close would kill it with SIGPIPE).
		_ = unix.Shutdown(int(parent.Fd()), unix.SHUT_WR)
		var replies []Reply
		for {
			rep, err := ReadReply(parent)
			if err != nil {
				// A bootstrap that bailed before reading all of a long
				// message closes with data unread, which resets the
				// connection instead of ending it.
				if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("reply %d from the bootstrap is malformed: %v", len(replies), err)
				}
				break
			}
			replies = append(replies, rep)
		}
		timer := time.AfterFunc(10*time.Second, func() { _ = cmd.Process.Kill() })
		werr := cmd.Wait()
		timer.Stop()
		var ee *exec.ExitError
		if errors.As(werr, &ee) {
			if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() {
				t.Fatalf("bootstrap died of signal %v on %q", ws.Signal(), data)
			}
		}
		if strings.Contains(out.String(), "REACHED-GO") {
			t.Fatalf("bootstrap went on into Go without the host's word")
		}
		if code := cmd.ProcessState.ExitCode(); code != ExitBootstrap {
			t.Fatalf("bootstrap exited %d, want %d (output %q)", code, ExitBootstrap, out.String())
		}
		if len(replies) == 0 {
			t.Fatalf("bootstrap exited without a reply")
		}
		first := replies[0]
		if perr != nil {
			if first.Type != ReplyError || !strings.HasPrefix(first.Text, "bootstrap: ") {
				t.Fatalf("model refuses (%v) but the bootstrap replied %+v", perr, first)
			}
			return
		}
		// Accepted: either the bootstrap acted and asked for Attach, or an
		// action itself failed (not root, say); never a parse error.
		if first.Type == ReplyError && strings.HasPrefix(first.Text, "bootstrap: ") {
			t.Fatalf("model accepts %+v but the bootstrap refused: %s", want, first.Text)
		}
	})
}
