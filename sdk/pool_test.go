package sdk

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A host that connected just before the idle unlink is served, not reset:
// its connection waits in the backlog, and the plugin ends only once that
// connection was accepted and closed. A later host finds the name gone.
func TestPoolListenerServesConnectionsQueuedAtIdleExit(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "warm.sock")
	inner, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(sock, &st); err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	l := &poolListener{Listener: inner, path: sock, ino: st.Ino, onIdle: func() { close(ended) }}
	queued, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer queued.Close()
	l.expire() // the idle timer fires with the host not yet accepted
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket still named after the idle exit began: %v", err)
	}
	select {
	case <-ended:
		t.Fatal("the plugin ended with a host waiting in its backlog")
	default:
	}
	if _, err := net.Dial("unix", sock); err == nil {
		t.Error("a host could still connect after the unlink")
	}
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("accept of the queued host: %v", err)
	}
	if _, err := queued.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil {
		t.Fatalf("the queued host was not served: %v", err)
	}
	c.Close()
	select {
	case <-ended: // its close ends the plugin
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin did not end once its last host left")
	}
}
