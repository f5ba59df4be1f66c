package integration

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// consoleSocket listens where --console-socket points and returns the pty
// master the runtime sends over it (SCM_RIGHTS), as containerd does.
func consoleSocket(t *testing.T) (string, <-chan *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	must(t, err)
	t.Cleanup(func() { l.Close() })
	ch := make(chan *os.File, 1)
	go func() {
		defer close(ch)
		_ = l.SetDeadline(time.Now().Add(30 * time.Second))
		conn, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, 4096)
		oob := make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) == 0 {
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			return
		}
		ch <- os.NewFile(uintptr(fds[0]), "pty-master")
	}()
	return path, ch
}

// With process.terminal the container's stdio is a pty whose master comes
// back over the console socket; /dev/console is that pty.
func TestConsoleSocket(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	sock, masters := consoleSocket(t)
	bundle := tu.Bundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.Args = []string{"sh", "-c", "tty; test -t 0 && echo STDIN-IS-TTY; ls -l /dev/console | cut -c1; echo END"}
	})
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"create", "--bundle", bundle, "--console-socket", sock, id}, Dir: bundle})
	if res.Exit != 0 {
		t.Fatalf("create with a console socket: %s", res)
	}
	master := <-masters
	if master == nil {
		t.Fatal("no pty master arrived on the console socket")
	}
	defer master.Close()
	rt.Start(t, id)
	var out strings.Builder
	buf := make([]byte, 4096)
	_ = master.SetReadDeadline(time.Now().Add(20 * time.Second))
	for !strings.Contains(out.String(), "END") {
		n, err := master.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	got := out.String()
	if !strings.Contains(got, "/dev/pts/") || !strings.Contains(got, "STDIN-IS-TTY") {
		t.Errorf("container output on the pty: %q", got)
	}
	if !strings.Contains(got, "c") {
		t.Errorf("/dev/console is not a character device: %q", got)
	}
	rt.WaitStatus(t, id, specs.StateStopped)
	rt.MustDelete(t, id, false)
	tu.CheckNoLeaks(t, snap, id)
}

// A terminal without a console socket is a clear error, and leaves nothing.
func TestTerminalNeedsConsoleSocket(t *testing.T) {
	rt, snap := setup(t)
	id := tu.ID(t)
	bundle := tu.Bundle(t, func(s *specs.Spec) { s.Process.Terminal = true })
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"create", "--bundle", bundle, id}, Dir: bundle})
	msg := expectFailure(t, res)
	if !tu.IsRunc() && !strings.Contains(msg, "console-socket") {
		t.Errorf("error %q does not name --console-socket", msg)
	}
	tu.CheckNoLeaks(t, snap, id)
}
