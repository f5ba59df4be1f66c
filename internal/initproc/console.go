package initproc

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// setupConsole opens a pty in the container's devpts, sends the master to
// the console socket (SCM_RIGHTS, as runc and containerd expect) and makes
// the slave our stdio and controlling terminal. It returns the slave's path
// for /dev/console.
func setupConsole(sockFd int) (string, error) {
	if sockFd <= 0 {
		return "", errors.New("process.terminal is true but no --console-socket was given")
	}
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("opening /dev/ptmx: %w", err)
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return "", fmt.Errorf("unlocking the pty: %w", err)
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		return "", fmt.Errorf("pty number: %w", err)
	}
	slavePath := "/dev/pts/" + strconv.Itoa(n)
	slave, err := unix.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", slavePath, err)
	}
	defer unix.Close(slave)
	var st unix.Stat_t
	if err := unix.Fstat(slave, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return "", fmt.Errorf("%s is not a character device", slavePath)
	}
	rights := unix.UnixRights(master)
	if err := unix.Sendmsg(sockFd, []byte(slavePath), rights, nil, 0); err != nil {
		return "", fmt.Errorf("sending the pty master to the console socket: %w", err)
	}
	unix.Close(sockFd)
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return "", fmt.Errorf("dup pty to fd %d: %w", fd, err)
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return "", fmt.Errorf("making the pty the controlling terminal: %w", err)
	}
	return slavePath, nil
}

// sendNotifyFd hands the seccomp notify fd to the host, which passes it on
// to the listener at listenerPath with the container state.
func sendNotifyFd(sock *os.File, s Seccomp, fd int) error {
	defer unix.Close(fd)
	if s.ListenerPath == "" {
		return errors.New("linux.seccomp.listenerPath: a notify filter needs a listener")
	}
	if err := WriteFrameWithFd(sock, Message{Type: MsgSeccompFd}, fd); err != nil {
		return fmt.Errorf("sending the seccomp notify fd to the host: %w", err)
	}
	return nil
}
