package install

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// program answers getppid with ERRNO(ENOTTY) and allows everything else. It
// is hand-assembled so this package's tests need no compiler.
func program() []byte {
	ins := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_GETPPID},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOTTY)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	var b bytes.Buffer
	for _, in := range ins {
		_ = binary.Write(&b, binary.NativeEndian, in)
	}
	return b.Bytes()
}

func TestCheck(t *testing.T) {
	for name, c := range map[string]struct {
		prog []byte
		ok   bool
	}{
		"empty":          {nil, false},
		"partial":        {make([]byte, 12), false},
		"one":            {make([]byte, 8), true},
		"at the limit":   {make([]byte, MaxInstructions*8), true},
		"over the limit": {make([]byte, (MaxInstructions+1)*8), false},
	} {
		if err := Check(c.prog); (err == nil) != c.ok {
			t.Errorf("%s: Check = %v", name, err)
		}
	}
}

func TestInstallRefusesBadShapes(t *testing.T) {
	// These never reach seccomp(2), so the test process stays unfiltered.
	for _, p := range [][]byte{nil, make([]byte, 7), make([]byte, (MaxInstructions+1)*8)} {
		if fd, err := Install(p, 0); err == nil || fd != -1 {
			t.Errorf("Install(%d bytes) = %d, %v", len(p), fd, err)
		}
	}
}

const childEnv = "RUNG_SECCOMP_INSTALL_CHILD"

func TestMain(m *testing.M) {
	if flags := os.Getenv(childEnv); flags != "" {
		installChild(flags)
	}
	os.Exit(m.Run())
}

// installChild loads program() the way the container init will (locked
// thread, no_new_privs) and reports the notify fd and getppid's errno.
func installChild(flagsText string) {
	runtime.LockOSThread()
	flags, _ := strconv.ParseUint(flagsText, 0, 32)
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	fd, err := Install(program(), uint32(flags))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	_, _, errno := unix.Syscall(unix.SYS_GETPPID, 0, 0, 0)
	cloexec := false
	if fd >= 0 {
		v, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		cloexec = err == nil && v&unix.FD_CLOEXEC != 0
	}
	fmt.Println(fd, int(errno), cloexec)
	os.Exit(0)
}

func runInstallChild(t *testing.T, flags uint32) (fd, errno int, cloexec bool) {
	t.Helper()
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, 0); e != unix.EFAULT {
		t.Skipf("the kernel has no seccomp filter mode (probe: %v)", e)
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("untested on %s", runtime.GOARCH)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", childEnv, flags))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	if _, err := fmt.Sscan(string(out), &fd, &errno, &cloexec); err != nil {
		t.Fatalf("child said %q: %v", out, err)
	}
	return fd, errno, cloexec
}

func TestInstall(t *testing.T) {
	fd, errno, _ := runInstallChild(t, 0)
	if fd != -1 || unix.Errno(errno) != unix.ENOTTY {
		t.Fatalf("fd %d, getppid errno %d; want -1 and ENOTTY", fd, errno)
	}
}

func TestInstallFlags(t *testing.T) {
	fd, errno, _ := runInstallChild(t, FlagLog|FlagSpecAllow)
	if fd != -1 || unix.Errno(errno) != unix.ENOTTY {
		t.Fatalf("fd %d, getppid errno %d; want -1 and ENOTTY", fd, errno)
	}
}

func TestInstallListener(t *testing.T) {
	fd, errno, cloexec := runInstallChild(t, FlagNewListener)
	if fd < 0 || unix.Errno(errno) != unix.ENOTTY {
		t.Fatalf("fd %d, getppid errno %d; want a listener fd and ENOTTY", fd, errno)
	}
	if !cloexec {
		t.Error("the listener fd is not close-on-exec")
	}
}

func TestSendListener(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	l, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(l)
	if err := unix.Bind(l, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(l, 1); err != nil {
		t.Fatal(err)
	}
	// Any fd shows that SCM_RIGHTS made it: a pipe end we can write through.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])

	state := []byte(`{"ociVersion":"1.3.0","fds":["seccompFd"],"pid":1,"metadata":"m","state":{"id":"c"}}` + strings.Repeat(" ", 200<<10))
	done := make(chan error, 1)
	go func() { done <- SendListener(path, state, p[1]) }()

	c, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(c)
	var got []byte
	var fds []int
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(c, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		got = append(got, buf[:n]...)
		if oobn > 0 {
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				r, err := unix.ParseUnixRights(&m)
				if err != nil {
					t.Fatal(err)
				}
				fds = append(fds, r...)
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, state) {
		t.Errorf("agent got %d bytes of state, want %d", len(got), len(state))
	}
	if len(fds) != 1 {
		t.Fatalf("agent got fds %v, want one", fds)
	}
	defer unix.Close(fds[0])
	if _, err := unix.Write(fds[0], []byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if n, err := unix.Read(p[0], b); err != nil || n != 1 || b[0] != 'x' {
		t.Fatalf("read through the passed fd: %d %v", n, err)
	}
}

func TestSendListenerNoAgent(t *testing.T) {
	err := SendListener(filepath.Join(t.TempDir(), "missing.sock"), []byte("{}"), 0)
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("SendListener to a missing socket = %v; want ENOENT", err)
	}
}
